//! Nothing leaks, nothing outlives the run: interrupts of every kind (checked by pid), import
//! cycles and runaway allocations that unwind like any other error, closures that keep their
//! own values, secrets masked on every way out, planning without secrets, and bounded memory
//! for jobs that print a lot.

use crate::support;

use std::io::Read;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};
use support::{gone_within, wait_for_file, Project, Run};
use xtask_core::exit::Exit;

/// The pid a script wrote to `file` (waiting until it is there and complete).
fn read_pid(p: &Project, file: &str) -> i32 {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(p.join(file)).unwrap_or_default();
        if text.ends_with('\n') {
            return text
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{file}: no pid in {text:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, signal) };
}

#[track_caller]
fn assert_gone(p: &Project, files: &[&str]) {
    for file in files {
        let pid = read_pid(p, file);
        assert!(
            gone_within(pid, Duration::from_secs(10)),
            "{file}: process {pid} outlived the run"
        );
    }
}

#[track_caller]
fn assert_removed(p: &Project, record: &str) {
    let dir = std::fs::read_to_string(p.join(record)).unwrap();
    assert!(!Path::new(&dir).exists(), "temp dir {dir} left behind");
}

/// A job with a child and a grandchild, a `defer`, and a top-level temp dir.
const SLEEPER: &str = r#"
let dir = tempdir();
write("tempdir.path", dir);
job("sleeper", || {
    defer(|| write("cleanup.marker", "ran"));
    run(["sh", "-c", "echo $$ > child.pid; sleep 600 & echo $! > grandchild.pid; wait"]);
});
"#;

#[test]
fn sighup_and_sigquit_stop_the_run_and_leave_nothing() {
    for (name, sig) in [("SIGHUP", libc::SIGHUP), ("SIGQUIT", libc::SIGQUIT)] {
        let p = Project::new().task("ci", SLEEPER);
        let child = p.spawn(&["ci"]);
        read_pid(&p, "child.pid");
        read_pid(&p, "grandchild.pid");
        signal(&child, sig);
        let run = Run::from(child.wait_with_output().unwrap());
        run.code(Exit::Interrupted)
            .contains(&format!("interrupted ({name})"));
        assert_gone(&p, &["child.pid", "grandchild.pid"]);
        assert!(
            p.join("cleanup.marker").exists(),
            "{name}: defer did not run"
        );
        assert_removed(&p, "tempdir.path");
    }
}

#[test]
fn a_second_interrupt_ends_a_long_defer_at_once() {
    let p = Project::new().task(
        "ci",
        r#"
        let dir = tempdir();
        write("tempdir.path", dir);
        job("deploy", || {
            defer(|| run(["sh", "-c", "echo $$ > defer.pid; exec sleep 600"]));
            run(["sh", "-c", "echo $$ > job.pid; exec sleep 600"]);
        });
        "#,
    );
    let mut child = p.spawn(&["ci"]);
    read_pid(&p, "job.pid");
    signal(&child, libc::SIGINT);
    wait_for_file(&p.join("defer.pid"), Duration::from_secs(60));
    let defer = read_pid(&p, "defer.pid");
    // The first interrupt lets cleanup run: the defer's command is still there.
    assert!(
        support::pid_alive(defer),
        "cleanup was stopped by the first interrupt"
    );
    let second = Instant::now();
    signal(&child, libc::SIGINT);
    // The defer sleeps for ten minutes; the run must end long before.
    let limit = Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(second.elapsed() < limit, "the runner waited for the defer");
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("ended {:?} after the second interrupt", second.elapsed());
    let run = Run::from(child.wait_with_output().unwrap());
    run.code(Exit::Interrupted);
    assert_gone(&p, &["job.pid", "defer.pid"]);
    assert_removed(&p, "tempdir.path");
}

#[test]
fn interrupts_in_a_row_never_leave_a_process() {
    // INT, INT, TERM as fast as they come, at a random point of the cleanup.
    let p = Project::new().task(
        "ci",
        r#"
        job("a", || {
            defer(|| run(["sh", "-c", "echo $$ > defer.pid; exec sleep 600"]));
            run(["sh", "-c", "echo $$ > job.pid; exec sleep 600"]);
        });
        "#,
    );
    let child = p.spawn(&["ci"]);
    let job = read_pid(&p, "job.pid");
    for sig in [libc::SIGINT, libc::SIGINT, libc::SIGTERM] {
        signal(&child, sig);
    }
    let run = Run::from(child.wait_with_output().unwrap());
    run.code(Exit::Interrupted);
    assert!(
        gone_within(job, Duration::from_secs(10)),
        "the job's {job} survived"
    );
    // The defer may have been stopped before it started, or before its shell wrote its pid.
    let defer = std::fs::read_to_string(p.join("defer.pid")).unwrap_or_default();
    if let Ok(pid) = defer.trim().parse::<i32>() {
        assert!(
            gone_within(pid, Duration::from_secs(10)),
            "the defer's {pid} survived"
        );
    }
}

/// A sibling job that owns a child, a temp dir and a defer, for errors elsewhere to unwind.
const SIBLING: &str = r#"
job("sibling", || {
    let dir = tempdir();
    write("sibling-tempdir.path", dir);
    defer(|| write("sibling-cleanup.marker", "ran"));
    run(["sh", "-c", "echo $$ > sibling.pid; exec sleep 600"]);
});
"#;

#[test]
fn import_cycles_are_located_errors_that_unwind_the_run() {
    let p = Project::new()
        .lib("a", "import \"b\" as b;\nfn hello() { 1 }\n")
        .lib("b", "\nimport \"a\" as a;\n")
        .lib("me", "import \"me\" as me;\n")
        .task("top", "import \"a\" as a;\njob(\"x\", || 1);\n")
        .task("selfish", "import \"me\" as me;\n")
        .task(
            "in-job",
            &format!(
                "{SIBLING}\njob(\"cyclic\", || {{\n    run([\"sh\", \"-c\", \"while [ ! -s sibling.pid ]; do sleep 0.02; done\"]);\n    import \"a\" as a;\n}});\n"
            ),
        );
    p.run(&["top"])
        .code(Exit::Usage)
        .contains("import cycle: tasks/top.rhai:1:8 imports lib/a.rhai, then lib/a.rhai:1:8 imports lib/b.rhai, then lib/b.rhai:2:8 imports lib/a.rhai")
        .contains("--> lib/b.rhai:2:8");
    p.run(&["selfish"])
        .code(Exit::Usage)
        .contains("import cycle: tasks/selfish.rhai:1:8 imports lib/me.rhai, then lib/me.rhai:1:8 imports lib/me.rhai");
    let run = p.run(&["in-job", "-j", "2"]);
    run.code(Exit::Failed)
        .contains("import cycle: tasks/in-job.rhai:")
        .contains("cancelled");
    assert_gone(&p, &["sibling.pid"]);
    assert!(
        p.join("sibling-cleanup.marker").exists(),
        "the sibling's defer did not run"
    );
    assert_removed(&p, "sibling-tempdir.path");
}

#[test]
fn runaway_allocations_are_located_errors_that_unwind_the_run() {
    let p = Project::new()
        .task("top", "let s = \"x\";\nloop { s += s; }\n")
        .task(
            "in-job",
            &format!(
                "{SIBLING}\njob(\"greedy\", || {{\n    run([\"sh\", \"-c\", \"while [ ! -s sibling.pid ]; do sleep 0.02; done\"]);\n    let a = [1];\n    loop {{ a += a; }}\n}});\n"
            ),
        );
    p.run(&["top"])
        .code(Exit::Usage)
        .contains("Length of string is over the script size limit")
        .contains("XTASK_MAX_STRING_SIZE")
        .contains("--> tasks/top.rhai:2:");
    let run = p.run(&["in-job", "-j", "2"]);
    run.code(Exit::Failed)
        .contains("Size of array/BLOB is over the script size limit")
        .contains("tasks/in-job.rhai:")
        .contains("cancelled");
    assert_gone(&p, &["sibling.pid"]);
    assert!(
        p.join("sibling-cleanup.marker").exists(),
        "the sibling's defer did not run"
    );
    assert_removed(&p, "sibling-tempdir.path");
    // The limit is configurable, like the operations limit.
    p.xtask(&["top"])
        .env("XTASK_MAX_STRING_SIZE", "1000")
        .run()
        .code(Exit::Usage)
        .contains("Length of string is over");
}

#[test]
fn jobs_declared_in_a_loop_keep_their_own_values() {
    let p = Project::new().task(
        "ci",
        r#"
        for v in [1, 2, 3] {
            job(`j${v}`, || write(`j${v}.out`, `${v}`));
        }
        let label = "first";
        job("captured", #{ when: || label == "first" }, || write("captured.out", label));
        label = "changed later";
        "#,
    );
    p.run(&["ci"]).code(Exit::Ok).contains("4 passed");
    for v in 1..=3 {
        assert_eq!(
            std::fs::read_to_string(p.join(&format!("j{v}.out"))).unwrap(),
            v.to_string()
        );
    }
    assert_eq!(
        std::fs::read_to_string(p.join("captured.out")).unwrap(),
        "first"
    );
}

// --- secrets ---------------------------------------------------------------------------------

/// A secret with a quote, a backslash and an apostrophe: JSON- and shell-escaped forms differ.
const SECRET: &str = r#"s3"c'r\et-42"#;

/// Every form the secret could leak in: as is, JSON-escaped, XML-escaped, shell-quoted.
fn leaked_forms() -> Vec<String> {
    let json = serde_json::to_string(SECRET).unwrap();
    vec![
        SECRET.to_string(),
        json[1..json.len() - 1].to_string(),
        SECRET.replace('"', "&quot;").replace('\'', "&apos;"),
        SECRET.replace('\'', r"'\''"),
        "s3cr3t-short-line".into(),
    ]
}

#[track_caller]
fn assert_masked(what: &str, text: &str) {
    for form in leaked_forms() {
        assert!(!text.contains(&form), "{what} leaks {form:?}:\n{text}");
    }
    assert!(text.contains("***"), "{what} has no mask:\n{text}");
}

const LEAKY: &str = r#"
let token = secret("DEPLOY_TOKEN");
let short = secret("SHORT_TOKEN");
job(`deploy-${token}`, || fail("the deploy failed"));
job("matrix", #{ matrix: #{ target: [token] } }, |m| print(`target ${m.target}`));
job("compare", || assert_eq(token, "something else"));
job("long-line", || run(["sh", "-c", "head -c 65530 /dev/zero | tr '\\0' a; printf '%s\\n' \"$DEPLOY_TOKEN\""]));
"#;

#[test]
fn secrets_are_masked_in_names_arguments_escapes_and_long_lines_everywhere() {
    let p = Project::new().task("ci", LEAKY);
    let json = p.join("report.json");
    let junit = p.join("report.xml");
    let summary = p.join("step-summary.md");
    let reports = [
        "--report".to_string(),
        format!("json={}", json.display()),
        "--report".to_string(),
        format!("junit={}", junit.display()),
    ];
    let mut args: Vec<&str> = vec!["ci", "--keep-going"];
    args.extend(reports.iter().map(String::as_str));
    // The task argument equals the secret: it would be echoed in every `reproduce:` line.
    args.push(SECRET);

    // Terminal.
    let local = p
        .xtask(&args)
        .env("DEPLOY_TOKEN", SECRET)
        .env("SHORT_TOKEN", "ab")
        .run();
    local
        .code(Exit::Failed)
        .contains("deploy-*** failed")
        .contains("matrix (target=***)")
        // Which of the two failures the recap names depends on which ended first.
        .contains("reproduce: cargo xtask ci '***' --job \"")
        .contains("secret `SHORT_TOKEN` is shorter than 3 characters");
    assert_masked("terminal", &local.all());
    assert!(
        local.stdout.contains(&format!("{}***\n", "a".repeat(100))),
        "the long line lost its mask"
    );
    for (name, text) in [
        ("json", std::fs::read_to_string(&json).unwrap()),
        ("junit", std::fs::read_to_string(&junit).unwrap()),
    ] {
        assert_masked(name, &text);
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        report["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["rerun"] == "cargo xtask ci '***' --job \"deploy-***\""),
        "{report}"
    );

    // Plans show names masked too.
    for plan in [
        &["--list", "ci"][..],
        &["ci", "--dry-run"],
        &["ci", "--matrix-json"],
    ] {
        let out = p.xtask(plan).env("DEPLOY_TOKEN", SECRET).run();
        out.code(Exit::Ok).contains("deploy-***");
        assert_masked(&format!("{plan:?}"), &out.all());
    }

    // Actions.
    let run = p
        .xtask(&args)
        .actions()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("DEPLOY_TOKEN", SECRET)
        .env("SHORT_TOKEN", "ab")
        .run();
    run.code(Exit::Failed);
    // The short one is too short to mask here, but Actions is still told about it.
    assert!(run.stdout.contains("::add-mask::ab\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("::add-mask::{SECRET}\n")),
        "{}",
        run.stdout
    );
    let without_masks: String = run
        .all()
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_masked("actions", &without_masks);
    assert!(
        without_masks.contains("::group::deploy-***"),
        "{without_masks}"
    );
    assert!(
        without_masks.contains("title=deploy-***::the deploy failed"),
        "{without_masks}"
    );
    assert_masked("step summary", &std::fs::read_to_string(&summary).unwrap());
    for (name, text) in [
        ("json (actions)", std::fs::read_to_string(&json).unwrap()),
        ("junit (actions)", std::fs::read_to_string(&junit).unwrap()),
    ] {
        assert_masked(name, &text);
    }
}

#[test]
fn a_task_with_an_unset_secret_plans_and_runs_the_jobs_that_do_not_use_it() {
    let p = Project::new().task(
        "ci",
        r#"
        let token = secret("NOT_SET_ANYWHERE");
        job("publish", || run(["sh", "-c", `touch published; echo ${token}`]));
        job("test", || run(["touch", "test.ran"]));
        "#,
    );
    p.run(&["--list", "ci"]).code(Exit::Ok).contains("publish");
    p.run(&["ci", "--dry-run"])
        .code(Exit::Ok)
        .contains("publish");
    let matrix = p.run(&["ci", "--matrix-json"]);
    matrix.code(Exit::Ok);
    assert_eq!(
        matrix.stdout.trim(),
        r#"{"include":[{"job":"publish"},{"job":"test"}]}"#
    );
    p.run(&["ci", "--keep-going"])
        .code(Exit::Failed)
        .contains("secret `NOT_SET_ANYWHERE` is not set")
        .contains("tasks/ci.rhai:3:");
    assert!(
        !p.join("published").exists(),
        "a command ran with the unset secret"
    );
    assert!(
        p.join("test.ran").exists(),
        "the job that needs no secret did not run"
    );
}

// --- memory ----------------------------------------------------------------------------------

/// Peak resident memory of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

#[test]
fn a_buffered_job_printing_a_gigabyte_keeps_the_runner_small() {
    const TOTAL: u64 = 1_000_000_000;
    let line = "0123456789 a buffered job prints far more than anyone keeps in memory 0123456789";
    let p = Project::new().task(
        "ci",
        &format!(
            r#"
            // The live job holds the stream until the test has measured the runner.
            job("live", || run(["sh", "-c", "while [ ! -f release ]; do sleep 0.05; done"]));
            job("big", || {{
                run(["sh", "-c", "yes '{line}' | head -c {TOTAL}"]);
                write("big.done", "");
            }});
            "#
        ),
    );
    let mut child = p
        .command(&["ci", "-j", "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut bytes, mut lines) = (0u64, 0u64);
        let mut buf = vec![0u8; 1 << 16];
        let mut tail = Vec::new();
        loop {
            let n = stdout.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            bytes += n as u64;
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            tail.extend_from_slice(&buf[..n]);
            let keep = tail.len().saturating_sub(4096);
            tail.drain(..keep);
        }
        (bytes, lines, String::from_utf8_lossy(&tail).into_owned())
    });
    wait_for_file(&p.join("big.done"), Duration::from_secs(900));
    let peak = peak_rss_kib(child.id());
    std::fs::write(p.join("release"), "").unwrap();
    let status = child.wait().unwrap();
    let (bytes, lines, tail) = reader.join().unwrap();
    assert!(status.success(), "{tail}");
    eprintln!(
        "runner peak RSS {} MiB after buffering {TOTAL} bytes",
        peak / 1024
    );
    assert!(peak < 64 * 1024, "the runner peaked at {} MiB", peak / 1024);
    assert!(bytes > TOTAL, "only {bytes} bytes came out");
    let full_lines = TOTAL / (line.len() as u64 + 1);
    assert!(
        lines > full_lines,
        "{lines} lines, expected over {full_lines}"
    );
    assert!(tail.contains("ci: 2 passed"), "{tail}");
}

// --- summaries -------------------------------------------------------------------------------

#[test]
fn tallies_name_cancelled_jobs_and_interrupts_name_only_started_ones() {
    let p = Project::new().task(
        "ci",
        r#"
        job("slow", || run(["sh", "-c", "echo $$ > slow.pid; exec sleep 600"]));
        job("bad", || run(["sh", "-c", "while [ ! -s slow.pid ]; do sleep 0.02; done; exit 7"]));
        "#,
    );
    p.run(&["ci", "-j", "2"])
        .code(Exit::Failed)
        .contains("ci: 0 passed, 1 failed, 1 cancelled")
        .lacks("not run");

    let p = Project::new().task(
        "ci",
        r#"
        job("first", || run(["sh", "-c", "echo $$ > first.pid; exec sleep 600"]));
        job("second", || 1);
        "#,
    );
    let child = p.spawn(&["ci", "-j", "1"]);
    read_pid(&p, "first.pid");
    signal(&child, libc::SIGINT);
    Run::from(child.wait_with_output().unwrap())
        .code(Exit::Interrupted)
        .contains("interrupted; stopped: first\n");
}

#[test]
fn in_actions_not_run_lines_stay_outside_other_jobs_groups() {
    let p = Project::new().task(
        "ci",
        r#"
        job("live", || run(["sh", "-c", "while [ ! -f bad.done ]; do sleep 0.02; done"]));
        job("bad", || fail("planted"));
        job("after-bad", #{ needs: ["bad"] }, || 1);
        "#,
    );
    // `bad` fails while `live` streams in its open group; `after-bad` is blocked then. `live`
    // is released only once `bad`'s block is out, so the blocked line is due while it streams.
    let mut child = p
        .xtask(&["ci", "-j", "2", "--keep-going"])
        .actions()
        .command()
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    loop {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0,
            "{text}"
        );
        text.push_str(&line);
        if line.starts_with("✗ bad failed") {
            break;
        }
    }
    std::fs::write(p.join("bad.done"), "").unwrap();
    stdout.read_to_string(&mut text).unwrap();
    let run = Run::from(child.wait_with_output().unwrap());
    let run = Run {
        stdout: text,
        ..run
    };
    run.code(Exit::Failed);
    let mut group: Option<String> = None;
    for line in run.stdout.lines() {
        if let Some(name) = line.strip_prefix("::group::") {
            group = Some(name.to_string());
        } else if line == "::endgroup::" {
            group = None;
        } else if line.contains("after-bad not run") {
            assert_eq!(group, None, "printed inside a group\n{}", run.stdout);
        }
    }
    run.contains("after-bad not run");
}

/// The harness's own promise: a background run its test drops without waiting (a failed
/// assertion on the way) is stopped, and stopped the way a user would — its job's command
/// goes with it.
#[test]
fn a_background_run_its_test_drops_is_stopped_with_its_commands() {
    let p = Project::new().task(
        "ci",
        r#"
        job("slow", || {
            run(["sh", "-c", "echo $$ > job.pid; exec sleep 600"]);
        });
        "#,
    );
    let child = p.spawn(&["ci"]);
    let runner = child.id() as i32;
    let job = read_pid(&p, "job.pid");
    drop(child);
    assert!(
        gone_within(runner, Duration::from_secs(10)),
        "xtask {runner} outlived its dropped handle"
    );
    assert!(
        gone_within(job, Duration::from_secs(10)),
        "the job's command {job} outlived the run"
    );
}
