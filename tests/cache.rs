//! Up-to-date skipping end to end: the real binary, real files, real cargo. Each test changes
//! one thing and checks that exactly the jobs depending on it run again, with `--explain`
//! naming the change.

use crate::support;

use std::path::Path;
use support::Project;
use xtask_core::exit::Exit;

/// The verdict line of a job: `✓ a up to date` / `✓ a passed in …`.
fn up_to_date(out: &str, job: &str) -> bool {
    out.lines()
        .any(|l| l.trim_end().ends_with(&format!("{job} up to date")))
}

fn ran(out: &str, job: &str) -> bool {
    out.lines()
        .any(|l| l.contains(&format!(" {job} passed in ")))
}

fn assert_states(out: &str, skipped: &[&str], reran: &[&str]) {
    for job in skipped {
        assert!(up_to_date(out, job), "`{job}` should be up to date:\n{out}");
    }
    for job in reran {
        assert!(ran(out, job), "`{job}` should have run:\n{out}");
    }
}

const FILES: &str = r#"
job("a", #{ inputs: ["a.txt"] }, || { run(["cat", "a.txt"]); read("a.txt") });
job("b", #{ inputs: ["b.txt"] }, || run(["cat", "b.txt"]));
job("after-a", #{ needs: ["a"] }, || print(`a said ${result_of("a")}`));
job("flag", || print(`flag is ${env("XTASK_TEST_FLAG", "off")}`));
"#;

fn files_project() -> Project {
    Project::new()
        .task("ci", FILES)
        .file("a.txt", "one")
        .file("b.txt", "two")
}

#[test]
fn unchanged_jobs_are_up_to_date_and_a_changed_file_reruns_exactly_its_dependents() {
    let p = files_project();
    p.run(&["ci"]).code(Exit::Ok).contains("ci: 4 passed");
    let second = p.run(&["ci", "--explain"]);
    second
        .code(Exit::Ok)
        .contains("ci: 0 passed, 0 failed, 4 up to date");
    second.contains("cache: up to date");
    // The result of a skipped job is still there for the jobs that need it.
    std::fs::write(p.join("a.txt"), "three").unwrap();
    let third = p.run(&["ci", "--explain"]);
    third
        .code(Exit::Ok)
        .contains("a.txt changed")
        .contains("a said three");
    assert_states(&third.all(), &["b", "flag"], &["a", "after-a"]);
    assert!(
        third.all().contains("needs `a`, whose fingerprint changed"),
        "{}",
        third.all()
    );
    // A new file matched by the inputs is a change too.
    let p2 = Project::new()
        .task(
            "ci",
            r#"job("g", #{ inputs: ["src/*.txt"] }, || run(["ls", "src"]));"#,
        )
        .file("src/x.txt", "x");
    p2.run(&["ci"]).code(Exit::Ok);
    std::fs::write(p2.join("src/y.txt"), "y").unwrap();
    p2.run(&["ci", "--explain"])
        .code(Exit::Ok)
        .contains("src/y.txt was added");
}

#[test]
fn an_environment_variable_a_job_read_is_an_input() {
    let p = files_project();
    p.run(&["ci"]).code(Exit::Ok);
    let text = p
        .xtask(&["ci", "--explain"])
        .env("XTASK_TEST_FLAG", "on")
        .run()
        .all();
    assert!(
        text.contains("environment variable XTASK_TEST_FLAG changed"),
        "{text}"
    );
    assert!(text.contains("flag is on"), "{text}");
    assert_states(&text, &["a", "b", "after-a"], &["flag"]);
}

#[test]
fn a_changed_closure_reruns_only_that_job_and_moving_it_does_not() {
    let p = files_project();
    p.run(&["ci"]).code(Exit::Ok);
    // Lines added above every job: positions move, texts do not.
    std::fs::write(p.join("tasks/ci.rhai"), format!("// a comment\n\n{FILES}")).unwrap();
    let moved = p.run(&["ci"]);
    moved.code(Exit::Ok).contains("4 up to date");
    let edited = FILES.replace(
        "run([\"cat\", \"b.txt\"])",
        "run([\"cat\", \"-n\", \"b.txt\"])",
    );
    std::fs::write(p.join("tasks/ci.rhai"), edited).unwrap();
    let out = p.run(&["ci", "--explain"]);
    out.code(Exit::Ok).contains("its code changed");
    assert_states(&out.all(), &["a", "after-a", "flag"], &["b"]);
}

#[test]
fn a_failed_job_is_never_cached() {
    let script = r#"job("check", #{ inputs: ["state.txt"] }, || {
        let state = read("state.txt");
        run(["sh", "-c", `echo ran >> runs.log`]);
        if state != "good" { fail(`state is ${state}`) }
    });"#;
    let p = Project::new().task("ci", script).file("state.txt", "bad");
    p.run(&["ci"]).code(Exit::Failed);
    p.run(&["ci"]).code(Exit::Failed).contains("state is bad");
    let runs = std::fs::read_to_string(p.join("runs.log")).unwrap();
    assert_eq!(runs.lines().count(), 2, "the failed job ran both times");
    std::fs::write(p.join("state.txt"), "good").unwrap();
    p.run(&["ci"]).code(Exit::Ok).contains("1 passed");
    p.run(&["ci"]).code(Exit::Ok).contains("1 up to date");
    // It passed with "good", failed with "bad"; back to "good" it must run again, not be
    // skipped on the strength of the first success (a failure drops the record).
    std::fs::write(p.join("state.txt"), "bad").unwrap();
    p.run(&["ci"]).code(Exit::Failed);
    std::fs::write(p.join("state.txt"), "good").unwrap();
    p.run(&["ci", "--explain"])
        .code(Exit::Ok)
        .contains("no successful run is recorded")
        .contains("1 passed");
}

fn records(p: &Project) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in walk(&p.join("target/xtask-cache/jobs")) {
        if entry.extension().is_some_and(|e| e == "json") {
            out.push(entry);
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_record_cut_short_is_a_miss_not_an_error() {
    let p = files_project();
    p.run(&["ci"]).code(Exit::Ok);
    let files = records(&p);
    assert_eq!(files.len(), 4, "one record per job: {files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        std::fs::write(file, &bytes[..bytes.len() / 3]).unwrap();
    }
    p.run(&["ci", "--explain"])
        .code(Exit::Ok)
        .contains("unreadable (cut short?)")
        .contains("ci: 4 passed");
    p.run(&["ci"]).code(Exit::Ok).contains("4 up to date");
}

#[test]
fn two_runs_at_once_both_pass_and_leave_usable_records() {
    let p = files_project();
    let first = p.spawn(&["ci"]);
    let second = p.spawn(&["ci"]);
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let leftovers: Vec<_> = walk(&p.join("target/xtask-cache"))
        .into_iter()
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    p.run(&["ci"]).code(Exit::Ok).contains("4 up to date");
}

#[test]
fn force_opt_outs_and_commands_without_declared_inputs() {
    let script = r#"
job("pure", || print("pure"));
job("off", #{ cache: false }, || print("off"));
job("opaque", || run(["true"]));
job("declared", #{ inputs: ["in.txt"] }, || run(["cat", "in.txt"]));
"#;
    let p = Project::new().task("ci", script).file("in.txt", "x");
    p.run(&["ci"]).code(Exit::Ok);
    let again = p.run(&["ci", "--explain"]);
    again
        .code(Exit::Ok)
        .contains("caching is off for this job")
        .contains("whose inputs only the script knows");
    assert_states(&again.all(), &["pure", "declared"], &["off", "opaque"]);
    let forced = p.run(&["ci", "--force-job", "declared", "--explain"]);
    forced.code(Exit::Ok).contains("forced");
    assert_states(&forced.all(), &["pure"], &["declared"]);
    p.run(&["ci", "--force-job", "declard"])
        .code(Exit::Usage)
        .contains("no job named `declard`")
        .contains("did you mean `declared`");
    let all = p.run(&["ci", "--force"]);
    all.code(Exit::Ok).contains("ci: 4 passed");
    // Reports show the status too.
    let json = p.join("run.json");
    p.run(&["ci", "--report", &format!("json={}", json.display())])
        .code(Exit::Ok);
    let report = std::fs::read_to_string(json).unwrap();
    assert!(report.contains("\"up to date\""), "{report}");
}

/// A cargo package with a stub `rustc -vV` (everything else goes to the real rustc).
fn cargo_project() -> (Project, tempfile::TempDir) {
    let real_rustc = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v rustc"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let stub = format!(
        "#!/bin/sh\nif [ \"$1\" = \"-vV\" ] && [ -n \"$XTASK_STUB_RUSTC\" ]; then {real} -vV; cat \"$XTASK_STUB_RUSTC\"; exit 0; fi\nexec {real} \"$@\"\n",
        real = real_rustc.trim()
    );
    let p = Project::new()
        .task(
            "ci",
            r#"
job("build", || cargo::build());
job("notes", #{ inputs: ["notes.md"] }, || run(["cat", "notes.md"]));
"#,
        )
        .file(
            "Cargo.toml",
            "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[features]\nextra = []\n\n[workspace]\n",
        )
        .file("src/main.rs", "fn main() { println!(\"hi\"); }\n")
        .file("notes.md", "notes\n");
    // Outside the package: a file in it would be a change of its own.
    let stub_dir = tempfile::tempdir().unwrap();
    support::write_program(&stub_dir.path().join("rustc"), &stub);
    std::fs::write(stub_dir.path().join("version"), "stub: 1\n").unwrap();
    (p, stub_dir)
}

fn cargo_run(
    p: &(Project, tempfile::TempDir),
    args: &[&str],
    extra: &[(&str, &str)],
) -> support::Run {
    let (p, stub) = p;
    p.xtask(args)
        .env("PATH", support::path_with_first(stub.path()))
        .env("XTASK_STUB_RUSTC", stub.path().join("version"))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .envs(extra.iter().copied())
        .run()
}

#[test]
fn cargo_jobs_depend_on_sources_the_lock_file_the_toolchain_and_rustflags() {
    let p = cargo_project();
    cargo_run(&p, &["ci"], &[])
        .code(Exit::Ok)
        .contains("ci: 2 passed");
    // The first build wrote Cargo.lock, which it reads: one more run sees the new file.
    cargo_run(&p, &["ci", "--explain"], &[])
        .code(Exit::Ok)
        .contains("Cargo.lock was added");
    cargo_run(&p, &["ci"], &[])
        .code(Exit::Ok)
        .contains("2 up to date");

    let (project, stub) = &p;
    std::fs::write(
        project.join("src/main.rs"),
        "fn main() { println!(\"hello\"); }\n",
    )
    .unwrap();
    let out = cargo_run(&p, &["ci", "--explain"], &[]);
    out.code(Exit::Ok).contains("src/main.rs changed");
    assert_states(&out.all(), &["notes"], &["build"]);

    std::fs::write(stub.path().join("version"), "stub: 2\n").unwrap();
    let out = cargo_run(&p, &["ci", "--explain"], &[]);
    out.code(Exit::Ok)
        .contains("the output of `rustc -vV` changed");
    assert_states(&out.all(), &["notes"], &["build"]);

    let out = cargo_run(&p, &["ci", "--explain"], &[("RUSTFLAGS", "-Cdebuginfo=0")]);
    out.code(Exit::Ok)
        .contains("environment variable RUSTFLAGS changed");
    assert_states(&out.all(), &["notes"], &["build"]);

    // (cargo puts the lock file back in shape, so this is the last change before the next.)
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    std::fs::write(project.join("Cargo.lock"), format!("{lock}\n")).unwrap();
    let out = cargo_run(&p, &["ci", "--explain"], &[("RUSTFLAGS", "-Cdebuginfo=0")]);
    out.code(Exit::Ok).contains("Cargo.lock changed");
    assert_states(&out.all(), &["notes"], &["build"]);

    // A feature is part of the call, so of the job's code.
    std::fs::write(
        project.join("tasks/ci.rhai"),
        "job(\"build\", || cargo::build(#{ features: [\"extra\"] }));\njob(\"notes\", #{ inputs: [\"notes.md\"] }, || run([\"cat\", \"notes.md\"]));\n",
    )
    .unwrap();
    let out = cargo_run(&p, &["ci", "--explain"], &[("RUSTFLAGS", "-Cdebuginfo=0")]);
    out.code(Exit::Ok).contains("its code changed");
    assert_states(&out.all(), &["notes"], &["build"]);
    cargo_run(&p, &["ci"], &[("RUSTFLAGS", "-Cdebuginfo=0")])
        .code(Exit::Ok)
        .contains("2 up to date");
}

/// A directory holding a `cargo` to put first on PATH: the shell lines `before` makes (given
/// the path of a log file beside it), then the real cargo. Returns the directory and the log.
fn cargo_in_front(
    before: impl FnOnce(&std::path::Path) -> String,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let real_cargo = support::stdout_of(
        std::process::Command::new("sh").args(["-c", "command -v cargo"]),
        "finding cargo",
    );
    let stub = tempfile::tempdir().unwrap();
    let log = stub.path().join("log");
    support::write_program(
        &stub.path().join("cargo"),
        &format!(
            "#!/bin/sh\n{}exec '{}' \"$@\"\n",
            before(&log),
            real_cargo.trim()
        ),
    );
    (stub, log)
}

#[test]
fn a_package_added_under_a_member_glob_reruns_the_lint() {
    // `members = ["crates/*"]`: a new package joins the workspace with no manifest above it
    // changing, and clippy's record covers only the packages' own directories.
    let p = Project::new()
        .task("ci", "job(\"clippy\", || cargo::clippy());\n")
        .file(
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n",
        )
        .file(
            "crates/a/Cargo.toml",
            "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .file("crates/a/src/lib.rs", "//! A.\n");
    let run = |args: &[&str]| p.xtask(args).env_remove("CARGO_TARGET_DIR").run();
    run(&["ci"]).code(Exit::Ok);
    // The first run wrote Cargo.lock, which clippy reads.
    run(&["ci"]).code(Exit::Ok);
    run(&["ci"]).code(Exit::Ok).contains("1 up to date");
    std::fs::create_dir_all(p.join("crates/b/src")).unwrap();
    std::fs::write(
        p.join("crates/b/Cargo.toml"),
        "[package]\nname = \"b\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        p.join("crates/b/src/lib.rs"),
        "//! B.\npub fn b() -> u32 {\n    \"not a number\"\n}\n",
    )
    .unwrap();
    run(&["ci", "--explain"])
        .code(Exit::Failed)
        .contains("crates/b/Cargo.toml was added")
        .contains("mismatched types");
}

#[test]
fn a_cargo_job_starts_without_waiting_for_cargo_metadata_once_a_run_has_read_the_workspace() {
    // A `cargo` first on PATH: with a marker path set, its `metadata` waits (up to 10 s) for
    // `build` to have started, and says so in a log. A job that waited for `cargo metadata`
    // before its build could never let it see the marker.
    let (stub, log) = cargo_in_front(|log| {
        format!(
            r#"marker="$XTASK_TEST_MARKER"
if [ -n "$marker" ] && [ "$1" = metadata ]; then
    i=0
    while [ ! -e "$marker" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    [ -e "$marker" ] && echo "metadata after build started" >> '{log}'
fi
if [ -n "$marker" ] && [ "$1" = build ]; then touch "$marker"; fi
"#,
            log = log.display()
        )
    });
    let p = Project::new()
        .task("ci", "job(\"build\", || cargo::build());\n")
        .file(
            "Cargo.toml",
            "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .file("src/lib.rs", "//! A fixture.\n");
    let run = |marker: Option<&std::path::Path>| {
        let cmd = p
            .xtask(&["ci", "--force"])
            .env("PATH", support::path_with_first(stub.path()))
            .env_remove("CARGO_TARGET_DIR");
        match marker {
            Some(marker) => cmd.env("XTASK_TEST_MARKER", marker).run(),
            None => cmd.run(),
        }
    };
    run(None).code(Exit::Ok).contains("ci: 1 passed");
    run(Some(&stub.path().join("build-started")))
        .code(Exit::Ok)
        .contains("ci: 1 passed");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(log.contains("metadata after build started"), "{log:?}");
    // The record was confirmed by that run's own answer and kept.
    p.xtask(&["ci"])
        .env("PATH", support::path_with_first(stub.path()))
        .env_remove("CARGO_TARGET_DIR")
        .run()
        .code(Exit::Ok)
        .contains("1 up to date");
}

#[test]
fn a_target_moved_out_of_its_package_is_caught_by_the_runs_own_cargo_metadata() {
    // The build records its inputs from the workspace an earlier run read; here the library
    // moves to `shared/`, outside the package, so that record would miss it. This run's own
    // `cargo metadata` says so, and the record is not kept.
    let p = Project::new()
        .task("ci", "job(\"build\", || cargo::build());\n")
        .file(
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/a\"]\nresolver = \"2\"\n",
        )
        .file(
            "crates/a/Cargo.toml",
            "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .file("crates/a/src/lib.rs", "//! A.\n")
        .file("shared/lib.rs", "//! Shared.\n");
    let run = |args: &[&str]| p.xtask(args).env_remove("CARGO_TARGET_DIR").run();
    run(&["ci"]).code(Exit::Ok);
    run(&["ci"]).code(Exit::Ok);
    run(&["ci"]).code(Exit::Ok).contains("1 up to date");
    std::fs::write(
        p.join("crates/a/Cargo.toml"),
        "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\npath = \"../../shared/lib.rs\"\n",
    )
    .unwrap();
    run(&["ci", "--explain"])
        .code(Exit::Ok)
        .contains("crates/a/Cargo.toml changed")
        .contains("not cached: the workspace's packages changed");
    run(&["ci", "--explain"])
        .code(Exit::Ok)
        .contains("no successful run is recorded");
    run(&["ci"]).code(Exit::Ok).contains("1 up to date");
    std::fs::write(p.join("shared/lib.rs"), "//! Shared, edited.\n").unwrap();
    run(&["ci", "--explain"])
        .code(Exit::Ok)
        .contains("shared/lib.rs changed");
}

/// Removes the test's image however the test ends.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", &self.0])
            .output();
    }
}

#[test]
fn the_cargo_jobs_of_a_run_share_one_metadata_and_one_version_query() {
    // A `cargo` first on PATH that logs how it was called, then runs the real one.
    let (stub, log) = cargo_in_front(|log| format!("echo \"$*\" >> '{}'\n", log.display()));
    // `cargo::doc` sets RUSTDOCFLAGS for its command: that must not make a second version query.
    let p = Project::new()
        .task(
            "ci",
            "job(\"build\", || cargo::build());\njob(\"clippy\", || cargo::clippy());\njob(\"doc\", || cargo::doc());\n",
        )
        .file(
            "Cargo.toml",
            "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .file("src/lib.rs", "//! A fixture.\n");
    p.xtask(&["ci"])
        .env("PATH", support::path_with_first(stub.path()))
        .env_remove("CARGO_TARGET_DIR")
        .run()
        .code(Exit::Ok)
        .contains("ci: 3 passed");
    let calls = std::fs::read_to_string(&log).unwrap();
    let count = |prefix: &str| calls.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("metadata "), 1, "one `cargo metadata`:\n{calls}");
    assert_eq!(count("-V"), 1, "one `cargo -V`:\n{calls}");
    assert_eq!(count("build "), 1, "{calls}");
    assert_eq!(count("clippy "), 1, "{calls}");
    assert_eq!(count("doc "), 1, "{calls}");
}

#[test]
fn a_docker_build_depends_on_its_context_after_dockerignore_and_its_dockerfile() {
    if !support::docker_engine() {
        return;
    }
    let tag = format!(
        "xtask-cache-test-{}-{}:latest",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let _image = Image(tag.clone());
    let p = Project::new()
        .task(
            "ci",
            &format!(
                r#"
job("image", || docker::build(#{{ context: "ctx", tags: ["{tag}"] }}));
job("notes", #{{ inputs: ["notes.md"] }}, || run(["cat", "notes.md"]));
"#
            ),
        )
        .file("ctx/Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n")
        .file("ctx/a.txt", "a")
        .file("ctx/.dockerignore", "ignored/\n")
        .file("ctx/ignored/x.txt", "left out")
        .file("notes.md", "notes");
    p.run(&["ci"]).code(Exit::Ok).contains("ci: 2 passed");
    p.run(&["ci"]).code(Exit::Ok).contains("2 up to date");
    // Not in the build context: no reason to build again.
    std::fs::write(p.join("ctx/ignored/x.txt"), "still left out").unwrap();
    p.run(&["ci"]).code(Exit::Ok).contains("2 up to date");
    std::fs::write(p.join("ctx/a.txt"), "b").unwrap();
    let out = p.run(&["ci", "--explain"]);
    out.code(Exit::Ok).contains("ctx/a.txt changed");
    assert_states(&out.all(), &["notes"], &["image"]);
    std::fs::write(
        p.join("ctx/Dockerfile"),
        "FROM scratch\nCOPY a.txt /a.txt\nCOPY a.txt /b.txt\n",
    )
    .unwrap();
    let out = p.run(&["ci", "--explain"]);
    out.code(Exit::Ok).contains("ctx/Dockerfile changed");
    assert_states(&out.all(), &["notes"], &["image"]);
    // A changed .dockerignore changes what the context is.
    std::fs::write(p.join("ctx/.dockerignore"), "ignored/\n*.md\n").unwrap();
    let out = p.run(&["ci", "--explain"]);
    out.code(Exit::Ok).contains("ctx/.dockerignore changed");
    assert_states(&out.all(), &["notes"], &["image"]);
}

#[test]
fn a_migration_job_depends_on_its_migration_files() {
    if !support::pg_servers(&[16]) {
        return;
    }
    let p = Project::new()
        .task(
            "ci",
            r#"
job("migrate", || {
    let server = pg::cluster(16);
    pg::migrate(server);
    run(["touch", "migrated.marker"]);
});
job("notes", #{ inputs: ["notes.md"] }, || run(["cat", "notes.md"]));
"#,
        )
        .file(
            "migrations/20240101000000_init.up.sql",
            "CREATE TABLE items (id int);\n",
        )
        .file(
            "migrations/20240101000000_init.down.sql",
            "DROP TABLE items;\n",
        )
        .file("notes.md", "notes");
    // `run` without declared inputs would keep it from being skipped: declare them.
    let script = std::fs::read_to_string(p.join("tasks/ci.rhai"))
        .unwrap()
        .replace(
            "job(\"migrate\", || {",
            "job(\"migrate\", #{ inputs: [\"migrations\"] }, || {",
        );
    std::fs::write(p.join("tasks/ci.rhai"), script).unwrap();
    p.run(&["ci"]).code(Exit::Ok).contains("ci: 2 passed");
    p.run(&["ci"]).code(Exit::Ok).contains("2 up to date");
    std::fs::write(
        p.join("migrations/20240101000000_init.up.sql"),
        "CREATE TABLE items (id int, name text);\n",
    )
    .unwrap();
    let out = p.run(&["ci", "--explain"]);
    out.code(Exit::Ok)
        .contains("migrations/20240101000000_init.up.sql changed");
    assert_states(&out.all(), &["notes"], &["migrate"]);
    p.run(&["ci"]).code(Exit::Ok).contains("2 up to date");
}
