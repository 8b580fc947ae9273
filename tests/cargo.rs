//! `cargo::` primitives and the `ci` task built on them, run against tiny crates made in temp
//! dirs, each with one planted defect: the run fails, in the right job, naming file:line.

use crate::support;

use std::process::Command;

use support::{Project, Run};
use xtask_core::exit::Exit;

/// The repository's own job definitions: the tests exercise the real `ci`.
const RUST_LIB: &str = include_str!("../lib/rust.rhai");

const CLEAN_LIB: &str = r#"//! A tiny crate for tests. See [`add`].

/// Adds two numbers.
///
/// ```
/// assert_eq!(planted::add(2, 2), 4);
/// ```
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds() {
        assert_eq!(super::add(1, 2), 3);
    }
}
"#;

/// A clippy warning (rustc is fine with it), placed before the test module.
const NEEDLESS_RETURN: &str =
    "/// Returns its argument.\npub fn same(x: i32) -> i32 {\n    return x;\n}\n\n#[cfg(test)]";

/// A crate with `src/lib.rs` as given, the repository's `lib/rust.rhai` and a `ci` task.
fn krate(lib_rs: &str) -> Project {
    krate_with(lib_rs, "")
}

fn krate_with(lib_rs: &str, manifest_extra: &str) -> Project {
    Project::new()
        .file(
            "Cargo.toml",
            &format!(
                "[package]\nname = \"planted\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{manifest_extra}\n[workspace]\n"
            ),
        )
        .file("src/lib.rs", lib_rs)
        .lib("rust", RUST_LIB)
        .task("ci", "import \"rust\" as rust;\nrust::ci(#{});\n")
}

/// Runs `ci` with every job allowed to finish, so a test can check which jobs a defect failed.
fn ci(p: &Project) -> Run {
    p.run(&["ci", "--keep-going"])
}

/// A job's status in the final table (`passed`, `failed`, `skipped`, …).
#[track_caller]
fn status<'a>(run: &'a Run, job: &str) -> &'a str {
    run.stdout
        .lines()
        .chain(run.stderr.lines())
        .filter_map(|line| line.strip_prefix(job))
        .filter_map(|rest| rest.strip_prefix("  "))
        .map(|rest| rest.split_whitespace().next().unwrap_or(""))
        .find(|word| ["passed", "failed", "skipped", "cancelled", "not"].contains(word))
        .unwrap_or_else(|| panic!("no status for job {job:?}\n{}", run.all()))
}

/// Asserts that exactly `failed` failed among the cargo jobs; the others passed.
#[track_caller]
fn only_failed(run: &Run, failed: &str) {
    run.code(Exit::Failed);
    for job in [
        "fmt",
        "clippy",
        "test (toolchain=stable)",
        "doctest",
        "docs",
    ] {
        let expected = if job == failed { "failed" } else { "passed" };
        assert_eq!(status(run, job), expected, "job {job}\n{}", run.all());
    }
}

fn toolchains() -> Vec<String> {
    let out = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .expect("rustup toolchain list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// A toolchain version this machine does not have.
fn missing_toolchain() -> String {
    let list = toolchains();
    ["1.88.0", "1.61.0", "1.56.1"]
        .iter()
        .find(|v| !list.iter().any(|t| t.starts_with(&format!("{v}-"))))
        .expect("one of the candidate toolchains is absent")
        .to_string()
}

#[test]
fn a_clean_crate_passes_ci() {
    let p = krate(CLEAN_LIB);
    let run = ci(&p);
    run.code(Exit::Ok).contains("0 failed");
    for job in [
        "fmt",
        "clippy",
        "test (toolchain=stable)",
        "doctest",
        "docs",
    ] {
        assert_eq!(status(&run, job), "passed", "{job}\n{}", run.all());
    }
}

#[test]
fn an_unformatted_file_fails_fmt_naming_the_line() {
    let lib = CLEAN_LIB.replace(
        "pub fn add(a: i32, b: i32) -> i32 {",
        "pub fn add(a:i32,b:i32)->i32{",
    );
    let run = ci(&krate(&lib));
    only_failed(&run, "fmt");
    run.contains("not formatted: src/lib.rs:8")
        .contains("run `cargo fmt --all`");
}

#[test]
fn a_clippy_warning_fails_clippy_naming_file_line_and_lint() {
    let lib = CLEAN_LIB.replace("#[cfg(test)]", NEEDLESS_RETURN);
    let line = lib.lines().position(|l| l == "    return x;").unwrap() + 1;
    let run = ci(&krate(&lib));
    only_failed(&run, "clippy");
    run.contains(&format!(
        "src/lib.rs:{line}:5: error[clippy::needless_return]: unneeded `return` statement"
    ));
    // The compiler's rendering reaches the log, not the JSON it came in.
    run.contains(&format!("--> src/lib.rs:{line}:5"))
        .lacks("\"reason\":\"compiler-message\"");
}

#[test]
fn a_failing_unit_test_fails_the_test_job_naming_the_test_and_the_panic() {
    let lib = CLEAN_LIB.replace(
        "assert_eq!(super::add(1, 2), 3);",
        "assert_eq!(super::add(1, 2), 4, \"planted\");",
    );
    let line = lib.lines().position(|l| l.contains("\"planted\"")).unwrap() + 1;
    let run = ci(&krate(&lib));
    only_failed(&run, "test (toolchain=stable)");
    run.contains(&format!(
        "1 failed, 0 passed, 0 ignored; failing: tests::adds at src/lib.rs:{line}:9"
    ));
}

#[test]
fn a_failing_doc_test_fails_doctest_naming_its_line() {
    let lib = CLEAN_LIB.replace("planted::add(2, 2), 4", "planted::add(2, 2), 5");
    let run = ci(&krate(&lib));
    only_failed(&run, "doctest");
    run.contains("failing: src/lib.rs - add (line 5) at src/lib.rs:5");
}

#[test]
fn a_broken_intra_doc_link_fails_docs() {
    let lib = CLEAN_LIB.replace("See [`add`].", "See [`subtract`].");
    let column = lib.lines().next().unwrap().find("subtract`").unwrap() + 1;
    let run = ci(&krate(&lib));
    only_failed(&run, "docs");
    run.contains(&format!("src/lib.rs:1:{column}: error"))
        .contains("unresolved link to `subtract`");
}

#[test]
fn result_maps_carry_diagnostics_and_test_counts() {
    let lib = CLEAN_LIB
        .replace(
            "assert_eq!(super::add(1, 2), 3);",
            "assert_eq!(super::add(1, 2), 4);",
        )
        .replace(
            "    #[test]\n    fn adds",
            "    #[test]\n    #[ignore]\n    fn slow() {}\n\n    #[test]\n    fn adds",
        )
        .replace("#[cfg(test)]", NEEDLESS_RETURN);
    let p = krate(&lib).file("src/bin/tool.rs", "fn main() {}\n").task(
        "inspect",
        r#"
        job("inspect", || {
            let lint = cargo::clippy(#{ allow_fail: true, packages: "planted" });
            print(`clippy command=${lint.command}`);
            let d = lint.diagnostics[0];
            print(`clippy success=${lint.success} errors=${lint.errors} first=${d.file}:${d.line}:${d.column} code=${d.code} level=${d.level}`);
            let t = cargo::test(#{ kind: "lib", allow_fail: true });
            print(`tests passed=${t.tests.passed} failed=${t.tests.failed} ignored=${t.tests.ignored} name=${t.tests.failures[0].name} at=${t.tests.failures[0].location}`);
            let built = cargo::build(#{ bins: ["tool"] });
            print(`build success=${built.success} duration_is_float=${type_of(built.duration)} exe=${built.executables}`);
            let bench = cargo::bench(#{ no_run: true });
            print(`bench success=${bench.success} benches=${bench.benches.len()}`);
            let meta = cargo::metadata();
            print(`meta names=${meta.names} version=${meta.version} msrv=${meta.rust_version} lib=${meta.has_lib}`);
            let check = cargo::run(["check", "--all-targets"]);
            print(`check warnings=${check.warnings}`);
        });
        "#,
    );
    let line = lib.lines().position(|l| l == "    return x;").unwrap() + 1;
    let assert_line = lib
        .lines()
        .position(|l| l.contains("add(1, 2), 4"))
        .unwrap()
        + 1;
    let run = p.run(&["inspect"]);
    run.code(Exit::Ok)
        .contains(&format!(
            "clippy success=false errors=1 first=src/lib.rs:{line}:5 code=clippy::needless_return level=error"
        ))
        .contains(&format!(
            "tests passed=0 failed=1 ignored=1 name=tests::adds at=src/lib.rs:{assert_line}:9"
        ));
    run.contains(
        "clippy command=cargo clippy --message-format=json --package planted --all-targets",
    )
    .contains("build success=true duration_is_float=f64")
    .contains("meta names=[\"planted\"] version=0.1.0 msrv= lib=true")
    .contains("check warnings=0");
}

#[test]
fn nextest_results_are_parsed_when_asked_for() {
    if which::which("cargo-nextest").is_err() {
        support::skip("cargo-nextest is not installed");
        return;
    }
    let lib = CLEAN_LIB.replace(
        "assert_eq!(super::add(1, 2), 3);",
        "assert_eq!(super::add(1, 2), 4);",
    );
    let p = krate(&lib).task(
        "t",
        r#"
        job("nx", || {
            let t = cargo::test(#{ nextest: true, allow_fail: true });
            print(`passed=${t.tests.passed} failed=${t.tests.failed} at=${t.tests.failures[0].location}`);
            cargo::test(#{ nextest: true });
        });
        "#,
    );
    p.run(&["t"])
        .code(Exit::Failed)
        .contains("cargo nextest run")
        .contains("passed=0 failed=1 at=src/lib.rs:16:9")
        .contains("failing: planted tests::adds at src/lib.rs:16:9");
}

#[test]
fn toolchains_present_and_missing() {
    let list = toolchains();
    assert!(
        list.iter().any(|t| t.starts_with("stable-")),
        "rustup has no stable toolchain: {list:?}"
    );
    let missing = missing_toolchain();
    let p = krate(CLEAN_LIB).task(
        "tc",
        &format!(
            r#"
            print(`has stable=${{cargo::has_toolchain("stable")}} has missing=${{cargo::has_toolchain("{missing}")}}`);
            job("present", || cargo::test(#{{ kind: "lib", toolchain: "stable" }}));
            job("missing", #{{ needs: ["present"] }}, || cargo::test(#{{ toolchain: "{missing}" }}));
            "#
        ),
    );
    let run = p.run(&["tc", "-j", "1"]);
    run.code(Exit::Failed)
        .contains("has stable=true has missing=false")
        .contains("$ cargo +stable test")
        .contains(&format!("Rust toolchain `{missing}` is not installed"))
        .contains(&format!(
            "install it with `rustup toolchain install {missing}`"
        ))
        .contains("tasks/tc.rhai:4:");
    assert_eq!(status(&run, "present"), "passed", "{}", run.all());
}

#[test]
fn the_msrv_job_is_skipped_when_rustup_lacks_it() {
    let missing = missing_toolchain();
    let p = krate_with(CLEAN_LIB, &format!("rust-version = \"{missing}\"\n"));
    let run = p.run(&["ci", "--job", &format!("test (toolchain={missing})")]);
    run.code(Exit::Ok).contains(&format!(
        "toolchain {missing} (rust-version) is not installed; rustup toolchain install {missing}"
    ));
    assert_eq!(
        status(&run, &format!("test (toolchain={missing})")),
        "skipped"
    );
}

/// A directory with fake cargo subcommands, and the environment that makes them the only ones:
/// real `cargo-audit` fetches from the network, which these tests must not depend on (or use).
fn fake_tools(p: &Project, tools: &[(&str, &str)]) -> Vec<(String, String)> {
    let bin = p.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, script) in tools {
        support::write_program(&bin.join(name), &format!("#!/bin/sh\n{script}\n"));
    }
    let cargo = which::which("cargo").unwrap();
    let cargo_dir = cargo.parent().unwrap().display().to_string();
    let empty_home = p.join("empty-cargo-home");
    std::fs::create_dir_all(&empty_home).unwrap();
    vec![
        (
            "PATH".into(),
            format!("{}:{cargo_dir}:/usr/bin:/bin", bin.display()),
        ),
        // Where cargo (and `cargo::has_tool`) also look for subcommands: empty, so only the
        // fakes exist. The tasks build nothing, so cargo needs nothing else from it.
        ("CARGO_HOME".into(), empty_home.display().to_string()),
    ]
}

fn run_with(p: &Project, args: &[&str], env: &[(String, String)]) -> Run {
    p.xtask(args).envs(env.iter().map(|(k, v)| (k, v))).run()
}

#[test]
fn missing_tools_name_the_install_line() {
    let p = Project::new()
        .task(
            "req",
            r#"
            print(`has fake=${cargo::has_tool("fake")} has missing=${cargo::has_tool("cargo-no-such-tool")}`);
            print(`found ${cargo::require_tool("cargo-fake")}`);
            cargo::require_tool("cargo-no-such-tool");
            "#,
        )
        .task("audit", "job(\"security\", || cargo::audit());\n");
    let env = fake_tools(&p, &[("cargo-fake", "exit 0")]);
    // A top-level script error: exit 2.
    run_with(&p, &["req"], &env)
        .code(Exit::Usage)
        .contains("has fake=true has missing=false")
        .contains("fake-bin/cargo-fake")
        .contains("`cargo-no-such-tool` is not installed; install it with `cargo install --locked cargo-no-such-tool`")
        .contains("tasks/req.rhai:4:");
    // With no cargo-audit anywhere cargo looks (PATH, $CARGO_HOME/bin), the job says how to get it.
    run_with(&p, &["audit"], &env)
        .code(Exit::Failed)
        .contains("install it with `cargo install --locked cargo-audit`");
}

#[test]
fn an_advisory_fetch_failure_is_reported_as_offline_and_a_hang_times_out() {
    let p = Project::new()
        .task("fail", "job(\"security\", || cargo::audit());\n")
        .task(
            "tolerate",
            "job(\"security\", || { let r = cargo::audit(#{ allow_offline: true }); print(`offline=${r.offline}`); });\n",
        )
        .task(
            "hang",
            "job(\"security\", || cargo::deny(#{ timeout: \"1s\" }));\n",
        )
        .task("lib-security", "import \"rust\" as rust;\njob(\"security\", || rust::security());\n")
        .lib("rust", RUST_LIB);
    let env = fake_tools(
        &p,
        &[
            (
                "cargo-audit",
                "echo '    Fetching advisory database from `https://github.com/RustSec/advisory-db.git`'\n\
                 echo 'error: couldn'\\''t fetch advisory database: git operation failed: failed to resolve address for github.com' >&2\n\
                 exit 1",
            ),
            ("cargo-deny", "echo $$ > deny.pid\nexec sleep 600"),
        ],
    );
    run_with(&p, &["fail"], &env)
        .code(Exit::Failed)
        .contains("cargo-audit could not fetch its database (is this machine offline?)")
        .contains("failed to resolve address");
    run_with(&p, &["tolerate"], &env)
        .code(Exit::Ok)
        .contains("offline=true");
    let started = std::time::Instant::now();
    run_with(&p, &["hang"], &env)
        .code(Exit::Failed)
        .contains("timed out after 1.00s")
        .contains("offline: true");
    // Far below the fake tool's ten minutes, far above any machine's start-up and kill.
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    let pid: i32 = std::fs::read_to_string(p.join("deny.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        support::gone_within(pid, std::time::Duration::from_secs(10)),
        "the hung tool is still running"
    );
    // The ci's security job: the deny stub hangs, so only audit (offline) runs.
    std::fs::remove_file(p.join("fake-bin/cargo-deny")).unwrap();
    let run = run_with(&p, &["lib-security"], &env);
    run.code(Exit::Ok);
    assert_eq!(status(&run, "security"), "skipped", "{}", run.all());
    run.contains("cargo-audit could not fetch the advisory database (offline)");
}

#[test]
fn places_in_a_workspace_member_are_given_from_the_project_root() {
    let member = "/// Adds.\n///\n/// ```\n/// assert_eq!(member::add(1, 1), 3);\n/// ```\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[test]\nfn bad() {\n    assert_eq!(add(1, 1), 3);\n}\n\n/// Returns.\npub fn same(x: i32) -> i32 {\n    return x;\n}\n";
    let p = Project::new()
        .file(
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/member\"]\nresolver = \"2\"\n",
        )
        .file(
            "crates/member/Cargo.toml",
            "[package]\nname = \"member\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .file("crates/member/src/lib.rs", member)
        .task(
            "t",
            r#"
            job("places", || {
                for dir in [".", "crates/member"] {
                    let t = cargo::test(#{ dir: dir, allow_fail: true });
                    for f in t.tests.failures { print(`from ${dir}: test ${f.name} at ${f.location}`); }
                    let c = cargo::clippy(#{ dir: dir, allow_fail: true });
                    for d in c.diagnostics { print(`from ${dir}: lint at ${d.file}:${d.line}:${d.column}`); }
                }
            });
            "#,
        );
    let run = p.run(&["t"]);
    run.code(Exit::Ok);
    for dir in [".", "crates/member"] {
        run.contains(&format!(
            "from {dir}: test bad at crates/member/src/lib.rs:12:5"
        ))
        .contains(&format!(
            "from {dir}: test crates/member/src/lib.rs - add (line 3) at crates/member/src/lib.rs:3"
        ))
        .contains(&format!(
            "from {dir}: lint at crates/member/src/lib.rs:17:5"
        ));
    }
}

#[test]
fn a_failing_sibling_stops_a_running_cargo_test_and_its_test_binary() {
    let lib = CLEAN_LIB.replace(
        "assert_eq!(super::add(1, 2), 3);",
        "std::fs::write(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/test.pid\"), std::process::id().to_string()).unwrap();\n        std::thread::sleep(std::time::Duration::from_secs(600));",
    );
    let p = krate(&lib).task(
        "t",
        r#"
        job("slow", || cargo::test(#{ kind: "lib" }));
        job("bad", || {
            run(["sh", "-c", "while [ ! -f test.pid ]; do sleep 0.05; done"], #{ timeout: "60s" });
            fail("planted failure");
        });
        "#,
    );
    let started = std::time::Instant::now();
    let run = p.run(&["t", "-j", "2"]);
    run.code(Exit::Failed).contains("planted failure");
    assert_eq!(status(&run, "slow"), "cancelled", "{}", run.all());
    // The test sleeps ten minutes: ending well before means it was stopped, however slow
    // the build before it was.
    assert!(started.elapsed() < std::time::Duration::from_secs(240));
    let pid: i32 = std::fs::read_to_string(p.join("test.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        support::gone_within(pid, std::time::Duration::from_secs(10)),
        "the test binary of the cancelled job is still running"
    );
}
