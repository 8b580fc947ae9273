//! The job graph: jobs as the script declared them, expanded over their matrices, checked
//! (duplicate names, unknown needs, cycles) and put in start order, all before anything runs.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::suggest;

mod pairing;

/// A job's body as the host declared it. The core never looks inside: the host's
/// [`JobRunner`](crate::scheduler::JobRunner) downcasts it back to its own type.
pub type Body = Arc<dyn Any + Send + Sync>;

/// One value of a matrix axis: its label (in job names, listings and reports) and the host's own
/// value, handed back to the job's body.
#[derive(Clone)]
pub struct MatrixValue {
    pub label: String,
    pub value: Body,
}

impl MatrixValue {
    pub fn new(label: impl Into<String>, value: impl Any + Send + Sync) -> MatrixValue {
        MatrixValue {
            label: label.into(),
            value: Arc::new(value),
        }
    }
}

/// When a job runs.
#[derive(Clone)]
pub enum Condition {
    Always,
    Never {
        reason: String,
    },
    /// A closure evaluated when the job is about to start: `true` runs it.
    Check {
        body: Body,
        reason: Option<String>,
    },
}

/// A job as the script declared it.
#[derive(Clone)]
pub struct JobDef {
    pub name: String,
    pub needs: Vec<String>,
    /// Matrix axes in a stable order, each with its values.
    pub matrix: Vec<(String, Vec<MatrixValue>)>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    /// For a matrix job: whether one combination's failure cancels the others (Actions'
    /// `strategy.fail-fast`). `false` lets the other combinations run to their end.
    pub fail_fast: bool,
    pub env: Vec<(String, String)>,
    pub dir: Option<PathBuf>,
    pub condition: Condition,
    /// Globs of the files the job reads and writes; kept for the up-to-date check.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// `cache: false` never skips the job as up to date; `cache: true` allows it even when the
    /// job has effects outside the tree; unset, the cache decides (see `cache`).
    pub cache: Option<bool>,
    pub description: Option<String>,
    /// What the job holds while it runs: CPU weight, the machine alone, named locks.
    pub needs_resources: crate::resources::Needs,
    /// The phrase an operator must give before the body runs (`confirm:`).
    pub confirm: Option<String>,
    pub body: Body,
    /// `tasks/ci.rhai:12:1`, for messages about the declaration.
    pub defined_at: String,
}

/// One runnable job after matrix expansion.
#[derive(Clone)]
pub struct PlannedJob {
    pub id: usize,
    pub name: String,
    /// The declared name (equal to `name` unless expanded from a matrix).
    pub base: String,
    pub matrix: BTreeMap<String, MatrixValue>,
    pub needs: Vec<usize>,
    pub def: Arc<JobDef>,
}

#[derive(Clone, Default)]
pub struct Plan {
    /// In start order: every job comes after all it needs.
    pub jobs: Vec<PlannedJob>,
}

impl Plan {
    pub fn build(defs: Vec<JobDef>) -> Result<Plan, String> {
        let mut expanded: Vec<PlannedJob> = Vec::new();
        let mut by_base: HashMap<String, Vec<usize>> = HashMap::new();
        let mut declared: HashMap<String, String> = HashMap::new();
        for def in defs {
            if let Some(first) = declared.get(&def.name) {
                return Err(format!(
                    "job `{}` is declared twice: at {} and at {}",
                    def.name, first, def.defined_at
                ));
            }
            declared.insert(def.name.clone(), def.defined_at.clone());
            let def = Arc::new(def);
            for combo in combinations(&def.matrix) {
                let name = if combo.is_empty() {
                    def.name.clone()
                } else {
                    let parts: Vec<String> = combo
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.label))
                        .collect();
                    format!("{} ({})", def.name, parts.join(", "))
                };
                let id = expanded.len();
                by_base.entry(def.name.clone()).or_default().push(id);
                expanded.push(PlannedJob {
                    id,
                    name,
                    base: def.name.clone(),
                    matrix: combo.into_iter().collect(),
                    needs: Vec::new(),
                    def: Arc::clone(&def),
                });
            }
        }
        let by_name: HashMap<String, usize> =
            expanded.iter().map(|j| (j.name.clone(), j.id)).collect();
        let mut resolved = Vec::with_capacity(expanded.len());
        for (i, job) in expanded.iter().enumerate() {
            let mut needs = Vec::new();
            for need in &job.def.needs {
                let need = &pairing::fill(need, job)?;
                if let Some(ids) = by_base.get(need) {
                    needs.extend(ids.iter().copied());
                } else if let Some(&id) = by_name.get(need) {
                    needs.push(id);
                } else if let Some(ids) = pairing::select(need, &expanded, &by_base, job)? {
                    needs.extend(ids);
                } else {
                    let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                    return Err(format!(
                        "job `{}` (declared at {}) needs `{need}`, which is not a job{}",
                        job.def.name,
                        job.def.defined_at,
                        suggest::did_you_mean(need, known)
                    ));
                }
            }
            needs.sort_unstable();
            needs.dedup();
            if needs.contains(&i) {
                return Err(format!("job `{}` needs itself", job.name));
            }
            resolved.push(needs);
        }
        for (job, needs) in expanded.iter_mut().zip(resolved) {
            job.needs = needs;
        }
        let order = topological_order(&expanded)?;
        Ok(Plan::from_order(expanded, &order))
    }

    /// Re-numbers jobs so that ids follow `order`.
    fn from_order(jobs: Vec<PlannedJob>, order: &[usize]) -> Plan {
        let mut new_id = vec![usize::MAX; jobs.len()];
        for (new, &old) in order.iter().enumerate() {
            new_id[old] = new;
        }
        let mut slots: Vec<Option<PlannedJob>> = jobs.into_iter().map(Some).collect();
        let jobs = order
            .iter()
            .map(|&old| {
                let mut job = slots[old].take().expect("each job once");
                job.id = new_id[old];
                job.needs = job.needs.iter().map(|&n| new_id[n]).collect();
                job
            })
            .collect();
        Plan { jobs }
    }

    /// Keeps only the named jobs (a declared name selects all its matrix expansions) and, with
    /// `with_needs`, everything they need.
    pub fn select(self, names: &[String], with_needs: bool) -> Result<Plan, String> {
        let mut keep = vec![false; self.jobs.len()];
        for name in names {
            let hits: Vec<usize> = self
                .jobs
                .iter()
                .filter(|j| &j.name == name || &j.base == name)
                .map(|j| j.id)
                .collect();
            if hits.is_empty() {
                let known: Vec<&str> = self.jobs.iter().map(|j| j.name.as_str()).collect();
                return Err(format!(
                    "no job named `{name}`{}",
                    suggest::did_you_mean(name, known)
                ));
            }
            for id in hits {
                keep[id] = true;
            }
        }
        if with_needs {
            for id in (0..self.jobs.len()).rev() {
                if keep[id] {
                    for &need in &self.jobs[id].needs {
                        keep[need] = true;
                    }
                }
            }
        }
        let order: Vec<usize> = (0..self.jobs.len()).filter(|&id| keep[id]).collect();
        let mut jobs = self.jobs;
        for job in &mut jobs {
            job.needs.retain(|n| keep[*n]);
        }
        Ok(Plan::from_order(jobs, &order))
    }
}

fn topological_order(jobs: &[PlannedJob]) -> Result<Vec<usize>, String> {
    let mut indegree: Vec<usize> = jobs.iter().map(|j| j.needs.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); jobs.len()];
    for job in jobs {
        for &need in &job.needs {
            dependents[need].push(job.id);
        }
    }
    // Declaration order among ready jobs, so the plan reads like the script.
    let mut ready: VecDeque<usize> = (0..jobs.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(jobs.len());
    while let Some(id) = ready.pop_front() {
        order.push(id);
        for &dep in &dependents[id] {
            indegree[dep] -= 1;
            if indegree[dep] == 0 {
                let at = ready.partition_point(|&r| r < dep);
                ready.insert(at, dep);
            }
        }
    }
    if order.len() < jobs.len() {
        return Err(format!(
            "the jobs' needs form a cycle: {}",
            find_cycle(jobs, &indegree)
        ));
    }
    Ok(order)
}

/// Names one cycle among the jobs left with unmet needs, as `a -> b -> a`.
fn find_cycle(jobs: &[PlannedJob], indegree: &[usize]) -> String {
    let start = (0..jobs.len()).find(|&i| indegree[i] > 0).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = jobs[current]
            .needs
            .iter()
            .copied()
            .find(|&n| indegree[n] > 0)
            .unwrap_or(start);
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<&str> = path[pos..].iter().map(|&i| jobs[i].name.as_str()).collect();
            cycle.push(&jobs[next].name);
            return cycle.join(" -> ");
        }
        path.push(next);
        current = next;
    }
}

fn combinations(matrix: &[(String, Vec<MatrixValue>)]) -> Vec<Vec<(String, MatrixValue)>> {
    let mut combos = vec![Vec::new()];
    for (key, values) in matrix {
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for combo in &combos {
            for value in values {
                let mut c: Vec<(String, MatrixValue)> = combo.clone();
                c.push((key.clone(), value.clone()));
                next.push(c);
            }
        }
        combos = next;
    }
    combos
}
