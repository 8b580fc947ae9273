//! Services and smoke-test primitives against real processes on loopback: the example service
//! binary, `python3 -m http.server`, and shell one-liners.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::{gone_within, wait_for_file, Project, Run};
use xtask_core::exit::Exit;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The example service, built once per test binary (in its own target dir, where its smoke
/// task finds it too).
fn service_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let example = repo().join("examples/service");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--manifest-path"])
            .arg(example.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(example.join("target"))
            .status()
            .expect("run cargo build for the example service");
        assert!(status.success(), "building the example service failed");
        example.join("target/debug/example-service")
    })
}

/// Runs xtask with the example binary in `$SERVICE_BIN`.
fn run(p: &Project, args: &[&str]) -> Run {
    p.xtask(args).env("SERVICE_BIN", service_bin()).run()
}

fn read_pid(p: &Project, file: &str) -> i32 {
    std::fs::read_to_string(p.join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[track_caller]
fn assert_gone(p: &Project, file: &str) {
    let pid = read_pid(p, file);
    assert!(
        gone_within(pid, Duration::from_secs(10)),
        "{file}: service process {pid} is still running"
    );
}

/// Starts the example service on a free port, ready when /health answers.
const START_EXAMPLE: &str = r#"
fn start_example() {
    let addr = `127.0.0.1:${free_port()}`;
    let svc = service::start([env("SERVICE_BIN"), "--listen", addr], #{
        ready: #{ http: `http://${addr}/health` },
        timeout: "30s",
    });
    write("svc.pid", `${svc.pid}`);
    #{ svc: svc, url: `http://${addr}` }
}
"#;

#[test]
fn ready_by_http_then_every_endpoint_checks_out() {
    let p = Project::new().lib("example", START_EXAMPLE).task(
        "smoke",
        r#"
        import "example" as ex;
        job("smoke", || {
            let app = ex::start_example();
            assert_eq(app.svc.running, true);
            let health = http::get(`${app.url}/health`);
            assert_status(health, 200);
            assert_json(health, "status", "ok");
            assert_eq(health.headers["content-type"], "application/json");
            let deep = http::get(`${app.url}/health/deep`, #{ timeout: "5s" });
            assert_status(deep, 200);
            assert_json(deep, "database", "not configured");
            let rpc = http::post(`${app.url}/rpc`, #{ json: #{ jsonrpc: "2.0", id: 7, method: "getversion" } });
            assert_status(rpc, 200);
            assert_json(rpc, "result.version", "0.3.1");
            assert_json(rpc, "id", 7);
            let result = http::json_rpc(`${app.url}/rpc`, "getversion");
            assert_eq(result, #{ version: "0.3.1", name: "example-service" });
            let raw = http::request(#{ method: "POST", url: `${app.url}/rpc`, body: "{not json" });
            assert_json(raw, "error.code", -32700);
            app.svc.stop();
            assert_eq(app.svc.running, false);
            write("log.txt", app.svc.log());
        });
        "#,
    );
    run(&p, &["smoke"]).code(Exit::Ok).contains("ready after");
    assert_gone(&p, "svc.pid");
    let log = std::fs::read_to_string(p.join("log.txt")).unwrap();
    assert!(log.contains("listening on http://127.0.0.1:"), "{log}");
    assert!(log.contains("\"GET /health HTTP/1.1\" 200"), "{log}");
}

#[test]
fn ready_by_tcp_with_python_http_server() {
    let p = Project::new().file("www/hello.txt", "hello from python\n").task(
        "smoke",
        r#"
        job("tcp", || {
            let port = free_port();
            let svc = service::start(["python3", "-m", "http.server", `${port}`, "--bind", "127.0.0.1", "--directory", "www"], #{
                ready: #{ tcp: `127.0.0.1:${port}` },
            });
            write("svc.pid", `${svc.pid}`);
            tcp::wait(`127.0.0.1:${port}`);
            let page = http::get(`http://127.0.0.1:${port}/hello.txt`);
            assert_status(page, 200);
            assert_eq(page.body, "hello from python\n");
            assert_status(http::get(`http://127.0.0.1:${port}/missing`), 404);
        });
        "#,
    );
    // No explicit stop: the job's end stops it.
    run(&p, &["smoke"]).code(Exit::Ok);
    assert_gone(&p, "svc.pid");
}

#[test]
fn ready_by_log_line() {
    let p = Project::new().task(
        "smoke",
        r#"
        job("log", || {
            let svc = service::start(["sh", "-c", "echo starting; sleep 0.3; echo 'accepting connections on port 5432'; exec sleep 60"], #{
                ready: #{ log: "accepting connections on port \\d+" },
                name: "fake-db",
            });
            write("svc.pid", `${svc.pid}`);
            assert_eq(svc.name, "fake-db");
            assert_eq(svc.running, true);
            let log = svc.log();
            assert_eq(log.contains("accepting connections on port 5432"), true, "the ready line is in the log");
        });
        "#,
    );
    run(&p, &["smoke"]).code(Exit::Ok);
    assert_gone(&p, "svc.pid");
}

#[test]
fn never_ready_fails_at_the_timeout_with_its_log_tail() {
    let p = Project::new().task(
        "smoke",
        r#"
        job("stuck", || {
            let port = free_port();
            service::start(["sh", "-c", "echo $$ > svc.pid; for i in $(seq 40); do echo boot step $i; done; exec sleep 60"], #{
                ready: #{ tcp: `127.0.0.1:${port}` },
                timeout: "1s",
                log_tail: 5,
            });
            write("after-start.marker", "reached");
        });
        "#,
    );
    let out = run(&p, &["smoke"]);
    out.code(Exit::Failed)
        .contains("service `sh`")
        .contains("was not ready after 1.00s waiting for a TCP connection to 127.0.0.1:")
        .contains("connection refused")
        .contains("the last 5 of 40 lines of its log")
        .contains("boot step 40")
        .lacks("boot step 35");
    assert!(!p.join("after-start.marker").exists());
    assert_gone(&p, "svc.pid");
}

#[test]
fn a_crash_before_ready_fails_at_once_with_its_status_and_log() {
    let p = Project::new().task(
        "smoke",
        r#"
        job("crash", || {
            let port = free_port();
            service::start(["sh", "-c", "echo 'fatal: no config file' >&2; exit 3"], #{
                ready: #{ http: `http://127.0.0.1:${port}/health` },
                timeout: "20s",
            });
        });
        "#,
    );
    // Without crash detection this would end at the readiness timeout, with another message.
    let out = run(&p, &["smoke"]);
    out.code(Exit::Failed)
        .contains("exited with exit status 3 before it was ready")
        .contains("fatal: no config file")
        .lacks("not ready after");
}

#[test]
fn a_missing_program_is_named() {
    let p = Project::new().task(
        "smoke",
        r#"job("x", || service::start(["./no-such-server"], #{ ready: #{ tcp: "127.0.0.1:1" } }));"#,
    );
    run(&p, &["smoke"])
        .code(Exit::Failed)
        .contains("program not found: `./no-such-server`");
}

#[test]
fn wrong_status_and_wrong_json_fields_show_expected_and_actual() {
    let p = Project::new()
        .lib("example", START_EXAMPLE)
        .task(
            "status",
            r#"
            import "example" as ex;
            job("status", || {
                let app = ex::start_example();
                assert_status(http::get(`${app.url}/nope`), 200);
            });
            "#,
        )
        .task(
            "field",
            r#"
            import "example" as ex;
            job("field", || {
                let app = ex::start_example();
                let rpc = http::post(`${app.url}/rpc`, `{"jsonrpc":"2.0","id":1,"method":"getversion"}`);
                assert_json(rpc, "result.version", "9.9.9");
            });
            "#,
        )
        .task(
            "missing",
            r#"
            import "example" as ex;
            job("missing", || {
                let app = ex::start_example();
                assert_json(http::get(`${app.url}/health`), "database.kind", "pg");
            });
            "#,
        )
        .task(
            "rpc-error",
            r#"
            import "example" as ex;
            job("rpc", || {
                let app = ex::start_example();
                http::json_rpc(`${app.url}/rpc`, "getversoin", [1]);
            });
            "#,
        )
        .task(
            "eq",
            r#"job("eq", || assert_eq(#{ a: [1, 2] }, #{ a: [1, 3] }, "lists match"));"#,
        );
    run(&p, &["status"])
        .code(Exit::Failed)
        .contains("expected status 200, got 404")
        .contains("--- response to GET http://127.0.0.1:")
        .contains(r#"{"error":"not found"}"#);
    assert_gone(&p, "svc.pid");
    run(&p, &["field"])
        .code(Exit::Failed)
        .contains("assert_json `result.version`")
        .contains(r#"expected: "9.9.9""#)
        .contains(r#"actual: "0.3.1""#)
        .contains(r#""name":"example-service""#);
    assert_gone(&p, "svc.pid");
    run(&p, &["missing"])
        .code(Exit::Failed)
        .contains("the document has no field `database` (it has: status)");
    run(&p, &["rpc-error"])
        .code(Exit::Failed)
        .contains("json_rpc getversoin at http://127.0.0.1:")
        .contains("error -32601: Method not found");
    run(&p, &["eq"])
        .code(Exit::Failed)
        .contains("assertion failed: lists match")
        .contains(r#"expected: {"a":[1,3]}"#)
        .contains(r#"actual: {"a":[1,2]}"#);
}

#[test]
fn a_failing_job_stops_its_service_and_shows_the_log_tail() {
    let p = Project::new().task(
        "smoke",
        r#"
        job("smoke", || {
            let svc = service::start(["sh", "-c", "echo ready; echo 'handled request 17'; exec sleep 60"], #{
                ready: #{ log: "^ready$" },
            });
            write("svc.pid", `${svc.pid}`);
            fail("planted failure");
        });
        "#,
    );
    run(&p, &["smoke"])
        .code(Exit::Failed)
        .contains("planted failure")
        .contains("service `sh`")
        .contains("was stopped")
        .contains("handled request 17");
    assert_gone(&p, "svc.pid");
}

#[test]
fn a_passing_job_does_not_show_the_service_log() {
    let p = Project::new().task(
        "smoke",
        r#"job("ok", || service::start(["sh", "-c", "echo quiet-$((40 + 2))-line; exec sleep 60"], #{ ready: #{ log: "quiet" } }));"#,
    );
    // The command line shows the arithmetic; only the log would show its result.
    run(&p, &["smoke"])
        .code(Exit::Ok)
        .contains("quiet-$((40")
        .lacks("quiet-42-line");
}

#[test]
fn sigint_stops_the_service() {
    let p = Project::new().lib("example", START_EXAMPLE).task(
        "smoke",
        r#"
        import "example" as ex;
        job("smoke", || {
            let app = ex::start_example();
            write("started.marker", "yes");
            run(["sleep", "60"]);
        });
        "#,
    );
    let child = p
        .xtask(&["smoke"])
        .env("SERVICE_BIN", service_bin())
        .spawn();
    wait_for_file(&p.join("started.marker"), Duration::from_secs(30));
    let pid = read_pid(&p, "svc.pid");
    assert!(support::pid_alive(pid));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = Run::from(child.wait_with_output().unwrap());
    out.code(Exit::Interrupted).contains("interrupted");
    assert_gone(&p, "svc.pid");
}

#[test]
fn sigint_while_waiting_for_readiness_stops_the_service() {
    let p = Project::new().task(
        "smoke",
        r#"
        job("smoke", || {
            service::start(["sh", "-c", "echo $$ > svc.pid; exec sleep 60"], #{
                ready: #{ log: "never printed" },
                timeout: "10m",
            });
        });
        "#,
    );
    let child = p.spawn(&["smoke"]);
    wait_for_file(&p.join("svc.pid"), Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = Run::from(child.wait_with_output().unwrap());
    out.code(Exit::Interrupted);
    assert_gone(&p, "svc.pid");
}

#[test]
fn fail_fast_stops_a_sibling_jobs_service() {
    let p = Project::new().task(
        "smoke",
        r#"
        job("serve", || {
            let svc = service::start(["sh", "-c", "echo up; exec sleep 60"], #{ ready: #{ log: "up" } });
            write("svc.pid", `${svc.pid}`);
            run(["sleep", "60"]);
        });
        job("bad", || {
            while !exists("svc.pid") { run(["sleep", "0.05"]); }
            fail("planted");
        });
        "#,
    );
    run(&p, &["smoke", "-j", "2"])
        .code(Exit::Failed)
        .contains("cancelled");
    assert_gone(&p, "svc.pid");
}

#[test]
fn secrets_in_the_service_env_are_masked_in_its_log() {
    let p = Project::new()
        .task(
            "crash",
            r#"
            job("crash", || {
                let token = secret("API_TOKEN");
                service::start(["sh", "-c", "echo \"using token $API_TOKEN\"; exit 4"], #{
                    env: #{ API_TOKEN: token },
                    ready: #{ log: "never" },
                });
            });
            "#,
        )
        .task(
            "log",
            r#"
            job("log", || {
                let token = secret("API_TOKEN");
                let svc = service::start(["sh", "-c", "echo \"token=$API_TOKEN\"; echo ok; exec sleep 60"], #{
                    env: #{ API_TOKEN: token },
                    ready: #{ log: "^ok$" },
                });
                print(svc.log());
                write("log.txt", svc.log());
            });
            "#,
        );
    let secret = "hunter2-very-secret";
    let out = p.xtask(&["crash"]).env("API_TOKEN", secret).run();
    out.code(Exit::Failed)
        .contains("using token ***")
        .lacks(secret);
    let out = p.xtask(&["log"]).env("API_TOKEN", secret).run();
    out.code(Exit::Ok).lacks(secret);
    let written = std::fs::read_to_string(p.join("log.txt")).unwrap();
    assert_eq!(written.trim(), "token=***\nok");
}

#[test]
fn http_wait_and_tcp_wait() {
    let p = Project::new()
        .file("www/index.html", "<p>hi</p>")
        .task(
            "up",
            r#"
            job("up", || {
                let port = free_port();
                // No readiness given: start returns at once, the script waits itself.
                let svc = service::start(["sh", "-c", `sleep 0.5; exec python3 -m http.server ${port} --bind 127.0.0.1 --directory www`]);
                write("svc.pid", `${svc.pid}`);
                let resp = http::wait(`http://127.0.0.1:${port}/`, #{ timeout: "30s", status: 200 });
                assert_status(resp, 200);
                tcp::wait(`127.0.0.1:${port}`, #{ timeout: "5s", interval: "100ms" });
            });
            "#,
        )
        .task(
            "down",
            r#"job("down", || http::wait(`http://127.0.0.1:${free_port()}/health`, #{ timeout: "1s" }));"#,
        )
        .task(
            "tcp-down",
            r#"job("down", || tcp::wait(`127.0.0.1:${free_port()}`, #{ timeout: "500ms" }));"#,
        )
        .task(
            "bad-option",
            r#"job("x", || http::wait("http://127.0.0.1:1/", #{ timout: "1s" }));"#,
        );
    run(&p, &["up"]).code(Exit::Ok);
    assert_gone(&p, "svc.pid");
    run(&p, &["down"])
        .code(Exit::Failed)
        .contains("not ready after 1.00s")
        .contains("connection refused");
    run(&p, &["tcp-down"])
        .code(Exit::Failed)
        .contains("tcp::wait 127.0.0.1:")
        .contains("not ready after 500ms");
    run(&p, &["bad-option"])
        .code(Exit::Failed)
        .contains("unknown http::wait option `timout`")
        .contains("did you mean `timeout`?");
}

#[test]
fn free_ports_never_repeat_across_parallel_jobs() {
    let p = Project::new().task(
        "ports",
        r#"
        job("ports", #{ matrix: #{ n: [1, 2, 3, 4] } }, |m| {
            let ports = [];
            for i in 0..25 { ports.push(free_port()); }
            write(`ports-${m.n}.txt`, ports.reduce(|acc, p| acc + p + "\n", ""));
        });
        "#,
    );
    run(&p, &["ports", "-j", "4"]).code(Exit::Ok);
    let mut all = Vec::new();
    for n in 1..=4 {
        let text = std::fs::read_to_string(p.join(&format!("ports-{n}.txt"))).unwrap();
        all.extend(text.lines().map(|l| l.parse::<u16>().unwrap()));
    }
    assert_eq!(all.len(), 100);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 100, "a port was handed out twice");
}

#[test]
fn retry_runs_a_flaky_block_again() {
    let p = Project::new()
        .task(
            "flaky",
            r#"
            job("flaky", || {
                let value = retry(3, || {
                    let n = if exists("count") { parse_int(read("count")) } else { 0 };
                    write("count", `${n + 1}`);
                    if n < 2 { fail(`attempt ${n + 1} failed`); }
                    "third time lucky"
                });
                assert_eq(value, "third time lucky");
            });
            "#,
        )
        .task(
            "hopeless",
            r#"job("hopeless", || retry(1, || fail("still broken")));"#,
        );
    run(&p, &["flaky"])
        .code(Exit::Ok)
        .contains("retry 1/3")
        .contains("attempt 1 failed")
        .contains("retry 2/3")
        .lacks("retry 3/3");
    assert_eq!(std::fs::read_to_string(p.join("count")).unwrap(), "3");
    run(&p, &["hopeless"])
        .code(Exit::Failed)
        .contains("retry 1/1")
        .contains("still broken");
}

#[test]
fn retry_stops_when_the_job_is_cancelled() {
    // A hundred retries with backoff would take minutes; the job timeout must end them.
    let p = Project::new().task(
        "slow",
        r#"job("slow", #{ timeout: "1s" }, || retry(100, || fail("never works")));"#,
    );
    let mut child = p.spawn(&["slow"]);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("retry kept going after the job timed out");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Run::from(child.wait_with_output().unwrap());
    out.code(Exit::Failed).contains("timed out after");
}

#[test]
fn listing_starts_no_service() {
    let p = Project::new().task(
        "smoke",
        r#"
        let svc = service::start(["sh", "-c", "touch started.marker; exec sleep 60"]);
        job("a", || 1);
        "#,
    );
    p.run(&["smoke", "--list"]).code(Exit::Ok);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!p.join("started.marker").exists());
}

#[test]
fn the_example_smoke_task_passes() {
    service_bin();
    let out = support::xtask_in(&repo().join("examples/service"), &["smoke"])
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("DATABASE_URL")
        .run();
    out.code(Exit::Ok)
        .contains("example-service 0.3.1 passed its smoke test")
        .contains("smoke: 2 passed");
}

#[test]
fn a_relative_program_runs_from_the_service_dir() {
    let p = Project::new()
        .file(
            "app/serve.sh",
            "#!/bin/sh\necho \"ready in $(pwd) with MODE=$MODE HOME_SET=${HOME:+yes}\"\nexec sleep 60\n",
        )
        .task(
            "smoke",
            r#"
            job("dir", || {
                run(["chmod", "+x", "app/serve.sh"]);
                let svc = service::start(["./serve.sh"], #{
                    dir: "app",
                    env: #{ MODE: "smoke", HOME: () },
                    ready: #{ log: "^ready in " },
                });
                write("svc.pid", `${svc.pid}`);
                write("log.txt", svc.log());
            });
            "#,
        );
    run(&p, &["smoke"]).code(Exit::Ok);
    assert_gone(&p, "svc.pid");
    let log = std::fs::read_to_string(p.join("log.txt")).unwrap();
    let app = p.path().join("app").canonicalize().unwrap();
    assert_eq!(
        log.trim(),
        format!("ready in {} with MODE=smoke HOME_SET=", app.display())
    );
}

#[test]
fn bad_service_options_are_explained() {
    let p = Project::new()
        .task(
            "typo",
            r#"job("x", || service::start(["sh"], #{ redy: #{ log: "x" } }));"#,
        )
        .task(
            "two",
            r#"job("x", || service::start(["sh"], #{ ready: #{ log: "x", tcp: "127.0.0.1:1" } }));"#,
        )
        .task(
            "regex",
            r#"job("x", || service::start(["sh"], #{ ready: #{ log: "(" } }));"#,
        )
        .task(
            "status",
            r#"job("x", || service::start(["sh"], #{ ready: #{ tcp: "127.0.0.1:1", status: 200 } }));"#,
        );
    run(&p, &["typo"])
        .code(Exit::Failed)
        .contains("unknown service::start option `redy`")
        .contains("did you mean `ready`?")
        .contains("tasks/typo.rhai:1:");
    run(&p, &["two"])
        .code(Exit::Failed)
        .contains("needs exactly one of `http`, `tcp` or `log` (got tcp, log)");
    run(&p, &["regex"])
        .code(Exit::Failed)
        .contains("ready.log: invalid regex `(`");
    run(&p, &["status"])
        .code(Exit::Failed)
        .contains("`ready.status` goes with `ready.http`");
}
