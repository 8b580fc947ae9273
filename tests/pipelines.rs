//! The reference pipelines' primitives and examples, for real: `examples/node-service`'s tasks
//! with npm packages from the registry (`.ci/setup` warms the cache), real PostgreSQL servers,
//! real services under load; `npm::`, `confirm` (also under a pseudo-terminal), `scan::secrets`
//! (detect-secrets from PyPI) and matrix pairing in `needs`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{git, Project, Run};
use xtask_core::exit::Exit;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Node and npm are needed by every example test: CI must have them.
fn node_or_skip() -> bool {
    support::require(
        "NODE",
        support::installed("node") && support::installed("npm"),
        "node or npm is not installed (bash .ci/setup)",
    )
}

fn pg_or_skip() -> bool {
    support::require(
        "PG",
        std::env::var("XTASK_PG_PATH").is_ok_and(|p| !p.is_empty()),
        "XTASK_PG_PATH is not set (bash .ci/setup)",
    )
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["node_modules", "dist", "target"].contains(&name.to_str().unwrap_or("")) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// `examples/node-service` copied into a fresh git repository (so planted failures stay there
/// and the secret scan sees tracked files only).
fn node_service() -> Project {
    let p = Project::new();
    copy_tree(&repo().join("examples/node-service"), p.path());
    p.init_repo("node-service");
    p
}

/// Installs the example's packages (from npm's cache when .ci/setup warmed it).
fn npm_ci(p: &Project) {
    support::stdout_of(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefer-offline"])
            .current_dir(p.path()),
        "npm ci",
    );
}

fn xtask(p: &Project, args: &[&str]) -> Run {
    p.xtask(args)
        .env("XTASK_DEPLOY_DIR", p.join("env"))
        .env_remove("XTASK_CONFIRM")
        .env_remove("GITHUB_EVENT_NAME")
        .run()
}

#[test]
fn node_service_ci_passes_clean() {
    if !node_or_skip() || !pg_or_skip() {
        return;
    }
    let p = node_service();
    let junit = p.join("junit.xml");
    let out = xtask(
        &p,
        &["ci", "--report", &format!("junit={}", junit.display())],
    );
    out.code(Exit::Ok)
        .contains("ci: 10 passed, 0 failed")
        .contains("line coverage")
        .contains("2 migration(s) applied");
    let report = std::fs::read_to_string(junit).unwrap();
    assert!(report.contains("answers ok with the version"), "{report}");
}

#[test]
fn a_planted_failing_test_fails_npm_test_naming_the_test_and_its_line() {
    if !node_or_skip() {
        return;
    }
    let p = node_service().file(
        "test/planted.test.js",
        "import { test } from \"node:test\";\nimport assert from \"node:assert/strict\";\n\ntest(\"planted sum\", () => {\n  assert.equal(1 + 1, 3);\n});\n",
    );
    npm_ci(&p);
    let junit = p.join("junit.xml");
    let out = xtask(
        &p,
        &[
            "ci",
            "--job",
            "unit-test",
            "--no-needs",
            "--report",
            &format!("junit={}", junit.display()),
        ],
    );
    out.code(Exit::Failed).contains(
        "1 failed, 8 passed, 0 ignored; failing: planted sum at test/planted.test.js:4:1",
    );
    let report = std::fs::read_to_string(junit).unwrap();
    assert!(
        report.contains("planted sum") && report.contains("<failure"),
        "{report}"
    );
    // In Actions the failure is an annotation on the test's line.
    p.xtask(&["ci", "--job", "unit-test", "--no-needs"])
        .actions()
        .run()
        .code(Exit::Failed)
        .contains("::error file=test/planted.test.js,line=4");
}

#[test]
fn a_planted_lint_error_fails_the_lint_job() {
    if !node_or_skip() {
        return;
    }
    let p = node_service();
    let app = p.join("src/app.js");
    let source = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        source.replace("const faults =", "const unused = 1;\n  const faults ="),
    )
    .unwrap();
    npm_ci(&p);
    let out = xtask(&p, &["ci", "--job", "lint", "--no-needs"]);
    out.code(Exit::Failed)
        .contains("'unused' is assigned a value but never used")
        .contains("command failed with exit status 1: `npm run lint`");
    // The unchanged tree lints clean: the failure is the planted line's.
    std::fs::write(&app, source).unwrap();
    xtask(&p, &["ci", "--job", "lint", "--no-needs"]).code(Exit::Ok);
}

#[test]
fn canary_accepts_an_equal_candidate_and_rejects_three_times_the_errors() {
    if !node_or_skip() {
        return;
    }
    let p = node_service();
    xtask(&p, &["canary"])
        .code(Exit::Ok)
        .contains("error rate: candidate 2.00% vs baseline 2.00%")
        .contains("canary accepted");
    // The candidate (this tree, uncommitted) fails three times as often as the base ref.
    let config = p.join("src/config.js");
    let source = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        source.replace("DEFAULT_FAIL_RATE = 0.02", "DEFAULT_FAIL_RATE = 0.06"),
    )
    .unwrap();
    xtask(&p, &["canary"]).code(Exit::Failed).contains(
        "canary rejected, roll back: error rate: candidate 6.00% vs baseline 2.00% (limit 4.00%)",
    );
}

#[test]
fn deploy_needs_the_phrase_given_or_typed_and_rollback_goes_back() {
    if !node_or_skip() {
        return;
    }
    let p = node_service();
    // Without the phrase and without a terminal: fails, saying how to give it; nothing deployed.
    xtask(&p, &["deploy"])
        .code(Exit::Failed)
        .contains("needs the confirmation `DEPLOY TO PRODUCTION` and there is no terminal to ask: pass --confirm \"DEPLOY TO PRODUCTION\"")
        .contains("declared at tasks/deploy.rhai:");
    assert!(!p.join("env/current").exists());
    // A wrong phrase is not enough.
    p.xtask(&["deploy", "--job", "deploy", "--no-needs"])
            .env("XTASK_DEPLOY_DIR", p.join("env"))
            .env("XTASK_CONFIRM", "deploy to production").run()
    .code(Exit::Failed)
    .contains("the confirmation given by $XTASK_CONFIRM does not match: expected exactly `DEPLOY TO PRODUCTION`");
    assert!(!p.join("env/current").exists());
    // Given on the command line: deploys 1.4.0 and verifies it runs.
    xtask(&p, &["deploy", "--confirm", "DEPLOY TO PRODUCTION"])
        .code(Exit::Ok)
        .contains("confirmed by --confirm")
        .contains("production runs 1.4.0");
    // Typed at a terminal: deploys 1.5.0.
    let manifest = p.join("package.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("\"version\": \"1.4.0\"", "\"version\": \"1.5.0\""),
    )
    .unwrap();
    let typed = Run::from(
        Command::new("python3")
            .arg(repo().join("tests/fixtures/pty_type.py"))
            .arg("DEPLOY TO PRODUCTION")
            .arg(env!("CARGO_BIN_EXE_xtask"))
            .args(["deploy", "--color", "never"])
            .current_dir(p.path())
            .env("XTASK_DEPLOY_DIR", p.join("env"))
            .env_remove("XTASK_CONFIRM")
            .output()
            .unwrap(),
    );
    typed
        .code(Exit::Ok)
        .contains("deploy: type `DEPLOY TO PRODUCTION` to continue")
        .contains("confirmed at the terminal")
        .contains("production runs 1.5.0");
    // Typed wrong at a terminal: refused.
    Run::from(
        Command::new("python3")
            .arg(repo().join("tests/fixtures/pty_type.py"))
            .arg("yes")
            .arg(env!("CARGO_BIN_EXE_xtask"))
            .args([
                "deploy",
                "--job",
                "deploy",
                "--no-needs",
                "--color",
                "never",
            ])
            .current_dir(p.path())
            .env("XTASK_DEPLOY_DIR", p.join("env"))
            .env_remove("XTASK_CONFIRM")
            .output()
            .unwrap(),
    )
    .code(Exit::Failed)
    .contains("not confirmed: what was typed is not `DEPLOY TO PRODUCTION`");
    assert_eq!(
        std::fs::read_to_string(p.join("env/current")).unwrap(),
        "1.5.0"
    );
    // Roll back to the named earlier release and verify it serves that version.
    xtask(
        &p,
        &[
            "rollback",
            "--to",
            "1.3.0",
            "--confirm",
            "ROLLBACK PRODUCTION",
        ],
    )
    .code(Exit::Failed)
    .contains("no release 1.3.0");
    xtask(
        &p,
        &[
            "rollback",
            "--to",
            "1.4.0",
            "--confirm",
            "ROLLBACK PRODUCTION",
        ],
    )
    .code(Exit::Ok)
    .contains("production: 1.5.0 -> 1.4.0")
    .contains("production runs 1.4.0 again");
}

#[test]
fn dry_run_shows_the_confirmation_and_asks_nothing() {
    let p = Project::new().task(
        "deploy",
        "job(\"build\", || ());\njob(\"deploy\", #{ needs: [\"build\"], confirm: \"DEPLOY TO PRODUCTION\" }, || write(\"deployed\", \"yes\"));\n",
    );
    p.run(&["deploy", "--dry-run"])
        .code(Exit::Ok)
        .contains("deploy  (after build)  asks to confirm \"DEPLOY TO PRODUCTION\"");
    assert!(!p.join("deployed").exists());
    // An Actions workflow_dispatch input counts as given.
    let event = p.join("event.json");
    std::fs::write(&event, r#"{"inputs":{"confirm":"DEPLOY TO PRODUCTION"}}"#).unwrap();
    p.xtask(&["deploy"])
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_EVENT_PATH", &event)
        .run()
        .code(Exit::Ok)
        .contains("confirmed by the workflow_dispatch input `confirm`");
    assert!(p.join("deployed").exists());
}

#[test]
fn npm_run_names_the_scripts_that_exist_and_ci_wants_a_lockfile() {
    let p = Project::new()
        .file(
            "package.json",
            r#"{ "name": "x", "version": "1.0.0", "scripts": { "build": "true", "test": "true" } }"#,
        )
        .task("t", "job(\"a\", || npm::run(\"tset\"));\njob(\"b\", || npm::ci());\n");
    let out = p.run(&["t", "--keep-going"]);
    out.code(Exit::Failed)
        .contains("has no script `tset`; did you mean `test`? (scripts: build, test)")
        .contains("tasks/t.rhai:1:")
        .contains("npm::ci needs a lockfile");
}

#[test]
fn npm_test_reads_the_junit_files_of_the_projects_own_runner() {
    if !node_or_skip() {
        return;
    }
    // A stand-in for Jest/Vitest: an npm script that writes a JUnit file as they do and fails.
    let p = Project::new()
        .file(
            "package.json",
            r#"{ "name": "x", "version": "1.0.0", "scripts": { "test:ci": "node write-junit.js" } }"#,
        )
        .file(
            "write-junit.js",
            r#"const fs = require("node:fs");
const root = process.cwd();
fs.mkdirSync("reports", { recursive: true });
fs.writeFileSync("reports/junit.xml", `<testsuites><testsuite name="sum">
<testcase classname="sum" name="adds"/>
<testcase classname="sum" name="subtracts"><failure message="expected 1 to be 2">Error: expected 1 to be 2
    at Object.&lt;anonymous&gt; (${root}/src/sum.test.ts:7:19)</failure></testcase>
</testsuite></testsuites>`);
process.exit(1);
"#,
        )
        .task(
            "t",
            r#"job("test", || npm::test(#{ script: "test:ci", junit: "reports/*.xml" }));"#,
        );
    p.run(&["t"]).code(Exit::Failed).contains(
        "1 failed, 1 passed, 0 ignored; failing: sum > subtracts at src/sum.test.ts:7:19",
    );
}

#[test]
fn confirm_inside_a_job_body() {
    let p = Project::new().task(
        "t",
        "job(\"gate\", || { confirm(\"ROLL BACK\"); write(\"done\", \"yes\"); });\n",
    );
    p.run(&["t"])
        .code(Exit::Failed)
        .contains("needs the confirmation `ROLL BACK` and there is no terminal to ask")
        .contains("tasks/t.rhai:1:");
    assert!(!p.join("done").exists());
    p.xtask(&["t"])
        .env("XTASK_CONFIRM", "ROLL BACK")
        .run()
        .code(Exit::Ok)
        .contains("confirmed by $XTASK_CONFIRM");
    assert!(p.join("done").exists());
}

#[test]
fn scan_secrets_annotates_a_planted_key_and_skips_without_a_scanner() {
    let p = Project::new()
        .file("src/config.js", "export const region = \"eu\";\n")
        .task(
            "scan",
            "job(\"secrets\", || { let r = scan::secrets(); if !r.ran { skip(r.reason) } });\n",
        );
    // Without any scanner on PATH: skipped, saying why.
    p.xtask(&["scan"])
        .env("PATH", "/nonexistent")
        .run()
        .code(Exit::Ok)
        .contains("no secret scanner installed");
    if !support::require(
        "NODE",
        support::installed("detect-secrets"),
        "detect-secrets is not installed (bash .ci/setup installs it from PyPI)",
    ) {
        return;
    }
    p.init_repo("clean");
    p.run(&["scan"])
        .code(Exit::Ok)
        .contains("detect-secrets: no secrets found");
    std::fs::write(
        p.join("src/config.js"),
        "export const region = \"eu\";\nexport const key = \"AKIAIOSFODNN7EXAMPLE\";\n",
    )
    .unwrap();
    git(p.path(), &["add", "-A"]);
    let out = p.xtask(&["scan"]).actions().run();
    out.code(Exit::Failed)
        .contains("detect-secrets found 1 possible secret: src/config.js:2 (AWS Access Key)")
        .contains("::error file=src/config.js,line=2")
        .lacks("AKIAIOSFODNN7EXAMPLE");
}

#[test]
fn matrix_needs_pair_combinations() {
    let p = Project::new().task(
        "docker",
        r#"
let variants = #{ variant: ["debug", "release"] };
job("docker-build", #{ matrix: variants }, |m| ());
job("docker-test", #{ matrix: variants, needs: ["docker-build (variant={variant})"] }, |m| ());
job("publish", #{ needs: ["docker-build (variant=release)"] }, || ());
job("bad", #{ needs: ["docker-build (arch=arm)"] }, || ());
"#,
    );
    let out = p.run(&["docker", "--list", "--json"]);
    out.code(Exit::Usage).contains(
        "need `docker-build (arch=arm)`: `docker-build` has no matrix axis `arch` (axes: variant)",
    );
    let p = Project::new().task(
        "docker",
        r#"
let variants = #{ variant: ["debug", "release"] };
job("docker-build", #{ matrix: variants }, |m| ());
job("docker-test", #{ matrix: variants, needs: ["docker-build (variant={variant})"] }, |m| ());
job("publish", #{ needs: ["docker-build (variant=release)"] }, || ());
"#,
    );
    let out = p.run(&["docker", "--list", "--json"]);
    out.code(Exit::Ok);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let needs = |name: &str| -> Vec<String> {
        json["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == name)
            .unwrap()["needs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        needs("docker-test (variant=debug)"),
        ["docker-build (variant=debug)"]
    );
    assert_eq!(
        needs("docker-test (variant=release)"),
        ["docker-build (variant=release)"]
    );
    assert_eq!(needs("publish"), ["docker-build (variant=release)"]);
}

#[test]
fn a_failed_migration_is_restored_from_the_backup_with_the_original_rows() {
    if !node_or_skip() || !pg_or_skip() {
        return;
    }
    let p = node_service();
    // Committed migrations are what production runs: the rehearsal passes.
    xtask(&p, &["migrate"])
        .code(Exit::Ok)
        .contains("backup taken: 4 items")
        .contains("migrated and verified: 2 migrations applied");
    // A new migration that changes rows, then fails (outside a transaction, so the change stays).
    let p = p.file(
        "migrations/0003_item_sku.up.sql",
        "-- no-transaction\nupdate items set name = upper(name);\nalter table items add column sku text not null;\n",
    )
    .file("migrations/0003_item_sku.down.sql", "alter table items drop column sku;\n");
    xtask(&p, &["migrate"])
        .code(Exit::Failed)
        .contains("migration or verification failed, restoring the backup")
        .contains("the backup was restored (4 items as before)")
        .lacks("the restored rows equal those before the migration");
}
