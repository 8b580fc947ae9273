//! `pg::`: PostgreSQL for tasks. Throwaway clusters per major version (native binaries found
//! on this machine, or a docker image), existing servers, a migration runner for sqlx- and
//! diesel-style layouts, schema snapshots, and the migration test matrix.
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
pub mod layout;
pub mod matrix;
pub mod migrate;
pub mod migrator;
pub mod plan;
pub mod snapshot;
pub mod sql;
pub mod template;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Module};

use super::{check_keys, duration_value, error, opt_bool, opt_string, Result};
use crate::cancel::CancelToken;
use crate::events::{JobId, Level};
use crate::script::{context, Host, Mode};

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
    FuncRegistration::new("versions").set_into_module(&mut m, || -> Array {
        Ctx::current()
            .found()
            .majors()
            .into_iter()
            .map(|v| Dynamic::from_int(v as i64))
            .collect()
    });
    FuncRegistration::new("cluster").set_into_module(&mut m, |v: i64| start_cluster(v, Map::new()));
    FuncRegistration::new("cluster").set_into_module(&mut m, |v: i64, o: Map| start_cluster(v, o));
    FuncRegistration::new("server").set_into_module(&mut m, server);

    // migrate, rollback, status and snapshot take a URL string or a server handle.
    FuncRegistration::new("migrate")
        .set_into_module(&mut m, |t: Dynamic| migrate_fn(t, Map::new()));
    FuncRegistration::new("migrate").set_into_module(&mut m, migrate_fn);
    FuncRegistration::new("rollback")
        .set_into_module(&mut m, |t: Dynamic| rollback_fn(t, Map::new()));
    FuncRegistration::new("rollback").set_into_module(&mut m, rollback_fn);
    FuncRegistration::new("status").set_into_module(&mut m, |t: Dynamic| status_fn(t, Map::new()));
    FuncRegistration::new("status").set_into_module(&mut m, status_fn);
    FuncRegistration::new("snapshot")
        .set_into_module(&mut m, |t: Dynamic| snapshot_fn(t, Map::new()));
    FuncRegistration::new("snapshot").set_into_module(&mut m, snapshot_fn);
    FuncRegistration::new("test_migrations").set_into_module(&mut m, test_migrations);
    FuncRegistration::new("compare").set_into_module(&mut m, compare_fn);
    FuncRegistration::new("query").set_into_module(&mut m, |t: Dynamic, sql: &str| {
        query_fn(t, sql, Array::new())
    });
    FuncRegistration::new("query").set_into_module(&mut m, query_fn);
    FuncRegistration::new("execute").set_into_module(&mut m, execute_fn);
    FuncRegistration::new("seed").set_into_module(&mut m, seed_fn);
    FuncRegistration::new("database").set_into_module(&mut m, database_fn);
    FuncRegistration::new("backup").set_into_module(&mut m, |t: Dynamic| backup_fn(t, Map::new()));
    FuncRegistration::new("backup").set_into_module(&mut m, backup_fn);
    FuncRegistration::new("restore").set_into_module(&mut m, restore_fn);
    engine.register_static_module("pg", m.into());
}

fn not_planning(what: &str) -> Result<()> {
    if context::current().host.mode == Mode::Plan {
        return error(format!(
            "{what} starts servers: call it inside a job, not at the top level of a task"
        ));
    }
    Ok(())
}

const CLUSTER_OPTIONS: &[&str] = &["backend", "image", "settings", "locale"];

fn start_cluster(version: i64, options: Map) -> Result<Server> {
    check_keys("pg::cluster", &options, CLUSTER_OPTIONS)?;
    not_planning("pg::cluster")?;
    let ctx = Ctx::current();
    let major =
        u32::try_from(version).or_else(|_| error("a version is a major number, e.g. 16"))?;
    let cluster_options = cluster_options(&options)?;
    let backend = opt_string(&options, "backend")?.unwrap_or_else(|| "auto".into());
    let image = opt_string(&options, "image")?.unwrap_or_else(|| docker::default_image(major));
    let found = ctx.found().get(major);
    let use_docker = match backend.as_str() {
        "native" => false,
        "docker" => true,
        "auto" => found.is_err() && docker::has_image(&ctx, &image),
        other => {
            return error(format!(
                "unknown backend `{other}` (known: auto, native, docker)"
            ))
        }
    };
    let server = if use_docker {
        let container = docker::start(&image, &cluster_options, &ctx)
            .or_else(|e| error(format!("pg::cluster({major}): {e}")))?;
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
        let install = found.or_else(|e| {
            error(if backend == "auto" {
                format!("{e} (and no docker image {image} for the docker backend)")
            } else {
                e
            })
        })?;
        let native = cluster::start(&install, &cluster_options, &ctx).or_else(error)?;
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

fn cluster_options(options: &Map) -> Result<cluster::Options> {
    let mut out = cluster::Options::default();
    if let Some(locale) = opt_string(options, "locale")? {
        out.locale = locale;
    }
    if let Some(settings) = options.get("settings") {
        let Some(settings) = settings.clone().try_cast::<Map>() else {
            return error("option `settings` must be a map, e.g. #{ work_mem: \"64MB\" }");
        };
        for (k, v) in settings {
            out.settings
                .push((k.to_string(), crate::primitives::display_value(&v)));
        }
    }
    Ok(out)
}

fn server_version(url: &str) -> std::result::Result<String, String> {
    let mut c = client::connect(url)?;
    c.query_one("SHOW server_version", &[])
        .map(|r| r.get::<_, String>(0))
        .map_err(|e| client::describe(&e))
}

/// `pg::server(url)`: an existing server (a CI service container, `DATABASE_URL`).
fn server(url: &str) -> Result<Server> {
    super::implied::volatile("pg::server is an existing server, outside the tree");
    mask_password(url);
    let version = server_version(url).or_else(error)?;
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
    error(format!(
        "expected a database URL or a server from pg::cluster/pg::server, not {}",
        target.type_name()
    ))
}

fn dir_option(options: &Map) -> Result<(PathBuf, String)> {
    let display = opt_string(options, "dir")?.unwrap_or_else(|| "migrations".into());
    let dir = context::current().path(&display);
    super::implied::migrations(&dir);
    Ok((dir, display))
}

/// Loads the migrations as their tool would, telling what it ignored; with `-v`, also the order.
fn load(options: &Map) -> Result<Vec<migrate::Migration>> {
    let (dir, display) = dir_option(options)?;
    let loaded = layout::load(&dir, &display).or_else(error)?;
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
    client::connect(url).or_else(error)
}

fn strings(items: Vec<String>) -> Dynamic {
    Dynamic::from_array(items.into_iter().map(Dynamic::from).collect())
}

/// `pg::migrate(target, #{ dir, command })`: apply pending migrations, or delegate to the
/// project's own command with `DATABASE_URL` set.
///
/// `budget` ("60s"): the run fails when applying takes longer (the reference pipeline's gate
/// on a seeded database).
fn migrate_fn(target: Dynamic, options: Map) -> Result<Map> {
    check_keys("pg::migrate", &options, &["dir", "command", "budget"])?;
    let budget = options
        .get("budget")
        .map(|b| duration_value("option `budget`", b))
        .transpose()?;
    let url = target_url(&target)?;
    let mut out = Map::new();
    if let Some(command) = options.get("command") {
        let argv = super::string_list("option `command`", command)?;
        let mut run_options = Map::new();
        let mut env = Map::new();
        env.insert("DATABASE_URL".into(), Dynamic::from(url));
        run_options.insert("env".into(), Dynamic::from_map(env));
        let result = super::process::run(
            argv.into_iter().map(Dynamic::from).collect(),
            run_options,
            false,
        )?;
        out.insert("delegated".into(), Dynamic::TRUE);
        if let (Some(budget), Some(took)) = (
            budget,
            result.get("duration").and_then(|d| d.as_float().ok()),
        ) {
            if took > budget.as_secs_f64() {
                return error(format!(
                    "the migration command took {took:.2}s, over the {}s budget",
                    budget.as_secs_f64()
                ));
            }
        }
        out.insert(
            "duration".into(),
            result.get("duration").cloned().unwrap_or(Dynamic::UNIT),
        );
        return Ok(out);
    }
    let all = load(&options)?;
    let mut c = connect(&url)?;
    let started = std::time::Instant::now();
    let applied = migrate::migrate(&mut c, &all).or_else(|f| error(f.to_string()))?;
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
            return error(format!(
                "applying {} migration(s) took {:.2}s, over the {}s budget",
                applied.len(),
                took.as_secs_f64(),
                budget.as_secs_f64()
            ));
        }
    }
    out.insert("applied".into(), strings(applied));
    out.insert("duration".into(), Dynamic::from_float(took.as_secs_f64()));
    Ok(out)
}

/// `pg::rollback(target, #{ dir, steps })`: revert the last `steps` (default 1) migrations;
/// `steps: "all"` reverts everything.
fn rollback_fn(target: Dynamic, options: Map) -> Result<Map> {
    check_keys("pg::rollback", &options, &["dir", "steps"])?;
    let url = target_url(&target)?;
    let steps = match options.get("steps") {
        None => Some(1),
        Some(v) if v.is_string() && v.to_string() == "all" => None,
        Some(v) => Some(
            v.as_int()
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .map_or_else(|| error("option `steps` must be a number or \"all\""), Ok)?,
        ),
    };
    let all = load(&options)?;
    let mut c = connect(&url)?;
    let reverted = migrate::rollback(&mut c, &all, steps).or_else(|f| error(f.to_string()))?;
    let mut out = Map::new();
    out.insert("reverted".into(), strings(reverted));
    Ok(out)
}

/// `pg::status(target, #{ dir })`: applied and pending migrations; `changed` lists applied
/// ones whose up file changed since, `unknown` applied versions with no file.
fn status_fn(target: Dynamic, options: Map) -> Result<Map> {
    check_keys("pg::status", &options, &["dir"])?;
    let url = target_url(&target)?;
    let all = load(&options)?;
    let mut c = connect(&url)?;
    let done = migrate::applied(&mut c).or_else(error)?;
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
    let mut out = Map::new();
    out.insert("applied".into(), strings(applied));
    out.insert("pending".into(), strings(pending));
    out.insert("changed".into(), strings(changed));
    out.insert("unknown".into(), strings(unknown));
    Ok(out)
}

/// `pg::query(target, sql, [params])`: one statement's rows as maps (column name to value).
fn query_fn(target: Dynamic, sql: &str, params: Array) -> Result<Array> {
    let url = target_url(&target)?;
    let mut c = connect(&url)?;
    sql::query(&mut c, sql, &params).or_else(|e| error(format!("pg::query: {e}")))
}

/// `pg::execute(target, sql)`: a script of statements in one transaction.
fn execute_fn(target: Dynamic, script: &str) -> Result<()> {
    let url = target_url(&target)?;
    let mut c = connect(&url)?;
    sql::execute(&mut c, script, "pg::execute").or_else(error)
}

/// `pg::database(target, name)`: the URL of database `name` on the same server, created if
/// missing.
fn database_fn(target: Dynamic, name: &str) -> Result<String> {
    let url = target_url(&target)?;
    let mut c = connect(&url)?;
    sql::create_database(&mut c, name).or_else(|e| error(format!("pg::database: {e}")))?;
    client::with_database(&url, name).or_else(error)
}

/// `pg::seed(target, file)`: a fixture file of statements; errors name the file and line:col.
fn seed_fn(target: Dynamic, file: &str) -> Result<Map> {
    let url = target_url(&target)?;
    let path = context::current().path(file);
    let text = std::fs::read_to_string(&path)
        .or_else(|e| error(format!("pg::seed: cannot read {file}: {e}")))?;
    let mut c = connect(&url)?;
    let started = std::time::Instant::now();
    sql::execute(&mut c, &text, file).or_else(error)?;
    let mut out = Map::new();
    out.insert(
        "statements".into(),
        Dynamic::from_int(client::split(&text).len() as i64),
    );
    out.insert(
        "duration".into(),
        Dynamic::from_float(started.elapsed().as_secs_f64()),
    );
    Ok(out)
}

/// `pg::backup(target, #{ keep })`: a copy of the database in the same cluster, dropped when the
/// job ends unless `keep: true`. Returns `#{ url, database, backup }` for `pg::restore`.
fn backup_fn(target: Dynamic, options: Map) -> Result<Map> {
    check_keys("pg::backup", &options, &["keep"])?;
    not_planning("pg::backup")?;
    let url = target_url(&target)?;
    let made = backup::backup(&url).or_else(|e| error(format!("pg::backup: {e}")))?;
    Ctx::current().message(
        Level::Info,
        format!("backed up database {} as {}", made.database, made.copy),
    );
    if !opt_bool(&options, "keep")?.unwrap_or(false) {
        let (url, copy) = (url.clone(), made.copy.clone());
        context::current().on_exit(move || {
            if let Ok(mut admin) = backup::maintenance(&url, &copy) {
                let _ = backup::drop_database(&mut admin, &copy);
            }
        });
    }
    let mut out = Map::new();
    out.insert(
        "url".into(),
        Dynamic::from(client::with_database(&url, &made.copy).or_else(error)?),
    );
    out.insert("database".into(), Dynamic::from(made.database));
    out.insert("backup".into(), Dynamic::from(made.copy));
    Ok(out)
}

/// `pg::restore(target, backup)`: the target's database becomes a copy of the backup again.
fn restore_fn(target: Dynamic, made: Map) -> Result<()> {
    let url = target_url(&target)?;
    let Some(copy) = made.get("backup").filter(|v| v.is_string()) else {
        return error("pg::restore takes the map pg::backup returned");
    };
    let copy = copy.to_string();
    backup::restore(&url, &copy).or_else(|e| error(format!("pg::restore: {e}")))?;
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
    check_keys(
        "pg::snapshot",
        &options,
        &["ignore_column_order", "normalize_whitespace"],
    )?;
    let url = target_url(&target)?;
    let mut c = connect(&url)?;
    let s = snapshot::take_with(&mut c, &compare_options(&options)?)
        .or_else(|e| error(client::describe(&e)))?;
    Ok(s.into_iter().map(Dynamic::from).collect())
}

const TEST_OPTIONS: &[&str] = &[
    "versions",
    "dir",
    "budget",
    "stepwise",
    "strict",
    "server",
    "command",
    "down_command",
    "settings",
    "locale",
    "allow_fail",
    "since",
    "last",
    "irreversible",
    "ignore_column_order",
    "normalize_whitespace",
    "cli",
];

/// `ignore_column_order` and `normalize_whitespace` (function bodies); both off: strict.
fn compare_options(options: &Map) -> Result<snapshot::Compare> {
    Ok(snapshot::Compare {
        ignore_column_order: opt_bool(options, "ignore_column_order")?.unwrap_or(false),
        normalize_whitespace: opt_bool(options, "normalize_whitespace")?.unwrap_or(false),
    })
}

/// `pg::test_migrations(#{ versions, dir, budget, ... })`: see `matrix`.
fn test_migrations(options: Map) -> Result<Map> {
    check_keys("pg::test_migrations", &options, TEST_OPTIONS)?;
    not_planning("pg::test_migrations")?;
    let ctx = Ctx::current();
    let (dir, dir_display) = dir_option(&options)?;
    let budget = match options.get("budget") {
        Some(b) => duration_value("option `budget`", b)?,
        None => Duration::from_secs(60),
    };
    let list = |key: &str| -> Result<Option<Vec<String>>> {
        options
            .get(key)
            .map(|v| super::string_list(&format!("option `{key}`"), v))
            .transpose()
    };
    let cli = list("cli")?;
    if cli.is_some() && options.contains_key("command") {
        return error("give `cli` (a migration binary) or `command`, not both");
    }
    if cli.is_some()
        && ["since", "last", "irreversible"]
            .iter()
            .any(|k| options.contains_key(*k))
    {
        return error(
            "`since`, `last` and `irreversible` work on SQL migration files, not with `cli`",
        );
    }
    if options.contains_key("command") || cli.is_some() {
        // The project's own migration program reads its own sources (a SeaORM crate): what it
        // depends on is not known here, so the job needs declared `inputs` to be skipped.
        super::implied::opaque("pg::test_migrations runs the project's migration program");
    }
    let plan = if options.contains_key("command") || cli.is_some() {
        matrix::Plan::default()
    } else {
        let selection = plan::Selection {
            since: opt_string(&options, "since")?,
            last: options
                .get("last")
                .map(|v| {
                    v.as_int()
                        .ok()
                        .and_then(|n| usize::try_from(n).ok())
                        .map_or_else(|| error("option `last` must be a number of migrations"), Ok)
                })
                .transpose()?,
            irreversible: list("irreversible")?.unwrap_or_default(),
        };
        let mut dir_options = Map::new();
        dir_options.insert("dir".into(), Dynamic::from(dir_display.clone()));
        let migrations = load(&dir_options)?;
        let list_at = |rev: &str| plan::git_list(&dir, rev, &ctx);
        let (plan, notes) =
            plan::select(migrations, &selection, &dir_display, &list_at).or_else(error)?;
        for note in notes {
            ctx.message(Level::Info, note);
        }
        plan
    };
    let opts = matrix::Options {
        plan,
        compare: compare_options(&options)?,
        budget,
        stepwise: opt_bool(&options, "stepwise")?.unwrap_or(true),
        cluster: cluster_options(&options)?,
        command: list("command")?,
        down_command: list("down_command")?,
        cli,
    };
    let targets: Vec<(String, matrix::Target)> = match options.get("server") {
        Some(server) => vec![("server".into(), matrix::Target::Server(target_url(server)?))],
        None => {
            let found = ctx.found();
            let versions: Vec<u32> =
                match options.get("versions") {
                    None => found.majors(),
                    Some(v) => {
                        let items = match v.clone().try_cast::<Array>() {
                            Some(items) => items,
                            None => vec![v.clone()],
                        };
                        items
                            .iter()
                            .map(|i| {
                                crate::primitives::display_value(i).parse::<u32>().or_else(|_| {
                                error("option `versions` must list major versions, e.g. [13, 16]")
                            })
                            })
                            .collect::<Result<_>>()?
                    }
                };
            if versions.is_empty() {
                return error(format!(
                    "no PostgreSQL server found; looked in {}",
                    found.searched.join(", ")
                ));
            }
            versions
                .into_iter()
                .map(|v| (v.to_string(), matrix::Target::Cluster(found.get(v))))
                .collect()
        }
    };
    let reports = matrix::run(targets, &opts, &ctx);

    let strict = opt_bool(&options, "strict")?.unwrap_or(false);
    let snapshots: Vec<(String, snapshot::Snapshot)> = reports
        .iter()
        .filter_map(|r| Some((name(r), r.snapshot.clone()?)))
        .collect();
    let differences = matrix::compare(&snapshots);
    let mut versions = Map::new();
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
        let mut entry = Map::new();
        entry.insert("version".into(), Dynamic::from(r.version.clone()));
        entry.insert("passed".into(), Dynamic::from_bool(passed));
        entry.insert("errors".into(), strings(r.errors.clone()));
        entry.insert("migrations".into(), Dynamic::from_int(r.migrations as i64));
        entry.insert("initdb_cached".into(), Dynamic::from_bool(r.cached));
        let mut t = Map::new();
        for (k, v) in timings {
            t.insert(k.into(), Dynamic::from_float(v));
        }
        entry.insert("timings".into(), Dynamic::from_map(t));
        entry.insert(
            "snapshot".into(),
            strings(r.snapshot.clone().unwrap_or_default().into_iter().collect()),
        );
        versions.insert(r.label.as_str().into(), Dynamic::from_map(entry));
    }
    for d in &differences {
        ctx.message(Level::Warn, d.clone());
    }
    if strict {
        failures.extend(differences.iter().cloned());
    }
    let mut out = Map::new();
    out.insert("passed".into(), Dynamic::from_bool(failures.is_empty()));
    out.insert("versions".into(), Dynamic::from_map(versions));
    out.insert("differences".into(), strings(differences));
    out.insert("errors".into(), strings(failures.clone()));
    if !failures.is_empty() && !opt_bool(&options, "allow_fail")?.unwrap_or(false) {
        return error(format!(
            "migration test failed:\n{}",
            failures
                .iter()
                .map(|f| format!("  {}", f.replace('\n', "\n  ")))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    Ok(out)
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
            return error("pg::compare takes the maps pg::test_migrations returned");
        };
        let Some(versions) = result
            .get("versions")
            .and_then(|v| v.clone().try_cast::<Map>())
        else {
            return error("pg::compare: a result without `versions`");
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
