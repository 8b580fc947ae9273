//! `perf::` end to end: the example service's `perf-test` task against a planted slowdown,
//! memory ceilings measured by rusage, and `perf::compare_refs` between two commits of a real
//! git repository.

use crate::support;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::git;
use xtask_core::exit::Exit;

use support::Project;

/// Benchmarks measure; two at once on a small machine would measure each other.
static BENCH: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    BENCH.lock().unwrap_or_else(|e| e.into_inner())
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        if rel.starts_with("target") {
            continue;
        }
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Compares the saved baseline with itself: the verdict for unchanged figures, without
/// measuring again (a second measurement of unchanged code on a shared machine can move by
/// more than any threshold; how often the gate cries wolf is measured in
/// `benches/perf-baseline.sh`, not asserted here).
const SAME: &str = r#"
job("same", || {
    let saved = perf::load_baseline("main");
    let cmp = perf::compare(saved, saved, #{ warn: 10.0, fail: 20.0 });
    print(`verdict: ${cmp.verdict}`);
    perf::enforce(cmp);
});
"#;

#[test]
fn perf_test_saves_a_baseline_and_fails_a_planted_slowdown() {
    let _bench = lock();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/service");
    let p = Project::new();
    copy_tree(&example, p.path());
    std::fs::write(p.join("tasks/same.rhai"), SAME).unwrap();
    // Builds are shared between test runs (criterion is a cold compile); perf data is not.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("perf-example-target");
    let perf_dir = p.join("perf");
    let run = |args: &[&str]| {
        p.xtask(args)
            .env("CARGO_TARGET_DIR", &target)
            .env("XTASK_PERF_DIR", &perf_dir)
            .run()
    };

    run(&["perf-test", "--measurement-time", "2"])
        .code(Exit::Ok)
        .contains("no baseline \"main\" yet")
        .contains("parse_request/get");
    assert!(perf_dir.join("baselines/main.json").is_file());
    run(&["same"])
        .code(Exit::Ok)
        .contains("verdict: pass")
        .lacks("slower");
    // The planted slowdown is tenfold: it fails on the first measurement and on the
    // confirming one whatever else the machine is doing.
    run(&[
        "perf-test",
        "--measurement-time",
        "2",
        "--features",
        "slow-parser",
    ])
    .code(Exit::Failed)
    .contains("measuring again to confirm")
    .contains("performance check failed")
    .contains("parse_request/get: +")
    .contains("slower")
    .contains("over the 20% limit");

    let history = std::fs::read_to_string(perf_dir.join("history.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 2, "{history}");
    assert!(history.contains("\"machine\""), "{history}");
    let report = std::fs::read_to_string(perf_dir.join("report.md")).unwrap();
    assert!(report.contains("| `parse_request/get` |"), "{report}");
    let svg = std::fs::read_to_string(perf_dir.join("history.svg")).unwrap();
    assert!(svg.contains("parse_request/get"));
}

const ALLOC: &str = r#"
job("alloc", || {
    // The shell holds 150 MiB read from a pipeline (dash's buffer doubling makes it ~300).
    let t = perf::time(["sh", "-c", "x=$(head -c 157286400 /dev/zero | tr '\\0' a); true"],
                       #{ runs: 1, warmup: 0, name: "alloc-150MiB" });
    info(`peak ${t.rss_mb} MB`);
    let cmp = perf::compare((), #{ "alloc-150MiB": t }, #{ max_rss_mb: parse_int(args[0]) });
    perf::report(cmp);
    perf::enforce(cmp);
});
"#;

#[test]
fn a_memory_ceiling_breach_fails_naming_the_figure() {
    let p = Project::new().task("mem", ALLOC);
    p.run(&["mem", "--", "100"])
        .code(Exit::Failed)
        .contains("performance check failed")
        .contains("alloc-150MiB: peak RSS ")
        .contains("MB is over the ceiling of 100 MB");
    let ok = p.run(&["mem", "--", "1000"]);
    ok.code(Exit::Ok).contains("perf: pass");
    let peak: f64 = ok
        .all()
        .split("info: peak ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("peak figure");
    assert!((150.0..700.0).contains(&peak), "peak RSS {peak} MB");
}

const REFS: &str = r#"
job("refs", || {
    let cmp = perf::compare_refs(args[0], args[1],
        #{ command: ["sh", "work.sh"], runs: 3, warmup: 0, rounds: 2 });
    print(`worktrees: ${cmp.worktrees}`);
    perf::report(cmp);
    perf::enforce(cmp);
});
"#;

fn two_commit_repo(second: &str) -> Project {
    let p = Project::new()
        .task("refs", REFS)
        .file(".gitignore", "target/\n")
        .file("work.sh", "sleep 0.05\n");
    p.init_repo("fast");
    std::fs::write(p.join("work.sh"), second).unwrap();
    git(p.path(), &["commit", "-q", "-am", "slow"]);
    p
}

fn worktrees(p: &Project) -> usize {
    git(p.path(), &["worktree", "list"]).lines().count()
}

/// The worktree count while xtask may be adding one: `None` when git read a worktree that was
/// half written (its `commondir` not there yet), which a poll only retries.
fn worktrees_while_adding(p: &Project) -> Option<usize> {
    let out = std::process::Command::new("git")
        .args(["worktree", "list"])
        .current_dir(p.path())
        .output()
        .expect("run git");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).lines().count())
}

#[test]
fn compare_refs_reports_the_difference_and_leaves_no_worktree() {
    let _bench = lock();
    let p = two_commit_repo("sleep 0.3\n");
    let slower = p.run(&["refs", "--", "HEAD~1", "HEAD"]);
    slower
        .code(Exit::Failed)
        .contains("base HEAD~1")
        .contains("head HEAD")
        .contains("sh work.sh: +")
        .contains("slower")
        .contains("over the 20% limit");
    assert_eq!(worktrees(&p), 1, "{}", git(p.path(), &["worktree", "list"]));
    let listed = slower.all();
    let tree = listed
        .split("worktrees: [\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("worktree paths printed");
    assert!(!Path::new(tree).exists(), "{tree} left behind");

    // The other way round it is an improvement, and the working tree can be the head.
    p.run(&["refs", "--", "HEAD", "HEAD~1"])
        .code(Exit::Ok)
        .contains("faster");
    p.run(&["refs", "--", "HEAD~1", ""])
        .code(Exit::Failed)
        .contains("head (working tree)");
    assert_eq!(worktrees(&p), 1);
    p.run(&["refs", "--", "no-such-ref", "HEAD"])
        .code(Exit::Failed)
        .contains("`no-such-ref` is not a commit");
}

#[test]
fn compare_refs_removes_its_worktree_on_ctrl_c() {
    let p = two_commit_repo("sleep 30\n");
    let child = p.spawn(&["refs", "--", "HEAD", "HEAD~1"]);
    let start = Instant::now();
    while worktrees_while_adding(&p).unwrap_or(0) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the worktrees never appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(Exit::Interrupted.code()), "{out:?}");
    assert_eq!(worktrees(&p), 1, "{}", git(p.path(), &["worktree", "list"]));
}
