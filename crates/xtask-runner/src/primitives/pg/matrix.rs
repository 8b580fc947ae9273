//! `pg::test_migrations`: the migration matrix, one thread per server version.
//!
//! Per version, on a throwaway cluster (or an existing server):
//! 1. in one database: apply every migration (timed), snapshot the schema, roll every migration
//!    back (timed) and check the schema is back to where it started;
//! 2. step-wise (in the same database when the rollback restored it, else in a fresh one): for
//!    each migration up, down (the schema must be exactly what it was before the up), up again
//!    (exactly what the first up gave); at the end the schema must equal the one from step 1.
//!    The schema after a re-up is not read: the next read shows a re-up that differs, and a
//!    difference found that way is told exactly by a run that reads after every re-up.
//!
//! On an existing server the test works in databases it creates and drops.
//!
//! Then the versions' snapshots are compared with each other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postgres::Client;

use super::discover::Install;
use super::migrate::{self, Migration};
use super::narrow::{Catalog, Tracker};
use super::snapshot::{self, Snapshot, Snapshotter};
use super::{client, cluster, migrator, narrow, Ctx};
use crate::process::{self, Spec};

/// Tables other tools keep their bookkeeping in; not part of the schema under test.
const TOOL_TABLES: &[&str] = &[
    "_sqlx_migrations",
    "__diesel_schema_migrations",
    "refinery_schema_history",
    "seaql_migrations",
];

pub struct Options {
    pub plan: Plan,
    pub compare: snapshot::Compare,
    pub budget: Duration,
    pub stepwise: bool,
    pub cluster: cluster::Options,
    /// Delegate mode: the project's own migration commands, run with `DATABASE_URL` set.
    pub command: Option<Vec<String>>,
    pub down_command: Option<Vec<String>>,
    /// Migration-crate mode: a binary speaking sea-orm-migration's command line.
    pub cli: Option<Vec<String>>,
}

/// What to test: the migrations in order, and for each whether its down is tested (false for
/// migrations without a down, ones listed as `irreversible`, and in pull-request mode every
/// migration not added by it: those are only applied).
#[derive(Default)]
pub struct Plan {
    pub migrations: Vec<Migration>,
    pub check_down: Vec<bool>,
}

impl Plan {
    /// The last migration whose down is not tested: rolling back stops above it.
    fn floor(&self) -> Option<usize> {
        self.check_down.iter().rposition(|c| !c)
    }
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
    pub fn fail(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.errors.contains(&message) {
            self.errors.push(message);
        }
    }

    pub fn time(&mut self, name: &'static str, d: Duration) {
        match self.timings.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += d,
            None => self.timings.push((name, d)),
        }
    }
}

/// Runs every target in parallel and returns one report per target, in order.
pub fn run(targets: Vec<(String, Target)>, options: &Options, ctx: &Ctx) -> Vec<Report> {
    std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .into_iter()
            .map(|(label, target)| {
                let ctx = ctx.clone();
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
                    one(&mut report, target, options, &ctx);
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

fn one(report: &mut Report, target: Target, options: &Options, ctx: &Ctx) {
    let started = Instant::now();
    report.migrations = options.plan.migrations.len();
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
    if let Err(e) = test(report, &server_url, owned.is_some(), options, ctx) {
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
        client::with_database(server_url, &db).map_err(String::from)
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
        if let Some(cli) = &options.cli {
            let mut fresh = |report: &mut Report| database(report, "step");
            return migrator::test(report, &first_url, options, cli, &mut fresh, ctx);
        }
        let plan = &options.plan;
        let Some(full) = full(report, &first_url, options, ctx)? else {
            return Ok(());
        };
        if options.stepwise {
            let floor = plan.floor();
            let above = floor.map_or(0, |f| f + 1);
            // A clean rollback left the database at the floor: go on from there unless a
            // migration below it still needs its down tested; otherwise start afresh.
            let resume = full.clean && plan.check_down[..above].iter().all(|c| !c);
            let (url, from, before) = if resume {
                (first_url, above, Some(full.at_floor.clone()))
            } else {
                (database(report, "step")?, 0, None)
            };
            let t = Instant::now();
            // `XTASK_PG_NARROW=off`: every step-wise read in full (for comparison).
            let narrow = ctx.env_var("XTASK_PG_NARROW").as_deref() != Some("off")
                && !plan.migrations.iter().any(|m| {
                    std::iter::once(&m.up)
                        .chain(&m.down)
                        .any(|s| narrow::may_touch_catalogs(&s.sql))
                });
            let errors = report.errors.len();
            let reading = match narrow {
                true => Reading::Deferring,
                false => Reading::Full,
            };
            let mut result = stepwise(
                report,
                &url,
                options,
                from,
                before,
                &full.applied,
                reading,
                ctx,
            );
            // A run whose verdicts cannot stand is made again on a fresh database: at most
            // twice (deferring, then narrowed, then in full), as a full run's verdicts stand.
            let mut reruns = 0;
            loop {
                let reading = match result {
                    Ok(Outcome::Deferred) => Reading::Narrowed,
                    Ok(Outcome::Missed) => Reading::Full,
                    _ => break,
                };
                reruns += 1;
                report.errors.truncate(errors);
                let url = database(report, &format!("recheck{reruns}"))?;
                result = stepwise(report, &url, options, 0, None, &full.applied, reading, ctx);
            }
            report.time("stepwise", t.elapsed());
            result?;
        }
        report.snapshot = Some(full.applied);
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

fn snap(report: &mut Report, c: &mut Client, snapper: &Snapshotter) -> Result<Snapshot, String> {
    let t = Instant::now();
    let s = snapper
        .take(c)
        .map_err(|e| format!("schema snapshot: {}", client::describe(&e)))?;
    report.time("compare", t.elapsed());
    Ok(s)
}

/// The outcome of the full apply and rollback.
struct Full {
    /// The schema with every migration applied.
    applied: Snapshot,
    /// The schema at the floor (after the last migration whose down is not tested), which the
    /// rollback must restore.
    at_floor: Snapshot,
    /// Whether it did.
    clean: bool,
}

/// Apply all, snapshot, roll back down to the floor. `None` when an up failed (then nothing
/// else can be tested on this version).
fn full(
    report: &mut Report,
    url: &str,
    options: &Options,
    ctx: &Ctx,
) -> Result<Option<Full>, String> {
    let plan = &options.plan;
    let all = &plan.migrations;
    let total = all.len();
    let floor = plan.floor();
    let mut c = client::connect(url)?;
    migrate::ensure_table(&mut c)?;
    let snapper = Snapshotter::new(&mut c, &options.compare).map_err(|e| client::describe(&e))?;
    let baseline = snap(report, &mut c, &snapper)?;
    let mut at_floor = baseline;
    let t = Instant::now();
    for (i, m) in all.iter().enumerate() {
        cancelled(ctx)?;
        if let Err(f) = migrate::up(&mut c, m) {
            report.time("apply", t.elapsed());
            report.fail(f.at_step(i, total).to_string());
            return Ok(None);
        }
        if Some(i) == floor {
            at_floor = snapper.take(&mut c).map_err(|e| client::describe(&e))?;
        }
    }
    report.time("apply", t.elapsed());
    let applied = snap(report, &mut c, &snapper)?;

    let t = Instant::now();
    let above = floor.map_or(0, |f| f + 1);
    for i in (above..total).rev() {
        cancelled(ctx)?;
        if let Err(f) = migrate::down(&mut c, &all[i]) {
            report.time("rollback", t.elapsed());
            report.fail(f.at_step(i, total).to_string());
            return Ok(Some(Full {
                applied,
                at_floor,
                clean: false,
            }));
        }
    }
    report.time("rollback", t.elapsed());
    let after = snap(report, &mut c, &snapper)?;
    let d = snapshot::diff(&at_floor, &after);
    if !d.is_empty() {
        let what = match floor {
            None => "rolling back every migration does not restore the empty schema".to_string(),
            Some(f) => format!(
                "rolling back migrations {} to {total} does not restore the schema after migration {} ({})",
                f + 2,
                f + 1,
                all[f].id
            ),
        };
        report.fail(format!(
            "{what}:{}",
            describe_diff(&d, "left behind", "dropped too much")
        ));
    }
    Ok(Some(Full {
        applied,
        at_floor,
        clean: d.is_empty(),
    }))
}

/// How a step-wise run reads the schema after its steps.
#[derive(Clone, Copy, PartialEq)]
enum Reading {
    /// Narrowed, and the read after a re-up deferred (see `steps`).
    Deferring,
    /// Narrowed to what each step touched (`narrow::Tracker`), where the server allows it.
    Narrowed,
    /// Every step in full.
    Full,
}

/// Whether a step-wise run's verdicts stand.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// They do.
    Final,
    /// A deferred run found a difference or a failure, which may belong to an earlier re-up
    /// than the step it showed at: a run that defers nothing says which migration it is.
    Deferred,
    /// The narrowed reads missed a change PostgreSQL did not report: a run reading every step
    /// in full gives the verdicts.
    Missed,
}

/// Step-wise from migration `from` (0-based) on, the database holding everything before it:
/// each migration whose down is tested goes up, down (the schema must be exactly what it was
/// before), up again (exactly what the first up gave); the others are only applied. At the end
/// the schema must equal `first`, the full apply's.
///
/// Narrowed, the schema after each step is read narrowed to what the step touched
/// (`narrow::Tracker`) where the server allows it; the end compares a full snapshot with the
/// tracked schema, and `Outcome::Missed` says they disagree.
#[allow(clippy::too_many_arguments)]
fn stepwise(
    report: &mut Report,
    url: &str,
    options: &Options,
    from: usize,
    before: Option<Snapshot>,
    first: &Snapshot,
    reading: Reading,
    ctx: &Ctx,
) -> Result<Outcome, String> {
    let mut c = client::connect(url)?;
    migrate::ensure_table(&mut c)?;
    let snapper = Snapshotter::new(&mut c, &options.compare).map_err(|e| client::describe(&e))?;
    let tracker = match reading {
        Reading::Full => None,
        _ => Tracker::install(&mut c, &options.compare),
    };
    let mut reader = match tracker {
        Some(tracker) => Reader::Narrowed(tracker),
        None => Reader::Full(&snapper),
    };
    let defer = reading == Reading::Deferring && matches!(reader, Reader::Narrowed(_));
    // `None`: the schema changed since the last read (an untested migration was applied).
    let mut state = match &mut reader {
        Reader::Narrowed(tracker) => Some(State::Narrowed(tracker.take(&mut c)?)),
        Reader::Full(_) => before.map(|s| State::Full(Known::new(s))),
    };
    let (result, deferred) = steps(
        report,
        &mut c,
        &mut reader,
        &mut state,
        options,
        from,
        defer,
        ctx,
    )?;
    let unsure = match deferred {
        true => Outcome::Deferred,
        false => Outcome::Final,
    };
    let last = match (state, result) {
        (_, Steps::Failed) => return Ok(unsure),
        (Some(State::Narrowed(tracked)), Steps::Done) => {
            let real = snapper.take(&mut c).map_err(|e| client::describe(&e))?;
            if tracked.snapshot() != real {
                return Ok(Outcome::Missed);
            }
            real
        }
        (Some(State::Full(known)), Steps::Done) => known.lines,
        (_, Steps::Done) => snapper.take(&mut c).map_err(|e| client::describe(&e))?,
    };
    let d = snapshot::diff(first, &last);
    if !d.is_empty() {
        if deferred {
            return Ok(Outcome::Deferred);
        }
        report.fail(format!(
            "re-applying every migration gives a different schema than the first time:{}",
            describe_diff(&d, "new", "missing")
        ));
    }
    Ok(Outcome::Final)
}

enum Steps {
    Done,
    Failed,
}

/// The step-wise loop proper (see `stepwise`); `state` is the schema now, when known. Also
/// says whether a read was deferred.
///
/// With `defer`, the read after a re-up is left out, which saves a third of the reads: the
/// schema is taken to be what the first up gave, while the tracker's log keeps the re-up's
/// changes (on top of `base`, the schema after the down) for the next read, which is exact
/// again. A re-up that gives something else shows later: at the next down's check, in an
/// untested migration's read or at the end. Any difference or failure after a deferred read
/// is then handed back, to be told by a run that defers nothing.
#[allow(clippy::too_many_arguments)]
fn steps(
    report: &mut Report,
    c: &mut Client,
    reader: &mut Reader,
    state: &mut Option<State>,
    options: &Options,
    from: usize,
    defer: bool,
    ctx: &Ctx,
) -> Result<(Steps, bool), String> {
    let plan = &options.plan;
    let all = &plan.migrations;
    let total = all.len();
    let mut base: Option<State> = None;
    let mut deferred = false;
    for (i, m) in all.iter().enumerate().skip(from) {
        cancelled(ctx)?;
        let before_up = match plan.check_down[i] {
            true => Some(reader.settle(c, state.take())?),
            false => None,
        };
        if let Err(f) = migrate::up(c, m) {
            report.fail(f.at_step(i, total).to_string());
            return Ok((Steps::Failed, deferred));
        }
        let Some(before_up) = before_up else {
            let known = base.take().or(state.take());
            *state = reader.untested(c, known)?;
            continue;
        };
        let from = base.take();
        let after = reader.read(c, from.as_ref().unwrap_or(&before_up))?;
        if let Err(f) = migrate::down(c, m) {
            report.fail(f.at_step(i, total).to_string());
            return Ok((Steps::Failed, deferred));
        }
        let (d, back) = reader.check(c, &after, &before_up)?;
        if !d.is_empty() {
            let down = m
                .down
                .as_ref()
                .map(|s| s.display.clone())
                .unwrap_or_default();
            report.fail(format!(
                "migration {} of {total}: {down}: does not exactly undo {}:{}",
                i + 1,
                m.up.display,
                describe_diff(&d, "left behind", "dropped too much")
            ));
            return Ok((Steps::Failed, deferred));
        }
        if let Err(f) = migrate::up(c, m) {
            report.fail(f.at_step(i, total).to_string());
            return Ok((Steps::Failed, deferred));
        }
        if defer {
            base = Some(back);
            *state = Some(after);
            deferred = true;
            continue;
        }
        let (d, again) = reader.check(c, &back, &after)?;
        if !d.is_empty() {
            report.fail(format!(
                "migration {} of {total}: {}: applying it again after its down gives a different schema:{}",
                i + 1,
                m.up.display,
                describe_diff(&d, "new", "missing")
            ));
            return Ok((Steps::Failed, deferred));
        }
        *state = Some(again);
    }
    // The last re-up's changes, read in.
    if let Some(from) = base {
        *state = Some(reader.read(c, &from)?);
    }
    Ok((Steps::Done, deferred))
}

/// How the step-wise check reads the schema after a step: narrowed to what the step touched,
/// or in full (a server digest first, the lines only when it differs).
enum Reader<'a> {
    Narrowed(Tracker),
    Full(&'a Snapshotter),
}

/// The schema at one point of the step-wise check, as its reader keeps it.
enum State {
    Narrowed(Catalog),
    Full(Known),
}

impl State {
    fn lines(&self) -> Snapshot {
        match self {
            State::Narrowed(catalog) => catalog.snapshot(),
            State::Full(known) => known.lines.clone(),
        }
    }
}

impl Reader<'_> {
    fn take(&self, c: &mut Client) -> Result<Known, String> {
        let Reader::Full(snapper) = self else {
            unreachable!("only the full reader takes bare snapshots")
        };
        Ok(Known::new(
            snapper.take(c).map_err(|e| client::describe(&e))?,
        ))
    }

    /// The schema now, `known` being it when the last step left it known.
    fn settle(&mut self, c: &mut Client, known: Option<State>) -> Result<State, String> {
        match (self, known) {
            (_, Some(state)) => Ok(state),
            (Reader::Narrowed(tracker), None) => Ok(State::Narrowed(tracker.take(c)?)),
            (reader, None) => Ok(State::Full(reader.take(c)?)),
        }
    }

    /// After a migration whose down is not tested: narrowed tracking follows it, the full
    /// reader reads the schema only when it is next needed.
    fn untested(&mut self, c: &mut Client, known: Option<State>) -> Result<Option<State>, String> {
        match (self, known) {
            (Reader::Narrowed(tracker), Some(State::Narrowed(before))) => {
                Ok(Some(State::Narrowed(tracker.after(c, &before)?)))
            }
            (Reader::Narrowed(tracker), _) => Ok(Some(State::Narrowed(tracker.take(c)?))),
            (Reader::Full(_), _) => Ok(None),
        }
    }

    /// The schema after a step from `before`.
    fn read(&mut self, c: &mut Client, before: &State) -> Result<State, String> {
        match (self, before) {
            (Reader::Narrowed(tracker), State::Narrowed(before)) => {
                Ok(State::Narrowed(tracker.after(c, before)?))
            }
            (Reader::Narrowed(tracker), _) => Ok(State::Narrowed(tracker.take(c)?)),
            (reader, _) => Ok(State::Full(reader.take(c)?)),
        }
    }

    /// How the schema after a step from `before` differs from `expected`, and the schema.
    fn check(
        &mut self,
        c: &mut Client,
        before: &State,
        expected: &State,
    ) -> Result<(snapshot::Diff, State), String> {
        if let (Reader::Full(snapper), State::Full(known)) = (&*self, expected) {
            // Most steps match, and a digest is one short row.
            let digest = snapper.take_digest(c).map_err(|e| client::describe(&e))?;
            if digest.as_deref() == Some(known.digest.as_str()) {
                return Ok((snapshot::Diff::default(), State::Full(known.clone())));
            }
        }
        let now = self.read(c, before)?;
        Ok((snapshot::diff(&expected.lines(), &now.lines()), now))
    }
}

/// A snapshot's lines and their digest, for comparing a later state by digest.
#[derive(Clone)]
struct Known {
    lines: Snapshot,
    digest: String,
}

impl Known {
    fn new(lines: Snapshot) -> Known {
        Known {
            digest: snapshot::digest(&lines),
            lines,
        }
    }
}

/// Delegate mode: the project's own commands do the migrating; xtask snapshots and compares.
fn delegate(report: &mut Report, url: &str, options: &Options, ctx: &Ctx) -> Result<(), String> {
    let mut c = client::connect(url)?;
    let snapper = Snapshotter::new(&mut c, &options.compare).map_err(|e| client::describe(&e))?;
    let baseline = without_tools(snap(report, &mut c, &snapper)?);
    let t = Instant::now();
    run_command(options.command.as_ref().unwrap(), url, ctx)?;
    report.time("apply", t.elapsed());
    let applied = without_tools(snap(report, &mut c, &snapper)?);
    if let Some(down) = &options.down_command {
        let t = Instant::now();
        run_command(down, url, ctx)?;
        report.time("rollback", t.elapsed());
        let after = without_tools(snap(report, &mut c, &snapper)?);
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

pub fn without_tools(s: Snapshot) -> Snapshot {
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
    let log = ctx.host.bus.command_log(ctx.job, &display);
    // Streamed into the log and kept, so a failure can quote the error the tool printed.
    let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink: process::Sink = {
        let captured = std::sync::Arc::clone(&captured);
        std::sync::Arc::new(move |bytes: Vec<u8>| {
            captured.lock().unwrap().extend_from_slice(&bytes);
            log(bytes);
        })
    };
    let finished =
        process::execute(&spec, &ctx.token, sink).map_err(|e| format!("`{display}`: {e}"))?;
    if !finished.success() {
        let output = String::from_utf8_lossy(&captured.lock().unwrap()).into_owned();
        return Err(format!(
            "command failed with {}: `{display}`{}",
            finished.describe(),
            migrator::printed_error(&output)
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
