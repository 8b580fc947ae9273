//! `xtask workflow <task>`: the generated Actions workflow mirrors the job graph and lints clean;
//! `--check` catches a stale file and keeps hand-written sections; `--rehearse` plays the
//! workflow locally, a process and a fresh copy per job, results handed over between them.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use support::{Project, Run};
use xtask_core::exit::Exit;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// xtask in `dir`, writing no results where an outer run (`cargo xtask ci`) keeps its own.
fn xtask_in(dir: &Path, args: &[&str]) -> Run {
    support::xtask_in(dir, args)
        .env_remove("XTASK_RESULTS")
        .run()
}

/// The Actions jobs of a generated workflow: declared name → needed declared names, read from
/// the fixed shape the generator writes (`  id:`, `    name: '…'`, `    needs: [a, b]`).
fn actions_graph(yaml: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut needs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_jobs = false;
    for line in yaml.lines() {
        if line == "jobs:" {
            in_jobs = true;
            continue;
        }
        if !in_jobs {
            continue;
        }
        if let Some(id) = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_suffix(':'))
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
        {
            current = Some(id.to_string());
        } else if let (Some(id), Some(name)) = (&current, line.strip_prefix("    name: ")) {
            let name = name.trim_matches('\'').replace("''", "'");
            let base = name.split(" (").next().unwrap().to_string();
            names.insert(id.clone(), base);
        } else if let (Some(id), Some(list)) = (&current, line.strip_prefix("    needs: [")) {
            let list = list.trim_end_matches(']');
            needs.insert(
                id.clone(),
                list.split(", ").map(str::to_string).collect::<Vec<_>>(),
            );
        }
    }
    names
        .iter()
        .map(|(id, base)| {
            let needed = needs
                .get(id)
                .map(|n| n.iter().map(|i| names[i].clone()).collect())
                .unwrap_or_default();
            (base.clone(), needed)
        })
        .collect()
}

/// The task's graph as `--list --json` gives it, folded to declared names.
fn declared_graph(dir: &Path, task: &str) -> BTreeMap<String, BTreeSet<String>> {
    let run = xtask_in(dir, &["--list", task, "--json"]);
    run.code(Exit::Ok);
    let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let jobs = list["jobs"].as_array().unwrap();
    let base_of: BTreeMap<String, String> = jobs
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap().to_string(),
                j["job"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for job in jobs {
        let entry = graph
            .entry(job["job"].as_str().unwrap().to_string())
            .or_default();
        for need in job["needs"].as_array().unwrap() {
            entry.insert(base_of[need.as_str().unwrap()].clone());
        }
    }
    graph
}

/// actionlint over one file; a visible skip where it is not installed, a failure under CI.
fn actionlint(path: &Path) -> Option<Run> {
    if !support::require(
        "ACTIONLINT",
        which_actionlint().is_some(),
        "actionlint not installed (.ci/setup installs it)",
    ) {
        return None;
    }
    let out = std::process::Command::new("actionlint")
        .arg(path)
        .output()
        .unwrap();
    Some(Run::from(out))
}

fn which_actionlint() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("actionlint"))
            .find(|p| p.is_file())
    })
}

#[test]
fn generated_workflows_mirror_the_graph_and_lint_clean() {
    let repo = repo_root();
    for dir in [repo.clone(), repo.join("examples/service")] {
        let run = xtask_in(&dir, &["workflow", "ci", "--file", "-"]);
        run.code(Exit::Ok);
        let yaml = run.stdout.clone();
        let mut expected = declared_graph(&dir, "ci");
        let gate: BTreeSet<String> = expected.keys().cloned().collect();
        expected.insert("ci-passed".into(), gate);
        assert_eq!(actions_graph(&yaml), expected, "{}:\n{yaml}", dir.display());
        let file = tempfile::Builder::new().suffix(".yml").tempfile().unwrap();
        std::fs::write(file.path(), &yaml).unwrap();
        if let Some(lint) = actionlint(file.path()) {
            lint.code(Exit::Ok);
        }
        // Set-up only where the job uses it.
        let job_text = |id: &str| -> String {
            let start = yaml.find(&format!("\n  {id}:\n")).unwrap();
            let rest = &yaml[start + 1..];
            // Jobs are separated by a blank line.
            let end = rest.find("\n\n").unwrap_or(rest.len());
            rest[..end].to_string()
        };
        assert!(job_text("clippy").contains("components: clippy"));
        assert!(!job_text("fmt").contains("PostgreSQL"));
        if dir.ends_with("service") {
            assert!(job_text("migrate").contains("postgresql-${{ matrix.version }}"));
            assert!(job_text("docker-build").contains("docker/setup-buildx-action"));
            assert!(!job_text("clippy").contains("docker/setup-buildx-action"));
            assert!(yaml.contains("working-directory: examples/service"));
        }
    }
    // This repository's own workflow is the generated one.
    xtask_in(&repo, &["workflow", "ci", "--check"]).code(Exit::Ok);
    assert!(!repo.join(".github/workflows/fan-out.yml").exists());
}

#[test]
fn check_catches_a_stale_file_and_keeps_hand_written_sections() {
    let p = Project::new()
        .task("ci", "job(\"lint\", || print(\"ok\"));\njob(\"deploy\", #{ needs: [\"lint\"] }, || secret(\"DEPLOY_TOKEN\"));\n");
    p.run(&["workflow", "ci"]).code(Exit::Ok).contains("wrote");
    let path = p.join(".github/workflows/ci.yml");
    let generated = std::fs::read_to_string(&path).unwrap();
    // Secrets only where they are read.
    let deploy = &generated[generated.find("\n  deploy:").unwrap()..];
    assert!(deploy.contains("DEPLOY_TOKEN: ${{ secrets.DEPLOY_TOKEN }}"));
    let lint =
        &generated[generated.find("\n  lint:").unwrap()..generated.find("\n  deploy:").unwrap()];
    assert!(!lint.contains("DEPLOY_TOKEN"), "{lint}");
    p.run(&["workflow", "ci", "--check"]).code(Exit::Ok);

    // A step of the user's own, inside the marked section: kept, and not "out of date".
    let mine = "      - run: echo my own step\n";
    let edited = generated.replace(
        "      # xtask:keep lint\n",
        &format!("      # xtask:keep lint\n{mine}"),
    );
    assert_ne!(edited, generated);
    std::fs::write(&path, &edited).unwrap();
    p.run(&["workflow", "ci", "--check"]).code(Exit::Ok);

    // The task changes: the file is stale; regenerating keeps the user's step.
    let p = p.task(
        "ci",
        "job(\"lint\", || print(\"ok\"));\njob(\"deploy\", #{ needs: [\"lint\"] }, || secret(\"DEPLOY_TOKEN\"));\njob(\"docs\", || 1);\n",
    );
    p.run(&["workflow", "ci", "--check"])
        .code(Exit::Failed)
        .contains("out of date");
    p.run(&["workflow", "ci"]).code(Exit::Ok);
    let regenerated = std::fs::read_to_string(&path).unwrap();
    assert!(regenerated.contains(mine), "{regenerated}");
    assert!(regenerated.contains("\n  docs:\n"), "{regenerated}");

    // An edit outside the marked sections is not the generator's output.
    std::fs::write(
        &path,
        regenerated.replace("runs-on: ubuntu-latest", "runs-on: macos-latest"),
    )
    .unwrap();
    p.run(&["workflow", "ci", "--check"]).code(Exit::Failed);
    if let Some(lint) = actionlint(&path) {
        lint.code(Exit::Ok);
    }
}

#[test]
fn rehearsal_runs_each_job_in_its_own_process_and_copy_handing_results_over() {
    let marks = tempfile::tempdir().unwrap();
    let p = Project::new().task(
        "ci",
        r#"
        let marks = env("MARKS");
        job("build", || {
            run(["sh", "-c", `echo $PPID > ${marks}/build.pid; pwd > ${marks}/build.dir`]);
            #{ dir: "out/pack", files: ["a", "b"], size: 3 }
        });
        job("use", #{ needs: ["build"] }, || {
            run(["sh", "-c", `echo $PPID > ${marks}/use.pid; pwd > ${marks}/use.dir`]);
            let r = result_of("build");
            write(`${marks}/use.got`, `${r.dir} ${r.files} ${r.size}`);
        });
        "#,
    );
    p.xtask(&["ci", "--rehearse"])
        .env("MARKS", marks.path())
        .run()
        .code(Exit::Ok)
        .contains("2 passed");
    let read = |name: &str| std::fs::read_to_string(marks.path().join(name)).unwrap();
    assert_eq!(read("use.got"), r#"out/pack ["a", "b"] 3"#);
    // Two processes, two checkouts, neither the project itself.
    assert_ne!(read("build.pid"), read("use.pid"));
    let project = p.path().canonicalize().unwrap();
    let (build_dir, use_dir) = (read("build.dir"), read("use.dir"));
    assert_ne!(build_dir, use_dir);
    for dir in [&build_dir, &use_dir] {
        assert_ne!(Path::new(dir.trim()), project);
        // The rehearsal removed its copies, and its own directory.
        let copy = Path::new(dir.trim());
        assert!(!copy.exists(), "{dir} left behind");
        let rehearsal_dir = copy.parent().unwrap().parent().unwrap();
        assert!(
            !rehearsal_dir.exists(),
            "{} left behind",
            rehearsal_dir.display()
        );
    }
}

#[test]
fn rehearsal_of_a_planted_failure_leaves_dependents_not_run_and_fails_the_gate() {
    let p = Project::new().task(
        "ci",
        r#"
        job("lint", || fail("planted lint failure"));
        job("unit", || print("unit ok"));
        job("images", #{ needs: ["lint", "unit"] }, || print("never"));
        job("e2e", #{ needs: ["images"] }, || print("never"));
        "#,
    );
    let report = p.join("rehearsal.json");
    let run = p.run(&[
        "ci",
        "--rehearse",
        "--report",
        &format!("json={}", report.display()),
    ]);
    run.code(Exit::Failed)
        .contains("planted lint failure")
        .lacks("never");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let status: BTreeMap<String, String> = report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap().to_string(),
                j["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(status["lint"], "failed");
    // Independent jobs still run to their end, as on Actions.
    assert_eq!(status["unit"], "passed");
    assert_eq!(status["images"], "not run");
    assert_eq!(status["e2e"], "not run");
    assert_eq!(report["passed"], false);
}

#[test]
fn a_fail_fast_false_matrix_keeps_its_other_combinations_running() {
    let p = Project::new().task(
        "ci",
        r#"
        job("pg", #{ matrix: #{ version: [13, 14, 15] }, fail_fast: false }, |m| {
            if m.version == 13 { fail("13 is broken"); }
            write(`done-${m.version}`, "ok");
        });
        "#,
    );
    p.run(&["ci", "-j", "1"])
        .code(Exit::Failed)
        .contains("13 is broken");
    assert!(p.join("done-14").exists() && p.join("done-15").exists());
    // The generated workflow says the same to Actions.
    p.run(&["workflow", "ci", "--file", "-"])
        .code(Exit::Ok)
        .contains("      fail-fast: false\n      matrix:\n        version: ['13', '14', '15']\n");
    // Without it, the first failure stops the matrix.
    let p = p.task(
        "ci",
        r#"
        job("pg", #{ matrix: #{ version: [13, 14, 15] } }, |m| {
            if m.version == 13 { fail("13 is broken"); }
            write(`done-${m.version}`, "ok");
        });
        "#,
    );
    std::fs::remove_file(p.join("done-14")).unwrap();
    std::fs::remove_file(p.join("done-15")).unwrap();
    p.run(&["ci", "-j", "1"])
        .code(Exit::Failed)
        .contains("not started");
    assert!(!p.join("done-14").exists());
}

/// The example's whole `ci` (PostgreSQL matrix, docker images, e2e) once as a plain run and once
/// rehearsed: the same verdict for every job. Slow; its target dir is kept between runs.
#[test]
fn rehearsal_of_the_example_service_ci_matches_a_plain_run() {
    let example = repo_root().join("examples/service");
    let target = repo_root().join("target/example-service-rehearsal");
    let verdicts = |args: &[&str]| -> BTreeMap<String, String> {
        let report = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
        let mut all = vec!["ci"];
        all.extend_from_slice(args);
        let spec = format!("json={}", report.path().display());
        all.extend(["--report", &spec]);
        let run = support::xtask_in(&example, &all)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("XTASK_RESULTS")
            .run();
        let text = std::fs::read_to_string(report.path()).unwrap_or_default();
        let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("no report ({e})\n{}\n{}", run.stdout, run.stderr);
        });
        report["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| {
                (
                    j["name"].as_str().unwrap().to_string(),
                    j["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // Keep going, as Actions does, so that any failure shows as the same verdict in both.
    // `--force`: the target directory is kept between test runs (builds are slow), and with it
    // the records of an earlier run, which would show jobs as up to date that the rehearsal's
    // fresh copies run.
    let plain = verdicts(&["--keep-going", "--force"]);
    let rehearsed = verdicts(&["--rehearse"]);
    assert_eq!(rehearsed, plain);
    assert!(plain.values().any(|s| s == "passed"), "{plain:?}");
    assert!(!plain.values().any(|s| s == "failed"), "{plain:?}");
}

#[test]
fn an_interrupted_rehearsal_leaves_no_process_and_no_copy_behind() {
    let marks = tempfile::tempdir().unwrap();
    let p = Project::new().task(
        "ci",
        r#"
        let marks = env("MARKS");
        job("slow", || {
            run(["sh", "-c", `pwd > ${marks}/dir; sleep 300 & echo $! > ${marks}/sleep.pid; echo $PPID > ${marks}/xtask.pid; wait`]);
        });
        "#,
    );
    let child = p
        .xtask(&["ci", "--rehearse"])
        .env("MARKS", marks.path())
        .spawn();
    let xtask_pid = marks.path().join("xtask.pid");
    support::wait_for_file(&xtask_pid, std::time::Duration::from_secs(60));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let read_pid = |name: &str| -> i32 {
        std::fs::read_to_string(marks.path().join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (job_process, sleeper) = (read_pid("xtask.pid"), read_pid("sleep.pid"));
    assert!(support::pid_alive(job_process) && support::pid_alive(sleeper));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    Run::from(out).code(Exit::Interrupted);
    let limit = std::time::Duration::from_secs(10);
    assert!(
        support::gone_within(job_process, limit),
        "the job's xtask process survived"
    );
    assert!(
        support::gone_within(sleeper, limit),
        "the job's command survived"
    );
    let copy = std::fs::read_to_string(marks.path().join("dir")).unwrap();
    let copy = Path::new(copy.trim());
    assert!(!copy.exists(), "{} left behind", copy.display());
    // checkouts/<job> inside the rehearsal's own directory: gone too.
    let rehearsal_dir = copy.parent().unwrap().parent().unwrap();
    assert!(
        !rehearsal_dir.exists(),
        "{} left behind",
        rehearsal_dir.display()
    );
}
