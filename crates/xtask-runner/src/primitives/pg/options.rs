//! The declarations of `pg::`'s options and results, and its functions as the reference
//! (`docs/primitives.md`) lists them. `pg::cluster` and `pg::test_migrations` share the server
//! setup (`settings`, `locale`); `pg::snapshot` and `pg::test_migrations` the schema comparison.

use rhai::{Dynamic, Map};

use super::Server;
use crate::primitives::options::{
    option_type, options, result, script_type, Duration, Fields as _, Options as _, Strings,
};
use crate::primitives::reference::{plain, Function};

option_type! {
    /// Server settings: a map of names to values (written as text).
    Settings(Vec<(String, String)>) as "map of settings", |value| {
        match value.clone().try_cast::<Map>() {
            Some(map) => Ok(map
                .into_iter()
                .map(|(k, v)| (k.to_string(), crate::primitives::display_value(&v)))
                .collect()),
            None => Err(format!(
                "must be a map, e.g. #{{ work_mem: \"64MB\" }}, not {}",
                script_type(&value)
            )),
        }
    }
}

option_type! {
    /// How many migrations to revert: a number, or `"all"` (`None`).
    Steps(Option<usize>) as "int or \"all\"", |value| {
        if value.is_string() && value.to_string() == "all" {
            Ok(None)
        } else {
            value
                .as_int()
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| "must be a number or \"all\"".to_string())
        }
    }
}

option_type! {
    /// Major versions: one (`16`, `"16"`) or an array of them.
    Versions(Vec<u32>) as "int or array of ints", |value| {
        let items = match value.clone().try_cast::<rhai::Array>() {
            Some(items) => items,
            None => vec![value.clone()],
        };
        items
            .iter()
            .map(|i| {
                crate::primitives::display_value(i)
                    .parse::<u32>()
                    .map_err(|_| "must list major versions, e.g. [13, 16]".to_string())
            })
            .collect()
    }
}

option_type! {
    /// A database URL or a server from `pg::cluster` / `pg::server`.
    Target(Dynamic) as "URL or server", |value| {
        if value.is_string() || value.is::<Server>() {
            Ok(value)
        } else {
            Err(format!(
                "must be a database URL or a server from pg::cluster/pg::server, not {}",
                script_type(&value)
            ))
        }
    }
}

options! {
    /// The backend options of `pg::cluster` (with `ServerSetup`'s).
    pub struct ClusterOptions for "pg::cluster" {
        /// `"native"` (binaries found on this machine), `"docker"` (the image, never pulled), or
        /// `"auto"`: native binaries, else docker.
        backend: String = "auto".into() => "\"auto\"",
        /// The docker image (default `postgres:<major>`); it must be present.
        image: Option<String>,
    }
}

options! {
    /// How a throwaway server is set up: `pg::cluster` and `pg::test_migrations`.
    pub struct ServerSetup for "pg::cluster" {
        /// Server settings, e.g. `#{ work_mem: "64MB" }`, on top of the throwaway ones (`fsync`,
        /// `synchronous_commit` and `full_page_writes` off).
        settings: Settings,
        /// initdb's locale (default `C.UTF-8`).
        locale: Option<String>,
    }
}

options! {
    /// How schemas compare: `pg::snapshot` and `pg::test_migrations`. Both off: strictly.
    pub struct CompareOptions for "pg::snapshot" {
        /// Leaves column positions out (a down that drops and re-adds a column puts it last).
        ignore_column_order: bool = false,
        /// Compares function bodies with whitespace runs as one space.
        normalize_whitespace: bool = false,
    }
}

options! {
    /// Options of `pg::migrate`.
    pub struct MigrateOptions for "pg::migrate" {
        /// The migrations directory, relative to the job's (sqlx, diesel or refinery layout).
        dir: String = "migrations".into() => "\"migrations\"",
        /// Delegates to the project's own tool with `DATABASE_URL` set, instead of applying
        /// the files.
        command: Option<Strings>,
        /// Fails the call when applying takes longer (run it on a seeded database).
        budget: Option<Duration>,
    }
}

options! {
    /// Options of `pg::rollback`.
    pub struct RollbackOptions for "pg::rollback" {
        /// The migrations directory, relative to the job's.
        dir: String = "migrations".into() => "\"migrations\"",
        /// How many of the last applied migrations to revert, or `"all"`.
        steps: Steps = Steps(Some(1)) => "1",
    }
}

options! {
    /// Options of `pg::status`.
    pub struct StatusOptions for "pg::status" {
        /// The migrations directory, relative to the job's.
        dir: String = "migrations".into() => "\"migrations\"",
    }
}

options! {
    /// Options of `pg::backup`.
    pub struct BackupOptions for "pg::backup" {
        /// Keeps the copy after the job ends (by default it is dropped then).
        keep: bool = false,
    }
}

options! {
    /// The options of `pg::test_migrations` besides `ServerSetup`'s and `CompareOptions`'.
    pub struct TestOptions for "pg::test_migrations" {
        /// Major versions to test, each on its own cluster (default: every version found).
        versions: Option<Versions>,
        /// The migrations directory, relative to the job's.
        dir: String = "migrations".into() => "\"migrations\"",
        /// A version fails when it takes longer.
        budget: Duration = Duration(std::time::Duration::from_secs(60)) => "\"60s\"",
        /// Step-wise up/down/up of each migration after the full apply and rollback.
        stepwise: bool = true,
        /// Schema differences across versions fail the test (else they are warnings).
        strict: bool = false,
        /// Tests on this existing server instead of throwaway clusters.
        server: Option<Target>,
        /// The project's own migration command (with `DATABASE_URL` set) instead of the files.
        command: Option<Strings>,
        /// The project's command that reverts every migration (with `command`).
        down_command: Option<Strings>,
        /// Returns the result of a failed test instead of failing the job.
        allow_fail: bool = false,
        /// A git ref: only the migrations whose files it lacks get their downs tested.
        since: Option<String>,
        /// Only the newest this many migrations get their downs tested.
        last: Option<i64>,
        /// Migrations (id, version or name) whose downs are not tested, with a note.
        irreversible: Option<Strings>,
        /// A binary speaking sea-orm-migration's command line (`status`, `up`, `down -n 1`,
        /// `fresh`), driven with `DATABASE_URL` set.
        cli: Option<Strings>,
    }
}

result! {
    /// What `pg::migrate` returns.
    pub struct MigrateResult {
        /// Ids of the migrations applied (not with `command`).
        #[serde(skip_serializing_if = "Option::is_none")]
        applied: Option<Vec<String>> as "array of strings",
        /// True when the project's `command` migrated.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        delegated: bool as "bool",
        /// Seconds applying took; `()` when the command was not run.
        duration: Option<f64> as "float",
    }
}

result! {
    /// What `pg::rollback` returns.
    pub struct RollbackResult {
        /// Ids of the migrations reverted, newest first.
        reverted: Vec<String> as "array of strings",
    }
}

result! {
    /// What `pg::status` returns.
    pub struct StatusResult {
        /// Ids of the applied migrations.
        applied: Vec<String> as "array of strings",
        /// Ids of the migrations not applied yet.
        pending: Vec<String> as "array of strings",
        /// Applied migrations whose up file changed since.
        changed: Vec<String> as "array of strings",
        /// Applied versions with no file.
        unknown: Vec<String> as "array of strings",
    }
}

result! {
    /// What `pg::seed` returns.
    pub struct SeedResult {
        /// Statements the file held.
        statements: i64 as "int",
        /// Seconds they took.
        duration: f64 as "float",
    }
}

result! {
    /// What `pg::backup` returns, for `pg::restore`.
    pub struct BackupResult {
        /// The URL of the copy.
        url: String as "string",
        /// The database copied.
        database: String as "string",
        /// The copy's name.
        backup: String as "string",
    }
}

result! {
    /// One version's part of `pg::test_migrations`' result.
    pub struct VersionResult {
        /// The server's version (`16.4`).
        version: String as "string",
        /// Whether every check passed on it.
        passed: bool as "bool",
        /// What failed on it.
        errors: Vec<String> as "array of strings",
        /// Migrations applied.
        migrations: i64 as "int",
        /// Seconds per phase: `initdb`, `start`, `setup`, `apply`, `rollback`, `stepwise`,
        /// `compare`, `stop`, `total`.
        timings: std::collections::BTreeMap<String, f64> as "map of floats",
        /// Whether initdb came from the cache.
        initdb_cached: bool as "bool",
        /// The schema after applying everything, as sorted lines.
        snapshot: Vec<String> as "array of strings",
    }
}

result! {
    /// What `pg::test_migrations` returns.
    pub struct TestResult {
        /// Whether every version passed (and, with `strict`, their schemas agree).
        passed: bool as "bool",
        /// Per version (`"16"`): `#{ version, passed, errors, migrations, timings,
        /// initdb_cached, snapshot }`.
        versions: std::collections::BTreeMap<String, VersionResult> as "map of maps",
        /// Schema differences across versions.
        differences: Vec<String> as "array of strings",
        /// Every failure, naming its version.
        errors: Vec<String> as "array of strings",
    }
}

/// The methods of the handle `pg::cluster` and `pg::server` return.
pub(crate) const HANDLE: &[Function] = &[
    plain(
        "PgServer.url",
        &["server: &mut PgServer"],
        "Its connection URL (`postgres://…`); also what `to_string` gives.",
    ),
    plain(
        "PgServer.port",
        &["server: &mut PgServer"],
        "The port it listens on.",
    ),
    plain(
        "PgServer.version",
        &["server: &mut PgServer"],
        "Its major version (`16`).",
    ),
    plain(
        "PgServer.server_version",
        &["server: &mut PgServer"],
        "Its full version (`16.4`).",
    ),
    plain(
        "PgServer.backend",
        &["server: &mut PgServer"],
        "`native`, `docker` or `external`: how it runs.",
    ),
    plain(
        "PgServer.dir",
        &["server: &mut PgServer"],
        "The data directory of a native cluster; `()` otherwise.",
    ),
    plain(
        "PgServer.pid",
        &["server: &mut PgServer"],
        "The postmaster's process id of a native cluster; `()` otherwise.",
    ),
    plain(
        "PgServer.stop",
        &["server: &mut PgServer"],
        "Stops a server it started and removes its files now instead of at the end of the job.",
    ),
    plain(
        "PgServer.to_string",
        &["server: &mut PgServer"],
        "Its connection URL.",
    ),
];

pub(crate) const FUNCTIONS: &[Function] = &[
    Function {
        name: "pg::versions",
        params: &[],
        summary: "The PostgreSQL majors found, e.g. `[13, 14, 15, 16]`: from `XTASK_PG_PATH`, `PATH`, `/usr/lib/postgresql/*/bin`, `pg_config --bindir`.",
        options: &[],
        result: &[],
    },
    Function {
        name: "pg::cluster",
        params: &["version: int", "options: map"],
        summary: "A throwaway server of that major on a free loopback port (`url`, `port`, `version`, `server_version`, `backend`, `dir`, `pid`, `stop()`), stopped and deleted when the job ends. Its files go to `XTASK_PG_DIR` (a relative one from the job's directory), else to `/dev/shm` when that is a memory file system with 1 GiB free, else to the temporary directory.",
        options: &[ClusterOptions::FIELDS, ServerSetup::FIELDS],
        result: &[],
    },
    Function {
        name: "pg::server",
        params: &["url: string"],
        summary: "An existing server (a CI service container, `DATABASE_URL`); its password is masked in logs.",
        options: &[],
        result: &[],
    },
    Function {
        name: "pg::migrate",
        params: &["target: ?", "options: map"],
        summary: "Applies pending migrations (target: URL or server) in the order their tool would; a failure names the migration, the file, `line:col` and the server's error.",
        options: &[MigrateOptions::FIELDS],
        result: MigrateResult::FIELDS,
    },
    Function {
        name: "pg::rollback",
        params: &["target: ?", "options: map"],
        summary: "Reverts the last `steps` applied migrations.",
        options: &[RollbackOptions::FIELDS],
        result: RollbackResult::FIELDS,
    },
    Function {
        name: "pg::status",
        params: &["target: ?", "options: map"],
        summary: "Applied, pending, changed and unknown migrations.",
        options: &[StatusOptions::FIELDS],
        result: StatusResult::FIELDS,
    },
    Function {
        name: "pg::snapshot",
        params: &["target: ?", "options: map"],
        summary: "The schema from the catalog as sorted lines: tables, columns, constraints, indexes, views, functions, triggers, types, sequences, extensions.",
        options: &[CompareOptions::FIELDS],
        result: &[],
    },
    Function {
        name: "pg::test_migrations",
        params: &["options: map"],
        summary: "Per version, on its own cluster, in parallel: apply all, snapshot, roll back all, step-wise up/down/up; snapshots compared across versions.",
        options: &[
            TestOptions::FIELDS,
            ServerSetup::FIELDS,
            CompareOptions::FIELDS,
        ],
        result: TestResult::FIELDS,
    },
    Function {
        name: "pg::compare",
        params: &["results: array"],
        summary: "Cross-version schema differences between results of `pg::test_migrations` run in separate jobs.",
        options: &[],
        result: &[],
    },
    Function {
        name: "pg::query",
        params: &["target: ?", "sql: string", "params: array"],
        summary: "One statement (`$1`, `$2`, … bound from `params`); its rows as maps of column name to value.",
        options: &[],
        result: &[],
    },
    Function {
        name: "pg::execute",
        params: &["target: ?", "sql: string"],
        summary: "A script of statements in one transaction; errors give `line:col`.",
        options: &[],
        result: &[],
    },
    Function {
        name: "pg::seed",
        params: &["target: ?", "file: string"],
        summary: "`pg::execute` of a fixture file (relative to the job's directory); errors name `file:line:col`.",
        options: &[],
        result: SeedResult::FIELDS,
    },
    Function {
        name: "pg::database",
        params: &["target: ?", "name: string"],
        summary: "The URL of database `name` on the same server, created when missing.",
        options: &[],
        result: &[],
    },
    Function {
        name: "pg::backup",
        params: &["target: ?", "options: map"],
        summary: "A copy of the target's database in the same cluster (`CREATE DATABASE … TEMPLATE …`), dropped when the job ends unless `keep`.",
        options: &[BackupOptions::FIELDS],
        result: BackupResult::FIELDS,
    },
    Function {
        name: "pg::restore",
        params: &["target: ?", "backup: map"],
        summary: "The target's database becomes the backup again (the backup stays, to restore again).",
        options: &[],
        result: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::options::{check_known, parse, parse_part};

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    fn message<T: std::fmt::Debug>(result: crate::primitives::Result<T>) -> String {
        match *result.unwrap_err() {
            rhai::EvalAltResult::ErrorRuntime(m, _) => m.to_string(),
            other => other.to_string(),
        }
    }

    #[test]
    fn steps_are_a_number_or_all_and_default_to_one() {
        let o: RollbackOptions = parse(&Map::new()).unwrap();
        assert_eq!((o.dir.as_str(), o.steps.0), ("migrations", Some(1)));
        let o: RollbackOptions = parse(&map(&[("steps", "all".into())])).unwrap();
        assert_eq!(o.steps.0, None);
        let err = message(parse::<RollbackOptions>(&map(&[("steps", (-2).into())])));
        assert_eq!(
            err,
            "pg::rollback option `steps` must be a number or \"all\""
        );
    }

    #[test]
    fn versions_are_one_major_or_a_list() {
        let o: TestOptions = parse(&map(&[("versions", 16.into())])).unwrap();
        assert_eq!(o.versions.unwrap().0, [16]);
        let list = Dynamic::from_array(vec![13.into(), "16".into()]);
        let o: TestOptions = parse(&map(&[("versions", list)])).unwrap();
        assert_eq!(o.versions.unwrap().0, [13, 16]);
        let err = message(parse::<TestOptions>(&map(&[("versions", "new".into())])));
        assert_eq!(
            err,
            "pg::test_migrations option `versions` must list major versions, e.g. [13, 16]"
        );
    }

    #[test]
    fn test_migrations_takes_the_setup_and_compare_options_too() {
        let parts = [
            TestOptions::FIELDS,
            ServerSetup::FIELDS,
            CompareOptions::FIELDS,
        ];
        let given = map(&[
            (
                "settings",
                Dynamic::from_map(map(&[("work_mem", "64MB".into())])),
            ),
            ("ignore_column_order", true.into()),
            ("stepwise", false.into()),
        ]);
        check_known("pg::test_migrations", &given, &parts).unwrap();
        let setup: ServerSetup = parse_part("pg::test_migrations", &given).unwrap();
        assert_eq!(setup.settings.0, [("work_mem".into(), "64MB".into())]);
        let compare: CompareOptions = parse_part("pg::test_migrations", &given).unwrap();
        assert!(compare.ignore_column_order && !compare.normalize_whitespace);
        let o: TestOptions = parse_part("pg::test_migrations", &given).unwrap();
        assert!(!o.stepwise);
        assert_eq!(o.budget.0.as_secs(), 60);
        let typo = map(&[("ignore_colum_order", true.into())]);
        let err = message(check_known("pg::test_migrations", &typo, &parts));
        assert!(
            err.starts_with(
                "unknown pg::test_migrations option `ignore_colum_order`; did you mean `ignore_column_order`?"
            ),
            "{err}"
        );
        let bad = map(&[("settings", "fsync=on".into())]);
        let err = message(parse_part::<ServerSetup>("pg::cluster", &bad));
        assert_eq!(
            err,
            "pg::cluster option `settings` must be a map, e.g. #{ work_mem: \"64MB\" }, not string"
        );
    }
}
