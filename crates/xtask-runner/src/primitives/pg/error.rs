//! What goes wrong in `pg::`, as typed errors: usable (and tested) without Rhai, turned into
//! script errors at the registered functions. Messages are worded as scripts see them.

use std::path::PathBuf;
use std::time::Duration;

use super::client::describe;
use super::migrate::Failure;

/// Any `pg::` failure.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// `url` is already redacted.
    #[error("bad PostgreSQL URL {url}: {source}")]
    BadUrl {
        url: String,
        source: postgres::Error,
    },
    #[error("cannot connect to {url}: {}", describe(source))]
    Connect {
        url: String,
        source: postgres::Error,
    },
    #[error("expected a postgres:// URL, got {url}")]
    NotPostgresUrl { url: String },
    #[error("{url} names no database")]
    NoDatabase { url: String },
    /// A statement the server refused.
    #[error("{}", describe(.0))]
    Sql(#[source] postgres::Error),
    /// A statement the server refused, after what was being done (`DROP DATABASE x`).
    #[error("{doing}: {}", describe(source))]
    SqlIn {
        doing: String,
        source: postgres::Error,
    },
    /// `CREATE DATABASE … TEMPLATE …` refused; `sessions` lists those still on the template.
    #[error("{sql}: {}{sessions}", describe(source))]
    CreateFrom {
        sql: String,
        source: postgres::Error,
        sessions: String,
    },
    /// A migration, seed or script that failed at `file:line:col`.
    #[error(transparent)]
    Migration(#[from] Failure),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("pg::query: {0}")]
    Query(#[from] QueryError),
    #[error("pg::seed: cannot read {file}: {source}")]
    SeedRead {
        file: String,
        source: std::io::Error,
    },
    /// A failure inside a script function, named first: `pg::backup: …`.
    #[error("{function}: {source}")]
    In {
        function: &'static str,
        source: Box<PgError>,
    },
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error("{missing} (and no docker image {image} for the docker backend)")]
    NoBackend { missing: NotFound, image: String },
    /// A native cluster that did not start; `version` is the server's full version.
    #[error("PostgreSQL {version}: {problem}")]
    Cluster {
        version: String,
        problem: ClusterProblem,
    },
    #[error("pg::cluster({major}): {source}")]
    Docker { major: u32, source: DockerError },
    #[error("unknown backend `{backend}` (known: auto, native, docker)")]
    UnknownBackend { backend: String },
    #[error("the migration command took {took:.2}s, over the {}s budget", budget.as_secs_f64())]
    CommandOverBudget { took: f64, budget: Duration },
    #[error(
        "applying {applied} migration(s) took {:.2}s, over the {}s budget",
        took.as_secs_f64(),
        budget.as_secs_f64()
    )]
    OverBudget {
        applied: usize,
        took: Duration,
        budget: Duration,
    },
    #[error("no PostgreSQL server found; looked in {}", searched.join(", "))]
    NoServers { searched: Vec<String> },
    /// The migration test's failures, one per version or difference (each may span lines).
    #[error("migration test failed:\n{}", indented(failures))]
    TestFailed { failures: Vec<String> },
    #[error("XTASK_PG_USER={name} is root; PostgreSQL refuses to run as root")]
    UserIsRoot { name: String },
    #[error("XTASK_PG_USER={name}: no such user")]
    NoSuchUser { name: String },
    #[error(
        "running as root, and PostgreSQL refuses root: set XTASK_PG_USER to an unprivileged user"
    )]
    RunningAsRoot,
}

/// The matrix and the migrator collect failures as report lines.
impl From<PgError> for String {
    fn from(err: PgError) -> String {
        err.to_string()
    }
}

impl PgError {
    /// Names the script function the failure happened in.
    pub fn within(self, function: &'static str) -> PgError {
        PgError::In {
            function,
            source: Box::new(self),
        }
    }
}

fn indented(failures: &[String]) -> String {
    failures
        .iter()
        .map(|f| format!("  {}", f.replace('\n', "\n  ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A major version this machine has no installation of, and where the search looked.
#[derive(Debug, thiserror::Error)]
#[error(
    "PostgreSQL {major} not found (found: {}); looked in {}. Point XTASK_PG_PATH at \
     its bin directory (the one holding initdb and postgres)",
    list_or_none(found),
    searched.join(", ")
)]
pub struct NotFound {
    pub major: u32,
    pub found: Vec<u32>,
    pub searched: Vec<String>,
}

fn list_or_none(majors: &[u32]) -> String {
    if majors.is_empty() {
        return "none".into();
    }
    majors
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a native throwaway cluster did not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterProblem {
    #[error("cannot create a cluster directory in {} (XTASK_PG_DIR chooses where): {source}", parent.display())]
    TempDir {
        parent: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot prepare {}: {source}", dir.display())]
    Prepare {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("no free port: {0}")]
    NoFreePort(#[source] std::io::Error),
    /// initdb could not run (the process layer's message).
    #[error("initdb: {0}")]
    Initdb(String),
    #[error("`{command}` failed with {status}:\n{output}")]
    InitdbFailed {
        command: String,
        status: String,
        output: String,
    },
    /// The server could not be spawned (the process layer's message).
    #[error("cannot start postgres: {0}")]
    Launch(String),
    #[error("stopped while starting: {reason}")]
    Stopped { reason: String },
    /// `log` is the tail of the server's log.
    #[error("postgres exited during startup ({status}):\n{log}")]
    Exited { status: String, log: String },
    #[error("not accepting connections after {secs}s")]
    NotAccepting { secs: u64 },
    /// Every port tried was taken by the time the server bound it.
    #[error("could not bind a port: {log}")]
    NoPort { log: String },
}

/// Why the docker backend did not give a server.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("the docker backend needs `docker` on PATH")]
    NoDocker,
    #[error(
        "docker image {image} is not present (xtask does not pull): `docker pull {image}` first"
    )]
    NoImage { image: String },
    #[error("no free port: {0}")]
    NoFreePort(#[source] std::io::Error),
    /// `docker run` could not run (the process layer's message).
    #[error("{0}")]
    Spawn(String),
    #[error("`docker run {image}` failed: {stderr}")]
    RunFailed { image: String, stderr: String },
    #[error("stopped while the container was starting")]
    Stopped,
    #[error("container {id} not accepting connections after {secs}s")]
    NotAccepting { id: String, secs: u64 },
}

/// A migrations directory its tool would refuse. Paths are as the script wrote them.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read migrations directory {dir}: {source}")]
    ReadDir { dir: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{dir}: no up.sql (diesel cannot run a migration without one)")]
    NoUp { dir: String },
    #[error("{dir}: version {version} is also the version of {other}")]
    SameVersion {
        dir: String,
        version: String,
        other: String,
    },
    #[error("{dir}/metadata.toml: {source}")]
    Metadata {
        dir: String,
        source: toml_edit::TomlError,
    },
    #[error("{dir}/metadata.toml: run_in_transaction must be true or false")]
    TransactionFlag { dir: String },
    #[error(
        "{file}: expected an integer version before the first `_` (sqlx refuses this file name)"
    )]
    NotAVersion { file: String },
    #[error("{file}: version {version} is also used by `{by}`")]
    VersionTaken {
        file: String,
        version: i64,
        by: String,
    },
    #[error(
        "{file}: version {version} is also used by `{by}` (refinery refuses repeated versions)"
    )]
    RefineryVersionTaken {
        file: String,
        version: u64,
        by: String,
    },
    #[error("{file}: version {version} is there twice")]
    Twice { file: String, version: i64 },
    #[error("{file}: a down migration without its up")]
    DownWithoutUp { file: String },
    #[error("{file}: version {version} is both a simple and a reversible migration")]
    SimpleAndReversible { file: String, version: i64 },
}

/// Why `pg::query` failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The server refused the statement; `at` is the line and column it pointed at.
    #[error("{}{}", at.map(|(l, c)| format!("{l}:{c}: ")).unwrap_or_default(), describe(source))]
    Statement {
        at: Option<(usize, usize)>,
        source: postgres::Error,
    },
    #[error("the statement has {expected} parameter(s), {given} given")]
    ParamCount { expected: usize, given: usize },
    /// A value that does not fit its parameter's type (`n` counts from 1).
    #[error("parameter ${n}: {reason}")]
    Param { n: usize, reason: String },
    /// A value of a column that cannot become a script value.
    #[error("column `{column}`: {reason}")]
    Column { column: String, reason: String },
}

/// Why the migration test's plan (`since`, `last`, `irreversible`) cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("give `since` or `last`, not both")]
    SinceAndLast,
    #[error("option `irreversible`: no migration `{name}` in {dir}")]
    UnknownIrreversible { name: String, dir: String },
    #[error("option `since`: `{rev}` is not a commit in this repository")]
    NotACommit { rev: String },
    /// git could not run (the process layer's message).
    #[error("`{command}`: {reason}")]
    GitSpawn { command: String, reason: String },
    #[error("`{command}` failed with {status}: {stderr}")]
    GitFailed {
        command: String,
        status: String,
        stderr: String,
    },
}

#[cfg(test)]
mod tests {
    use super::super::{backup, client};
    use super::*;

    #[test]
    fn a_refused_connection_names_the_url_without_its_password() {
        let port = crate::primitives::http::free_port().unwrap();
        let url = format!("postgres://u:secret@127.0.0.1:{port}/app");
        let err = client::connect(&url).err().unwrap();
        match &err {
            PgError::Connect { url, .. } => {
                assert_eq!(url, &format!("postgres://u:***@127.0.0.1:{port}/app"))
            }
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.starts_with("cannot connect to postgres://u:***@"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn urls_that_name_no_server_or_database_are_told_apart() {
        let err = client::with_database("localhost/app", "other").unwrap_err();
        assert!(matches!(err, PgError::NotPostgresUrl { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "expected a postgres:// URL, got localhost/app"
        );
        let err = backup::database_of("host=127.0.0.1").unwrap_err();
        assert!(matches!(err, PgError::NoDatabase { .. }), "{err:?}");
        let err = err.within("pg::backup");
        assert_eq!(
            err.to_string(),
            "pg::backup: host=127.0.0.1 names no database"
        );
    }

    #[test]
    fn a_failed_migration_test_indents_each_failure() {
        let err = PgError::TestFailed {
            failures: vec![
                "16: m/2_b.sql:3:1: ERROR\n  HINT: h".into(),
                "13: ok?".into(),
            ],
        };
        assert_eq!(
            err.to_string(),
            "migration test failed:\n  16: m/2_b.sql:3:1: ERROR\n    HINT: h\n  13: ok?"
        );
    }
}
