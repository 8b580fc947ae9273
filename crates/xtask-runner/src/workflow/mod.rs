//! `xtask workflow <task> [--check] [--file PATH]`: a GitHub Actions workflow from the task's
//! job graph. One Actions job per declared job (a matrix job becomes an Actions matrix), `needs:`
//! mirroring the graph, each running `cargo xtask <task> --job "<name>" --no-needs` with only
//! the set-up it uses (see `usage.rs`), results of `result_of` handed over as artifacts (see
//! `results_file.rs`), and a final `<task>-passed` gate for branch protection whose step summary
//! merges every job's. Lines between `# xtask:keep <name>` and `# xtask:end <name>` are the
//! user's: regeneration carries them over, and `--check` ignores them.

mod render;
pub mod usage;

use std::path::{Path, PathBuf};

use crate::cli::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::events::EventBus;
use crate::graph::{Plan, PlannedJob};
use crate::script::{Host, Mode};

/// One Actions job: a declared job with all its matrix expansions.
pub struct ActionsJob {
    /// The Actions job id (`[A-Za-z_][A-Za-z0-9_-]*`).
    pub id: String,
    /// The declared name.
    pub base: String,
    /// Matrix axes and their values as the job graph displays them.
    pub matrix: Vec<(String, Vec<String>)>,
    pub fail_fast: bool,
    /// Ids of the Actions jobs this one needs.
    pub needs: Vec<String>,
    pub timeout_minutes: Option<u64>,
    pub inputs: Vec<String>,
    pub usage: usage::Usage,
}

/// The workflow for a task, as data; `render` turns it into YAML.
pub struct Workflow {
    pub task: String,
    /// The project's directory inside the git checkout (`examples/service/`), or empty.
    pub prefix: String,
    pub jobs: Vec<ActionsJob>,
    /// Secrets read by the task's top level: every job's process runs it.
    pub shared_secrets: Vec<String>,
}

pub fn run(root: &Path, args: &[String]) -> i32 {
    let mut task = None;
    let mut check = false;
    let mut output: Option<String> = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--file" => output = iter.next().cloned(),
            a if a.starts_with("--file=") => output = Some(a["--file=".len()..].to_string()),
            a if !a.starts_with('-') && task.is_none() => task = Some(a.to_string()),
            other => {
                eprintln!("error: workflow: unknown argument `{other}`\nusage: cargo xtask workflow <task> [--check] [--file PATH|-]");
                return EXIT_USAGE;
            }
        }
    }
    let Some(task) = task else {
        eprintln!("error: which task? cargo xtask workflow <task> [--check] [--file PATH|-]");
        return EXIT_USAGE;
    };
    if !root.join(format!("tasks/{task}.rhai")).is_file() {
        eprintln!("error: no task `{task}` (no file tasks/{task}.rhai)");
        return EXIT_USAGE;
    }
    let workflow = match build(root, &task) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let default_path = format!(".github/workflows/{task}.yml");
    let target = output.clone().unwrap_or_else(|| default_path.clone());
    let mut regenerate = format!("cargo xtask workflow {task}");
    if target != default_path && target != "-" {
        regenerate.push_str(&format!(" --file {target}"));
    }
    if target == "-" {
        print!("{}", render::render(&workflow, &regenerate, ""));
        return EXIT_OK;
    }
    let path: PathBuf = root.join(&target);
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let text = render::render(&workflow, &regenerate, &existing);
    if check && existing.is_empty() {
        eprintln!(
            "error: {} does not exist; generate it with `{regenerate}`",
            path.display()
        );
        return EXIT_FAILED;
    }
    crate::builtins::write_or_check(&path, &text, check, &regenerate)
}

/// Declares the task's jobs (as `--list` does: top-level `run`/`sh` are not executed) and
/// turns the graph into Actions jobs.
pub fn build(root: &Path, task: &str) -> Result<Workflow, String> {
    let host = Host::new(
        root.to_path_buf(),
        task,
        EventBus::new(Vec::new()),
        Mode::Plan,
        Vec::new(),
    );
    let top = host.load().map_err(|d| d.render(root))?;
    let jobs = host.take_jobs();
    host.end_scope(&top.scope);
    host.remove_tempdirs();
    let plan = Plan::build(jobs)?;
    let sources = usage::Sources::load(host.engine(), root, &host.script)?;
    let shared = sources.of_top_level(&host.script);
    Ok(Workflow {
        task: task.to_string(),
        prefix: git_prefix(root),
        jobs: actions_jobs(&plan, &sources),
        shared_secrets: shared.secrets.into_iter().collect(),
    })
}

/// Groups matrix expansions back into their declared job, in plan order.
fn actions_jobs(plan: &Plan, sources: &usage::Sources) -> Vec<ActionsJob> {
    let mut bases: Vec<&str> = Vec::new();
    for job in &plan.jobs {
        if !bases.contains(&job.base.as_str()) {
            bases.push(&job.base);
        }
    }
    let mut ids: Vec<String> = Vec::new();
    for base in &bases {
        let mut id = job_id(base);
        let stem = id.clone();
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{stem}-{n}");
            n += 1;
        }
        ids.push(id);
    }
    let id_of =
        |base: &str| ids[bases.iter().position(|b| *b == base).expect("known base")].clone();
    let expansions =
        |base: &str| -> Vec<&PlannedJob> { plan.jobs.iter().filter(|j| j.base == base).collect() };
    let mut out: Vec<ActionsJob> = Vec::new();
    for base in &bases {
        let jobs = expansions(base);
        let first = jobs[0];
        let def = &first.def;
        let mut needs: Vec<String> = Vec::new();
        for job in &jobs {
            for &need in &job.needs {
                let id = id_of(&plan.jobs[need].base);
                if !needs.contains(&id) {
                    needs.push(id);
                }
            }
        }
        let matrix = def
            .matrix
            .iter()
            .map(|(axis, values)| {
                (
                    axis.clone(),
                    values.iter().map(|v| v.label.clone()).collect(),
                )
            })
            .collect();
        out.push(ActionsJob {
            id: id_of(base),
            base: base.to_string(),
            matrix,
            fail_fast: def.fail_fast,
            needs,
            timeout_minutes: def.timeout.map(|t| t.as_secs().div_ceil(60)),
            inputs: def.inputs.clone(),
            usage: def
                .body
                .downcast_ref::<crate::script::JobBody>()
                .map(|body| sources.of_closure(body.closure.fn_name()))
                .unwrap_or_default(),
        });
    }
    out
}

/// An Actions job id from a job name: letters, digits, `-` and `_`, starting with a letter.
pub fn job_id(name: &str) -> String {
    let slug = crate::results_file::slug(name).replace('.', "_");
    if slug.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        slug
    } else {
        format!("job-{slug}")
    }
}

/// The project's directory relative to the top of its git checkout, with a trailing `/`.
fn git_prefix(root: &Path) -> String {
    crate::process::Spec::query("git", &["rev-parse", "--show-prefix"], root)
        .output(&crate::cancel::CancelToken::new())
        .ok()
        .filter(|o| o.success())
        .map(|o| o.stdout_text().trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_valid_for_actions() {
        assert_eq!(job_id("docker-test"), "docker-test");
        assert_eq!(job_id("1st pass"), "job-1st-pass");
        assert_eq!(job_id("v1.2 check"), "v1_2-check");
    }
}
