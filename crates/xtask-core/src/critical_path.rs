//! Which ready job to start first: the one heading the longest remaining chain of work, so the
//! run's tail is not one long job started last. Durations come from earlier runs
//! (`durations.rs`); a job never seen counts as the typical known job.
//!
//! Jobs that want the same lock are served by a variant of that chain: counted from when each
//! lets the lock go ([`lock_priorities`]).

use std::collections::HashMap;

use crate::graph::Plan;

/// Per job id: its own expected seconds plus the longest chain of dependents after it.
pub fn priorities(plan: &Plan, seconds: &HashMap<String, f64>) -> Vec<f64> {
    let (own, after) = chains(plan, seconds);
    own.iter()
        .zip(&after)
        .map(|(own, after)| own + after)
        .collect()
}

/// Per job id: how long the run goes on once the job lets its lock go, its remembered work
/// after the lock (`after_lock`) plus the longest chain of dependents after it. A job whose
/// time after the lock is unknown counts all of its own time ([`priorities`]).
pub fn lock_priorities(
    plan: &Plan,
    seconds: &HashMap<String, f64>,
    after_lock: &HashMap<String, f64>,
) -> Vec<f64> {
    let (own, after) = chains(plan, seconds);
    plan.jobs
        .iter()
        .map(|job| {
            let tail = after_lock
                .get(&job.name)
                .map_or(own[job.id], |t| t.min(own[job.id]));
            tail + after[job.id]
        })
        .collect()
}

/// Per job id: its own expected seconds, and the longest chain of dependents after it.
fn chains(plan: &Plan, seconds: &HashMap<String, f64>) -> (Vec<f64>, Vec<f64>) {
    let n = plan.jobs.len();
    let typical = typical(plan, seconds);
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for job in &plan.jobs {
        for &need in &job.needs {
            dependents[need].push(job.id);
        }
    }
    let mut own = vec![0.0; n];
    let mut after = vec![0.0; n];
    // Plan order puts every job after what it needs, so walking it backwards sees dependents
    // first.
    for job in plan.jobs.iter().rev() {
        own[job.id] = seconds.get(&job.name).copied().unwrap_or(typical);
        after[job.id] = dependents[job.id]
            .iter()
            .map(|&d| own[d] + after[d])
            .fold(0.0, f64::max);
    }
    (own, after)
}

/// The median of the known durations of this plan's jobs; one second when none is known.
fn typical(plan: &Plan, seconds: &HashMap<String, f64>) -> f64 {
    let mut known: Vec<f64> = plan
        .jobs
        .iter()
        .filter_map(|j| seconds.get(&j.name).copied())
        .collect();
    if known.is_empty() {
        return 1.0;
    }
    known.sort_by(f64::total_cmp);
    known[known.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Condition, JobDef, PlannedJob};
    use std::sync::Arc;

    /// Jobs `(name, needs)`, in an order where each comes after what it needs.
    fn plan(jobs: &[(&str, &[usize])]) -> Plan {
        let jobs = jobs
            .iter()
            .enumerate()
            .map(|(id, (name, needs))| PlannedJob {
                id,
                name: name.to_string(),
                base: name.to_string(),
                matrix: Default::default(),
                needs: needs.to_vec(),
                def: Arc::new(JobDef {
                    name: name.to_string(),
                    needs: Vec::new(),
                    matrix: Vec::new(),
                    timeout: None,
                    retries: 0,
                    fail_fast: true,
                    env: Vec::new(),
                    dir: None,
                    condition: Condition::Always,
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    cache: None,
                    description: None,
                    needs_resources: Default::default(),
                    confirm: None,
                    body: Arc::new(()),
                    defined_at: String::new(),
                }),
            })
            .collect();
        Plan { jobs }
    }

    fn map(pairs: &[(&str, f64)]) -> HashMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_short_lock_holder_heading_a_chain_goes_before_a_long_leaf() {
        // `doctest` holds the build directory to its end, with nothing after it; `build` lets
        // it go after 0.1 s and heads `image` → `smoke`.
        let plan = plan(&[
            ("doctest", &[]),
            ("build", &[]),
            ("image", &[1]),
            ("smoke", &[2]),
        ]);
        let seconds = map(&[
            ("doctest", 2.0),
            ("build", 0.5),
            ("image", 0.5),
            ("smoke", 0.5),
        ]);
        let after_lock = map(&[("doctest", 0.0), ("build", 0.4)]);
        let rank = priorities(&plan, &seconds);
        assert_eq!(rank, vec![2.0, 1.5, 1.0, 0.5]);
        let lock = lock_priorities(&plan, &seconds, &after_lock);
        assert_eq!(lock[0], 0.0);
        assert!((lock[1] - 1.4).abs() < 1e-9, "{lock:?}");
        assert!(lock[1] > lock[0], "build is served the lock first");
        // Unknown time after the lock: the whole chain, as the start order counts it.
        assert_eq!(lock[2], rank[2]);
    }
}
