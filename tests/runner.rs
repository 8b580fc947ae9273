//! The runner core, end to end: the real binary against throwaway script trees.

use crate::support;

use std::time::Duration;
use support::{gone_within, wait_for_file, Project};
use xtask_core::exit::Exit;

/// Each job marks itself, then waits for the other's mark: both pass only if they run at once.
const RENDEZVOUS: &str = r#"
job("a", || run(["sh", "-c", "touch a.mark; for i in $(seq 60); do [ -f b.mark ] && exit 0; sleep 0.05; done; exit 1"]));
job("b", || run(["sh", "-c", "touch b.mark; for i in $(seq 60); do [ -f a.mark ] && exit 0; sleep 0.05; done; exit 1"]));
"#;

#[test]
fn jobs_run_in_parallel_up_to_the_limit() {
    let p = Project::new().task("ci", RENDEZVOUS);
    p.run(&["ci", "-j", "2"])
        .code(Exit::Ok)
        .contains("ci: 2 passed, 0 failed");
    std::fs::remove_file(p.join("a.mark")).unwrap();
    std::fs::remove_file(p.join("b.mark")).unwrap();
    p.run(&["ci", "-j", "1"])
        .code(Exit::Failed)
        .contains("failed");
}

#[test]
fn needs_run_first() {
    let p = Project::new().task(
        "ci",
        r#"
        job("second", #{ needs: ["first"] }, || run(["test", "-f", "first.done"]));
        job("first", || run(["touch", "first.done"]));
        "#,
    );
    p.run(&["ci", "-j", "4"])
        .code(Exit::Ok)
        .contains("ci: 2 passed");
    let dry = p.run(&["ci", "--dry-run"]);
    dry.code(Exit::Ok);
    let first = dry.stdout.find("1. first").expect("first is first");
    let second = dry.stdout.find("2. second").expect("second is second");
    assert!(first < second);
    assert!(dry.stdout.contains("(after first)"), "{}", dry.stdout);
    assert!(!p.join("never").exists());
}

#[test]
fn a_failure_cancels_running_siblings() {
    let p = Project::new().task(
        "ci",
        r#"
        job("slow", || run(["sh", "-c", "echo $$ > slow.pid; sleep 3; touch slow.marker"]));
        job("bad", || run(["sh", "-c", "while [ ! -s slow.pid ]; do sleep 0.02; done; exit 7"]));
        "#,
    );
    let run = p.run(&["ci", "-j", "2"]);
    run.code(Exit::Failed)
        .contains("command failed with exit status 7")
        .contains("cancelled");
    let pid: i32 = std::fs::read_to_string(p.join("slow.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        gone_within(pid, Duration::from_secs(10)),
        "the cancelled job's process is still running"
    );
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        !p.join("slow.marker").exists(),
        "the cancelled sibling finished anyway"
    );
}

#[test]
fn keep_going_runs_independent_jobs_after_a_failure() {
    let p = Project::new().task(
        "ci",
        r#"
        job("bad", || fail("planted failure"));
        job("after-bad", #{ needs: ["bad"] }, || run(["touch", "after-bad.marker"]));
        job("other", || run(["sh", "-c", "sleep 0.3; touch other.marker"]));
        "#,
    );
    p.run(&["ci", "-j", "1", "--keep-going"])
        .code(Exit::Failed)
        .contains("planted failure")
        .contains("not run");
    assert!(p.join("other.marker").exists());
    assert!(!p.join("after-bad.marker").exists());
}

#[test]
fn exit_codes() {
    let p = Project::new()
        .task("ok", r#"job("a", || 1);"#)
        .task("bad", r#"job("a", || fail("no"));"#)
        .task("broken", "job(\"a\", || {\n  let = 1;\n});\n");
    p.run(&["ok"]).code(Exit::Ok);
    p.run(&["bad"]).code(Exit::Failed);
    p.run(&["broken"]).code(Exit::Usage);
    p.run(&["nope"]).code(Exit::Usage);
    p.run(&["ok", "--job", "zzz"])
        .code(Exit::Usage)
        .contains("no job named `zzz`");
}

#[test]
fn script_errors_name_file_line_and_column() {
    let p = Project::new()
        .task("syntax", "job(\"a\", || {\n    let x = ;\n});\n")
        .task(
            "runtime",
            "job(\"a\", || {\n    let x = 1;\n    rnu([\"echo\"]);\n});\n",
        )
        .lib(
            "helpers",
            "fn broken() {\n    let list = [1];\n    list[5]\n}\n",
        )
        .task(
            "in-lib",
            "import \"helpers\" as h;\njob(\"a\", || h::broken());\n",
        )
        .lib("bad_syntax", "fn oops( {\n}\n")
        .task("lib-syntax", "import \"bad_syntax\" as b;\n");
    p.run(&["syntax"])
        .code(Exit::Usage)
        .contains("tasks/syntax.rhai:2:13")
        .contains("let x = ;");
    p.run(&["runtime"])
        .code(Exit::Failed)
        .contains("tasks/runtime.rhai:3:5")
        .contains("did you mean `run`?");
    p.run(&["in-lib"])
        .code(Exit::Failed)
        .contains("lib/helpers.rhai:3:10")
        .contains("out of bounds");
    p.run(&["lib-syntax"])
        .code(Exit::Usage)
        .contains("lib/bad_syntax.rhai:1:10");
}

#[test]
fn calls_no_function_matches_say_what_was_expected_and_what_was_passed() {
    let p = Project::new()
        .task("wrong-type", "job(42, || {});\n")
        .task("operator", "let x = \"a\" - 1;\n")
        .task("arity", "fn pair(first, second) { first }\npair(1, 2, 3);\n")
        .task("unknown", "job(\"a\", || rnu([\"echo\"]));\n")
        // The variable is not captured by the closure: a function has its name, and Rhai
        // passes the function instead.
        .task(
            "shadowed",
            "fn limits(x) { x }\nlet limits = #{ warn: 10.0 };\njob(\"gate\", || {\n    perf::compare((), #{}, limits);\n});\n",
        );
    p.run(&["wrong-type"])
        .code(Exit::Usage)
        .contains(
            "error: wrong arguments for `job`: expected `job(name: string, [options: map,] body: Fn)`, got `(int, Fn)`",
        )
        .contains("tasks/wrong-type.rhai:1:1")
        .lacks("did you mean");
    p.run(&["operator"])
        .code(Exit::Usage)
        .contains("error: no `-` for (string, int)")
        .contains("tasks/operator.rhai:1:13")
        .lacks("did you mean");
    p.run(&["arity"]).code(Exit::Usage).contains(
        "wrong arguments for `pair`: expected `pair(first, second)`, got `(int, int, int)`",
    );
    p.run(&["unknown"])
        .code(Exit::Failed)
        .contains("unknown function `rnu(array)`; did you mean `run`?");
    p.run(&["shadowed"])
        .code(Exit::Failed)
        .contains("wrong arguments for `perf::compare`")
        .contains("got `((), map, Fn)`")
        .contains("argument 3 `limits` is the script function `limits`, not a variable")
        .contains("rename the variable or the function")
        .lacks("did you mean");
}

#[test]
fn reserved_words_as_map_keys_say_how_to_write_them() {
    let p = Project::new()
        .task("package", "job(\"a\", #{ package: \"api\" }, || {});\n")
        .task("keyword", "let options = #{ if: true };\n")
        .task("property", "let m = #{};\nm.package = 1;\n")
        .task("name", "let package = 1;\n")
        .task(
            "quoted",
            "let m = #{ \"package\": \"api\" };\nprint(m[\"package\"]);\n",
        );
    p.run(&["package"])
        .code(Exit::Usage)
        .contains("`package` is a reserved word in Rhai and cannot be a map key as it is: write it quoted, \"package\": …")
        .contains("tasks/package.rhai:1:13");
    p.run(&["keyword"])
        .code(Exit::Usage)
        .contains("`if` is a reserved word in Rhai and cannot be a map key as it is: write it quoted, \"if\": …");
    p.run(&["property"])
        .code(Exit::Usage)
        .contains("`package` is a reserved word in Rhai and cannot follow `.`: write the field as [\"package\"]");
    p.run(&["name"])
        .code(Exit::Usage)
        .contains("`package` is a reserved word in Rhai and cannot be a name");
    p.run(&["quoted"]).code(Exit::Ok).contains("api");
}

#[test]
fn unknown_needs_and_cycles_are_found_before_anything_runs() {
    let p = Project::new()
        .task("unknown", r#"job("a", #{ needs: ["tset"] }, || run(["touch", "ran"])); job("test", || 1);"#)
        .task("cycle", r#"job("a", #{ needs: ["b"] }, || 1); job("b", #{ needs: ["a"] }, || 1); job("c", || run(["touch", "ran"]));"#);
    p.run(&["unknown"])
        .code(Exit::Usage)
        .contains("needs `tset`")
        .contains("did you mean `test`?");
    p.run(&["cycle"])
        .code(Exit::Usage)
        .contains("cycle: a -> b -> a");
    assert!(!p.join("ran").exists());
}

#[test]
fn sigint_stops_children_runs_cleanup_and_removes_temp_dirs() {
    let p = Project::new().task(
        "ci",
        r#"
        let dir = tempdir();
        write("tempdir.path", dir);
        job("sleeper", || {
            defer(|| write("cleanup.marker", "ran"));
            run(["sh", "-c", "echo $$ > sleeper.pid; sleep 60 & echo $! > grandchild.pid; wait"]);
        });
        "#,
    );
    let child = p.spawn(&["ci"]);
    wait_for_file(&p.join("grandchild.pid"), Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(100));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = support::Run::from(child.wait_with_output().unwrap());
    run.code(Exit::Interrupted).contains("interrupted");
    for file in ["sleeper.pid", "grandchild.pid"] {
        let pid: i32 = std::fs::read_to_string(p.join(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            gone_within(pid, Duration::from_secs(10)),
            "{file}: process {pid} survived the interrupt"
        );
    }
    assert!(p.join("cleanup.marker").exists(), "defer did not run");
    let temp = std::fs::read_to_string(p.join("tempdir.path")).unwrap();
    assert!(
        !std::path::Path::new(&temp).exists(),
        "temp dir {temp} left behind"
    );
}

#[test]
fn list_shows_tasks_and_jobs() {
    let p = Project::new()
        .task("ci", "//! Everything make ci did.\njob(\"fmt\", || 1);\njob(\"test\", #{ needs: [\"fmt\"] }, || 1);\nrun([\"touch\", \"top-level-ran\"]);\n")
        .task("release", "//! Cut a release.\n");
    p.run(&["--list"])
        .code(Exit::Ok)
        .contains("ci       Everything make ci did.")
        .contains("release  Cut a release.");
    p.run(&["--list", "ci"])
        .code(Exit::Ok)
        .contains("test  needs: fmt");
    assert!(!p.join("top-level-ran").exists(), "--list ran a command");
    let json: serde_json::Value =
        serde_json::from_str(&p.run(&["--list", "--json"]).stdout).unwrap();
    assert_eq!(json["tasks"][0]["name"], "ci");
    assert_eq!(json["tasks"][0]["description"], "Everything make ci did.");
    let jobs: serde_json::Value =
        serde_json::from_str(&p.run(&["--list", "ci", "--json"]).stdout).unwrap();
    assert_eq!(jobs["jobs"][1]["name"], "test");
    assert_eq!(jobs["jobs"][1]["needs"][0], "fmt");
}

#[test]
fn matrix_jobs_expand_and_can_be_selected() {
    let p = Project::new().task(
        "ci",
        r#"
        job("pg", #{ matrix: #{ version: [13, 14], os: ["linux"] } }, |m| write(`pg-${m.version}.marker`, m.os));
        job("after", #{ needs: ["pg"] }, || 1);
        job("other", || run(["touch", "other.marker"]));
        "#,
    );
    let dry = p.run(&["ci", "--dry-run"]);
    dry.code(Exit::Ok)
        .contains("pg (os=linux, version=13)")
        .contains("pg (os=linux, version=14)");
    assert!(
        dry.stdout
            .contains("(after pg (os=linux, version=13), pg (os=linux, version=14))"),
        "{}",
        dry.stdout
    );
    p.run(&["ci", "--job", "pg (os=linux, version=14)"])
        .code(Exit::Ok)
        .contains("1 passed");
    assert!(p.join("pg-14.marker").exists());
    assert!(!p.join("pg-13.marker").exists());
    assert!(!p.join("other.marker").exists());
    // pg 14 already ran and its output is there: up to date.
    p.run(&["ci", "--job", "after"])
        .code(Exit::Ok)
        .contains("2 passed, 0 failed, 1 up to date");
    assert_eq!(
        std::fs::read_to_string(p.join("pg-13.marker")).unwrap(),
        "linux"
    );
}

#[test]
fn job_selects_what_it_needs_unless_told_not_to() {
    let p = Project::new().task(
        "ci",
        r#"
        job("build", || run(["touch", "built"]));
        job("test", #{ needs: ["build"] }, || run(["touch", "tested"]));
        "#,
    );
    p.run(&["ci", "--job", "test", "--no-needs"]).code(Exit::Ok);
    assert!(!p.join("built").exists());
    p.run(&["ci", "--job", "test"])
        .code(Exit::Ok)
        .contains("2 passed");
    assert!(p.join("built").exists());
}

#[test]
fn arguments_reach_the_script() {
    let p = Project::new().task(
        "greet",
        r#"
        print(`args=${args}`);
        print(`name=${opts.name} loud=${opts.loud} target=${opts.target_dir}`);
        job("j", || print(`in job: ${opts.name}`));
        "#,
    );
    p.run(&[
        "greet",
        "--name",
        "ada",
        "--loud",
        "--target-dir=out",
        "-j",
        "1",
    ])
    .code(Exit::Ok)
    .contains(r#"args=["--name", "ada", "--loud", "--target-dir=out"]"#)
    .contains("name=ada loud=true target=out")
    .contains("in job: ada");
    p.run(&["greet", "--", "--job", "x"])
        .code(Exit::Ok)
        .contains(r#"args=["--job", "x"]"#);
}

#[test]
fn imported_modules_work_inside_jobs_on_worker_threads() {
    let p = Project::new()
        .lib("rust", "fn touch(name) { run([\"touch\", name]); }\nfn declare() { job(\"from-lib\", || touch(\"lib-job.marker\")); }\n")
        .task("ci", "import \"rust\" as rust;\nrust::declare();\njob(\"a\", || rust::touch(\"a.marker\"));\njob(\"b\", || rust::touch(\"b.marker\"));\n");
    p.run(&["ci", "-j", "3"])
        .code(Exit::Ok)
        .contains("3 passed");
    for m in ["a.marker", "b.marker", "lib-job.marker"] {
        assert!(p.join(m).exists(), "{m}");
    }
}

#[test]
fn timeouts_retries_conditions_and_skips() {
    let p = Project::new().task(
        "ci",
        r#"
        job("slow", #{ timeout: "300ms" }, || run(["sleep", "10"]));
        job("flaky", #{ retries: 2 }, || run(["sh", "-c", "n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; [ $n -ge 3 ]"]));
        job("off", #{ "if": false, reason: "not on this machine" }, || run(["touch", "off.marker"]));
        job("dynamic", #{ when: || exists("nope") }, || run(["touch", "dyn.marker"]));
        job("skipper", || { skip("tool missing"); run(["touch", "skip.marker"]); });
        job("after-skip", #{ needs: ["skipper", "off"] }, || run(["touch", "after.marker"]));
        "#,
    );
    let run = p.run(&["ci", "-j", "4", "--keep-going"]);
    run.code(Exit::Failed)
        .contains("job timed out after 300ms")
        .contains("skipped: not on this machine")
        .contains("tool missing");
    run.contains("3 attempts");
    assert_eq!(std::fs::read_to_string(p.join("n")).unwrap().trim(), "3");
    assert!(
        p.join("after.marker").exists(),
        "skipped needs count as done"
    );
    for m in ["off.marker", "dyn.marker", "skip.marker"] {
        assert!(!p.join(m).exists(), "{m}");
    }
}

#[test]
fn run_takes_argv_and_sh_is_explicit() {
    let p = Project::new()
        .task("str", r#"job("a", || run("echo hi"));"#)
        .task(
            "ok",
            r#"
            let out = run_output(["sh", "-c", "echo captured; echo streamed >&2"]);
            print(`got [${out}]`);
            let r = run(["sh", "-c", "exit 4"], #{ allow_fail: true });
            print(`status=${r.status} success=${r.success}`);
            sh("echo $((6 * 7))");
            print(sh_output("echo $FOO", #{ env: #{ FOO: "bar" } }));
            print(run_output(["cat"], #{ stdin: "piped in" }));
            set_env("GLOBAL", "g");
            job("env", #{ env: #{ LOCAL: "l" }, dir: "sub" }, || {
                print(run_output(["sh", "-c", "echo $GLOBAL$LOCAL; pwd"]));
            });
            "#,
        )
        .file("sub/.keep", "");
    p.run(&["str"])
        .code(Exit::Failed)
        .contains("takes an argv array")
        .contains("sh(\"echo hi\")");
    let run = p.run(&["ok"]);
    run.code(Exit::Ok)
        .contains("got [captured]")
        .contains("streamed")
        .contains("status=4 success=false")
        .contains("42\n");
    run.contains("bar\n")
        .contains("piped in\n")
        .contains("gl\n")
        .contains("/sub\n");
}

#[test]
fn jobs_pass_results_through_return_values() {
    let p = Project::new().task(
        "ci",
        r#"
        job("build", || #{ path: "target/app", size: 42 });
        job("use", #{ needs: ["build"] }, || {
            let built = result_of("build");
            if built.size != 42 { fail("wrong result"); }
            print(`using ${built.path}`);
        });
        "#,
    );
    p.run(&["ci"]).code(Exit::Ok).contains("using target/app");
}

#[test]
fn buffered_jobs_print_as_one_block_and_prefixed_mode_tags_lines() {
    // `a` streams live; `b` runs while `a` is mid-way, so its lines must arrive as one block.
    // `a` goes on only once `c` runs, and `c` needs `b`: by then `b` has ended and its block
    // has been printed (a file `b` itself wrote could be seen before its end was reported).
    let script = r#"
        job("a", || {
            print("a-first");
            run(["sh", "-c", "touch a.started; while [ ! -f b.done ]; do sleep 0.02; done"]);
            print("a-last");
        });
        job("b", || {
            run(["sh", "-c", "while [ ! -f a.started ]; do sleep 0.02; done; echo b-1; sleep 0.05; echo b-2; sleep 0.05; echo b-3"]);
        });
        job("c", #{ needs: ["b"] }, || run(["touch", "b.done"]));
        // `a` heads the longest chain, so the scheduler starts it first and it is the live job.
        job("d", #{ needs: ["a"] }, || ());
        job("e", #{ needs: ["d"] }, || ());
    "#;
    let p = Project::new().task("ci", script);
    let run = p.run(&["ci", "-j", "2"]);
    run.code(Exit::Ok);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = |s: &str| {
        lines
            .iter()
            .position(|l| *l == s)
            .unwrap_or_else(|| panic!("no line {s:?} in\n{}", run.stdout))
    };
    assert_eq!(at("b-2"), at("b-1") + 1, "{}", run.stdout);
    assert_eq!(at("b-3"), at("b-2") + 1, "{}", run.stdout);
    assert!(
        at("a-first") < at("b-1") && at("b-3") < at("a-last"),
        "{}",
        run.stdout
    );

    for f in ["a.started", "b.done"] {
        std::fs::remove_file(p.join(f)).unwrap();
    }
    let run = p.run(&["ci", "-j", "2", "--output", "prefixed"]);
    run.code(Exit::Ok)
        .contains("b | b-2")
        .contains("a | a-first");
}

#[test]
fn a_failed_run_recaps_the_first_failure_with_a_reproduce_command() {
    let p = Project::new().task(
        "ci",
        r#"
        job("lint", || run(["sh", "-c", "echo 'src/lib.rs:3: something is off'; exit 1"]));
        "#,
    );
    let run = p.run(&["ci", "-q"]);
    run.code(Exit::Failed)
        .contains("first failure: lint")
        .contains("src/lib.rs:3: something is off");
    run.contains("reproduce: cargo xtask ci --job \"lint\"");
}

#[test]
fn large_output_flows_through_intact() {
    let p = Project::new().task("ci", r#"job("big", || run(["sh", "-c", "seq 1 200000"]));"#);
    let run = p.run(&["ci"]);
    run.code(Exit::Ok);
    let numbers: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty())
        .collect();
    assert_eq!(numbers.len(), 200000);
    assert_eq!(numbers[199999], "200000");
}

#[test]
fn runaway_scripts_are_stopped() {
    let p = Project::new()
        .task(
            "loop",
            "job(\"spin\", || { let i = 0; loop { i += 1; } });\n",
        )
        .task(
            "recurse",
            "fn deep(n) { deep(n + 1) }\njob(\"deep\", || deep(0));\n",
        );
    let run = p
        .xtask(&["loop"])
        .env("XTASK_MAX_OPERATIONS", "100000")
        .run();
    run.code(Exit::Failed)
        .contains("too many operations")
        .contains("tasks/loop.rhai:1:");
    p.run(&["recurse"])
        .code(Exit::Failed)
        .contains("call depth")
        .contains("tasks/recurse.rhai:");
}

#[test]
fn verbose_shows_how_each_command_ended() {
    let p = Project::new().task("ci", r#"job("a", || run(["sh", "-c", "exit 0"]));"#);
    p.run(&["ci", "-v"])
        .code(Exit::Ok)
        .contains("↳ exit status 0 in ");
    p.run(&["ci"]).code(Exit::Ok).lacks("↳ exit status");
    p.run(&["ci", "-q"])
        .code(Exit::Ok)
        .lacks("$ sh -c")
        .contains("ci: 1 passed");
}
