//! The command line: `xtask [OPTIONS] <TASK> [ARGS…]`. xtask's own options may stand before or
//! after the task name; everything else after the task (and all after `--`) goes to the script.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use crate::durations::Durations;
use crate::events::{Event, EventBus, Reporter};
use crate::exit::Exit;
use crate::graph::Plan;
use crate::reporter::github::GithubActions;
use crate::reporter::json::JsonReport;
use crate::reporter::junit::Junit;
use crate::reporter::style::Style;
use crate::reporter::terminal::{self, OutputMode, Terminal, Verbosity};
use crate::script::{Host, Mode, Runner};
use crate::{critical_path, listing, project, scheduler, signals, suggest};

// The exit codes as the `i32` the commands return; what each means is documented on [`Exit`].
pub const EXIT_OK: i32 = Exit::Ok.code();
pub const EXIT_FAILED: i32 = Exit::Failed.code();
pub const EXIT_USAGE: i32 = Exit::Usage.code();
pub const EXIT_INTERRUPTED: i32 = Exit::Interrupted.code();

#[derive(Parser, Debug)]
#[command(
    name = "xtask",
    version,
    about = "Run CI pipelines written as Rhai scripts (tasks/<task>.rhai) as a parallel job graph.",
    after_help = "Arguments after the task that are not xtask options reach the script as `args` (all of them) \
                  and `opts` (--key value, --key=value and --flag, dashes turned into underscores). \
                  Everything after `--` goes to the script untouched.\n\n\
                  Exit codes: 0 all passed, 1 a job failed, 2 usage or script error, 130 interrupted."
)]
pub struct Cli {
    /// Start looking for the project (the nearest directory with `tasks/`) here.
    #[arg(short = 'C', value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// List tasks, or with a task, its jobs and their needs.
    #[arg(long)]
    pub list: bool,
    /// With --list: print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the plan (jobs in start order, needs, matrix) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How many jobs run at once [default: twice the CPUs, at least 4; CPU-heavy work is
    /// rationed by weight].
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Keep running independent jobs after a failure.
    #[arg(long)]
    pub keep_going: bool,
    /// Run only this job and what it needs (repeatable; a matrix job's name selects all its
    /// combinations).
    #[arg(long = "job", value_name = "NAME")]
    pub only: Vec<String>,
    /// With --job: do not run what the job needs (it ran elsewhere, e.g. on another CI runner).
    #[arg(long)]
    pub no_needs: bool,
    /// Less output: only failed jobs and the summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// More output.
    #[arg(short, long)]
    pub verbose: bool,
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// How parallel jobs' output is shown.
    #[arg(long, value_enum, default_value_t = OutputChoice::Auto, value_name = "MODE")]
    pub output: OutputChoice,
    /// Mask the value of this environment variable in all output (repeatable).
    #[arg(long = "secret-env", value_name = "NAME")]
    pub secret_env: Vec<String>,
    /// Also write a report: junit=PATH (JUnit XML) or json=PATH (the whole run) (repeatable).
    #[arg(long = "report", value_name = "KIND=PATH", value_parser = parse_report)]
    pub reports: Vec<ReportSpec>,
    /// Print the task's jobs (after matrix expansion) as a GitHub Actions matrix:
    /// `{"include":[{"job":"fmt"},…]}`, for `strategy.matrix: ${{ fromJSON(…) }}`.
    #[arg(long)]
    pub matrix_json: bool,
    /// Give the phrase a `confirm` gate asks for (`--confirm "DEPLOY TO PRODUCTION"`), for runs
    /// without a terminal (repeatable).
    #[arg(long = "confirm", value_name = "PHRASE")]
    pub confirm: Vec<String>,
    /// Play the task as its generated workflow runs it: each job in its own process, from its own
    /// fresh copy of the repository, in `needs` order, results handed over between them.
    #[arg(long)]
    pub rehearse: bool,
    /// Say for each job why it ran or was skipped as up to date (which input changed).
    #[arg(long)]
    pub explain: bool,
    /// Run every job, even those that are up to date.
    #[arg(long)]
    pub force: bool,
    /// Run this job even if it is up to date (repeatable; a matrix job's name means all its
    /// combinations).
    #[arg(long = "force-job", value_name = "NAME")]
    pub force_jobs: Vec<String>,
    /// With --job: also run what the job needs (the default; see --no-needs).
    #[arg(long, conflicts_with = "no_needs")]
    pub with_needs: bool,
    /// The task to run: the script tasks/TASK.rhai.
    pub task: Option<String>,
    /// Arguments for the script.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Clone, Debug)]
pub enum ReportSpec {
    Junit(PathBuf),
    Json(PathBuf),
}

fn parse_report(text: &str) -> Result<ReportSpec, String> {
    match text.split_once('=') {
        Some(("junit", path)) if !path.is_empty() => Ok(ReportSpec::Junit(path.into())),
        Some(("json", path)) if !path.is_empty() => Ok(ReportSpec::Json(path.into())),
        _ => Err(format!("`{text}`: expected junit=PATH or json=PATH")),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OutputChoice {
    /// Stream the earliest-started job live, buffer the others into blocks.
    Auto,
    /// Tag every line with its job.
    Prefixed,
    /// Print every job as one block when it ends.
    Grouped,
}

/// Options that take a value, and flags, that xtask recognises after the task name.
const VALUE_OPTIONS: &[&str] = &[
    "-C",
    "-j",
    "--jobs",
    "--job",
    "--color",
    "--output",
    "--secret-env",
    "--report",
    "--confirm",
    "--force-job",
];
const FLAG_OPTIONS: &[&str] = &[
    "--list",
    "--json",
    "--dry-run",
    "--keep-going",
    "--no-needs",
    "--with-needs",
    "--matrix-json",
    "--rehearse",
    "--explain",
    "--force",
    "-q",
    "--quiet",
    "-v",
    "--verbose",
    "-h",
    "--help",
    "-V",
    "--version",
];

/// Splits argv into xtask's part (handed to clap) and the script's part.
pub fn split_args(argv: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut ours = Vec::new();
    let mut script = Vec::new();
    let mut iter = argv.into_iter();
    if let Some(program) = iter.next() {
        ours.push(program);
    }
    let mut seen_task = false;
    while let Some(arg) = iter.next() {
        if arg == "--" {
            script.extend(iter.by_ref());
            break;
        }
        let name = arg.split_once('=').map(|(n, _)| n).unwrap_or(&arg);
        let attached_short = ["-C", "-j"]
            .iter()
            .any(|p| arg.starts_with(p) && arg.len() > 2);
        if VALUE_OPTIONS.contains(&name) {
            ours.push(arg.clone());
            if !arg.contains('=') {
                if let Some(value) = iter.next() {
                    ours.push(value);
                }
            }
        } else if FLAG_OPTIONS.contains(&arg.as_str())
            || attached_short
            || (!seen_task && arg.starts_with('-'))
        {
            ours.push(arg);
        } else if !seen_task {
            seen_task = true;
            ours.push(arg);
        } else {
            script.push(arg);
        }
    }
    (ours, script)
}

pub fn main() -> i32 {
    let mut argv: Vec<String> = std::env::args().collect();
    // Installed as `cargo-xtask`, cargo runs it as a subcommand and passes its name first.
    let program = argv
        .first()
        .map(|p| Path::new(p).file_name().unwrap_or_default());
    if program.is_some_and(|p| p.to_string_lossy().starts_with("cargo-"))
        && argv.get(1).is_some_and(|a| a == "xtask")
    {
        argv.remove(1);
    }
    if let Some(code) = init_command(&argv) {
        return code;
    }
    // The engine builds while the command line is parsed and the project set up.
    crate::script::prepare_engine();
    let (ours, script_args) = split_args(argv);
    let cli = match Cli::try_parse_from(ours) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    run(cli, script_args)
}

/// `xtask [-C DIR] init [OPTIONS]`: runs before the project is looked for (there are no `tasks/`
/// yet), and takes its own options. A repository's own `tasks/init.rhai` wins.
fn init_command(argv: &[String]) -> Option<i32> {
    let mut dir: Option<PathBuf> = None;
    let mut i = 1;
    loop {
        let arg = argv.get(i)?;
        if arg == "init" {
            break;
        } else if arg == "-C" {
            dir = Some(PathBuf::from(argv.get(i + 1)?));
            i += 2;
        } else if let Some(d) = arg.strip_prefix("-C") {
            dir = Some(PathBuf::from(d));
            i += 1;
        } else {
            return None;
        }
    }
    let mut rest: Vec<String> = argv[i + 1..].to_vec();
    if let Some(at) = rest.iter().position(|a| a == "-C") {
        if at + 1 < rest.len() {
            dir = Some(PathBuf::from(rest.remove(at + 1)));
            rest.remove(at);
        }
    }
    let dir = dir.unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| ".".into()));
    let own_task =
        crate::project::find_root(&dir).is_ok_and(|r| r.join("tasks/init.rhai").is_file());
    if own_task {
        return None;
    }
    Some(crate::init::run(&dir, &rest))
}

fn fail(message: &str) -> i32 {
    eprintln!("error: {message}");
    EXIT_USAGE
}

pub fn run(cli: Cli, script_args: Vec<String>) -> i32 {
    let start = match &cli.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let root = match project::find_root(&start) {
        Ok(root) => root,
        Err(e) => return fail(&e),
    };
    let tasks = project::tasks(&root);
    let Some(task) = cli.task.clone() else {
        if cli.list {
            listing::print_task_list(&tasks, cli.json);
            return EXIT_OK;
        }
        eprintln!("error: no task given\n");
        eprint!("{}", listing::task_list(&tasks));
        return EXIT_USAGE;
    };
    if !tasks.iter().any(|t| t.name == task) && crate::builtins::NAMES.contains(&task.as_str()) {
        return crate::builtins::run(&task, &root, &tasks, &script_args);
    }
    if !tasks.iter().any(|t| t.name == task) {
        let hint = suggest::did_you_mean(&task, tasks.iter().map(|t| t.name.as_str()));
        eprintln!("error: no task `{task}` (no file tasks/{task}.rhai){hint}\n");
        eprint!("{}", listing::task_list(&tasks));
        return EXIT_USAGE;
    }

    let style = Style {
        enabled: color_enabled(cli.color),
    };
    // A rehearsal only plans here; each job's own process runs the task for real.
    let planning = cli.list || cli.dry_run || cli.matrix_json || cli.rehearse;
    let verbosity = if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let mode = match cli.output {
        OutputChoice::Auto => OutputMode::Stream,
        OutputChoice::Prefixed => OutputMode::Prefixed,
        OutputChoice::Grouped => OutputMode::Grouped,
    };
    let status_line = !planning
        && verbosity > Verbosity::Quiet
        && std::io::stderr().is_terminal()
        && std::env::var_os("CI").is_none();
    let in_actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let mut reporters: Vec<Box<dyn Reporter>> = Vec::new();
    if in_actions && !planning {
        reporters.push(Box::new(GithubActions::from_env(style, &root)));
    } else {
        reporters.push(Box::new(Terminal::new(terminal::Options {
            mode,
            style,
            verbosity,
            status_line: status_line && !in_actions,
            recap_lines: 40,
        })));
    }
    for report in &cli.reports {
        match report {
            ReportSpec::Junit(path) => reporters.push(Box::new(Junit::new(path.clone()))),
            ReportSpec::Json(path) => reporters.push(Box::new(JsonReport::new(path.clone()))),
        }
    }
    let bus = EventBus::new(reporters);
    for name in &cli.secret_env {
        match std::env::var(name) {
            Ok(value) => bus.add_named_secret(name, &value),
            Err(_) => return fail(&format!("--secret-env {name}: the variable is not set")),
        }
    }
    crate::primitives::confirm::set_given(cli.confirm.clone());
    if let Err(e) = signals::install() {
        return fail(&format!("cannot install signal handlers: {e}"));
    }

    let host = Host::new(
        root.clone(),
        &task,
        bus.clone(),
        if planning { Mode::Plan } else { Mode::Execute },
        script_args.clone(),
    );
    host.verbose
        .store(cli.verbose, std::sync::atomic::Ordering::Relaxed);
    let top = match host.load() {
        Ok(guard) => guard,
        Err(diagnostic) => {
            host.remove_tempdirs();
            if let Some(event) = diagnostic.event(None) {
                bus.emit(event);
            }
            eprintln!("{}", bus.redact(&diagnostic.render(&root)));
            return if signals::is_interrupted() {
                EXIT_INTERRUPTED
            } else {
                EXIT_USAGE
            };
        }
    };
    let finish = |code: i32| {
        host.end_scope(&top.scope);
        host.remove_tempdirs();
        bus.finish();
        code
    };
    let mut plan = match Plan::build(host.take_jobs()) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {}", bus.redact(&e));
            return finish(EXIT_USAGE);
        }
    };
    if !cli.only.is_empty() {
        plan = match plan.select(&cli.only, !cli.no_needs) {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("error: {e}");
                return finish(EXIT_USAGE);
            }
        };
    }
    // `--force-job` names a job of the plan, like `--job` (a typo would silently force nothing).
    if let Some(name) = cli
        .force_jobs
        .iter()
        .find(|n| !plan.jobs.iter().any(|j| &j.name == *n || &j.base == *n))
    {
        let known = plan.jobs.iter().map(|j| j.name.as_str());
        eprintln!(
            "error: --force-job: no job named `{name}`{}",
            suggest::did_you_mean(name, known)
        );
        return finish(EXIT_USAGE);
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let parallel = cli.jobs.unwrap_or_else(|| default_jobs(cpus));
    if planning {
        // A job name may hold a secret's value (a matrix label): plans are shown masked too.
        for job in &mut plan.jobs {
            job.name = bus.redact(&job.name);
        }
    }
    if cli.list {
        listing::print_jobs(&task, &tasks, &plan, cli.json);
        return finish(EXIT_OK);
    }
    if cli.matrix_json {
        let include: Vec<serde_json::Value> = plan
            .jobs
            .iter()
            .map(|j| serde_json::json!({ "job": j.name }))
            .collect();
        println!("{}", serde_json::json!({ "include": include }));
        return finish(EXIT_OK);
    }
    if cli.dry_run {
        listing::print_plan(&task, &plan, parallel, style);
        return finish(EXIT_OK);
    }

    if let Err(e) = host.load_results() {
        eprintln!("error: {}", bus.redact(&e));
        return finish(EXIT_USAGE);
    }
    let mut runner: Arc<dyn scheduler::JobRunner> = Arc::new(Runner(Arc::clone(&host)));
    let mut keep_going = cli.keep_going;
    let mut rehearsal_dir = None;
    if cli.rehearse {
        plan = crate::rehearsal::widen_needs(&plan);
        match crate::rehearsal::Rehearsal::new(&root, &task, &script_args, bus.clone(), &plan) {
            Ok(rehearsal) => {
                rehearsal_dir = Some(rehearsal.work_dir());
                runner = Arc::new(rehearsal);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return finish(EXIT_USAGE);
            }
        }
        // Actions runs independent jobs to their end whatever fails elsewhere.
        keep_going = true;
    }
    let started = Instant::now();
    bus.emit(Event::RunStarted {
        task: task.clone(),
        jobs: plan.jobs.iter().map(|j| j.name.clone()).collect(),
    });
    let ticker = status_line.then(|| start_ticker(bus.clone()));
    let mut durations = Durations::load(&root, &task);
    let cache = crate::cache::Session::open(
        &root,
        &task,
        crate::cache::session::Options {
            force_all: cli.force,
            force: cli.force_jobs.clone(),
            explain: cli.explain,
        },
    );
    let seconds = durations.seconds();
    let options = scheduler::Options {
        jobs: parallel,
        keep_going,
        cpus: cpus as f64,
        priority: critical_path::priorities(&plan, &seconds),
        lock_priority: critical_path::lock_priorities(&plan, &seconds, &durations.after_lock()),
        seconds: plan
            .jobs
            .iter()
            .map(|j| seconds.get(&j.name).copied())
            .collect(),
        expected_locks: {
            let locks = durations.locks();
            plan.jobs
                .iter()
                .map(|j| locks.get(&j.name).cloned().unwrap_or_default())
                .collect()
        },
        // A rehearsal's jobs are child runs, each with its own up-to-date check.
        cache: (!cli.rehearse).then(|| Arc::clone(&cache)),
    };
    let summaries = scheduler::run(&plan, options, &bus, runner);
    cache.finish();
    durations.record(&summaries);
    durations.save();
    if let Some(dir) = rehearsal_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    drop(ticker);
    host.end_scope(&top.scope);
    let interrupted = signals::is_interrupted();
    bus.emit(Event::RunFinished {
        jobs: summaries.clone(),
        duration: started.elapsed(),
        interrupted,
        rerun_hint: rerun_hint(&task, &script_args),
    });
    let code = if interrupted {
        EXIT_INTERRUPTED
    } else if summaries.iter().any(|s| !s.outcome.satisfies_needs()) {
        EXIT_FAILED
    } else {
        EXIT_OK
    };
    let code = finish(code);
    drop(top);
    // The engine holds every registered function with its metadata: freeing them one by one
    // costs more than a no-op task's own work, and the process is about to exit anyway.
    std::mem::forget(host);
    code
}

/// Jobs at once unless `-j` says otherwise: twice the CPUs, at least 4. Most jobs wait (on
/// servers, containers, the network, a lock) rather than compute, and the ones that compute are
/// held back by CPU weight instead (`resources.rs`: a cargo command takes the machine).
fn default_jobs(cpus: usize) -> usize {
    (2 * cpus).max(4)
}

fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// Redraws live displays until dropped.
fn start_ticker(bus: EventBus) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(Duration::from_millis(250))
        {
            bus.tick();
        }
    });
    tx
}

fn rerun_hint(task: &str, args: &[String]) -> String {
    let mut parts = vec!["cargo".to_string(), "xtask".to_string(), task.to_string()];
    parts.extend(args.iter().cloned());
    format!("{} --job \"{{job}}\"", crate::process::display_argv(&parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> (Vec<String>, Vec<String>) {
        split_args(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn xtask_options_are_found_on_both_sides_of_the_task() {
        let (ours, script) = split(&[
            "xtask",
            "-j",
            "2",
            "ci",
            "--keep-going",
            "--target",
            "x86",
            "--job",
            "fmt",
            "extra",
        ]);
        assert_eq!(
            ours,
            ["xtask", "-j", "2", "ci", "--keep-going", "--job", "fmt"]
        );
        assert_eq!(script, ["--target", "x86", "extra"]);
    }

    #[test]
    fn everything_after_double_dash_goes_to_the_script() {
        let (ours, script) = split(&["xtask", "ci", "--", "--job", "x"]);
        assert_eq!(ours, ["xtask", "ci"]);
        assert_eq!(script, ["--job", "x"]);
    }
}
