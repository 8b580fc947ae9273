//! `pg::` against real PostgreSQL servers (13, 14, 15, 16 from XTASK_PG_PATH): the example
//! service's migrations on every version, planted defects, and Ctrl-C in the middle of the matrix.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::{gone_within, pid_alive, Project};
use xtask_core::exit::Exit;

const VERSIONS: [u32; 4] = [13, 14, 15, 16];
const PLANTED: &str = "20990101000000_planted";

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
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let run = project().run(&["migrate"]);
    run.code(Exit::Ok);
    for v in VERSIONS {
        run.contains(&format!("PostgreSQL {v}."))
            .contains(&format!("timings {v}: [\"apply\", \"compare\", \"initdb\""));
    }
    run.contains("21 migrations ok").lacks("differs");
}

#[test]
fn a_down_that_leaves_a_table_behind_fails() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let p = plant(
        project(),
        "CREATE TABLE planted (id int PRIMARY KEY);\n",
        "SELECT 1;\n",
    );
    let run = p.run(&["migrate"]);
    run.code(Exit::Failed).contains(&format!(
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
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let p = plant(
        project(),
        "CREATE TABLE planted (id int PRIMARY KEY);\n",
        "DROP TABLE planted;\nDROP VIEW active_workers;\n",
    );
    let run = p.run(&["migrate"]);
    run.code(Exit::Failed)
        .contains(&format!(
            "migrations/{PLANTED}.down.sql: does not exactly undo"
        ))
        .contains("dropped too much:")
        .contains("view public.active_workers");
}

#[test]
fn a_syntax_error_names_version_file_line_and_column() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let p = plant(
        project(),
        "-- planted\nCREATE TABLE planted (\n    id int,\n    name text NOT NULL DEFAULTS 'x'\n);\n",
        "DROP TABLE planted;\n",
    );
    let run = p.run(&["migrate"]);
    run.code(Exit::Failed);
    for v in VERSIONS {
        run.contains(&format!(
            "PostgreSQL {v}.{}: migration 22 of 22: migrations/{PLANTED}.up.sql:4:24: ERROR 42601: syntax error at or near \"DEFAULTS\"",
            minor(&run.all(), v)
        ));
    }
}

#[test]
fn syntax_postgresql_13_lacks_fails_on_13_only() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let up = "CREATE TABLE planted (id int PRIMARY KEY, seen timestamptz);\n\n\
              CREATE OR REPLACE TRIGGER planted_seen\n    BEFORE UPDATE ON planted\n    \
              FOR EACH ROW EXECUTE FUNCTION set_updated_at();\n";
    let p = plant(project(), up, "DROP TABLE planted;\n");
    let run = p.run(&["migrate"]);
    run.code(Exit::Failed).contains(&format!(
        "PostgreSQL 13.23: migration 22 of 22: migrations/{PLANTED}.up.sql:3:19: ERROR 42601: syntax error at or near \"TRIGGER\""
    ));
    // The failed version's verdict carries its timings too, up to the failed phase.
    run.contains("PostgreSQL 13.23: failed, 1 error(s) (apply ");
    let verdicts = p
        .task(
            "verdicts",
            r#"job("v", || {
                let r = pg::test_migrations(#{ dir: "migrations", allow_fail: true });
                for v in r.versions.keys() {
                    let e = r.versions[v];
                    print(`verdict ${v} ${e.passed} ${e.timings.keys()} ${e.timings.total > 0.0}`);
                }
            });"#,
        )
        .run(&["verdicts"]);
    verdicts.code(Exit::Ok).contains(
        "verdict 13 false [\"apply\", \"compare\", \"initdb\", \"setup\", \"start\", \"stop\", \"total\"] true",
    );
    for v in [14, 15, 16] {
        verdicts.contains(&format!("verdict {v} true [\"apply\", \"compare\", \"initdb\", \"rollback\", \"setup\", \"start\", \"stepwise\", \"stop\", \"total\"] true"));
    }
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

/// Where a cluster goes without `XTASK_PG_DIR`: `/dev/shm` when it is a tmpfs with 1 GiB free,
/// else the temporary directory.
fn default_cluster_parent() -> std::path::PathBuf {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    // SAFETY: statfs writes only into `fs`; the path is a C string literal.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    let statfs = unsafe { libc::statfs(c"/dev/shm".as_ptr(), &mut fs) };
    let free = (fs.f_bavail as u64).saturating_mul(fs.f_bsize as u64);
    if statfs == 0 && fs.f_type as i64 == TMPFS_MAGIC && free >= 1 << 30 {
        "/dev/shm".into()
    } else {
        std::env::temp_dir()
    }
}

#[test]
fn status_and_migrate_on_a_cluster() {
    if !support::pg_servers(&VERSIONS) {
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
    run.code(Exit::Ok)
        .contains("before: 0 applied, 21 pending")
        .contains("after: 19 applied, 2 pending");
    let line = run.stdout.lines().find(|l| l.starts_with("dir ")).unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        Path::new(parts[1]).parent(),
        Some(default_cluster_parent().as_path()),
        "{line}"
    );
    assert!(!Path::new(parts[1]).exists(), "cluster dir left: {line}");
    assert!(!pid_alive(parts[3].parse().unwrap()), "server left: {line}");
}

#[test]
fn clusters_go_where_xtask_pg_dir_says_relative_to_the_job() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let p = Project::new().task(
        "c",
        r#"job("c", || { let db = pg::cluster(16); print(`dir ${db.dir}`); });"#,
    );
    // Run from elsewhere (`-C`): the relative directory is the job's, not the caller's.
    let elsewhere = tempfile::tempdir().unwrap();
    let run_c = || {
        support::xtask_in(elsewhere.path(), &["-C", p.path().to_str().unwrap(), "c"])
            .env("XTASK_PG_DIR", "clusters")
    };
    // Missing: the error names the directory and the variable.
    run_c().run().code(Exit::Failed).contains(&format!(
        "cannot create a cluster directory in {} (XTASK_PG_DIR chooses where)",
        p.join("clusters").display()
    ));
    // The server's user must reach it.
    std::fs::create_dir(p.join("clusters")).unwrap();
    std::fs::set_permissions(p.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(p.join("clusters"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = run_c().run();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("dir "))
        .unwrap_or("");
    assert_eq!(
        Path::new(line.trim_start_matches("dir ")).parent(),
        Some(p.join("clusters").as_path()),
        "{}",
        run.stdout
    );
    run.code(Exit::Ok);
    assert_eq!(std::fs::read_dir(p.join("clusters")).unwrap().count(), 0);
}

#[test]
fn a_missing_version_is_named_with_where_it_looked() {
    let p = Project::new().task("m", r#"job("m", || pg::cluster(9));"#);
    p.run(&["m"])
        .code(Exit::Failed)
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
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    // Clusters go under XTASK_PG_DIR; the server's user must be able to reach it.
    let tmp = tempfile::Builder::new()
        .prefix("xtask-pg-sigint-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = project();
    let mut child = p
        .command(&["migrate"])
        .env("XTASK_PG_DIR", tmp.path())
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
    assert_eq!(status.code(), Some(Exit::Interrupted.code()));
    for pid in pids {
        assert!(
            gone_within(pid, Duration::from_secs(10)),
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
    if !support::pg_servers(&VERSIONS) {
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
                    let failed = pg::test_migrations(#{{
                        versions: [16],
                        command: ["sh", "-c", "echo applying; echo 'Execution Error: relation \"x\" does not exist' >&2; exit 1"],
                        allow_fail: true,
                    }});
                    print(`failed ${{failed.errors}}`);
                }});"#
            ),
        );
    let run = p.run(&["ext"]);
    run.code(Exit::Ok)
        .contains("external 14 external")
        .contains("own 14.")
        .contains(" 21\n")
        .contains("same true")
        .contains("migrated by the project's command, schema checked")
        .contains("command failed with exit status 1: `sh -c 'echo applying; echo")
        .contains("`\\n  Execution Error: relation \\\"x\\\" does not exist\"]");
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
    if !support::require("DOCKER", docker, "no docker engine") {
        return;
    }
    let p = Project::new().task(
        "d",
        r#"job("d", || pg::cluster(16, #{ backend: "docker", image: "xtask-absent/postgres:0" }));"#,
    );
    p.run(&["d"])
        .code(Exit::Failed)
        .contains("docker image xtask-absent/postgres:0 is not present (xtask does not pull)");
}

#[test]
fn sigint_while_a_job_holds_a_cluster_stops_and_removes_it() {
    if !support::pg_servers(&VERSIONS) {
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
        .env("XTASK_PG_DIR", tmp.path())
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
    assert_eq!(child.wait().unwrap().code(), Some(Exit::Interrupted.code()));
    assert!(
        gone_within(pid, Duration::from_secs(10)),
        "postgres {pid} survived"
    );
    assert!(!Path::new(dir).exists(), "{dir} left behind");
    assert!(servers_under(tmp.path()).is_empty());
}

#[test]
fn the_example_service_tasks() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/service");
    let example = example.canonicalize().unwrap();
    let xtask = env!("CARGO_BIN_EXE_xtask");
    // --force: an earlier run in the example may have left its jobs up to date.
    let matrix = Project::new().run(&["-C", example.to_str().unwrap(), "migrate", "--force"]);
    matrix
        .code(Exit::Ok)
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
        .code(Exit::Ok)
        .contains("pending  20240402100000_add_pools_region")
        .contains("applied  20240108091500_create_pools")
        .contains(": 18 applied, 3 pending");
}

#[test]
fn diesel_layout_no_transaction_migrations_and_the_budget() {
    if !support::pg_servers(&VERSIONS) {
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
    run.code(Exit::Failed)
        .contains("ok 2 true")
        .contains("over the 0s budget");
    // The same migration inside a transaction is what PostgreSQL refuses.
    std::fs::remove_file(p.join("db/2024-01-02-000000_items_name/metadata.toml")).unwrap();
    p.run(&["t", "--job", "ok"]).code(Exit::Failed).contains(
        "db/2024-01-02-000000_items_name/up.sql:1:1: ERROR 25001: CREATE INDEX CONCURRENTLY cannot run inside a transaction block",
    );
}

#[test]
fn initdb_runs_once_per_server_build_then_comes_from_the_cache() {
    if !support::pg_servers(&VERSIONS) {
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
            .xtask(&["c", "--force"])
            .env("XTASK_PG_CACHE", cache)
            .run();
        assert!(out.code == 0, "{}", out.stdout);
        out.stdout
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

/// A diesel history with the three version styles real histories mix, interleaved so that
/// ordering by number (not diesel's string order) would run `post_tags` before `create_tags`.
fn diesel_history() -> Project {
    Project::new()
        .file(
            "db/20170102000000_create_users/up.sql",
            "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);\n",
        )
        .file("db/20170102000000_create_users/down.sql", "DROP TABLE users;\n")
        .file(
            "db/2017-08-31-230457_create_posts/up.sql",
            "CREATE TABLE posts (id int PRIMARY KEY, author int NOT NULL REFERENCES users, title text);\n",
        )
        .file("db/2017-08-31-230457_create_posts/down.sql", "DROP TABLE posts;\n")
        .file(
            "db/2017-09-01-000000-0000_create_tags/up.sql",
            "CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL);\n",
        )
        // Empty: diesel refuses to run it.
        .file("db/2017-09-01-000000-0000_create_tags/down.sql", "\n")
        .file(
            "db/20200101000000_post_tags/up.sql",
            "CREATE TABLE post_tags (post int REFERENCES posts, tag int REFERENCES tags);\n",
        )
        .file("db/20200101000000_post_tags/down.sql", "DROP TABLE post_tags;\n")
        .file(
            "db/2026-05-27-120000-0000_posts_title/up.sql",
            "CREATE INDEX CONCURRENTLY posts_title_idx ON posts (title);\n",
        )
        .file(
            "db/2026-05-27-120000-0000_posts_title/down.sql",
            "DROP INDEX CONCURRENTLY posts_title_idx;\n",
        )
        .file(
            "db/2026-05-27-120000-0000_posts_title/metadata.toml",
            "run_in_transaction = false\n",
        )
        .file("db/seed.sql", "INSERT INTO users VALUES (1, 'loose file: diesel never runs it');\n")
        .task(
            "t",
            r#"job("matrix", || {
                let r = pg::test_migrations(#{ versions: [13, 14, 15, 16], dir: "db" });
                print(`passed ${r.passed} with ${r.versions["16"].migrations} migrations`);
            });
            job("index", || {
                let db = pg::cluster(16);
                pg::migrate(db, #{ dir: "db" });
                let rows = pg::query(db, "SELECT c.relname AS name, i.indisvalid AS valid \
                    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1",
                    ["posts_title_idx"]);
                print(`index ${rows}`);
                print(`users ${pg::query(db, "SELECT count(*) AS n FROM users")[0].n}`);
            });"#,
        )
}

#[test]
fn a_diesel_history_runs_in_diesels_order_and_its_rules() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let p = diesel_history();
    let run = p.run(&["t", "-v", "--keep-going"]);
    run.code(Exit::Failed)
        .contains("db/seed.sql: ignored (diesel reads only directories, not loose files)")
        .contains(
            "db: 5 diesel migrations, in the order diesel applies them:\n\
             \x20    1. 20170102000000_create_users\n\
             \x20    2. 2017-08-31-230457_create_posts\n\
             \x20    3. 2017-09-01-000000-0000_create_tags\n\
             \x20    4. 20200101000000_post_tags\n\
             \x20    5. 2026-05-27-120000-0000_posts_title",
        )
        .lacks("does not exist")
        .lacks("loose file: diesel never runs it");
    for v in VERSIONS {
        let minor = minor(&run.all(), v);
        run.contains(&format!(
            "PostgreSQL {v}.{minor}: migration 3 of 5: db/2017-09-01-000000-0000_create_tags/down.sql: Attempted to run an empty migration"
        ));
    }
    // The index built outside a transaction is there and valid; the loose file never ran.
    run.contains("index [#{\"name\": \"posts_title_idx\", \"valid\": true}]")
        .contains("users 0");

    // With the down written, every version passes.
    std::fs::write(
        p.join("db/2017-09-01-000000-0000_create_tags/down.sql"),
        "DROP TABLE tags;\n",
    )
    .unwrap();
    let run = p.run(&["t", "--job", "matrix"]);
    run.code(Exit::Ok).contains("passed true with 5 migrations");
    for v in VERSIONS {
        run.contains(&format!(
            "PostgreSQL {v}.{}: 5 migrations ok",
            minor(&run.all(), v)
        ));
    }
}

/// A repository whose base commit has three migrations (the second with a down that never
/// worked) and a second commit adding two more, one with a down that leaves a column behind.
fn pull_request() -> Project {
    let p = Project::new()
        .file(
            "m/1_accounts.up.sql",
            "CREATE TABLE accounts (id int PRIMARY KEY);\n",
        )
        .file("m/1_accounts.down.sql", "DROP TABLE accounts;\n")
        .file(
            "m/2_accounts_email.up.sql",
            "ALTER TABLE accounts ADD COLUMN email text;\n",
        )
        .file(
            "m/2_accounts_email.down.sql",
            "SELECT 1; -- never undid it\n",
        )
        .file(
            "m/3_orders.up.sql",
            "CREATE TABLE orders (id int PRIMARY KEY, account int REFERENCES accounts);\n",
        )
        .file("m/3_orders.down.sql", "DROP TABLE orders;\n");
    p.init_repo("base");
    p.git(&["branch", "base"]);
    let p = p
        .file(
            "m/4_orders_total.up.sql",
            "ALTER TABLE orders ADD COLUMN total numeric;\n",
        )
        .file(
            "m/4_orders_total.down.sql",
            "ALTER TABLE orders DROP COLUMN total;\n",
        )
        .file(
            "m/5_orders_note.up.sql",
            "ALTER TABLE orders ADD COLUMN note text;\n",
        )
        .file(
            "m/5_orders_note.down.sql",
            "SELECT 1; -- forgot the column\n",
        );
    p.commit_all("two new migrations");
    p.task(
        "pr",
        r#"let o = #{ versions: [13, 14, 15, 16], dir: "m", since: "base", allow_fail: true };
        if opts.irreversible != () { o.irreversible = [opts.irreversible]; }
        if opts.full != () { o.remove("since"); }
        if opts.last != () { o.remove("since"); o.last = parse_int(opts.last); }
        job("pr", || {
            let r = pg::test_migrations(o);
            for e in r.errors { print(`ERR ${e}`); }
            print(`verdict ${r.passed}`);
        });"#,
    )
}

#[test]
fn pull_request_mode_tests_only_what_the_pull_request_adds() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let p = pull_request();
    let run = p.run(&["pr"]);
    run.code(Exit::Ok)
        .contains("pull-request mode (since base): 2 of 5 migrations are new (4_orders_total, 5_orders_note)")
        .contains("verdict false")
        .lacks("2_accounts_email.down.sql: does not");
    for v in VERSIONS {
        run.contains(&format!(
            "ERR PostgreSQL {v}.{}: migration 5 of 5: m/5_orders_note.down.sql: does not exactly undo m/5_orders_note.up.sql",
            minor(&run.all(), v)
        ));
    }
    run.lacks("m/4_orders_total.down.sql: does not");
    // `last: 1` is the same question for the newest migration only.
    p.run(&["pr", "--last", "1"])
        .contains("(last: 1): 1 of 5 migrations are new (5_orders_note)")
        .contains("m/5_orders_note.down.sql: does not exactly undo");
    // The whole history: the old down fails too, unless it is listed as irreversible.
    std::fs::write(
        p.join("m/5_orders_note.down.sql"),
        "ALTER TABLE orders DROP COLUMN note;\n",
    )
    .unwrap();
    p.run(&["pr", "--full"])
        .contains("migration 2 of 5: m/2_accounts_email.down.sql: does not exactly undo")
        .contains("verdict false");
    p.run(&["pr", "--full", "--irreversible", "2_accounts_email"])
        .contains("m/2_accounts_email.down.sql: down not tested (listed as irreversible)")
        .lacks("does not exactly undo")
        .contains("verdict true");
}

#[test]
fn seeded_migration_within_and_over_its_budget() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let p = Project::new()
        .file("m/1_items.up.sql", "CREATE TABLE items (id int PRIMARY KEY, price int NOT NULL);\n")
        .file("m/1_items.down.sql", "DROP TABLE items;\n")
        .file("m/2_items_cents.up.sql", "ALTER TABLE items ADD COLUMN cents bigint;\nUPDATE items SET cents = price * 100;\n")
        .file("m/2_items_cents.down.sql", "ALTER TABLE items DROP COLUMN cents;\n")
        .file("fixtures/items.sql", "INSERT INTO items SELECT g, g % 97 FROM generate_series(1, 20000) g;\n")
        .task(
            "b",
            r#"fn seeded(budget) {
                let db = pg::cluster(16);
                pg::migrate(db, #{ dir: "m" });
                pg::rollback(db, #{ dir: "m" });
                let s = pg::seed(db, "fixtures/items.sql");
                print(`seeded ${s.statements} statement(s)`);
                let r = pg::migrate(db, #{ dir: "m", budget: budget });
                let rows = pg::query(db, "SELECT count(*) AS n, sum(cents) AS cents FROM items WHERE cents > $1", [0]);
                print(`migrated ${r.applied} rows ${rows[0].n} cents ${rows[0].cents}`);
            }
            job("within", || seeded("10m"));
            job("over", || seeded(0));"#,
        );
    let run = p.run(&["b", "--keep-going", "-j", "1"]);
    run.code(Exit::Failed)
        .contains("seeded 1 statement(s)")
        // 20000 rows, price g % 97; the ones at 0 are left out by the filter.
        .contains("migrated [\"2_items_cents\"] rows 19794")
        .contains("applying 1 migration(s) took")
        .contains("over the 0s budget")
        .contains("within  passed")
        .contains("over    failed");
}

#[test]
fn backup_then_a_failed_migration_then_restore_gives_back_the_rows() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let accounts = "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);\n\
                    INSERT INTO accounts VALUES (1, 10), (2, 20), (3, 30);\n";
    let p = Project::new()
        // What production has, and the release that adds a migration.
        .file("base/1_accounts.up.sql", accounts)
        .file("base/1_accounts.down.sql", "DROP TABLE accounts;\n")
        .file("m/1_accounts.up.sql", accounts)
        .file("m/1_accounts.down.sql", "DROP TABLE accounts;\n")
        // Outside a transaction: the first statement sticks, the second fails.
        .file(
            "m/2_balances.up.sql",
            "-- no-transaction\nUPDATE accounts SET balance = balance * 100;\nALTER TABLE accounts ADD COLUMN balance int;\n",
        )
        .file("m/2_balances.down.sql", "SELECT 1;\n")
        .task(
            "r",
            r#"job("rehearse", || {
                let db = pg::cluster(16);
                let app = pg::database(db, "app");
                pg::migrate(app, #{ dir: "base" });
                let before = pg::query(app, "SELECT * FROM accounts ORDER BY id");
                print(`before ${before}`);
                let backup = pg::backup(app);
                print(`backup ${backup.backup} of ${backup.database}`);
                try {
                    pg::migrate(app, #{ dir: "m" });
                    fail("the migration should have failed");
                } catch (e) {
                    print(`migration failed: ${e}`);
                    print(`half-migrated ${pg::query(app, "SELECT * FROM accounts ORDER BY id")}`);
                    pg::restore(app, backup);
                }
                let after = pg::query(app, "SELECT * FROM accounts ORDER BY id");
                print(`after ${after}`);
                assert_eq(after, before, "restored rows");
                let names = pg::query(db, "SELECT datname FROM pg_database WHERE datname LIKE 'xtask_backup%'");
                print(`backups ${names.len()}`);
            });"#,
        );
    let rows = "[#{\"balance\": 10, \"id\": 1}, #{\"balance\": 20, \"id\": 2}, #{\"balance\": 30, \"id\": 3}]";
    let run = p.run(&["r"]);
    run.code(Exit::Ok)
        .contains(&format!("before {rows}"))
        .contains("migration 2 of 2: m/2_balances.up.sql:3:1: ERROR 42701")
        .contains("half-migrated [#{\"balance\": 1000, \"id\": 1}")
        .contains(&format!("after {rows}"))
        .contains("backups 1");
}

#[test]
fn schema_comparison_is_strict_unless_told_what_to_ignore() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let p = Project::new()
        .file(
            "m/1_t.up.sql",
            "CREATE TABLE t (a int, b text);\n\
             CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$SELECT 1$$;\n",
        )
        .file("m/1_t.down.sql", "DROP FUNCTION f();\nDROP TABLE t;\n")
        .file(
            "m/2_t_a_big.up.sql",
            "ALTER TABLE t ALTER COLUMN a TYPE bigint;\n",
        )
        // Re-creating the column puts it last.
        .file(
            "m/2_t_a_big.down.sql",
            "ALTER TABLE t DROP COLUMN a;\nALTER TABLE t ADD COLUMN a int;\n",
        )
        .file(
            "m/3_f_two.up.sql",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$SELECT 2$$;\n",
        )
        // The same body, laid out differently.
        .file(
            "m/3_f_two.down.sql",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$\n    SELECT   1\n$$;\n",
        )
        .task(
            "c",
            r#"let o = #{ versions: [16], dir: "m", allow_fail: true };
            if opts.columns != () { o.ignore_column_order = true; }
            if opts.bodies != () { o.normalize_whitespace = true; }
            job("c", || {
                let r = pg::test_migrations(o);
                for e in r.errors { print(`ERR ${e}`); }
                print(`verdict ${r.passed}`);
            });"#,
        );
    p.run(&["c"])
        .contains("migration 2 of 3: m/2_t_a_big.down.sql: does not exactly undo")
        .contains("column public.t.a integer position 2")
        .contains("verdict false");
    p.run(&["c", "--columns"])
        .contains("migration 3 of 3: m/3_f_two.down.sql: does not exactly undo")
        .contains("verdict false");
    p.run(&["c", "--columns", "--bodies"])
        .lacks("ERR")
        .contains("verdict true");
}

#[test]
fn a_refinery_layout_is_applied_in_refinerys_order_without_downs() {
    if !support::pg_servers(&[16]) {
        return;
    }
    // By the string, V10 would come before V9 and find no `names`.
    let p = Project::new()
        .file(
            "db/V1__items.sql",
            "CREATE TABLE items (id int PRIMARY KEY);\n",
        )
        .file(
            "db/U2__items_id.sql",
            "CREATE INDEX items_id_idx ON items (id);\n",
        )
        .file("db/V9__names.sql", "CREATE TABLE names (name text);\n")
        .file(
            "db/V10__name_list.sql",
            "CREATE VIEW name_list AS SELECT name FROM names;\n",
        )
        .file("db/README.md", "not a migration\n")
        .task(
            "t",
            r#"job("r", || {
                let r = pg::test_migrations(#{ versions: [16], dir: "db" });
                print(`ok ${r.versions["16"].migrations} ${r.passed}`);
            });"#,
        );
    p.run(&["t", "-v"])
        .code(Exit::Ok)
        .contains("ok 4 true")
        .contains("db/README.md: ignored (not a migration: refinery reads")
        .contains("db: refinery migrations have no down: they are only applied")
        .contains("db: 4 refinery migrations, in the order refinery applies them:")
        .contains("   2. U2__items_id")
        .contains("   3. V9__names")
        .contains("   4. V10__name_list");
}

/// The step-wise check reads a step's schema narrowed to what PostgreSQL reports the step
/// touched (and what depends on it); a difference that only an untouched, dependent object's
/// line shows must still fail: a foreign key lost when its referenced table is dropped and
/// recreated, and a column default that prints a function renamed under it.
#[test]
fn a_down_whose_difference_only_a_dependent_object_shows_fails() {
    if !support::pg_servers(&[13, 16]) {
        return;
    }
    let task = r#"job("c", || {
        let r = pg::test_migrations(#{ versions: [13, 16], dir: "m", allow_fail: true });
        for e in r.errors { print(`ERR ${e}`); }
        print(`verdict ${r.passed}`);
    });"#;
    let base =
        || {
            Project::new()
            .file("m/1_parent.up.sql", "CREATE TABLE parent (id int PRIMARY KEY);\n")
            .file("m/1_parent.down.sql", "DROP TABLE parent;\n")
            .file(
                "m/2_child.up.sql",
                "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id));\n",
            )
            .file("m/2_child.down.sql", "DROP TABLE child;\n")
            .task("c", task)
        };
    // The down recreates `parent` as it was, but the foreign key on `child` went with it.
    let run = base()
        .file(
            "m/3_name.up.sql",
            "ALTER TABLE parent ADD COLUMN name text;\n",
        )
        .file(
            "m/3_name.down.sql",
            "DROP TABLE parent CASCADE;\nCREATE TABLE parent (id int PRIMARY KEY);\n",
        )
        .run(&["c"]);
    run.contains("migration 3 of 3: m/3_name.down.sql: does not exactly undo m/3_name.up.sql")
        .contains("dropped too much:")
        .contains("constraint public.child child_parent_id_fkey: FOREIGN KEY (parent_id) REFERENCES parent(id)")
        .contains("verdict false");
    // Two functions with the same line swap names: only the default that calls one of them
    // prints differently, and the down renames one back and forth instead of swapping back.
    let run = base()
        .file(
            "m/3_pick.up.sql",
            "CREATE FUNCTION pick() RETURNS int LANGUAGE sql AS $$SELECT 1$$;\n\
             CREATE FUNCTION choose() RETURNS int LANGUAGE sql AS $$SELECT 1$$;\n\
             ALTER TABLE child ADD COLUMN rank int DEFAULT pick();\n",
        )
        .file(
            "m/3_pick.down.sql",
            "ALTER TABLE child DROP COLUMN rank;\nDROP FUNCTION choose();\nDROP FUNCTION pick();\n",
        )
        .file(
            "m/4_swap.up.sql",
            "ALTER FUNCTION pick() RENAME TO swapping;\n\
             ALTER FUNCTION choose() RENAME TO pick;\n\
             ALTER FUNCTION swapping() RENAME TO choose;\n",
        )
        .file(
            "m/4_swap.down.sql",
            "ALTER FUNCTION choose() RENAME TO chosen;\nALTER FUNCTION chosen() RENAME TO choose;\n",
        )
        .run(&["c"]);
    run.contains("migration 4 of 4: m/4_swap.down.sql: does not exactly undo m/4_swap.up.sql")
        .contains("left behind:")
        .contains("column public.child.rank integer default choose() position 3")
        .contains("verdict false");
}

/// A migration whose up depends on data its down leaves (a row it inserts): the re-up creates
/// a table the first up did not. The step-wise check reads nothing after a re-up, so the
/// difference first shows at the next migration's down; the verdict must still name the
/// migration whose re-up differs, and not the next one.
#[test]
fn a_re_up_that_differs_is_named_even_when_a_later_step_shows_it() {
    if !support::pg_servers(&[13, 16]) {
        return;
    }
    let base = || {
        Project::new()
            .file("m/1_flags.up.sql", "CREATE TABLE flags (n int);\n")
        .file("m/1_flags.down.sql", "DROP TABLE flags;\n")
        .file(
            "m/2_count.up.sql",
            "INSERT INTO flags VALUES (1);\n\
             DO $$ BEGIN\n\
               IF (SELECT count(*) FROM flags) > 1 THEN CREATE TABLE extra (id int); END IF;\n\
             END $$;\n",
        )
            .file("m/2_count.down.sql", "SELECT 1;\n")
            .task(
                "c",
                r#"job("c", || {
                    let r = pg::test_migrations(#{ versions: [13, 16], dir: "m", allow_fail: true });
                    for e in r.errors { print(`ERR ${e}`); }
                    print(`verdict ${r.passed}`);
                });"#,
            )
    };
    let run = base()
        .file(
            "m/3_note.up.sql",
            "ALTER TABLE flags ADD COLUMN note text;\n",
        )
        .file("m/3_note.down.sql", "ALTER TABLE flags DROP COLUMN note;\n")
        .run(&["c"]);
    run.contains(
        "migration 2 of 3: m/2_count.up.sql: applying it again after its down gives a different schema",
    )
    .contains("table public.extra")
    .lacks("migration 3 of 3")
    .contains("verdict false");
    // The last migration: only the end's comparison shows it.
    let run = base().run(&["c"]);
    run.contains(
        "migration 2 of 2: m/2_count.up.sql: applying it again after its down gives a different schema",
    )
    .lacks("re-applying every migration")
    .contains("verdict false");
}

/// The fixture migration crate (sea-orm-migration's command line over plain SQL, see its
/// Cargo.toml), built once into the workspace's target directory; later builds are no-ops.
fn migration_binary() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            support::stdout_of(
                std::process::Command::new(cargo)
                    .args(["build", "--quiet", "--locked", "--manifest-path"])
                    .arg(root.join("tests/fixtures/sea-migration/Cargo.toml"))
                    .env("CARGO_TARGET_DIR", &target),
                "building the fixture migration crate",
            );
            target.join("debug/migration")
        })
        .clone()
}

/// A project whose `migration/` crate is the fixture's sources, with a task testing it.
fn seaorm_project() -> Project {
    let bin = migration_binary();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sea-migration/src");
    let mut p = Project::new();
    for entry in std::fs::read_dir(src).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        p = p.file(
            &format!("migration/src/{}", entry.file_name().to_string_lossy()),
            &text,
        );
    }
    p.task(
        "sea",
        &format!(
            r#"job("sea", || {{
                let r = pg::test_migrations(#{{ versions: [13, 14, 15, 16], cli: ["{}"], allow_fail: true }});
                for e in r.errors {{ print(`ERR ${{e}}`); }}
                print(`verdict ${{r.passed}} ${{r.versions["16"].migrations}} ${{r.versions["16"].timings.keys()}}`);
            }});"#,
            bin.display()
        ),
    )
}

#[test]
fn a_migration_crate_is_tested_through_its_binary() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let p = seaorm_project();
    let run = p.run(&["sea"]);
    run.code(Exit::Ok)
        .contains(r#"verdict true 3 ["apply", "initdb", "rollback", "setup", "start", "stepwise", "stop", "total"]"#)
        .lacks("ERR");
    for v in VERSIONS {
        run.contains(&format!(
            "PostgreSQL {v}.{}: 3 migrations ok",
            minor(&run.all(), v)
        ));
    }
    // A down that does not undo its up is named, with its file.
    let run = p.xtask(&["sea"]).env("FIXTURE_PLANT", "bad_down").run();
    run.code(Exit::Ok).contains("verdict false");
    for v in VERSIONS {
        run.contains(&format!(
            "ERR PostgreSQL {v}.{}: migration 3 of 3: m20240103_000003_add_posts_slug (migration/src/m20240103_000003_add_posts_slug.rs): its down does not exactly undo its up:",
            minor(&run.all(), v)
        ));
    }
    run.contains("index public.posts_slug");
    // A down that fails: the server's message, as the binary printed it.
    p.xtask(&["sea"])
        .env("FIXTURE_PLANT", "failing_down")
        .run()
        .contains("ERR PostgreSQL 16.")
        .contains(": migration 3 of 3: m20240103_000003_add_posts_slug (migration/src/m20240103_000003_add_posts_slug.rs): `")
        .contains("down -n 1` failed with exit status 1\n  Execution Error: error returned from database: index \"posts_slug_typo\" does not exist");
}

#[test]
fn a_diesel_version_recorded_with_dashes_counts_as_applied() {
    if !support::pg_servers(&VERSIONS) {
        return;
    }
    let p = Project::new()
        .file(
            "db/2024-01-01-000000_items/up.sql",
            "CREATE TABLE items (id int);\n",
        )
        .file("db/2024-01-01-000000_items/down.sql", "DROP TABLE items;\n")
        .task(
            "t",
            r#"job("t", || {
                let db = pg::cluster(16);
                pg::migrate(db, #{ dir: "db" });
                // What an earlier release recorded for the same migration.
                pg::execute(db, "UPDATE _xtask_migrations SET version = '2024-01-01-000000'");
                print(`pending ${pg::status(db, #{ dir: "db" }).pending.len()}`);
                print(`reverted ${pg::rollback(db, #{ dir: "db" }).reverted}`);
                print(`rows ${pg::query(db, "SELECT count(*) AS n FROM _xtask_migrations")[0].n}`);
            });"#,
        );
    p.run(&["t"])
        .code(Exit::Ok)
        .contains("pending 0")
        .contains("reverted [\"2024-01-01-000000_items\"]")
        .contains("rows 0");
}
