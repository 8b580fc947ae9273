//! `xtask init` on throwaway repositories of several shapes, then the generated runner for real:
//! `cargo xtask --list`, `cargo xtask ci` (passes), a planted defect (fails, naming file:line),
//! `init` again (changes nothing). Also a primitive of the user's own, registered through the
//! library from the generated crate's `main.rs`.
//!
//! Every generated `xtask/` crate depends on this checkout's library by path (`init --path`) and
//! builds into one shared target directory, so the library compiles once per feature set.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{git, Run};
use xtask_core::exit::Exit;

/// This checkout: what `--path` points the generated crates at.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn shared_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-target")
}

/// A throwaway repository: files, a git history of one commit, and ways to run `xtask init` and
/// the generated `cargo xtask` in it.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new(files: &[(&str, &str)]) -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("xtask-init-")
            .tempdir()
            .unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        git(dir.path(), &["init", "-q"]);
        Repo { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, path: &str, text: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn init(&self) -> Run {
        support::xtask_in(self.path(), &["init", "--path"])
            .arg(checkout())
            .run()
    }

    /// `cargo xtask ARGS` as a user types it, through the alias `init` wrote.
    fn cargo_xtask(&self, args: &[&str]) -> Run {
        self.cargo_xtask_with(args, &[])
    }

    /// `cargo xtask ARGS` with `env` added.
    fn cargo_xtask_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::new(env!("CARGO"))
            .arg("xtask")
            .args(args)
            .current_dir(self.path())
            .env("CARGO_TARGET_DIR", shared_target())
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("RUSTFLAGS")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run::from(out)
    }

    /// Every file's contents, outside build output and git's own files.
    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        walkdir::WalkDir::new(self.path())
            .into_iter()
            .filter_entry(|e| e.file_name() != "target" && e.file_name() != ".git")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(self.path()).unwrap();
                (
                    rel.to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }
}

const LIB_RS: &str = "//! A small library.\n\n/// Adds two numbers.\n///\n/// ```\n/// assert_eq!(demo::add(2, 2), 4);\n/// ```\npub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::add(1, 2), 3);\n    }\n}\n";

/// A package manifest of a version no other repository of a running test has. The tests share
/// one target directory, and cargo names a package's build output by its name, version and
/// place in its workspace, not by its path: two repositories' `demo 0.1.0` would read each
/// other's build records, and a planted defect could pass a clippy that checked the other copy.
fn manifest(name: &str, extra: &str) -> String {
    manifest_at(name, &unique_version(), extra)
}

fn manifest_at(name: &str, version: &str, extra: &str) -> String {
    format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n{extra}\n")
}

/// `0.<pid>.<n>`: nextest runs each test in a process of its own, and `n` counts within one.
fn unique_version() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("0.{}.{n}", std::process::id())
}

/// The whole cycle every shape goes through: init, list, ci passes, a planted clippy error
/// fails naming its file and line, init again changes nothing.
fn adopt(repo: &Repo, expect_tasks: &[&str], defect_file: &str) {
    let first = repo.init();
    first
        .code(Exit::Ok)
        .contains("created  xtask/Cargo.toml")
        .contains("next: cargo xtask ci");
    let main_rs = repo.read("xtask/src/main.rs");
    assert!(main_rs.lines().count() <= 5, "main.rs is {main_rs:?}");

    let list = repo.cargo_xtask(&["--list"]);
    list.code(Exit::Ok);
    for task in expect_tasks {
        list.contains(task);
    }

    repo.cargo_xtask(&["ci"])
        .code(Exit::Ok)
        .contains("passed, 0 failed");

    let before_defect = repo.read(defect_file);
    repo.write(
        defect_file,
        &format!("{before_defect}\npub fn planted() -> u32 {{\n    let unused = 1;\n    2\n}}\n"),
    );
    let line = before_defect.lines().count() + 3;
    let failed = repo.cargo_xtask(&["ci"]);
    failed
        .code(Exit::Failed)
        .contains(&format!("{defect_file}:{line}"))
        .contains("clippy");
    repo.write(defect_file, &before_defect);

    let before = repo.snapshot();
    let again = repo.init();
    again.code(Exit::Ok).lacks("created").lacks("overwrote");
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        repo.snapshot().keys().collect::<Vec<_>>()
    );
    assert!(before == repo.snapshot(), "the second init changed a file");
}

#[test]
fn a_single_crate_adopts_the_runner() {
    let version = unique_version();
    let repo = Repo::new(&[
        ("Cargo.toml", &manifest_at("demo", &version, "")),
        ("src/lib.rs", LIB_RS),
        (
            "CHANGELOG.md",
            &format!("# Changelog\n\n## {version}\n\n- First.\n"),
        ),
    ]);
    adopt(&repo, &["ci", "quick-test", "release-check"], "src/lib.rs");
    let ci = repo.read("tasks/ci.rhai");
    assert!(ci.contains("doctest"), "a library gets doc tests:\n{ci}");
    assert!(repo.read("Makefile.compat").contains("cargo xtask ci"));
    assert!(repo
        .read(".github/workflows/ci.yml")
        .contains("cargo xtask ci"));
    // .ci/setup installs actionlint; elsewhere the lint is left out, visibly.
    match which::which("actionlint") {
        Ok(actionlint) => {
            let lint = Command::new(actionlint)
                .arg(".github/workflows/ci.yml")
                .current_dir(repo.path())
                .output()
                .unwrap();
            Run::from(lint).code(Exit::Ok);
        }
        Err(_) => support::skip("the workflow lint: actionlint is not installed"),
    }
    let manifest = repo.read("xtask/Cargo.toml");
    assert!(
        manifest.contains("features = [\"cargo\", \"release\"]"),
        "{manifest}"
    );
}

#[test]
fn a_workspace_with_an_msrv_tests_on_it_and_keeps_its_lock() {
    let repo = Repo::new(&[
        (
            "Cargo.toml",
            "[workspace]\nresolver = \"2\"\nmembers = [\"crates/*\"]\n",
        ),
        (
            "crates/core/Cargo.toml",
            &manifest("demo", "rust-version = \"1.70\"\npublish = false"),
        ),
        ("crates/core/src/lib.rs", LIB_RS),
        (
            "crates/app/Cargo.toml",
            &manifest(
                "app",
                "publish = false\n\n[dependencies]\ndemo = { path = \"../core\" }",
            ),
        ),
        (
            "crates/app/src/main.rs",
            "fn main() {\n    println!(\"{}\", demo::add(1, 1));\n}\n",
        ),
    ]);
    // The repository's own lock, as it was before the runner came.
    let status = Command::new(env!("CARGO"))
        .args(["generate-lockfile", "--offline"])
        .current_dir(repo.path())
        .status()
        .unwrap();
    assert!(status.success());
    let lock = repo.read("Cargo.lock");
    adopt(&repo, &["ci", "quick-test"], "crates/core/src/lib.rs");
    assert_eq!(
        repo.read("Cargo.lock"),
        lock,
        "the repository's Cargo.lock changed"
    );
    let ci = repo.read("tasks/ci.rhai");
    assert!(
        ci.contains("\"1.70\""),
        "the MSRV is in the toolchain matrix:\n{ci}"
    );
    let root = repo.read("Cargo.toml");
    assert!(root.contains("exclude = [\"xtask\"]"), "{root}");
    assert!(!Path::new(&repo.path().join("tasks/release-check.rhai")).exists());
}

#[test]
fn sqlx_migrations_get_a_migration_matrix() {
    let repo = Repo::new(&[
        ("Cargo.toml", &manifest("demo", "publish = false")),
        ("src/lib.rs", LIB_RS),
        (
            "migrations/20240101000000_users.up.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);\n",
        ),
        (
            "migrations/20240101000000_users.down.sql",
            "DROP TABLE users;\n",
        ),
    ]);
    adopt(&repo, &["ci", "migrate"], "src/lib.rs");
    let migrate = repo.read("tasks/migrate.rhai");
    assert!(migrate.contains("sqlx"), "{migrate}");
    if support::pg_servers(&[13, 14, 15, 16]) {
        repo.cargo_xtask(&["migrate"])
            .code(Exit::Ok)
            .contains("4 passed, 0 failed");
    }
}

#[test]
fn diesel_migrations_get_a_migration_matrix() {
    let repo = Repo::new(&[
        ("Cargo.toml", &manifest("demo", "publish = false")),
        ("src/lib.rs", LIB_RS),
        (
            "migrations/2024-01-01-000000_create_posts/up.sql",
            "CREATE TABLE posts (id bigint PRIMARY KEY, title text NOT NULL);\n",
        ),
        (
            "migrations/2024-01-01-000000_create_posts/down.sql",
            "DROP TABLE posts;\n",
        ),
    ]);
    adopt(&repo, &["ci", "migrate"], "src/lib.rs");
    assert!(repo.read("tasks/migrate.rhai").contains("diesel"));
    if support::pg_servers(&[13, 14, 15, 16]) {
        repo.cargo_xtask(&["migrate"])
            .code(Exit::Ok)
            .contains("4 passed, 0 failed");
    }
}

#[test]
fn a_dockerfile_gets_build_and_test_tasks_per_stage() {
    let repo = Repo::new(&[
        ("Cargo.toml", &manifest("demo", "publish = false")),
        ("src/lib.rs", LIB_RS),
        (
            "Dockerfile",
            "FROM scratch AS runtime\nCOPY Cargo.toml /Cargo.toml\n\nFROM scratch AS debug\nCOPY src/lib.rs /lib.rs\n",
        ),
    ]);
    adopt(&repo, &["ci", "docker-build", "docker-test"], "src/lib.rs");
    let build = repo.read("tasks/docker-build.rhai");
    assert!(
        build.contains("target: \"runtime\"") && build.contains("target: \"debug\""),
        "{build}"
    );
    if support::docker_engine() {
        repo.cargo_xtask(&["docker-test"])
            .code(Exit::Ok)
            .contains("4 passed, 0 failed");
    }
}

#[test]
fn criterion_benches_get_a_perf_gate() {
    let repo = Repo::new(&[
        (
            "Cargo.toml",
            &manifest(
                "demo",
                "publish = false\n\n[dev-dependencies]\ncriterion = { version = \"0.5\", default-features = false }\n\n[[bench]]\nname = \"adding\"\nharness = false",
            ),
        ),
        ("src/lib.rs", LIB_RS),
        (
            "benches/adding.rs",
            "use criterion::{criterion_group, criterion_main, Criterion};\n\nfn bench(c: &mut Criterion) {\n    c.bench_function(\"add\", |b| b.iter(|| demo::add(2, 2)));\n}\n\ncriterion_group!(benches, bench);\ncriterion_main!(benches);\n",
        ),
    ]);
    adopt(&repo, &["ci", "perf-test"], "src/lib.rs");
    let perf = repo.read("tasks/perf-test.rhai");
    assert!(perf.contains("bench: \"adding\""), "{perf}");
    assert!(repo.read("xtask/Cargo.toml").contains("\"perf\""));
}

#[test]
fn an_existing_cargo_config_is_merged_and_an_ignoring_gitignore_is_warned_about() {
    let config = "# the team's settings\n[build]\nrustflags = []\n\n[alias]\nb = \"build\"\n";
    let repo = Repo::new(&[
        ("Cargo.toml", &manifest("demo", "publish = false")),
        ("src/lib.rs", LIB_RS),
        (".cargo/config.toml", config),
        (".gitignore", "/target\n.cargo/\n"),
    ]);
    let run = repo.init();
    run.code(Exit::Ok)
        .contains(".cargo/config.toml is ignored by .gitignore");
    let merged = repo.read(".cargo/config.toml");
    assert!(
        merged.starts_with("# the team's settings\n[build]\nrustflags = []"),
        "{merged}"
    );
    assert!(merged.contains("b = \"build\""), "{merged}");
    assert!(merged.contains("xtask = \"run --quiet --manifest-path xtask/Cargo.toml --\""));
    repo.cargo_xtask(&["ci"]).code(Exit::Ok);
    let before = repo.snapshot();
    repo.init()
        .code(Exit::Ok)
        .contains("unchanged  .cargo/config.toml");
    assert!(before == repo.snapshot());
}

#[test]
fn a_changed_file_is_kept_unless_forced() {
    let repo = Repo::new(&[
        ("Cargo.toml", &manifest("demo", "publish = false")),
        ("src/lib.rs", LIB_RS),
    ]);
    repo.init().code(Exit::Ok);
    repo.write("tasks/ci.rhai", "job(\"mine\", || print(\"my own ci\"));\n");
    repo.init()
        .code(Exit::Ok)
        .contains("kept (exists; --force overwrites)  tasks/ci.rhai");
    assert!(repo.read("tasks/ci.rhai").contains("my own ci"));
    // From elsewhere (the test's own directory), pointed at the repository with -C.
    support::xtask_in(&std::env::current_dir().unwrap(), &["-C"])
        .arg(repo.path())
        .args(["init", "--force", "--path"])
        .arg(checkout())
        .run()
        .code(Exit::Ok)
        .contains("overwrote  tasks/ci.rhai");
    assert!(repo.read("tasks/ci.rhai").contains("cargo::clippy"));
}

#[test]
fn init_outside_a_cargo_project_says_so() {
    let dir = tempfile::tempdir().unwrap();
    support::xtask_in(dir.path(), &["init"])
        .run()
        .code(Exit::Failed)
        .contains("Cargo.toml")
        .contains("run `xtask init` in the root of a cargo project");
}

/// A primitive written in Rust by the adopting repository, next to the built-in families: it is
/// called from a task, its error carries the script position, its command output is masked.
#[test]
fn a_custom_primitive_registered_through_the_library_is_called_from_a_task() {
    let repo = Repo::new(&[
        ("Cargo.toml", &manifest("demo", "publish = false")),
        ("src/lib.rs", LIB_RS),
    ]);
    repo.init().code(Exit::Ok);
    repo.write(
        "xtask/src/main.rs",
        r#"use xtask_runner::extend;

fn main() -> std::process::ExitCode {
    xtask_runner::Xtask::new()
        .register(|engine| {
            engine.register_fn("shout", |text: &str| text.to_uppercase());
            engine.register_fn("positive", |n: i64| -> extend::Result<i64> {
                if n > 0 { Ok(n) } else { extend::error(format!("{n} is not positive")) }
            });
            engine.register_fn("echo_via_rust", |text: &str| extend::run_output(&["echo", text]));
        })
        .main()
}
"#,
    );
    repo.write(
        "tasks/custom.rhai",
        "//! Calls the repository's own primitives.\nlet token = secret(\"CUSTOM_TOKEN\");\njob(\"use\", || {\n    print(shout(\"quiet words\"));\n    print(`echoed: ${echo_via_rust(token)}`);\n    positive(-3);\n});\n",
    );
    let run = repo.cargo_xtask_with(&["custom"], &[("CUSTOM_TOKEN", "hunter2-secret-value")]);
    run.code(Exit::Failed)
        .contains("QUIET WORDS")
        .contains("echoed: ***")
        .lacks("hunter2-secret-value")
        .contains("-3 is not positive")
        .contains("tasks/custom.rhai:6:5");
}

/// Installed (or linked) as `cargo-xtask`, the binary is a cargo subcommand: cargo passes
/// `xtask` as its first argument, which must not be taken for a task.
#[test]
fn linked_as_cargo_xtask_it_runs_as_a_cargo_subcommand() {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xtask"), bin.path().join("cargo-xtask"))
        .unwrap();
    let project =
        support::Project::new().task("hello", "job(\"hi\", || print(\"hello from a task\"));");
    let path = support::path_with_first(bin.path());
    let out = Command::new(bin.path().join("cargo-xtask"))
        .args(["xtask", "hello"])
        .current_dir(project.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run::from(out).code(Exit::Ok).contains("hello from a task");
}
