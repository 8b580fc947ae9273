//! `pg::` against real PostgreSQL servers (13, 14, 15, 16 from XTASK_PG_PATH): the example
//! service's migrations on every version, planted defects, and Ctrl-C in the middle of the matrix.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::{gone_within, pid_alive, Project};

const VERSIONS: [u32; 4] = [13, 14, 15, 16];
const PLANTED: &str = "20990101000000_planted";

/// Whether every version is there; in CI a missing one fails, locally the test is skipped.
fn servers() -> bool {
    let path = std::env::var("XTASK_PG_PATH").unwrap_or_default();
    let found = VERSIONS.iter().all(|v| {
        path.split(':')
            .any(|d| d.contains(&format!("/{v}/")) && Path::new(d).join("initdb").exists())
    });
    if !found {
        assert!(
            !support::required("PG"),
            "PostgreSQL 13-16 required: set XTASK_PG_PATH (bash .ci/provision-postgres.sh)"
        );
        eprintln!("skipped: XTASK_PG_PATH does not list PostgreSQL 13, 14, 15 and 16");
    }
    found
}

/// A project with the example service's migrations and a task running the matrix.
fn project() -> Project {
    let mut p = Project::new().task(
        "migrate",
        r#"job("matrix", || {
            let r = pg::test_migrations(#{ versions: [13, 14, 15, 16], dir: "migrations" });
            for v in r.versions.keys() {
                print(`timings ${v}: ${r.versions[v].timings.keys()}`);
            }
        });"#,
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/service/migrations");
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        p = p.file(
            &format!("migrations/{}", entry.file_name().to_string_lossy()),
            &text,
        );
    }
    p
}

fn plant(p: Project, up: &str, down: &str) -> Project {
    p.file(&format!("migrations/{PLANTED}.up.sql"), up)
        .file(&format!("migrations/{PLANTED}.down.sql"), down)
}

#[test]
fn the_example_migrations_pass_on_every_version() {
    if !servers() {
        return;
    }
    let run = project().run(&["migrate"]);
    run.code(0);
    for v in VERSIONS {
        run.contains(&format!("PostgreSQL {v}."))
            .contains(&format!("timings {v}: [\"apply\", \"compare\", \"initdb\""));
    }
    run.contains("21 migrations ok").lacks("differs");
}

#[test]
fn a_down_that_leaves_a_table_behind_fails() {
    if !servers() {
        return;
    }
    let p = plant(
        project(),
        "CREATE TABLE planted (id int PRIMARY KEY);\n",
        "SELECT 1;\n",
    );
    let run = p.run(&["migrate"]);
    run.code(1).contains(&format!(
        "migrations/{PLANTED}.down.sql: does not exactly undo migrations/{PLANTED}.up.sql"
    ));
    run.contains("left behind:")
        .contains("table public.planted");
    for v in VERSIONS {
        run.contains(&format!("PostgreSQL {v}."));
    }
}

#[test]
fn a_down_that_drops_too_much_fails() {
    if !servers() {
        return;
    }
    let p = plant(
        project(),
        "CREATE TABLE planted (id int PRIMARY KEY);\n",
        "DROP TABLE planted;\nDROP VIEW active_workers;\n",
    );
    let run = p.run(&["migrate"]);
    run.code(1)
        .contains(&format!(
            "migrations/{PLANTED}.down.sql: does not exactly undo"
        ))
        .contains("dropped too much:")
        .contains("view public.active_workers");
}

#[test]
fn a_syntax_error_names_version_file_line_and_column() {
    if !servers() {
        return;
    }
    let p = plant(
        project(),
        "-- planted\nCREATE TABLE planted (\n    id int,\n    name text NOT NULL DEFAULTS 'x'\n);\n",
        "DROP TABLE planted;\n",
    );
    let run = p.run(&["migrate"]);
    run.code(1);
    for v in VERSIONS {
        run.contains(&format!(
            "PostgreSQL {v}.{}: migrations/{PLANTED}.up.sql:4:24: ERROR 42601: syntax error at or near \"DEFAULTS\"",
            minor(&run.all(), v)
        ));
    }
}

#[test]
fn syntax_postgresql_13_lacks_fails_on_13_only() {
    if !servers() {
        return;
    }
    let up = "CREATE TABLE planted (id int PRIMARY KEY, seen timestamptz);\n\n\
              CREATE OR REPLACE TRIGGER planted_seen\n    BEFORE UPDATE ON planted\n    \
              FOR EACH ROW EXECUTE FUNCTION set_updated_at();\n";
    let p = plant(project(), up, "DROP TABLE planted;\n");
    let run = p.run(&["migrate"]);
    run.code(1).contains(&format!(
        "PostgreSQL 13.23: migrations/{PLANTED}.up.sql:3:19: ERROR 42601: syntax error at or near \"TRIGGER\""
    ));
    for v in [14, 15, 16] {
        let minor = minor(&run.all(), v);
        run.contains(&format!("PostgreSQL {v}.{minor}: 22 migrations ok"))
            .lacks(&format!("PostgreSQL {v}.{minor}: migrations/"));
    }
}

/// The minor version the output shows for major `v`.
fn minor(all: &str, v: u32) -> String {
    let needle = format!("PostgreSQL {v}.");
    let at = all.find(&needle).unwrap() + needle.len();
    all[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect()
}

#[test]
fn status_and_migrate_on_a_cluster() {
    if !servers() {
        return;
    }
    let p = project().task(
        "status",
        r#"job("s", || {
            let db = pg::cluster(16);
            let before = pg::status(db, #{ dir: "migrations" });
            print(`before: ${before.applied.len()} applied, ${before.pending.len()} pending`);
            pg::migrate(db);
            pg::rollback(db, #{ steps: 2 });
            let after = pg::status(db.url);
            print(`after: ${after.applied.len()} applied, ${after.pending.len()} pending`);
            print(`dir ${db.dir} pid ${db.pid}`);
        });"#,
    );
    let run = p.run(&["status"]);
    run.code(0)
        .contains("before: 0 applied, 21 pending")
        .contains("after: 19 applied, 2 pending");
    let line = run.stdout.lines().find(|l| l.starts_with("dir ")).unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert!(!Path::new(parts[1]).exists(), "cluster dir left: {line}");
    assert!(!pid_alive(parts[3].parse().unwrap()), "server left: {line}");
}

#[test]
fn a_missing_version_is_named_with_where_it_looked() {
    let p = Project::new().task("m", r#"job("m", || pg::cluster(9));"#);
    p.run(&["m"])
        .code(1)
        .contains("PostgreSQL 9 not found")
        .contains("XTASK_PG_PATH");
}

/// Postgres processes whose command line mentions `dir`.
fn servers_under(dir: &Path) -> Vec<i32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

#[test]
fn sigint_mid_matrix_leaves_no_server_and_no_cluster() {
    if !servers() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    // Clusters go under TMPDIR; the server's user must be able to reach it.
    let tmp = tempfile::Builder::new()
        .prefix("xtask-pg-sigint-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = project();
    let mut child = p
        .command(&["migrate"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let pids = loop {
        let pids = servers_under(tmp.path());
        // Wait until servers run (initdb done, postgres up), i.e. mid-matrix.
        if pids.len() >= 2 && std::fs::read_dir(tmp.path()).unwrap().count() >= 2 {
            break pids;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no servers started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    for pid in pids {
        assert!(
            gone_within(pid, Duration::from_secs(2)),
            "pid {pid} survived"
        );
    }
    assert!(servers_under(tmp.path()).is_empty());
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "cluster dirs left: {left:?}");
}

#[test]
fn an_existing_server_and_a_delegated_migration_command() {
    if !servers() {
        return;
    }
    // The "project's own migration tool" is another xtask task here: a real program that
    // reads DATABASE_URL, as sqlx-cli or refinery would.
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let p = project()
        .task(
            "apply",
            r#"job("apply", || { pg::migrate(env("DATABASE_URL")); });"#,
        )
        .task(
            "revert",
            r#"job("revert", || { pg::rollback(env("DATABASE_URL"), #{ steps: "all" }); });"#,
        )
        .task(
            "ext",
            &format!(
                r#"job("ext", || {{
                    let db = pg::cluster(14);
                    let server = pg::server(db.url);
                    print(`external ${{server.version}} ${{server.backend}}`);
                    let own = pg::test_migrations(#{{ server: server, dir: "migrations" }});
                    print(`own ${{own.versions.server.version}} ${{own.versions.server.migrations}}`);
                    let delegated = pg::test_migrations(#{{
                        versions: [16],
                        command: ["{xtask}", "apply", "-q"],
                        down_command: ["{xtask}", "revert", "-q"],
                    }});
                    print(`delegated ${{delegated.versions["16"].snapshot.len()}} lines`);
                    print(`same ${{pg::compare([own, delegated]).is_empty()}}`);
                }});"#
            ),
        );
    let run = p.run(&["ext"]);
    run.code(0)
        .contains("external 14 external")
        .contains("own 14.")
        .contains(" 21\n")
        .contains("same true");
    let delegated: usize = run
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("delegated ")?
                .strip_suffix(" lines")?
                .parse()
                .ok()
        })
        .unwrap();
    assert!(delegated > 100, "{}", run.stdout);
}

#[test]
fn the_docker_backend_never_pulls_a_missing_image() {
    let docker = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("docker").is_file()))
        && std::process::Command::new("docker")
            .arg("info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !docker {
        assert!(!support::required("DOCKER"), "docker required");
        eprintln!("skipped: no docker engine");
        return;
    }
    let p = Project::new().task(
        "d",
        r#"job("d", || pg::cluster(16, #{ backend: "docker", image: "xtask-absent/postgres:0" }));"#,
    );
    p.run(&["d"])
        .code(1)
        .contains("docker image xtask-absent/postgres:0 is not present (xtask does not pull)");
}

#[test]
fn sigint_while_a_job_holds_a_cluster_stops_and_removes_it() {
    if !servers() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::Builder::new()
        .prefix("xtask-pg-hold-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = Project::new().task(
        "hold",
        r#"job("hold", || {
            let db = pg::cluster(15);
            write("cluster.txt", `${db.pid} ${db.dir}`);
            run(["sleep", "60"]);
        });"#,
    );
    let mut child = p
        .command(&["hold"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    support::wait_for_file(&p.join("cluster.txt"), Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(100));
    let text = std::fs::read_to_string(p.join("cluster.txt")).unwrap();
    let (pid, dir) = text.split_once(' ').unwrap();
    let pid: i32 = pid.parse().unwrap();
    assert!(pid_alive(pid) && Path::new(dir).exists());
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(
        gone_within(pid, Duration::from_secs(2)),
        "postgres {pid} survived"
    );
    assert!(!Path::new(dir).exists(), "{dir} left behind");
    assert!(servers_under(tmp.path()).is_empty());
}

#[test]
fn the_example_service_tasks() {
    if !servers() {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/service");
    let example = example.canonicalize().unwrap();
    let xtask = env!("CARGO_BIN_EXE_xtask");
    // --force: an earlier run in the example may have left its jobs up to date.
    let matrix = Project::new().run(&["-C", example.to_str().unwrap(), "migrate", "--force"]);
    matrix
        .code(0)
        .contains("migrate: 5 passed")
        .contains("same schema on PostgreSQL [13, 14, 15, 16]");

    let e = example.display();
    let p = Project::new().task(
        "t",
        &format!(
            r#"job("t", || {{
                let db = pg::cluster(16);
                pg::migrate(db, #{{ dir: "{e}/migrations" }});
                pg::rollback(db, #{{ dir: "{e}/migrations", steps: 3 }});
                run(["{xtask}", "-C", "{e}", "migrate-status"], #{{ env: #{{ DATABASE_URL: db.url }} }});
            }});"#
        ),
    );
    p.run(&["t"])
        .code(0)
        .contains("pending  20240402100000_add_pools_region")
        .contains("applied  20240108091500_create_pools")
        .contains(": 18 applied, 3 pending");
}

#[test]
fn diesel_layout_no_transaction_migrations_and_the_budget() {
    if !servers() {
        return;
    }
    let p = Project::new()
        .file(
            "db/2024-01-01-000000_items/up.sql",
            "CREATE TABLE items (id int PRIMARY KEY, name text);\n",
        )
        .file("db/2024-01-01-000000_items/down.sql", "DROP TABLE items;\n")
        .file(
            "db/2024-01-02-000000_items_name/up.sql",
            "CREATE INDEX CONCURRENTLY items_name_idx ON items (name);\n",
        )
        .file(
            "db/2024-01-02-000000_items_name/down.sql",
            "DROP INDEX CONCURRENTLY items_name_idx;\n",
        )
        .file(
            "db/2024-01-02-000000_items_name/metadata.toml",
            "run_in_transaction = false\n",
        )
        .task(
            "t",
            r#"job("ok", || {
                let r = pg::test_migrations(#{ versions: [16], dir: "db" });
                print(`ok ${r.versions["16"].migrations} ${r.passed}`);
            });
            job("slow", || pg::test_migrations(#{ versions: [16], dir: "db", budget: 0 }));"#,
        );
    let run = p.run(&["t", "--keep-going"]);
    run.code(1)
        .contains("ok 2 true")
        .contains("over the 0s budget");
    // The same migration inside a transaction is what PostgreSQL refuses.
    std::fs::remove_file(p.join("db/2024-01-02-000000_items_name/metadata.toml")).unwrap();
    p.run(&["t", "--job", "ok"]).code(1).contains(
        "db/2024-01-02-000000_items_name/up.sql:1:1: ERROR 25001: CREATE INDEX CONCURRENTLY cannot run inside a transaction block",
    );
}

#[test]
fn initdb_runs_once_per_server_build_then_comes_from_the_cache() {
    if !servers() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let p = Project::new().task(
        "c",
        r#"job("c", || {
            let db = pg::cluster(16);
            pg::snapshot(db);
        });"#,
    );
    let run = |cache: &str| {
        let out = p
            // --force: each run must start a cluster (an up-to-date job would not).
            .command(&["c", "--force"])
            .env("XTASK_PG_CACHE", cache)
            .output()
            .unwrap();
        let all = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{all}");
        all
    };
    let cache_dir = cache.path().join("pg");
    let first = run(cache_dir.to_str().unwrap());
    assert!(
        first.contains("PostgreSQL 16.") && !first.contains("from the cache"),
        "{first}"
    );
    let entries: Vec<_> = std::fs::read_dir(&cache_dir).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "one entry for one server build");
    assert!(entries[0].path().join("data/PG_VERSION").is_file());
    let second = run(cache_dir.to_str().unwrap());
    assert!(second.contains("from the cache"), "{second}");
    let off = run("off");
    assert!(!off.contains("from the cache"), "{off}");
}
