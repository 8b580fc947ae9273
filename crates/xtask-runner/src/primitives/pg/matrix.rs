//! `pg::test_migrations`: the migration matrix, one thread per server version.
//!
//! Per version, on a throwaway cluster (or an existing server):
//! 1. in one database: apply every migration (timed), snapshot the schema, roll every migration
//!    back (timed) and check the schema is back to where it started;
//! 2. step-wise (in the same database when the rollback restored it, else in a fresh one): for
//!    each migration up, down (the schema must be exactly what it was before the up), up again
//!    (exactly what the first up gave); at the end the schema must equal the one from step 1.
//!
//! On an existing server the test works in databases it creates and drops.
//!
//! Then the versions' snapshots are compared with each other.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postgres::Client;

use super::discover::Install;
use super::migrate::{self, Migration};
use super::snapshot::{self, Snapshot};
use super::{client, cluster, Ctx};
use crate::process::{self, Spec};

/// Tables other tools keep their bookkeeping in; not part of the schema under test.
const TOOL_TABLES: &[&str] = &[
    "_sqlx_migrations",
    "__diesel_schema_migrations",
    "refinery_schema_history",
    "seaql_migrations",
];

pub struct Options {
    pub dir: PathBuf,
    pub dir_display: String,
    pub budget: Duration,
    pub stepwise: bool,
    pub cluster: cluster::Options,
    /// Delegate mode: the project's own migration commands, run with `DATABASE_URL` set.
    pub command: Option<Vec<String>>,
    pub down_command: Option<Vec<String>>,
}

pub enum Target {
    Cluster(Result<Install, String>),
    Server(String),
}

pub struct Report {
    pub label: String,
    pub version: String,
    pub timings: Vec<(&'static str, Duration)>,
    pub errors: Vec<String>,
    pub snapshot: Option<Snapshot>,
    pub migrations: usize,
    /// Whether the cluster's data dir came from the initdb cache.
    pub cached: bool,
}

impl Report {
    fn fail(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.errors.contains(&message) {
            self.errors.push(message);
        }
    }

    fn time(&mut self, name: &'static str, d: Duration) {
        match self.timings.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += d,
            None => self.timings.push((name, d)),
        }
    }
}

/// Runs every target in parallel and returns one report per target, in order.
pub fn run(targets: Vec<(String, Target)>, options: &Options, ctx: &Ctx) -> Vec<Report> {
    let migrations = if options.command.is_some() {
        Ok(Vec::new())
    } else {
        migrate::load(&options.dir, &options.dir_display)
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .into_iter()
            .map(|(label, target)| {
                let ctx = ctx.clone();
                let migrations = &migrations;
                s.spawn(move || {
                    let mut report = Report {
                        label,
                        version: String::new(),
                        timings: Vec::new(),
                        errors: Vec::new(),
                        snapshot: None,
                        migrations: 0,
                        cached: false,
                    };
                    match migrations {
                        Ok(list) => one(&mut report, target, list, options, &ctx),
                        Err(e) => report.fail(e.clone()),
                    }
                    report
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a matrix thread panicked"))
            .collect()
    })
}

fn one(report: &mut Report, target: Target, all: &[Migration], options: &Options, ctx: &Ctx) {
    let started = Instant::now();
    report.migrations = all.len();
    // Owned servers stop (and their files go) when this drops, whatever happened.
    let mut owned: Option<cluster::Native> = None;
    let server_url = match target {
        Target::Cluster(Err(e)) => return report.fail(e),
        Target::Cluster(Ok(install)) => {
            report.version = install.version.clone();
            match cluster::start(&install, &options.cluster, ctx) {
                Ok(native) => {
                    report.time("initdb", native.initdb);
                    report.time("start", native.start);
                    report.cached = native.cached;
                    let url = client::local_url(native.port, "postgres");
                    owned = Some(native);
                    url
                }
                Err(e) => return report.fail(e),
            }
        }
        Target::Server(url) => url,
    };
    if let Err(e) = test(report, &server_url, owned.is_some(), all, options, ctx) {
        report.fail(e);
    }
    let stopping = Instant::now();
    drop(owned);
    report.time("stop", stopping.elapsed());
    let total = started.elapsed();
    report.time("total", total);
    if total > options.budget {
        report.fail(format!(
            "took {:.1}s, over the {}s budget",
            total.as_secs_f64(),
            options.budget.as_secs_f64()
        ));
    }
}

fn test(
    report: &mut Report,
    server_url: &str,
    throwaway: bool,
    all: &[Migration],
    options: &Options,
    ctx: &Ctx,
) -> Result<(), String> {
    let t = Instant::now();
    let mut admin = client::connect(server_url)?;
    if report.version.is_empty() {
        report.version = admin
            .query_one("SHOW server_version", &[])
            .map(|r| r.get::<_, String>(0))
            .unwrap_or_default();
    }
    // Unique per run and call: jobs may test against the same server at once.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let tag: String = format!("xtask_{}_{call}_{}", std::process::id(), report.label)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    report.time("setup", t.elapsed());
    let mut created: Vec<String> = Vec::new();
    // CREATE DATABASE costs a copy of template1 (and checkpoints before 15): a throwaway
    // cluster's own `postgres` database serves the first, a second is made only when needed.
    let mut database = |report: &mut Report, suffix: &str| -> Result<String, String> {
        let t = Instant::now();
        let db = format!("{tag}_{suffix}");
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .map_err(|e| format!("CREATE DATABASE {db}: {}", client::describe(&e)))?;
        created.push(db.clone());
        report.time("setup", t.elapsed());
        client::with_database(server_url, &db)
    };
    let result = (|| {
        let first_url = if throwaway {
            server_url.to_string()
        } else {
            database(report, "full")?
        };
        if options.command.is_some() {
            return delegate(report, &first_url, options, ctx);
        }
        let Some((first, clean)) = full(report, &first_url, all, ctx)? else {
            return Ok(());
        };
        if options.stepwise {
            // After a clean rollback the database is as it started; otherwise start afresh.
            let url = if clean {
                first_url
            } else {
                database(report, "step")?
            };
            stepwise(report, &url, all, &first, ctx)?;
        }
        report.snapshot = Some(first);
        Ok(())
    })();
    // A throwaway cluster goes as a whole; on a server we keep, remove what we made.
    for db in &created {
        // FORCE (13+) ends sessions a failed step may have left; older servers wait.
        if admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .is_err()
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"));
        }
    }
    result
}

fn cancelled(ctx: &Ctx) -> Result<(), String> {
    match ctx.token.is_cancelled() {
        true => Err(format!(
            "stopped: {}",
            ctx.token.reason().unwrap_or_default()
        )),
        false => Ok(()),
    }
}

fn snap(report: &mut Report, c: &mut Client) -> Result<Snapshot, String> {
    let t = Instant::now();
    let s = snapshot::take(c).map_err(|e| format!("schema snapshot: {}", client::describe(&e)))?;
    report.time("compare", t.elapsed());
    Ok(s)
}

/// Apply all, snapshot, roll back all. Returns the snapshot after applying everything and
/// whether the rollback restored the starting schema, or `None` when an up failed (then
/// nothing else can be tested on this version).
fn full(
    report: &mut Report,
    url: &str,
    all: &[Migration],
    ctx: &Ctx,
) -> Result<Option<(Snapshot, bool)>, String> {
    let mut c = client::connect(url)?;
    migrate::ensure_table(&mut c)?;
    let baseline = snap(report, &mut c)?;
    let t = Instant::now();
    for m in all {
        cancelled(ctx)?;
        if let Err(f) = migrate::up(&mut c, m) {
            report.fail(f.to_string());
            return Ok(None);
        }
    }
    report.time("apply", t.elapsed());
    let applied = snap(report, &mut c)?;

    let t = Instant::now();
    for m in all.iter().rev() {
        cancelled(ctx)?;
        if let Err(f) = migrate::down(&mut c, m) {
            report.fail(f.to_string());
            return Ok(Some((applied, false)));
        }
    }
    report.time("rollback", t.elapsed());
    let after = snap(report, &mut c)?;
    let d = snapshot::diff(&baseline, &after);
    if !d.is_empty() {
        report.fail(format!(
            "rolling back every migration does not restore the empty schema:{}",
            describe_diff(&d, "left behind", "dropped too much")
        ));
    }
    Ok(Some((applied, d.is_empty())))
}

fn stepwise(
    report: &mut Report,
    url: &str,
    all: &[Migration],
    first: &Snapshot,
    ctx: &Ctx,
) -> Result<(), String> {
    let t = Instant::now();
    let mut c = client::connect(url)?;
    migrate::ensure_table(&mut c)?;
    let mut before = snapshot::take(&mut c).map_err(|e| client::describe(&e))?;
    for m in all {
        cancelled(ctx)?;
        let step = |report: &mut Report, r: Result<(), migrate::Failure>| match r {
            Ok(()) => true,
            Err(f) => {
                report.fail(f.to_string());
                false
            }
        };
        if !step(report, migrate::up(&mut c, m)) {
            return Ok(());
        }
        let after = snapshot::take(&mut c).map_err(|e| client::describe(&e))?;
        if !step(report, migrate::down(&mut c, m)) {
            return Ok(());
        }
        let back = snapshot::take(&mut c).map_err(|e| client::describe(&e))?;
        let d = snapshot::diff(&before, &back);
        if !d.is_empty() {
            let down = m
                .down
                .as_ref()
                .map(|s| s.display.clone())
                .unwrap_or_default();
            report.fail(format!(
                "{down}: does not exactly undo {}:{}",
                m.up.display,
                describe_diff(&d, "left behind", "dropped too much")
            ));
            return Ok(());
        }
        if !step(report, migrate::up(&mut c, m)) {
            return Ok(());
        }
        let again = snapshot::take(&mut c).map_err(|e| client::describe(&e))?;
        let d = snapshot::diff(&after, &again);
        if !d.is_empty() {
            report.fail(format!(
                "{}: applying it again after its down gives a different schema:{}",
                m.up.display,
                describe_diff(&d, "new", "missing")
            ));
            return Ok(());
        }
        before = again;
    }
    let d = snapshot::diff(first, &before);
    if !d.is_empty() {
        report.fail(format!(
            "re-applying every migration gives a different schema than the first time:{}",
            describe_diff(&d, "new", "missing")
        ));
    }
    report.time("stepwise", t.elapsed());
    Ok(())
}

/// Delegate mode: the project's own commands do the migrating; xtask snapshots and compares.
fn delegate(report: &mut Report, url: &str, options: &Options, ctx: &Ctx) -> Result<(), String> {
    let mut c = client::connect(url)?;
    let baseline = without_tools(snap(report, &mut c)?);
    let t = Instant::now();
    run_command(options.command.as_ref().unwrap(), url, ctx)?;
    report.time("apply", t.elapsed());
    let applied = without_tools(snap(report, &mut c)?);
    if let Some(down) = &options.down_command {
        let t = Instant::now();
        run_command(down, url, ctx)?;
        report.time("rollback", t.elapsed());
        let after = without_tools(snap(report, &mut c)?);
        let d = snapshot::diff(&baseline, &after);
        if !d.is_empty() {
            report.fail(format!(
                "`{}` does not restore the empty schema:{}",
                process::display_argv(down),
                describe_diff(&d, "left behind", "dropped too much")
            ));
        }
    }
    report.snapshot = Some(applied);
    Ok(())
}

fn without_tools(s: Snapshot) -> Snapshot {
    s.into_iter()
        .filter(|line| !TOOL_TABLES.iter().any(|t| line.contains(t)))
        .collect()
}

fn run_command(argv: &[String], url: &str, ctx: &Ctx) -> Result<(), String> {
    let mut env = ctx.env.clone();
    env.push(("DATABASE_URL".into(), Some(url.to_string())));
    let spec = Spec {
        argv: argv.to_vec(),
        env,
        dir: Some(ctx.dir.clone()),
        ..Spec::default()
    };
    let display = process::display_argv(argv);
    let sink = ctx.host.bus.command_log(ctx.job, &display);
    let finished =
        process::execute(&spec, &ctx.token, sink).map_err(|e| format!("`{display}`: {e}"))?;
    if !finished.success() {
        return Err(format!(
            "command failed with {}: `{display}`",
            finished.describe()
        ));
    }
    Ok(())
}

pub fn describe_diff(d: &snapshot::Diff, added: &str, removed: &str) -> String {
    let mut text = String::new();
    if !d.added.is_empty() {
        text.push_str(&format!("\n  {added}:{}", snapshot::summarize(&d.added, 8)));
    }
    if !d.removed.is_empty() {
        text.push_str(&format!(
            "\n  {removed}:{}",
            snapshot::summarize(&d.removed, 8)
        ));
    }
    text
}

/// Differences between the versions' schemas, each against the first version that has one.
pub fn compare(reports: &[(String, Snapshot)]) -> Vec<String> {
    let Some((first_label, first)) = reports.first() else {
        return Vec::new();
    };
    reports[1..]
        .iter()
        .filter_map(|(label, s)| {
            let d = snapshot::diff(first, s);
            (!d.is_empty()).then(|| {
                format!(
                    "the schema on {label} differs from {first_label}:{}",
                    describe_diff(
                        &d,
                        &format!("only on {label}"),
                        &format!("only on {first_label}")
                    )
                )
            })
        })
        .collect()
}

/// Timings as seconds, for the result map.
pub fn timings(report: &Report) -> BTreeMap<&'static str, f64> {
    report
        .timings
        .iter()
        .map(|(k, v)| (*k, v.as_secs_f64()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(lines: &[&str]) -> Snapshot {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn cross_version_differences_name_both_sides() {
        let same = snap(&["table public.a", "column public.a.id integer"]);
        let other = snap(&["table public.a", "column public.a.id bigint"]);
        let diffs = compare(&[
            ("PostgreSQL 13.1".into(), same.clone()),
            ("PostgreSQL 14.1".into(), same.clone()),
            ("PostgreSQL 16.1".into(), other),
        ]);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        let d = &diffs[0];
        assert!(
            d.contains("the schema on PostgreSQL 16.1 differs from PostgreSQL 13.1"),
            "{d}"
        );
        assert!(
            d.contains("only on PostgreSQL 16.1:\n    column public.a.id bigint"),
            "{d}"
        );
        assert!(
            d.contains("only on PostgreSQL 13.1:\n    column public.a.id integer"),
            "{d}"
        );
    }

    #[test]
    fn tool_bookkeeping_tables_are_not_schema() {
        let s = without_tools(snap(&["table public._sqlx_migrations", "table public.a"]));
        assert_eq!(s, snap(&["table public.a"]));
    }
}
