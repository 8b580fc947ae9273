//! The same command inside GitHub Actions: groups, annotations, step summary, outputs, secrets,
//! reports, matrix fan-out, and the generated Makefile.compat and docs.

use crate::support;

use std::path::Path;
use support::Project;
use xtask_core::exit::Exit;

/// Runs xtask as GitHub Actions would, with temp summary and output files.
fn in_actions(p: &Project, args: &[&str], env: &[(&str, &str)]) -> (support::Run, String, String) {
    let summary = p.join("step-summary.md");
    let output = p.join("github-output.txt");
    let run = p
        .xtask(args)
        .actions()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output)
        .envs(env.iter().copied())
        .run();
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    (run, read(&summary), read(&output))
}

/// Whether xmllint can be started (the JUnit schema checks need it).
fn xmllint_runs() -> bool {
    std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok()
}

/// xmllint's verdict on `junit` against the JUnit schema in tests/fixtures.
fn check_junit_schema(junit: &Path) -> std::process::Output {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/junit.xsd");
    std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(junit)
        .output()
        .unwrap()
}

/// Checks that groups open and close in pairs, and returns each output line with the group
/// it was printed in.
fn lines_by_group(stdout: &str) -> Vec<(Option<String>, String)> {
    let mut open: Option<String> = None;
    let mut lines_in_group = 0;
    let mut out = Vec::new();
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("::group::") {
            assert!(
                open.is_none(),
                "group {name:?} opened inside {open:?}\n{stdout}"
            );
            open = Some(name.to_string());
            lines_in_group = 0;
        } else if line == "::endgroup::" {
            let name = open.take();
            assert!(name.is_some(), "endgroup without a group\n{stdout}");
            assert!(lines_in_group > 0, "empty group {name:?}\n{stdout}");
        } else {
            lines_in_group += 1;
            out.push((open.clone(), line.to_string()));
        }
    }
    assert!(open.is_none(), "group {open:?} never closed\n{stdout}");
    out
}

#[test]
fn parallel_jobs_get_balanced_groups_that_never_interleave() {
    let p = Project::new().task(
        "ci",
        r#"
        for name in ["alpha", "beta", "gamma"] {
            job(name, || {
                let me = job_name();
                run(["sh", "-c", `for i in 1 2 3 4 5; do echo ${me}-line-$i; sleep 0.03; done`]);
            });
        }
        "#,
    );
    let (run, summary, _) = in_actions(&p, &["ci", "-j", "3"], &[]);
    run.code(Exit::Ok);
    let lines = lines_by_group(&run.stdout);
    for (group, line) in &lines {
        for name in ["alpha", "beta", "gamma"] {
            if line.starts_with(&format!("{name}-line-")) {
                let group = group.as_deref().unwrap_or("<none>");
                assert!(
                    group.starts_with(name),
                    "{line:?} printed in group {group:?}\n{}",
                    run.stdout
                );
            }
        }
    }
    let printed = lines.iter().filter(|(_, l)| {
        ["alpha", "beta", "gamma"]
            .iter()
            .any(|n| l.starts_with(&format!("{n}-line-")))
    });
    assert_eq!(printed.count(), 15);
    assert!(
        summary.contains("| job | status | duration | retries | notes |"),
        "{summary}"
    );
    assert!(summary.contains("| beta | ✅ passed |"), "{summary}");
}

#[test]
fn script_errors_and_findings_become_annotations_on_their_file_and_line() {
    let p = Project::new().task(
        "ci",
        "job(\"lint\", || {\n    annotate(#{ level: \"warning\", file: \"src/lib.rs\", line: 7, column: 3, message: \"unused, variable: x\" });\n    let x = [1];\n    x[3]\n});\n",
    );
    let (run, summary, _) = in_actions(&p, &["ci"], &[]);
    run.code(Exit::Failed);
    run.contains("::warning file=src/lib.rs,line=7,col=3,title=lint::unused, variable: x");
    run.contains("::error file=tasks/ci.rhai,line=4,col=7,title=lint::Array index 3 out of bounds");
    // The failure is re-printed outside any group, with the command that reproduces it.
    let lines = lines_by_group(&run.stdout);
    assert!(
        lines
            .iter()
            .any(|(g, l)| g.is_none() && l.contains("first failure: lint")),
        "{}",
        run.stdout
    );
    assert!(summary.contains("| lint | ❌ failed |"), "{summary}");
    assert!(
        summary.contains("reproduce: `cargo xtask ci --job \"lint\"`"),
        "{summary}"
    );
}

#[test]
fn script_outputs_go_to_github_output() {
    let p = Project::new().task(
        "ci",
        r#"
        job("version", || { set_output("version", "1.2.3"); set_output("notes", "line one\nline two"); });
        "#,
    );
    let (run, _, output) = in_actions(&p, &["ci"], &[]);
    run.code(Exit::Ok);
    assert!(output.contains("version=1.2.3\n"), "{output}");
    assert!(
        output.contains("notes<<XTASK_EOF\nline one\nline two\nXTASK_EOF\n"),
        "{output}"
    );
}

#[test]
fn secrets_are_masked_in_every_output() {
    let p = Project::new().task(
        "ci",
        r#"
        let token = secret("DEPLOY_TOKEN");
        job("leaky", || {
            run(["sh", "-c", "echo child says $DEPLOY_TOKEN"]);
            annotate(#{ file: "deploy.sh", line: 1, message: `bad token ${token}` });
            fail(`rejected token ${token}`);
        });
        "#,
    );
    let secret = "s3cr3t-value-42";
    let json = p.join("report.json");
    let junit = p.join("report.xml");
    let (run, summary, _) = in_actions(
        &p,
        &[
            "ci",
            "--report",
            &format!("json={}", json.display()),
            "--report",
            &format!("junit={}", junit.display()),
        ],
        &[("DEPLOY_TOKEN", secret)],
    );
    run.code(Exit::Failed);
    // The one line that must carry the value: telling Actions to mask it.
    let stdout_without_mask: String = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(run.stdout.contains(&format!("::add-mask::{secret}")));
    assert!(!stdout_without_mask.contains(secret), "{}", run.stdout);
    assert!(!run.stderr.contains(secret));
    run.contains("child says ***")
        .contains("rejected token ***")
        .contains("bad token ***");
    for (name, text) in [
        ("summary", summary),
        ("json", std::fs::read_to_string(&json).unwrap()),
        ("junit", std::fs::read_to_string(&junit).unwrap()),
    ] {
        assert!(!text.contains(secret), "{name} leaks the secret:\n{text}");
        assert!(name == "summary" || text.contains("***"), "{name}:\n{text}");
    }
    // Locally too, and for values named on the command line.
    let local = p
        .xtask(&["ci", "--secret-env", "DEPLOY_TOKEN"])
        .env("DEPLOY_TOKEN", secret)
        .run();
    local
        .code(Exit::Failed)
        .contains("child says ***")
        .lacks(secret);
}

#[test]
fn junit_report_validates_against_the_schema() {
    if !support::require(
        "XMLLINT",
        xmllint_runs(),
        "xmllint not installed (apt-get install libxml2-utils)",
    ) {
        return;
    }
    let p = Project::new().task(
        "ci",
        r#"
        job("ok", || print("fine & <dandy>"));
        job("bad", || run(["sh", "-c", "printf 'bell\\007 and \\033[31mred\\033[0m\\n'; exit 2"]));
        job("later", #{ needs: ["bad"] }, || 1);
        job("off", #{ when: false, reason: "not today" }, || 1);
        "#,
    );
    let junit = p.join("out/junit.xml");
    p.run(&[
        "ci",
        "--keep-going",
        "--report",
        &format!("junit={}", junit.display()),
    ])
    .code(Exit::Failed);
    let check = check_junit_schema(&junit);
    assert!(
        check.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&check.stderr),
        std::fs::read_to_string(&junit).unwrap()
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"tests="4" failures="1""#), "{xml}");
    assert!(xml.contains("fine &amp; &lt;dandy&gt;"), "{xml}");
    assert!(xml.contains(r#"<skipped message="not today"/>"#), "{xml}");
    assert!(xml.contains("command failed with exit status 2"), "{xml}");
}

#[test]
fn json_report_describes_the_whole_run() {
    let p = Project::new().task(
        "ci",
        "job(\"a\", || print(\"hello\"));\njob(\"b\", #{ needs: [\"a\"] }, || {\n  set_output(\"x\", 1);\n  fail(\"nope\");\n});\n",
    );
    let path = p.join("run.json");
    p.run(&["ci", "--report", &format!("json={}", path.display())])
        .code(Exit::Failed);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["jobs"][0]["name"], "a");
    assert_eq!(report["jobs"][0]["status"], "passed");
    assert!(report["jobs"][0]["output_tail"]
        .as_str()
        .unwrap()
        .contains("hello"));
    assert_eq!(report["jobs"][1]["status"], "failed");
    assert!(report["jobs"][1]["error"]
        .as_str()
        .unwrap()
        .contains("nope"));
    assert_eq!(report["jobs"][1]["rerun"], "cargo xtask ci --job \"b\"");
    assert_eq!(report["diagnostics"][0]["file"], "tasks/ci.rhai");
    assert_eq!(report["diagnostics"][0]["line"], 4);
    assert_eq!(report["outputs"]["x"], "1");
}

#[test]
fn matrix_json_fans_out_into_job_runs_that_match_a_full_run() {
    let p = Project::new().task(
        "ci",
        r#"
        job("lint", || write("results/lint", "ok"));
        job("test", #{ matrix: #{ version: [1, 2] }, needs: ["lint"] }, |m| write(`results/test-${m.version}`, `v${m.version}`));
        "#,
    );
    let out = p.run(&["ci", "--matrix-json"]);
    out.code(Exit::Ok);
    let matrix: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let names: Vec<String> = matrix["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["job"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["lint", "test (version=1)", "test (version=2)"]);
    // Each "runner" runs one job, its needs assumed done elsewhere.
    for name in &names {
        p.run(&["ci", "--job", name, "--no-needs"])
            .code(Exit::Ok)
            .contains("1 passed");
    }
    let fanned = read_results(p.path());
    std::fs::remove_dir_all(p.join("results")).unwrap();
    p.run(&["ci"]).code(Exit::Ok).contains("3 passed");
    assert_eq!(fanned, read_results(p.path()));
}

fn read_results(root: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(root.join("results"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn makefile_compat_and_primitive_docs_are_current() {
    let run = |args: &[&str]| support::xtask_in(repo_root(), args).run();
    run(&["makefile", "--check"]).code(Exit::Ok);
    run(&["definitions", "--markdown", "docs/primitives.md", "--check"]).code(Exit::Ok);
    run(&["completions", "bash"])
        .code(Exit::Ok)
        .contains("xtask");
}

/// A user's repository gets editor definitions in `.rhai/` and the reference under `target/`,
/// never in its `docs/`; the definitions carry parameter names and the reference's text.
#[test]
fn definitions_go_where_asked_and_carry_names_and_docs() {
    let p = Project::new().task("ci", "job(\"a\", || {});\n");
    p.run(&["definitions"])
        .code(Exit::Ok)
        .contains("target/xtask/primitives.md");
    assert!(!p.join("docs").exists(), "definitions wrote into docs/");
    let reference = std::fs::read_to_string(p.join("target/xtask/primitives.md")).unwrap();
    assert!(
        reference.contains("| `allow_fail` | bool | `false` |"),
        "{reference}"
    );
    let global = std::fs::read_to_string(p.join(".rhai/__static__.d.rhai")).unwrap();
    assert!(
        global.contains("/// Runs a program (an argv array, no shell)"),
        "{global}"
    );
    assert!(
        global.contains("fn run(argv: array, options: map) -> map;"),
        "{global}"
    );
    assert!(
        global.contains("fn job(name: string, options: map, body: Fn);"),
        "{global}"
    );
    p.run(&["definitions", "editor", "--markdown", "ref.md"])
        .code(Exit::Ok);
    assert!(p.join("editor/__static__.d.rhai").exists() && p.join("ref.md").exists());
    p.run(&["definitions", "--markdown"])
        .code(Exit::Usage)
        .contains("--markdown needs a path");
}

#[test]
fn makefile_targets_call_cargo_xtask() {
    let manifest = repo_root().join("Cargo.toml");
    let p = Project::new()
        .task(
            "ci",
            "//! The pipeline.\njob(\"mark\", || write(\"ran-through-make\", `${args}`));\n",
        )
        .file(
            ".cargo/config.toml",
            &format!(
                "[alias]\nxtask = \"run --quiet --manifest-path {} --package xtask-cli --\"\n",
                manifest.display()
            ),
        );
    p.run(&["makefile"]).code(Exit::Ok);
    let makefile = std::fs::read_to_string(p.join("Makefile.compat")).unwrap();
    assert!(
        makefile.contains("# The pipeline.\nci:\n\tcargo xtask ci $(ARGS)\n"),
        "{makefile}"
    );
    let make = std::process::Command::new("make")
        .args(["-f", "Makefile.compat", "ci", "ARGS=--fast"])
        .current_dir(p.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        make.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&make.stdout),
        String::from_utf8_lossy(&make.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(p.join("ran-through-make")).unwrap(),
        r#"["--fast"]"#
    );
    // A task added later makes the file out of date.
    let p = p.task("release", "//! Cut a release.\n");
    p.run(&["makefile", "--check"])
        .code(Exit::Failed)
        .contains("out of date");
}

/// A one-file library crate with a clippy finding and a passing and a failing test.
fn crate_with_findings() -> Project {
    Project::new()
        .file("Cargo.toml", "[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n")
        .file(
            "src/lib.rs",
            "pub fn answer() -> i32 {\n    return 42;\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn passes() {\n        assert_eq!(super::answer(), 42);\n    }\n\n    #[test]\n    fn fails() {\n        assert_eq!(super::answer(), 41);\n    }\n}\n",
        )
        .task(
            "ci",
            r#"
            job("clippy", || cargo::clippy());
            job("test", || cargo::test());
            "#,
        )
}

#[test]
fn compiler_findings_become_annotations_and_tests_become_junit_testcases() {
    let p = crate_with_findings();
    let junit = p.join("junit.xml");
    let (run, _, _) = in_actions(
        &p,
        &[
            "ci",
            "--keep-going",
            "--report",
            &format!("junit={}", junit.display()),
        ],
        &[],
    );
    run.code(Exit::Failed);
    lines_by_group(&run.stdout);
    // clippy's needless_return, denied: an error on src/lib.rs line 2.
    run.contains("::error file=src/lib.rs,line=2,col=5,title=clippy::");
    // Once: not again at the task script's line, nor without a place.
    let clippy_errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error ") && l.contains("title=clippy"))
        .collect();
    assert_eq!(clippy_errors.len(), 1, "{}", run.stdout);
    // The failing test's panic, on its line.
    run.contains("::error file=src/lib.rs,line=14,col=9,title=test::");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testcase name="tests::passes" classname="ci.test">"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="tests::fails" classname="ci.test">"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<failure message="test tests::fails failed""#),
        "{xml}"
    );
    assert!(xml.contains(r#"tests="4" failures="3""#), "{xml}");
    if xmllint_runs() {
        let check = check_junit_schema(&junit);
        assert!(
            check.status.success(),
            "{}\n{xml}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn annotations_name_files_from_the_repository_root() {
    // The project is a subdirectory of the checkout, as examples/service is of this repository.
    let p = Project::new().task(
        "ci",
        r#"job("lint", || annotate(#{ level: "warning", file: "src/main.rs", line: 3, message: "look" }));"#,
    );
    let checkout = p.path().parent().unwrap().to_path_buf();
    let sub = p.path().file_name().unwrap().to_string_lossy().into_owned();
    let (run, _, _) = in_actions(
        &p,
        &["ci"],
        &[("GITHUB_WORKSPACE", checkout.to_str().unwrap())],
    );
    run.code(Exit::Ok).contains(&format!(
        "::warning file={sub}/src/main.rs,line=3,col=1,title=lint::look"
    ));
}

#[test]
fn a_multi_line_error_is_annotated_whole_and_once() {
    let p = Project::new().task(
        "ci",
        "job(\"migrate\", || {\n    fail(\"migration test failed:\\n  left behind: table users\\n  left behind: index users_email\");\n});\n",
    );
    let (run, _, _) = in_actions(&p, &["ci"], &[]);
    run.code(Exit::Failed);
    lines_by_group(&run.stdout);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(
        errors[0].ends_with("::migration test failed:%0A  left behind: table users%0A  left behind: index users_email"),
        "{}",
        errors[0]
    );
}

/// A crate on a feature branch: `src/old.rs` (on main) with 193 warnings and 3 denied clippy
/// errors, `src/new.rs` (added on the branch) with 7 warnings.
fn crate_with_many_findings() -> Project {
    let mut old = String::new();
    for i in 0..193 {
        old.push_str(&format!(
            "pub fn old_{i}() {{\n    let unused_{i} = {i};\n}}\n"
        ));
    }
    for i in 0..3 {
        old.push_str(&format!(
            "pub fn bad_{i}() -> i32 {{\n    return {i};\n}}\n"
        ));
    }
    let mut new = String::new();
    for i in 0..7 {
        new.push_str(&format!(
            "pub fn new_{i}() {{\n    let fresh_{i} = {i};\n}}\n"
        ));
    }
    let p = Project::new()
        .file(
            "Cargo.toml",
            "[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .file("src/lib.rs", "pub mod old;\n")
        .file("src/old.rs", &old)
        .file(
            ".gitignore",
            "target/\nstep-summary.md\ngithub-output.txt\n",
        )
        .task(
            "ci",
            r#"job("clippy", || cargo::clippy(#{ deny: ["clippy::needless_return"] }));"#,
        );
    p.init_repo("base");
    p.git(&["checkout", "-qb", "feature"]);
    let p = p
        .file("src/new.rs", &new)
        .file("src/lib.rs", "pub mod new;\npub mod old;\n");
    p.commit_all("feature");
    p
}

#[test]
fn the_annotation_budget_goes_to_errors_then_changed_files_and_the_rest_to_the_summary() {
    let p = crate_with_many_findings();
    let (run, summary, _) = in_actions(&p, &["ci"], &[("GITHUB_BASE_REF", "main")]);
    run.code(Exit::Failed);
    lines_by_group(&run.stdout);
    let annotations: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error ") || l.starts_with("::warning "))
        .collect();
    let errors: Vec<&&str> = annotations
        .iter()
        .filter(|l| l.starts_with("::error "))
        .collect();
    let warnings: Vec<&&str> = annotations
        .iter()
        .filter(|l| l.starts_with("::warning "))
        .collect();
    assert_eq!(errors.len(), 3, "{annotations:#?}");
    assert!(
        errors.iter().all(|l| l.contains("file=src/old.rs")),
        "{errors:#?}"
    );
    // GitHub shows 10 warnings per step: all 7 from the changed file, then 3 others.
    assert_eq!(warnings.len(), 10, "{annotations:#?}");
    let changed = warnings
        .iter()
        .filter(|l| l.contains("file=src/new.rs"))
        .count();
    assert_eq!(changed, 7, "{warnings:#?}");
    // Errors come first.
    assert!(annotations[..3].iter().all(|l| l.starts_with("::error ")));
    // The other 190 are listed in the summary with their place.
    assert!(summary.contains("**and 190 more**"), "{summary}");
    assert_eq!(
        summary.matches("\n- `src/old.rs:").count(),
        190,
        "{summary}"
    );
}

#[test]
fn a_summary_over_github_s_limit_is_trimmed_with_a_note() {
    // 25,000 findings of ~100 bytes each: a 2.5 MB overflow list.
    let p = Project::new().task(
        "ci",
        r#"
        job("noisy", || {
            let text = "a finding with a message long enough to make the summary grow quickly, line";
            for i in 0..25000 {
                annotate(#{ level: "warning", file: "src/big.rs", line: i + 1, message: `${text} ${i}` });
            }
        });
        "#,
    );
    let (run, summary, _) = in_actions(&p, &["ci"], &[]);
    run.code(Exit::Ok);
    assert!(summary.len() < 1024 * 1024, "{} bytes", summary.len());
    assert!(
        summary.contains("Summary trimmed"),
        "{}",
        &summary[summary.len() - 500..]
    );
    assert!(summary.contains("| noisy | ✅ passed |"));
}
