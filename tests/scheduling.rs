//! Resource-aware scheduling, end to end: exclusive jobs, cargo's build directory as a lock
//! that a waiting job holds no slot for, the critical path first. Everything is proved with
//! marker files and the order of lines in a shared log, never with timing.

use crate::support;

use support::Project;
use xtask_core::exit::Exit;

/// Appends `start <name>`, runs `body`, appends `end <name>`: the log's line order is the
/// order things happened in.
fn logged(name: &str, body: &str) -> String {
    format!(
        r#"job("{name}", #{{ OPTS }}, || sh("echo start {name} >> events.log; {body}; echo end {name} >> events.log"));"#
    )
}

/// The lines of the shared log between `start <name>` and `end <name>`, and the jobs that had
/// started but not ended when it started.
fn overlaps(log: &str, name: &str) -> (Vec<String>, Vec<String>) {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == format!("start {name}"))
        .unwrap_or_else(|| panic!("{name} never started:\n{log}"));
    let end = lines
        .iter()
        .position(|l| *l == format!("end {name}"))
        .unwrap_or_else(|| panic!("{name} never ended:\n{log}"));
    let inside = lines[start + 1..end]
        .iter()
        .map(|l| l.to_string())
        .collect();
    let mut open = Vec::new();
    for line in &lines[..start] {
        if let Some(job) = line.strip_prefix("start ") {
            open.push(job.to_string());
        } else if let Some(job) = line.strip_prefix("end ") {
            open.retain(|j| j != job);
        }
    }
    (inside, open)
}

#[test]
fn an_exclusive_job_never_overlaps_another() {
    // `a` and `b` meet (each waits for the other's mark), so the run really is parallel; the
    // exclusive job is declared between them and would start beside them without the option.
    let script = [
        logged(
            "a",
            "touch a.mark; while [ ! -f b.mark ]; do sleep 0.02; done",
        )
        .replace("OPTS", ""),
        logged("bench", "sleep 0.3").replace("OPTS", "exclusive: true"),
        logged(
            "b",
            "touch b.mark; while [ ! -f a.mark ]; do sleep 0.02; done",
        )
        .replace("OPTS", ""),
        logged("c", "sleep 0.1").replace("OPTS", ""),
        logged("d", "sleep 0.1").replace("OPTS", "needs: [\"bench\"]"),
    ]
    .join("\n");
    let p = Project::new().task("ci", &script);
    p.run(&["ci", "-j", "4"])
        .code(Exit::Ok)
        .contains("ci: 5 passed");
    let log = std::fs::read_to_string(p.join("events.log")).unwrap();
    let (inside, open) = overlaps(&log, "bench");
    assert!(
        inside.is_empty(),
        "ran during the exclusive job: {inside:?}\n{log}"
    );
    assert!(
        open.is_empty(),
        "still running when it started: {open:?}\n{log}"
    );
}

#[test]
fn a_measurement_has_the_machine_to_itself() {
    // perf::time claims the machine while it measures: the other job, started first, is
    // waited for, and nothing starts during the measurement.
    let p = Project::new().task(
        "ci",
        r#"
        job("other", || sh("echo start other >> events.log; sleep 0.3; echo end other >> events.log"));
        job("measure", || {
            perf::time(["sh", "-c", "echo start measure >> events.log; sleep 0.1; echo end measure >> events.log"],
                       #{ runs: 1, warmup: 0 });
        });
        job("later", || sh("echo start later >> events.log; echo end later >> events.log"));
        "#,
    );
    p.run(&["ci", "-j", "4"])
        .code(Exit::Ok)
        .contains("ci: 3 passed");
    let log = std::fs::read_to_string(p.join("events.log")).unwrap();
    let (inside, open) = overlaps(&log, "measure");
    assert!(
        inside.is_empty(),
        "ran during the measurement: {inside:?}\n{log}"
    );
    assert!(
        open.is_empty(),
        "still running when it measured: {open:?}\n{log}"
    );
}

/// A crate whose build script blocks until `go.mark` exists (and says it is building).
fn blocking_crate(p: Project) -> Project {
    p.file(
        "Cargo.toml",
        "[package]\nname = \"blocker\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .file("src/lib.rs", "pub fn f() {}\n")
    .file(
        "build.rs",
        r#"
fn main() {
    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    std::fs::write(dir.join("building.mark"), "").unwrap();
    for _ in 0..1200 {
        if dir.join("go.mark").exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("go.mark never appeared");
}
"#,
    )
}

#[test]
fn a_job_waiting_for_the_cargo_build_directory_holds_no_slot() {
    // -j 2: `build` and `check` start; `check` waits for the build directory `build` holds.
    // `release` (not cargo) is what `build` waits for: it can only run in the slot `check`
    // gave back. Without that, `build` waits for `release` until its timeout.
    let p = blocking_crate(Project::new()).task(
        "ci",
        r#"
        job("build", #{ timeout: "60s" }, || cargo::build());
        job("check", #{ timeout: "90s" }, || cargo::run(["check"]));
        job("release", #{ timeout: "60s" }, || sh("while [ ! -f building.mark ]; do sleep 0.02; done; touch go.mark"));
        "#,
    );
    let run = p
        .xtask(&["ci", "-j", "2"])
        .env("CARGO_TARGET_DIR", p.join("target"))
        .run();
    run.code(Exit::Ok).contains("ci: 3 passed");
}

#[test]
fn the_longest_chain_starts_first() {
    // One slot: `quick` is declared first, but `long` heads a chain of three.
    let p = Project::new().task(
        "ci",
        r#"
        job("quick", || sh("echo quick >> order.log"));
        job("long", || sh("echo long >> order.log"));
        job("long-2", #{ needs: ["long"] }, || sh("echo long-2 >> order.log"));
        job("long-3", #{ needs: ["long-2"] }, || sh("echo long-3 >> order.log"));
        "#,
    );
    p.run(&["ci", "-j", "1"])
        .code(Exit::Ok)
        .contains("ci: 4 passed");
    let order = std::fs::read_to_string(p.join("order.log")).unwrap();
    assert_eq!(order.lines().next(), Some("long"), "{order}");
    // The durations were remembered for the next run's order.
    let remembered = std::fs::read_to_string(p.join("target/xtask-cache/durations.json")).unwrap();
    assert!(remembered.contains("\"long-3\""), "{remembered}");
}

#[test]
fn an_idle_build_directory_is_used_even_when_every_slot_is_taken() {
    // `wait` heads the longer chain, so at -j 1 it takes the only slot, and it ends only once
    // `build` has run. `build` claimed cargo's build directory in the first run (at -j 2); in
    // the second, that remembered claim lets it start beside `wait`, the directory being idle.
    // Without it the second run waits out `wait`'s timeout.
    let p = Project::new()
        .file(
            "Cargo.toml",
            "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .file("src/lib.rs", "pub fn f() {}\n")
        .task(
            "ci",
            r#"
            job("wait", #{ timeout: "60s" }, || sh("echo start wait >> events.log; while [ ! -f built.mark ]; do sleep 0.02; done; rm built.mark"));
            job("after-1", #{ needs: ["wait"] }, || sh("sleep 0.3"));
            job("after-2", #{ needs: ["after-1"] }, || sh("sleep 0.3"));
            job("build", #{ timeout: "60s" }, || { cargo::build(); sh("echo built >> events.log; touch built.mark"); });
            "#,
        );
    let run = |args: &[&str]| {
        p.xtask(args)
            .env("CARGO_TARGET_DIR", p.join("target"))
            .run()
    };
    run(&["ci", "-j", "2"])
        .code(Exit::Ok)
        .contains("ci: 4 passed");
    std::fs::remove_file(p.join("events.log")).unwrap();
    run(&["ci", "-j", "1", "--force"])
        .code(Exit::Ok)
        .contains("ci: 4 passed");
    let log = std::fs::read_to_string(p.join("events.log")).unwrap();
    // The slot really was taken: `wait` was running when `build` finished.
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["start wait", "built"],
        "{log}"
    );
}

#[test]
fn a_job_held_back_for_a_higher_ranked_one_is_not_held_past_its_own_time() {
    // By the remembered history `a` (ranked higher) and `l` both use the lock, and `a` is due
    // as soon as `b` ends (0.1 s, remembered). So `l` waits for `a` at first, but `b` runs
    // over, as it only ends once `l` has run: `l` must start after its own remembered time
    // (0.5 s) at the latest, or the run waits out `b`'s timeout.
    let p = Project::new().task(
        "ci",
        r#"
        job("a", #{ needs: ["b"] }, || ());
        job("b", #{ timeout: "60s" }, || sh("while [ ! -f l.mark ]; do sleep 0.02; done"));
        job("l", #{ timeout: "60s" }, || sh("touch l.mark"));
        "#,
    );
    let history = r#"{ "ci": {
        "a": { "seconds": 5.0, "locks": ["cargo build directory x"] },
        "b": { "seconds": 0.1 },
        "l": { "seconds": 0.5, "locks": ["cargo build directory x"] } } }"#;
    std::fs::create_dir_all(p.join("target/xtask-cache")).unwrap();
    std::fs::write(p.join("target/xtask-cache/durations.json"), history).unwrap();
    p.xtask(&["ci"])
        .env("CARGO_TARGET_DIR", p.join("target"))
        .run()
        .code(Exit::Ok)
        .contains("ci: 3 passed");
}

#[test]
fn the_build_directory_goes_first_to_the_job_with_the_most_work_after_it() {
    // By the remembered history `leaf` ranks higher (600 s of its own, nothing after it) and
    // holds the build directory to its end, while `feeder` lets it go at once and heads `next`
    // (300 s). Served by rank, `leaf` (first in the start order) would take the directory and
    // `next` would wait out all of `leaf`. The stand-in `cargo` logs which job holds the
    // directory, so the log's order is the order it was granted in.
    let p = Project::new()
        .file("bin/cargo", "#!/bin/sh\necho \"$1\" >> lock.log\n")
        .task(
            "ci",
            r#"
            job("leaf", || run(["cargo", "leaf"]));
            job("feeder", || { run(["cargo", "feeder"]); sh("true"); });
            job("next", #{ needs: ["feeder"] }, || ());
            "#,
        );
    support::make_executable(&p.join("bin/cargo"));
    let lock = format!("cargo build directory {}", p.join("target").display());
    let history = format!(
        r#"{{ "ci": {{
        "leaf": {{ "seconds": 600.0, "locks": ["{lock}"], "after_lock": 0.0 }},
        "feeder": {{ "seconds": 1.0, "locks": ["{lock}"], "after_lock": 0.9 }},
        "next": {{ "seconds": 300.0 }} }} }}"#
    );
    std::fs::create_dir_all(p.join("target/xtask-cache")).unwrap();
    std::fs::write(p.join("target/xtask-cache/durations.json"), history).unwrap();
    p.xtask(&["ci", "--report", "json=run.json"])
        .env("CARGO_TARGET_DIR", p.join("target"))
        .env("PATH", support::path_with_first(&p.join("bin")))
        .run()
        .code(Exit::Ok)
        .contains("ci: 3 passed");
    let log = std::fs::read_to_string(p.join("lock.log")).unwrap();
    assert_eq!(log.lines().collect::<Vec<_>>(), ["feeder", "leaf"], "{log}");
    // This run is remembered the same way: the time after the lock, per job that took one.
    let remembered: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("target/xtask-cache/durations.json")).unwrap(),
    )
    .unwrap();
    for job in ["leaf", "feeder"] {
        assert!(
            remembered["ci"][job]["after_lock"].is_f64(),
            "{job}: {remembered}"
        );
    }
    assert!(remembered["ci"]["next"].get("after_lock").is_none());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("run.json")).unwrap()).unwrap();
    assert!(
        report["jobs"][0]["waited_secs"].is_f64(),
        "{}",
        report["jobs"][0]
    );
    // The timeline: `next` cannot start before `feeder`, its need, has.
    let started = |job: usize| report["jobs"][job]["started_secs"].as_f64().unwrap();
    assert!(started(2) >= started(1), "{}", report["jobs"]);
}
