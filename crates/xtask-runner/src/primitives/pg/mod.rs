//! `pg::`: PostgreSQL for tasks. Throwaway clusters per major version (native binaries found
//! on this machine, or a docker image), existing servers, a migration runner for sqlx-,
//! diesel- and refinery-style layouts, schema snapshots, and the migration test matrix.
//!
//! One module per concern: `discover` (installations), `cluster` (native throwaway servers),
//! `docker` (the docker backend), `client` (connections, errors with positions), `migrate`
//! (layouts and the runner), `snapshot` (schema from the catalog), `matrix` (the test),
//! `template` (the initdb cache).

pub mod backup;
pub mod client;
pub mod cluster;
pub mod discover;
pub mod docker;
pub mod error;
pub mod layout;
pub mod matrix;
pub mod migrate;
pub mod migrator;
pub mod narrow;
pub mod options;
pub mod plan;
pub mod snapshot;
pub mod sql;
pub mod template;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Module};

use self::error::PgError;
use self::options::{
    BackupOptions, BackupResult, ClusterOptions, CompareOptions, MigrateOptions, MigrateResult,
    RollbackOptions, RollbackResult, SeedResult, ServerSetup, StatusOptions, StatusResult,
    TestOptions, TestResult, VersionResult,
};
use super::error::IntoScript as _;
use super::options::{self as declared, Options as _};
use super::Result;
use crate::cancel::CancelToken;
use crate::events::{JobId, Level};
use crate::script::{context, Host, Mode};
pub(crate) use options::{FUNCTIONS, HANDLE};

/// What native code running on helper threads needs from the calling job's scope.
#[derive(Clone)]
pub struct Ctx {
    pub host: Arc<Host>,
    pub job: Option<JobId>,
    pub token: CancelToken,
    pub env: Vec<(String, Option<String>)>,
    pub dir: PathBuf,
}

impl Ctx {
    pub fn current() -> Ctx {
        let scope = context::current();
        let dir = scope.dir.borrow().clone();
        Ctx {
            host: Arc::clone(&scope.host),
            job: scope.job,
            token: scope.token(),
            env: scope.env_changes(),
            dir,
        }
    }

    pub fn env_var(&self, key: &str) -> Option<String> {
        match self.env.iter().rev().find(|(k, _)| k == key) {
            Some((_, value)) => value.clone(),
            None => std::env::var(key).ok(),
        }
    }

    fn message(&self, level: Level, text: impl Into<String>) {
        self.host.bus.message(self.job, level, text);
    }

    fn found(&self) -> discover::Found {
        let (pg_path, path) = (self.env_var("XTASK_PG_PATH"), self.env_var("PATH"));
        super::implied::env("XTASK_PG_PATH", pg_path.as_deref());
        super::implied::env("PATH", path.as_deref());
        let found = discover::find(pg_path, path);
        // The server builds found: a new minor version is a new binary.
        for install in &found.installs {
            super::implied::server_binary(&install.tool("postgres"));
        }
        found
    }
}

/// A server a script talks to: a throwaway cluster or container it owns, or an existing one.
#[derive(Clone)]
pub struct Server {
    pub url: String,
    pub port: u16,
    pub major: i64,
    pub version: String,
    pub backend: &'static str,
    pub dir: Option<String>,
    pub pid: Option<i64>,
    owned: Option<Arc<Mutex<Option<Owned>>>>,
}

/// Held only for its `Drop`, which stops the server and removes its files.
#[allow(dead_code)]
enum Owned {
    Native(cluster::Native),
    Docker(docker::Container),
}

impl Server {
    fn stop(&self) {
        if let Some(owned) = &self.owned {
            let taken = owned.lock().unwrap().take();
            drop(taken);
        }
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Server>("PgServer");
    engine.register_get("url", |s: &mut Server| s.url.clone());
    engine.register_get("port", |s: &mut Server| s.port as i64);
    engine.register_get("version", |s: &mut Server| s.major);
    engine.register_get("server_version", |s: &mut Server| s.version.clone());
    engine.register_get("backend", |s: &mut Server| s.backend.to_string());
    engine.register_get("dir", |s: &mut Server| match &s.dir {
        Some(d) => Dynamic::from(d.clone()),
        None => Dynamic::UNIT,
    });
    engine.register_get("pid", |s: &mut Server| match s.pid {
        Some(p) => Dynamic::from_int(p),
        None => Dynamic::UNIT,
    });
    engine.register_fn("stop", |s: &mut Server| s.stop());
    engine.register_fn("to_string", |s: &mut Server| s.url.clone());

    let mut m = Module::new();
    // Parameter names and types for the generated definitions and docs (return type last).
    let f = |name: &str, info: &[&str]| FuncRegistration::new(name).with_params_info(info);
    f("versions", &["Array"]).set_into_module(&mut m, || -> Array {
        Ctx::current()
            .found()
            .majors()
            .into_iter()
            .map(|v| Dynamic::from_int(v as i64))
            .collect()
    });
    f("cluster", &["version: i64", "PgServer"])
        .set_into_module(&mut m, |v: i64| start_cluster(v, Map::new()));
    f("cluster", &["version: i64", "options: Map", "PgServer"])
        .set_into_module(&mut m, |v: i64, o: Map| start_cluster(v, o));
    f("server", &["url: &str", "PgServer"]).set_into_module(&mut m, server);

    // migrate, rollback, status and snapshot take a URL string or a server handle.
    f("migrate", &["target: ?", "Map"])
        .set_into_module(&mut m, |t: Dynamic| migrate_fn(t, Map::new()));
    f("migrate", &["target: ?", "options: Map", "Map"]).set_into_module(&mut m, migrate_fn);
    f("rollback", &["target: ?", "Map"])
        .set_into_module(&mut m, |t: Dynamic| rollback_fn(t, Map::new()));
    f("rollback", &["target: ?", "options: Map", "Map"]).set_into_module(&mut m, rollback_fn);
    f("status", &["target: ?", "Map"])
        .set_into_module(&mut m, |t: Dynamic| status_fn(t, Map::new()));
    f("status", &["target: ?", "options: Map", "Map"]).set_into_module(&mut m, status_fn);
    f("snapshot", &["target: ?", "Array"])
        .set_into_module(&mut m, |t: Dynamic| snapshot_fn(t, Map::new()));
    f("snapshot", &["target: ?", "options: Map", "Array"]).set_into_module(&mut m, snapshot_fn);
    f("test_migrations", &["options: Map", "Map"]).set_into_module(&mut m, test_migrations);
    f("compare", &["results: Array", "Array"]).set_into_module(&mut m, compare_fn);
    f("query", &["target: ?", "sql: &str", "Array"])
        .set_into_module(&mut m, |t: Dynamic, sql: &str| {
            query_fn(t, sql, Array::new())
        });
    f(
        "query",
        &["target: ?", "sql: &str", "params: Array", "Array"],
    )
    .set_into_module(&mut m, query_fn);
    f("execute", &["target: ?", "sql: &str", "()"]).set_into_module(&mut m, execute_fn);
    f("seed", &["target: ?", "file: &str", "Map"]).set_into_module(&mut m, seed_fn);
    f("database", &["target: ?", "name: &str", "String"]).set_into_module(&mut m, database_fn);
    f("backup", &["target: ?", "Map"])
        .set_into_module(&mut m, |t: Dynamic| backup_fn(t, Map::new()));
    f("backup", &["target: ?", "options: Map", "Map"]).set_into_module(&mut m, backup_fn);
    f("restore", &["target: ?", "backup: Map", "()"]).set_into_module(&mut m, restore_fn);
    engine.register_static_module("pg", m.into());
}

fn not_planning(what: &str) -> Result<()> {
    if context::current().host.mode == Mode::Plan {
        return super::error(format!(
            "{what} starts servers: call it inside a job, not at the top level of a task"
        ));
    }
    Ok(())
}

fn start_cluster(version: i64, options: Map) -> Result<Server> {
    const WHAT: &str = "pg::cluster";
    declared::check_known(
        WHAT,
        &options,
        &[ClusterOptions::FIELDS, ServerSetup::FIELDS],
    )?;
    let setup: ServerSetup = declared::parse_part(WHAT, &options)?;
    let options: ClusterOptions = declared::parse_part(WHAT, &options)?;
    not_planning(WHAT)?;
    let ctx = Ctx::current();
    let major =
        u32::try_from(version).or_else(|_| super::error("a version is a major number, e.g. 16"))?;
    let cluster_options = cluster_options(setup);
    let backend = options.backend;
    let image = options
        .image
        .unwrap_or_else(|| docker::default_image(major));
    let found = ctx.found().get(major);
    let use_docker = match backend.as_str() {
        "native" => false,
        "docker" => true,
        "auto" => found.is_err() && docker::has_image(&ctx, &image),
        other => {
            return Err(PgError::UnknownBackend {
                backend: other.into(),
            })
            .script()
        }
    };
    let server = if use_docker {
        let container = docker::start(&image, &cluster_options, &ctx)
            .map_err(|source| PgError::Docker { major, source })
            .script()?;
        let url = client::local_url(container.port, "postgres");
        let version = server_version(&url).unwrap_or_else(|_| major.to_string());
        Server {
            url,
            port: container.port,
            major: major as i64,
            version,
            backend: "docker",
            dir: None,
            pid: None,
            owned: Some(Arc::new(Mutex::new(Some(Owned::Docker(container))))),
        }
    } else {
        let install = found
            .map_err(|missing| match backend.as_str() {
                "auto" => PgError::NoBackend { missing, image },
                _ => PgError::NotFound(missing),
            })
            .script()?;
        let native = cluster::start(&install, &cluster_options, &ctx).script()?;
        ctx.message(
            Level::Info,
            format!(
                "PostgreSQL {} on port {} (initdb {:.1}s{}, start {:.1}s)",
                install.version,
                native.port,
                native.initdb.as_secs_f64(),
                if native.cached { " from the cache" } else { "" },
                native.start.as_secs_f64()
            ),
        );
        Server {
            url: client::local_url(native.port, "postgres"),
            port: native.port,
            major: major as i64,
            version: install.version.clone(),
            backend: "native",
            dir: Some(native.path.display().to_string()),
            pid: Some(native.pid() as i64),
            owned: Some(Arc::new(Mutex::new(Some(Owned::Native(native))))),
        }
    };
    let handle = server.clone();
    context::current().on_exit(move || handle.stop());
    Ok(server)
}

fn cluster_options(setup: ServerSetup) -> cluster::Options {
    let mut out = cluster::Options::default();
    if let Some(locale) = setup.locale {
        out.locale = locale;
    }
    out.settings = setup.settings.0;
    out
}

fn server_version(url: &str) -> std::result::Result<String, PgError> {
    let mut c = client::connect(url)?;
    c.query_one("SHOW server_version", &[])
        .map(|r| r.get::<_, String>(0))
        .map_err(PgError::Sql)
}

/// `pg::server(url)`: an existing server (a CI service container, `DATABASE_URL`).
fn server(url: &str) -> Result<Server> {
    super::implied::volatile("pg::server is an existing server, outside the tree");
    mask_password(url);
    let version = server_version(url).script()?;
    let major = discover::major_of(&version).unwrap_or(0) as i64;
    let port = postgres_port(url);
    Ok(Server {
        url: url.to_string(),
        port,
        major,
        version,
        backend: "external",
        dir: None,
        pid: None,
        owned: None,
    })
}

/// Registers a URL's password as a secret, so no log line shows it.
fn mask_password(url: &str) {
    let Some((_, rest)) = url.split_once("://") else {
        return;
    };
    let Some((userinfo, _)) = rest.rsplit_once('@') else {
        return;
    };
    if let Some((_, password)) = userinfo.split_once(':') {
        if !password.is_empty() {
            context::current().host.bus.add_secret(password);
        }
    }
}

fn postgres_port(url: &str) -> u16 {
    use std::str::FromStr;
    postgres::Config::from_str(url)
        .ok()
        .and_then(|c| c.get_ports().first().copied())
        .unwrap_or(5432)
}

fn target_url(target: &Dynamic) -> Result<String> {
    if let Some(server) = target.clone().try_cast::<Server>() {
        return Ok(server.url);
    }
    if target.is_string() {
        let url = target.to_string();
        mask_password(&url);
        return Ok(url);
    }
    super::error(format!(
        "expected a database URL or a server from pg::cluster/pg::server, not {}",
        target.type_name()
    ))
}

fn dir_option(display: &str) -> PathBuf {
    let dir = context::current().path(display);
    super::implied::migrations(&dir);
    dir
}

/// Loads the migrations of `display` (the `dir` option) as their tool would, telling what it
/// ignored; with `-v`, also the order.
fn load(display: &str) -> Result<Vec<migrate::Migration>> {
    let dir = dir_option(display);
    let loaded = layout::load(&dir, display).script()?;
    let ctx = Ctx::current();
    for note in &loaded.notes {
        ctx.message(Level::Info, note.clone());
    }
    if ctx.host.verbose.load(std::sync::atomic::Ordering::Relaxed) {
        let order: Vec<String> = loaded
            .migrations
            .iter()
            .enumerate()
            .map(|(i, m)| format!("\n  {:>4}. {}", i + 1, m.id))
            .collect();
        ctx.message(
            Level::Info,
            format!(
                "{display}: {} {} migrations, in the order {} applies them:{}",
                loaded.migrations.len(),
                loaded.tool.name(),
                loaded.tool.name(),
                order.concat()
            ),
        );
    }
    Ok(loaded.migrations)
}

fn connect(url: &str) -> Result<postgres::Client> {
    client::connect(url).script()
}

/// `pg::migrate(target, #{ dir, command })`: apply pending migrations, or delegate to the
/// project's own command with `DATABASE_URL` set.
///
/// `budget` ("60s"): the run fails when applying takes longer (the reference pipeline's gate
/// on a seeded database).
fn migrate_fn(target: Dynamic, options: Map) -> Result<Map> {
    let options: MigrateOptions = declared::parse(&options)?;
    let budget = options.budget.map(|b| b.0);
    let url = target_url(&target)?;
    if let Some(command) = options.command {
        let run_options = super::process::RunOptions {
            env: super::options::Vars(vec![("DATABASE_URL".into(), Some(url))]),
            ..super::process::RunOptions::default()
        };
        let result = super::process::run_with(command.0, run_options, false).script()?;
        let took = result.exit.duration;
        if let (Some(budget), Some(took)) = (budget, took) {
            if took > budget.as_secs_f64() {
                return Err(PgError::CommandOverBudget { took, budget }).script();
            }
        }
        let result = MigrateResult {
            delegated: true,
            duration: took,
            ..MigrateResult::default()
        };
        return Ok(declared::to_map(&result));
    }
    let all = load(&options.dir)?;
    let mut c = connect(&url)?;
    let started = std::time::Instant::now();
    let applied = migrate::migrate(&mut c, &all).script()?;
    let took = started.elapsed();
    Ctx::current().message(
        Level::Info,
        format!(
            "{} migration(s) applied in {:.2}s",
            applied.len(),
            took.as_secs_f64()
        ),
    );
    if let Some(budget) = budget {
        if took > budget {
            return Err(PgError::OverBudget {
                applied: applied.len(),
                took,
                budget,
            })
            .script();
        }
    }
    Ok(declared::to_map(&MigrateResult {
        applied: Some(applied),
        delegated: false,
        duration: Some(took.as_secs_f64()),
    }))
}

/// `pg::rollback(target, #{ dir, steps })`: revert the last `steps` (default 1) migrations;
/// `steps: "all"` reverts everything.
fn rollback_fn(target: Dynamic, options: Map) -> Result<Map> {
    let options: RollbackOptions = declared::parse(&options)?;
    let url = target_url(&target)?;
    let all = load(&options.dir)?;
    let mut c = connect(&url)?;
    let reverted = migrate::rollback(&mut c, &all, options.steps.0).script()?;
    Ok(declared::to_map(&RollbackResult { reverted }))
}

/// `pg::status(target, #{ dir })`: applied and pending migrations; `changed` lists applied
/// ones whose up file changed since, `unknown` applied versions with no file.
fn status_fn(target: Dynamic, options: Map) -> Result<Map> {
    let options: StatusOptions = declared::parse(&options)?;
    let url = target_url(&target)?;
    let all = load(&options.dir)?;
    let mut c = connect(&url)?;
    let done = migrate::applied(&mut c).script()?;
    let (mut applied, mut pending, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for m in &all {
        match done.get(&m.version) {
            Some((_, checksum)) => {
                applied.push(m.id());
                if *checksum != m.checksum() {
                    changed.push(m.id());
                }
            }
            None => pending.push(m.id()),
        }
    }
    let unknown: Vec<String> = done
        .iter()
        .filter(|(v, _)| !all.iter().any(|m| &m.version == *v))
        .map(|(v, (name, _))| format!("{v}_{name}"))
        .collect();
    Ok(declared::to_map(&StatusResult {
        applied,
        pending,
        changed,
        unknown,
    }))
}

/// `pg::query(target, sql, [params])`: one statement's rows as maps (column name to value).
fn query_fn(target: Dynamic, sql: &str, params: Array) -> Result<Array> {
    let url = target_url(&target)?;
    let mut c = connect(&url)?;
    sql::query(&mut c, sql, &params)
        .map_err(PgError::Query)
        .script()
}

/// `pg::execute(target, sql)`: a script of statements in one transaction.
fn execute_fn(target: Dynamic, script: &str) -> Result<()> {
    let url = target_url(&target)?;
    let mut c = connect(&url)?;
    sql::execute(&mut c, script, "pg::execute").script()
}

/// `pg::database(target, name)`: the URL of database `name` on the same server, created if
/// missing.
fn database_fn(target: Dynamic, name: &str) -> Result<String> {
    let url = target_url(&target)?;
    let mut c = connect(&url)?;
    sql::create_database(&mut c, name)
        .map_err(|e| e.within("pg::database"))
        .script()?;
    client::with_database(&url, name).script()
}

/// `pg::seed(target, file)`: a fixture file of statements; errors name the file and line:col.
fn seed_fn(target: Dynamic, file: &str) -> Result<Map> {
    let url = target_url(&target)?;
    let path = context::current().path(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|source| PgError::SeedRead {
            file: file.into(),
            source,
        })
        .script()?;
    let mut c = connect(&url)?;
    let started = std::time::Instant::now();
    sql::execute(&mut c, &text, file).script()?;
    Ok(declared::to_map(&SeedResult {
        statements: client::split(&text).len() as i64,
        duration: started.elapsed().as_secs_f64(),
    }))
}

/// `pg::backup(target, #{ keep })`: a copy of the database in the same cluster, dropped when the
/// job ends unless `keep: true`. Returns `#{ url, database, backup }` for `pg::restore`.
fn backup_fn(target: Dynamic, options: Map) -> Result<Map> {
    let options: BackupOptions = declared::parse(&options)?;
    not_planning("pg::backup")?;
    let url = target_url(&target)?;
    let made = backup::backup(&url)
        .map_err(|e| e.within("pg::backup"))
        .script()?;
    Ctx::current().message(
        Level::Info,
        format!("backed up database {} as {}", made.database, made.copy),
    );
    if !options.keep {
        let (url, copy) = (url.clone(), made.copy.clone());
        context::current().on_exit(move || {
            if let Ok(mut admin) = backup::maintenance(&url, &copy) {
                let _ = backup::drop_database(&mut admin, &copy);
            }
        });
    }
    Ok(declared::to_map(&BackupResult {
        url: client::with_database(&url, &made.copy).script()?,
        database: made.database,
        backup: made.copy,
    }))
}

/// `pg::restore(target, backup)`: the target's database becomes a copy of the backup again.
fn restore_fn(target: Dynamic, made: Map) -> Result<()> {
    let url = target_url(&target)?;
    let Some(copy) = made.get("backup").filter(|v| v.is_string()) else {
        return super::error("pg::restore takes the map pg::backup returned");
    };
    let copy = copy.to_string();
    backup::restore(&url, &copy)
        .map_err(|e| e.within("pg::restore"))
        .script()?;
    Ctx::current().message(
        Level::Info,
        format!(
            "restored database {} from {copy}",
            backup::database_of(&url).unwrap_or_default()
        ),
    );
    Ok(())
}

/// `pg::snapshot(target)`: the schema as sorted lines.
fn snapshot_fn(target: Dynamic, options: Map) -> Result<Array> {
    let options: CompareOptions = declared::parse(&options)?;
    let url = target_url(&target)?;
    let mut c = connect(&url)?;
    let s = snapshot::take_with(&mut c, &compare_options(options))
        .map_err(PgError::Sql)
        .script()?;
    Ok(s.into_iter().map(Dynamic::from).collect())
}

/// `ignore_column_order` and `normalize_whitespace` (function bodies); both off: strict.
fn compare_options(options: CompareOptions) -> snapshot::Compare {
    snapshot::Compare {
        ignore_column_order: options.ignore_column_order,
        normalize_whitespace: options.normalize_whitespace,
    }
}

/// `pg::test_migrations(#{ versions, dir, budget, ... })`: see `matrix`.
fn test_migrations(options: Map) -> Result<Map> {
    const WHAT: &str = "pg::test_migrations";
    let parts = [
        TestOptions::FIELDS,
        ServerSetup::FIELDS,
        CompareOptions::FIELDS,
    ];
    declared::check_known(WHAT, &options, &parts)?;
    let setup: ServerSetup = declared::parse_part(WHAT, &options)?;
    let compare: CompareOptions = declared::parse_part(WHAT, &options)?;
    let options: TestOptions = declared::parse_part(WHAT, &options)?;
    not_planning(WHAT)?;
    let ctx = Ctx::current();
    let dir_display = options.dir.clone();
    let dir = dir_option(&dir_display);
    let budget = options.budget.0;
    let cli = options.cli.map(|c| c.0);
    let command = options.command.map(|c| c.0);
    if cli.is_some() && command.is_some() {
        return super::error("give `cli` (a migration binary) or `command`, not both");
    }
    if cli.is_some()
        && (options.since.is_some() || options.last.is_some() || options.irreversible.is_some())
    {
        return super::error(
            "`since`, `last` and `irreversible` work on SQL migration files, not with `cli`",
        );
    }
    if command.is_some() || cli.is_some() {
        // The project's own migration program reads its own sources (a SeaORM crate): what it
        // depends on is not known here, so the job needs declared `inputs` to be skipped.
        super::implied::opaque("pg::test_migrations runs the project's migration program");
    }
    let plan = if command.is_some() || cli.is_some() {
        matrix::Plan::default()
    } else {
        let selection = plan::Selection {
            since: options.since.clone(),
            last: options
                .last
                .map(|n| declared::count(WHAT, "last", n))
                .transpose()?,
            irreversible: options.irreversible.clone().unwrap_or_default().0,
        };
        let migrations = load(&dir_display)?;
        let list_at = |rev: &str| plan::git_list(&dir, rev, &ctx);
        let (plan, notes) =
            plan::select(migrations, &selection, &dir_display, &list_at).script()?;
        for note in notes {
            ctx.message(Level::Info, note);
        }
        plan
    };
    let opts = matrix::Options {
        plan,
        compare: compare_options(compare),
        budget,
        stepwise: options.stepwise,
        cluster: cluster_options(setup),
        command,
        down_command: options.down_command.map(|c| c.0),
        cli,
    };
    let targets: Vec<(String, matrix::Target)> = match &options.server {
        Some(server) => vec![(
            "server".into(),
            matrix::Target::Server(target_url(&server.0)?),
        )],
        None => {
            let found = ctx.found();
            let versions: Vec<u32> = match &options.versions {
                None => found.majors(),
                Some(v) => v.0.clone(),
            };
            if versions.is_empty() {
                return Err(PgError::NoServers {
                    searched: found.searched.clone(),
                })
                .script();
            }
            versions
                .into_iter()
                .map(|v| {
                    let install = found.get(v).map_err(|e| e.to_string());
                    (v.to_string(), matrix::Target::Cluster(install))
                })
                .collect()
        }
    };
    let reports = matrix::run(targets, &opts, &ctx);

    let strict = options.strict;
    let snapshots: Vec<(String, snapshot::Snapshot)> = reports
        .iter()
        .filter_map(|r| Some((name(r), r.snapshot.clone()?)))
        .collect();
    let differences = matrix::compare(&snapshots);
    let mut versions = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for r in &reports {
        let passed = r.errors.is_empty();
        let timings = matrix::timings(r);
        let line = timings
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}s"))
            .collect::<Vec<_>>()
            .join(", ");
        // Every version gets its verdict and timings, failed ones too.
        if passed && opts.command.is_some() {
            // The project's command migrated: xtask cannot count or step through its migrations.
            ctx.message(
                Level::Info,
                format!(
                    "{}: migrated by the project's command, schema checked ({line}); \
                     step-wise checks need `cli:` (a sea-orm-migration-style binary)",
                    name(r)
                ),
            );
        } else if passed {
            ctx.message(
                Level::Info,
                format!("{}: {} migrations ok ({line})", name(r), r.migrations),
            );
        } else {
            ctx.message(
                Level::Warn,
                format!("{}: failed, {} error(s) ({line})", name(r), r.errors.len()),
            );
        }
        for e in &r.errors {
            // Discovery errors already start with "PostgreSQL <major>".
            if e.starts_with(&name(r)) {
                failures.push(e.clone());
            } else {
                failures.push(format!("{}: {e}", name(r)));
            }
        }
        let entry = VersionResult {
            version: r.version.clone(),
            passed,
            errors: r.errors.clone(),
            migrations: r.migrations as i64,
            timings: timings
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            initdb_cached: r.cached,
            snapshot: r.snapshot.clone().unwrap_or_default().into_iter().collect(),
        };
        versions.insert(r.label.clone(), entry);
    }
    for d in &differences {
        ctx.message(Level::Warn, d.clone());
    }
    if strict {
        failures.extend(differences.iter().cloned());
    }
    if !failures.is_empty() && !options.allow_fail {
        return Err(PgError::TestFailed { failures }).script();
    }
    Ok(declared::to_map(&TestResult {
        passed: failures.is_empty(),
        versions,
        differences,
        errors: failures,
    }))
}

fn name(r: &matrix::Report) -> String {
    if r.version.is_empty() {
        format!("PostgreSQL {}", r.label)
    } else {
        format!("PostgreSQL {}", r.version)
    }
}

/// `pg::compare([result, ...])`: cross-version differences between results of
/// `pg::test_migrations` run in separate jobs (a job per version).
fn compare_fn(results: Array) -> Result<Array> {
    let mut snapshots = Vec::new();
    for result in results {
        let Some(result) = result.try_cast::<Map>() else {
            return super::error("pg::compare takes the maps pg::test_migrations returned");
        };
        let Some(versions) = result
            .get("versions")
            .and_then(|v| v.clone().try_cast::<Map>())
        else {
            return super::error("pg::compare: a result without `versions`");
        };
        for (_, entry) in versions {
            let Some(entry) = entry.try_cast::<Map>() else {
                continue;
            };
            let version = entry
                .get("version")
                .map(|v| v.to_string())
                .unwrap_or_default();
            let snapshot: snapshot::Snapshot = entry
                .get("snapshot")
                .and_then(|s| s.clone().try_cast::<Array>())
                .unwrap_or_default()
                .iter()
                .map(|l| l.to_string())
                .collect();
            if !snapshot.is_empty() {
                snapshots.push((format!("PostgreSQL {version}"), snapshot));
            }
        }
    }
    Ok(matrix::compare(&snapshots)
        .into_iter()
        .map(Dynamic::from)
        .collect())
}
