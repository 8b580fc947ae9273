//! docker:: against the real engine: building the example image, running it with limits on the
//! host network, smoke-testing it, the size gate, cleanup on every path (including Ctrl-C), and
//! tags from a real git repository. Images and containers get names unique to the test, and
//! every test checks that none of its containers, images or dangling layers is left.
//! Without an engine these tests skip locally and fail in CI (`support::docker_engine`).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::git;
use xtask_core::exit::Exit;

use support::{wait_for_file, Project, Run};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn example() -> PathBuf {
    repo().join("examples/service")
}

/// `docker …` with the client the product would pick by default; its stdout.
fn docker(args: &[&str]) -> String {
    support::stdout_of(
        Command::new("docker").args(args),
        &format!("docker {args:?}"),
    )
}

fn has_buildx() -> bool {
    Command::new("docker")
        .args(["buildx", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The example's statically linked debug binary, built once per test binary.
fn static_debug_binary() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--target", "x86_64-unknown-linux-gnu"])
            .arg("--manifest-path")
            .arg(example().join("Cargo.toml"))
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .status()
            .expect("cargo build");
        assert!(
            status.success(),
            "building the static example binary failed"
        );
    });
}

/// A name unique to this test: images, containers and labels carry it, and the guard removes
/// everything that does when the test ends, passed or not.
struct Unique {
    id: String,
}

impl Unique {
    fn new() -> Unique {
        static N: AtomicUsize = AtomicUsize::new(0);
        Unique {
            id: format!(
                "xtask-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    fn containers(&self) -> Vec<String> {
        lines(&docker(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            &format!("name={}", self.id),
        ]))
    }

    fn images(&self) -> Vec<String> {
        let mut ids = lines(&docker(&[
            "images",
            "-a",
            "-q",
            "--filter",
            &format!("label=dev.xtask.test={}", self.id),
        ]));
        for pattern in ["{}*", "{}/*"] {
            ids.extend(lines(&docker(&[
                "images",
                "-q",
                "--filter",
                &format!("reference={}", pattern.replace("{}", &self.id)),
            ])));
        }
        ids.sort();
        ids.dedup();
        ids
    }

    fn dangling(&self) -> Vec<String> {
        lines(&docker(&[
            "images",
            "-q",
            "--filter",
            "dangling=true",
            "--filter",
            &format!("label=dev.xtask.test={}", self.id),
        ]))
    }

    /// Nothing of this test's is left but the images it was meant to keep, and none dangles.
    #[track_caller]
    fn assert_clean(&self) {
        assert_eq!(self.containers(), Vec::<String>::new(), "containers left");
        assert_eq!(
            self.dangling(),
            Vec::<String>::new(),
            "dangling images left"
        );
    }
}

impl Drop for Unique {
    fn drop(&mut self) {
        for name in self.containers() {
            let _ = Command::new("docker").args(["rm", "-f", &name]).output();
        }
        for id in self.images() {
            let _ = Command::new("docker").args(["rmi", "-f", &id]).output();
        }
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn run(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    p.xtask(args).envs(env.iter().copied()).run()
}

#[test]
fn builds_runs_and_smoke_tests_the_example_image() {
    if !support::docker_engine() {
        return;
    }
    static_debug_binary();
    let u = Unique::new();
    let p = Project::new().task(
        "image",
        &format!(
            r#"
            job("image", || {{
                let built = docker::build(#{{
                    context: "{context}",
                    variant: "debug",
                    platforms: ["linux/amd64"],
                    tags: ["{id}:debug"],
                    labels: #{{ "dev.xtask.test": "{id}" }},
                }});
                write("build.txt", `${{built.mode}} ${{built.loaded}} ${{built.id}}`);
                let addr = `127.0.0.1:${{free_port()}}`;
                let c = docker::run("{id}:debug", #{{
                    name: "{id}-run",
                    network: "host",
                    memory: "512m",
                    cpus: 1,
                    args: ["--listen", addr],
                    ready: #{{ http: `http://${{addr}}/health` }},
                    timeout: "30s",
                }});
                assert_eq(c.running, true);
                let health = http::get(`http://${{addr}}/health`);
                assert_status(health, 200);
                assert_json(health, "status", "ok");
                let host = c.inspect().HostConfig;
                assert_eq(host.Memory, 536870912);
                assert_eq(host.NanoCpus, 1000000000);
                assert_eq(host.NetworkMode, "host");
                let stats = c.stats();
                assert_eq(stats.memory_limit_mib, 512.0);
                assert_eq(stats.memory_mib > 0.0 && stats.memory_mib < 512.0, true, "memory in use");
                assert_eq(stats.pids >= 1, true, "processes");
                assert_eq(stats.cpu_percent >= 0.0, true, "CPU use");
                // The engine is local and its containers' processes are ours to see.
                assert_eq(stats.source, "cgroup", "figures from the container's cgroup");
                let labels = docker::inspect("{id}:debug").Config.Labels;
                assert_eq(labels["org.opencontainers.image.title"], "example-service");
                assert_eq(labels["org.opencontainers.image.created"].len(), 20);
                let size = docker::check_size("{id}:debug", #{{ max_mb: 100, baseline: 7.0, record: false }});
                assert_eq(size.status, "ok");
                write("size.txt", `${{docker::image_size("{id}:debug")}}`);
                c.stop();
                assert_eq(c.running, false);
                write("log.txt", c.log());
            }});
            "#,
            context = example().display(),
            id = u.id
        ),
    );
    // The default client, first on PATH as a logging stand-in for the real one: `stats()` reads
    // the engine's socket instead of waiting for `docker stats`.
    let real = support::stdout_of(
        Command::new("sh").args(["-c", "command -v docker"]),
        "docker",
    );
    std::fs::create_dir_all(p.join("bin")).unwrap();
    support::write_program(
        &p.join("bin/docker"),
        &format!(
            "#!/bin/sh\necho \"$1\" >> '{log}'\nexec '{real}' \"$@\"\n",
            log = p.join("docker.calls").display(),
            real = real.trim()
        ),
    );
    let path = support::path_with_first(&p.join("bin"));
    run(&p, &["image"], &[("PATH", &path)])
        .code(Exit::Ok)
        .contains("ready after");
    let calls = std::fs::read_to_string(p.join("docker.calls")).unwrap();
    assert!(calls.lines().any(|c| c == "run"), "{calls}");
    assert!(!calls.lines().any(|c| c == "stats"), "{calls}");
    let build = std::fs::read_to_string(p.join("build.txt")).unwrap();
    assert!(build.contains(" true sha256:"), "{build}");
    if !has_buildx() {
        assert!(
            build.starts_with("buildkit") || build.starts_with("classic"),
            "{build}"
        );
    }
    let size: u64 = std::fs::read_to_string(p.join("size.txt"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(size > 1_000_000, "{size}");
    let log = std::fs::read_to_string(p.join("log.txt")).unwrap();
    assert!(log.contains("listening on http://127.0.0.1:"), "{log}");
    assert!(log.contains("\"GET /health HTTP/1.1\" 200"), "{log}");
    u.assert_clean();
    assert_eq!(
        u.images().len(),
        1,
        "the built image is kept until the test removes it"
    );
}

/// A project with a FROM scratch Dockerfile copying a file of `mb` MB.
fn sized_image_project(p: Project, mb: usize) -> Project {
    let p = p.file("ctx/Dockerfile", "FROM scratch\nCOPY blob /blob\n");
    std::fs::write(p.join("ctx/blob"), vec![7u8; mb * 1_000_000]).unwrap();
    p
}

#[test]
fn the_size_gate_passes_warns_and_fails() {
    if !support::docker_engine() {
        return;
    }
    let u = Unique::new();
    let p = sized_image_project(Project::new(), 1)
        .file("big/Dockerfile", "FROM scratch\nCOPY blob /blob\n");
    std::fs::write(p.join("big/blob"), vec![9u8; 4_000_000]).unwrap();
    let p = p.task(
        "size",
        &format!(
            r#"
            let label = #{{ "dev.xtask.test": "{id}" }};
            job("build", || {{
                docker::build(#{{ context: "ctx", tags: ["{id}:small"], labels: label }});
                docker::build(#{{ context: "big", tags: ["{id}:big"], labels: label }});
            }});
            job("pass", #{{ needs: ["build"] }}, || {{
                let r = docker::check_size("{id}:big", #{{ max_mb: 10, baseline: "{id}:small" }});
                assert_eq(r.status, "ok");
                assert_eq(r.growth_mb > 2.9 && r.growth_mb < 3.1, true, "about 3 MB of growth");
                // First call: records; the second compares against that.
                docker::check_size("{id}:small", #{{ key: "{id}" }});
                let again = docker::check_size("{id}:big", #{{ key: "{id}", warn_growth_mb: 2 }});
                assert_eq(again.status, "warn");
            }});
            job("over-limit", #{{ needs: ["pass"] }}, || {{
                docker::check_size("{id}:big", #{{ max_mb: 2 }});
            }});
            job("growth", #{{ needs: ["pass"] }}, || {{
                docker::check_size("{id}:big", #{{ baseline: "{id}:small", warn_growth_mb: 1, fail_growth_mb: 2.5 }});
            }});
            "#,
            id = u.id
        ),
    );
    let out = run(&p, &["size", "--keep-going"], &[]);
    out.code(Exit::Failed)
        .contains(&format!("image {}:big is 4.0 MB, over its limit of 2.0 MB", u.id))
        .contains(&format!(
            "image {id}:big grew 3.0 MB (1.0 → 4.0 MB, baseline: image {id}:small); the limit is +2 MB",
            id = u.id
        ))
        .contains("size.rhai:")
        .contains("recorded 1.0 MB as the size baseline")
        .contains("a warning from +2 MB");
    let record = p.join(&format!("target/xtask/docker/sizes/{}.json", u.id));
    assert!(record.is_file(), "{}", record.display());
    u.assert_clean();
}

#[test]
fn a_container_that_exits_before_ready_fails_with_its_log_and_is_removed() {
    if !support::docker_engine() {
        return;
    }
    static_debug_binary();
    let u = Unique::new();
    let p = Project::new().task(
        "crash",
        &format!(
            r#"
            job("crash", || {{
                docker::build(#{{ context: "{context}", variant: "debug", tags: ["{id}:debug"], labels: #{{ "dev.xtask.test": "{id}" }} }});
                docker::run("{id}:debug", #{{
                    name: "{id}-crash",
                    network: "none",
                    args: ["--listen", "not-an-address"],
                    ready: #{{ tcp: "127.0.0.1:9" }},
                    timeout: "30s",
                }});
            }});
            "#,
            context = example().display(),
            id = u.id
        ),
    );
    run(&p, &["crash"], &[])
        .code(Exit::Failed)
        .contains(&format!("service `{}-crash`", u.id))
        .contains("before it was ready")
        .contains("not-an-address")
        .contains("crash.rhai:");
    u.assert_clean();
}

#[test]
fn interrupting_the_run_removes_the_container() {
    if !support::docker_engine() {
        return;
    }
    static_debug_binary();
    let u = Unique::new();
    let p = Project::new().task(
        "hold",
        &format!(
            r#"
            job("hold", || {{
                docker::build(#{{ context: "{context}", variant: "debug", tags: ["{id}:debug"], labels: #{{ "dev.xtask.test": "{id}" }} }});
                let addr = `127.0.0.1:${{free_port()}}`;
                docker::run("{id}:debug", #{{
                    name: "{id}-held",
                    network: "host",
                    args: ["--listen", addr],
                    ready: #{{ http: `http://${{addr}}/health` }},
                }});
                write("ready.marker", "up");
                run(["sleep", "600"]);
            }});
            "#,
            context = example().display(),
            id = u.id
        ),
    );
    let child = p.spawn(&["hold"]);
    wait_for_file(&p.join("ready.marker"), Duration::from_secs(120));
    assert_eq!(u.containers(), [format!("{}-held", u.id)]);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let started = Instant::now();
    let out = Run::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Exit::Interrupted.code(), "{}", out.all());
    assert!(started.elapsed() < Duration::from_secs(120));
    u.assert_clean();
}

#[test]
fn several_platforms_without_buildx_is_a_clear_error() {
    if !support::docker_engine() {
        return;
    }
    if has_buildx() {
        support::skip("buildx is installed, so a multi-platform build would run");
        return;
    }
    let u = Unique::new();
    let p = sized_image_project(Project::new(), 1).task(
        "multi",
        &format!(
            r#"
            job("multi", || {{
                docker::build(#{{ context: "ctx", platforms: ["linux/amd64", "linux/arm64"], tags: ["{id}:multi"] }});
            }});
            "#,
            id = u.id
        ),
    );
    run(&p, &["multi"], &[])
        .code(Exit::Failed)
        .contains("building for linux/amd64, linux/arm64 at once makes a multi-platform manifest, which needs buildx")
        .contains("multi.rhai:3")
        .lacks("$ ");
    assert!(u.images().is_empty(), "nothing was built");
}

#[test]
fn availability_reports_the_client_and_xtask_docker_selects_it() {
    if !support::docker_engine() {
        return;
    }
    let p = Project::new().task(
        "probe",
        r#"
        job("probe", || {
            let d = docker::available();
            write("probe.json", `${d.engine} ${d.buildx} ${d.build_mode} ${d.client} ${d.platforms}`);
            if !d.engine { write("reason.txt", d.reason); }
        });
        job("missing", || {
            docker::run("anything", #{ network: "none" });
        });
        "#,
    );
    run(&p, &["probe", "--job", "probe"], &[]).code(Exit::Ok);
    let probe = std::fs::read_to_string(p.join("probe.json")).unwrap();
    assert!(probe.starts_with("true "), "{probe}");
    assert!(probe.contains("linux/amd64"), "{probe}");
    if !has_buildx() {
        assert!(
            probe.contains("false buildkit") || probe.contains("false classic"),
            "{probe}"
        );
    }

    let missing = "/nonexistent/docker";
    run(
        &p,
        &["probe", "--job", "probe"],
        &[("XTASK_DOCKER", missing)],
    )
    .code(Exit::Ok);
    let probe = std::fs::read_to_string(p.join("probe.json")).unwrap();
    assert!(probe.starts_with("false false"), "{probe}");
    let reason = std::fs::read_to_string(p.join("reason.txt")).unwrap();
    assert!(
        reason.contains(missing) && reason.contains("XTASK_DOCKER"),
        "{reason}"
    );
    run(
        &p,
        &["probe", "--job", "missing"],
        &[("XTASK_DOCKER", missing)],
    )
    .code(Exit::Failed)
    .contains("docker client not found: `/nonexistent/docker`")
    .contains("probe.rhai:");

    // Debian's 20.10 client has BuildKit built in: chosen explicitly, it builds with it.
    if Path::new("/usr/bin/docker").exists() && !has_buildx() {
        run(
            &p,
            &["probe", "--job", "probe"],
            &[("XTASK_DOCKER", "/usr/bin/docker")],
        )
        .code(Exit::Ok);
        let probe = std::fs::read_to_string(p.join("probe.json")).unwrap();
        assert!(probe.contains("/usr/bin/docker"), "{probe}");
    }
}

/// A client without buildx or built-in BuildKit, chosen explicitly, builds with the classic
/// builder and says so. Runs where such a client exists (a docker ≥ 23 without the plugin).
#[test]
fn the_classic_builder_when_the_client_has_no_buildkit() {
    if !support::docker_engine() {
        return;
    }
    let classic = which_all_docker().into_iter().find(|c| {
        let version = Command::new(c).arg("--version").output().ok();
        let major = version
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .and_then(|v| {
                v.strip_prefix("Docker version ")?
                    .split('.')
                    .next()?
                    .parse::<u32>()
                    .ok()
            });
        let buildx = Command::new(c)
            .args(["buildx", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        major.is_some_and(|m| m >= 23) && !buildx
    });
    let Some(classic) = classic else {
        support::skip("no docker client without BuildKit here");
        return;
    };
    let u = Unique::new();
    let p = sized_image_project(Project::new(), 1).task(
        "classic",
        &format!(
            r#"
            job("classic", || {{
                let r = docker::build(#{{ context: "ctx", tags: ["{id}:classic"], labels: #{{ "dev.xtask.test": "{id}" }} }});
                write("mode.txt", r.mode);
            }});
            "#,
            id = u.id
        ),
    );
    run(
        &p,
        &["classic"],
        &[
            ("XTASK_DOCKER", &classic.display().to_string()),
            ("DOCKER_BUILDKIT", "1"),
        ],
    )
    .code(Exit::Ok)
    .contains("using the classic builder");
    assert_eq!(
        std::fs::read_to_string(p.join("mode.txt")).unwrap(),
        "classic"
    );
    let tagged = docker(&["images", "-q", &format!("{}:classic", u.id)]);
    assert_eq!(lines(&tagged).len(), 1, "the image is tagged");
    u.assert_clean();
}

fn which_all_docker() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("docker"))
        .filter(|p| p.is_file())
        .collect()
}

/// Tags from a real repository: the default branch, a feature branch, a semver tag; and the
/// Actions environment taking precedence over the repository when GITHUB_ACTIONS=true.
#[test]
fn tags_from_a_temp_git_repo() {
    let p = Project::new().task(
        "tags",
        r#"
        job("tags", || {
            write("tags.txt", docker::tags("ghcr.io/Owner/app").reduce(|s, t| s + t + "\n", ""));
            let meta = docker::metadata("ghcr.io/owner/app", #{ suffix: "-debug" });
            write("meta.txt", `${meta.version} ${meta.push_allowed} ${meta.labels["org.opencontainers.image.source"]}`);
        });
        "#,
    );
    let dir = p.path();
    support::init_repo(dir, "first");
    git(
        dir,
        &["remote", "add", "origin", "git@github.com:owner/app.git"],
    );
    let sha = git(dir, &["rev-parse", "HEAD"]);
    let short = &sha[..7];
    let tags = |env: &[(&str, &str)]| {
        run(&p, &["tags"], env).code(Exit::Ok);
        lines(&std::fs::read_to_string(p.join("tags.txt")).unwrap())
    };
    assert_eq!(
        tags(&[]),
        [
            "ghcr.io/owner/app:main".to_string(),
            format!("ghcr.io/owner/app:sha-{short}"),
            "ghcr.io/owner/app:latest".into()
        ]
    );
    let meta = std::fs::read_to_string(p.join("meta.txt")).unwrap();
    assert_eq!(meta, "main-debug true https://github.com/owner/app");

    git(dir, &["checkout", "-q", "-b", "feature/fast-path"]);
    assert_eq!(
        tags(&[]),
        [
            "ghcr.io/owner/app:feature-fast-path".to_string(),
            format!("ghcr.io/owner/app:sha-{short}")
        ]
    );
    git(dir, &["tag", "v1.2.3"]);
    assert_eq!(
        tags(&[]),
        [
            "ghcr.io/owner/app:1.2.3".to_string(),
            "ghcr.io/owner/app:1.2".into(),
            "ghcr.io/owner/app:1".into(),
            format!("ghcr.io/owner/app:sha-{short}")
        ]
    );

    // In Actions the event decides, whatever the checkout looks like. The payload is this
    // test's own, not the one of a CI run the suite may be running in.
    let actions_sha = "fedcba9876543210fedcba9876543210fedcba98";
    let event = p.join("event.json");
    std::fs::write(
        &event,
        r#"{ "pull_request": { "number": 5 }, "repository": { "default_branch": "main" } }"#,
    )
    .unwrap();
    let event = event.display().to_string();
    let pr = [
        ("GITHUB_EVENT_PATH", event.as_str()),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/5/merge"),
        ("GITHUB_HEAD_REF", "feature/fast-path"),
        ("GITHUB_SHA", actions_sha),
    ];
    assert_eq!(
        tags(&pr),
        ["ghcr.io/owner/app:pr-5", "ghcr.io/owner/app:sha-fedcba9"]
    );
    let meta = std::fs::read_to_string(p.join("meta.txt")).unwrap();
    assert!(meta.starts_with("pr-5-debug false"), "{meta}");
    let release = [
        ("GITHUB_EVENT_PATH", event.as_str()),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/tags/v2.0.0"),
        ("GITHUB_REF_NAME", "v2.0.0"),
        ("GITHUB_SHA", actions_sha),
    ];
    assert_eq!(
        tags(&release),
        [
            "ghcr.io/owner/app:2.0.0",
            "ghcr.io/owner/app:2.0",
            "ghcr.io/owner/app:2",
            "ghcr.io/owner/app:sha-fedcba9"
        ]
    );
}

#[test]
fn bad_options_are_named() {
    let p = Project::new().task(
        "bad",
        r#"
        job("build", || docker::build(#{ context: ".", platfroms: ["linux/amd64"] }));
        job("tags", || docker::tags("app:1.0"));
        job("latest", || docker::tags("app", #{ latest: "sometimes" }));
        "#,
    );
    run(&p, &["bad", "--job", "build"], &[])
        .code(Exit::Failed)
        .contains("unknown docker::build option `platfroms`")
        .contains("platforms")
        .contains("bad.rhai:2");
    run(&p, &["bad", "--job", "tags"], &[])
        .code(Exit::Failed)
        .contains("without a tag")
        .contains("bad.rhai:3");
    run(&p, &["bad", "--job", "latest"], &[])
        .code(Exit::Failed)
        .contains("option `latest`");
}

/// The example's own `docker-test` task, under an image name unique to this test.
#[test]
fn the_example_docker_test_task_passes() {
    if !support::docker_engine() {
        return;
    }
    let u = Unique::new();
    let image = format!("{}/example-service", u.id);
    // Dangling images from the example's Dockerfile (its title label): other tests of this
    // binary build other images meanwhile.
    let dangling = || {
        lines(&docker(&[
            "images",
            "-q",
            "--filter",
            "dangling=true",
            "--filter",
            "label=org.opencontainers.image.title=example-service",
        ]))
    };
    let dangling_before = dangling();
    let out = support::xtask_in(&example(), &["docker-test"])
        .env("DOCKER_IMAGE", &image)
        .run();
    let sizes = example().join("target/xtask/docker/sizes");
    for variant in ["release", "debug"] {
        let record = sizes.join(format!("{}-example-service-{variant}.json", u.id));
        assert!(record.is_file(), "{} was recorded", record.display());
        let _ = std::fs::remove_file(record);
    }
    out.code(Exit::Ok)
        .contains("docker-test (variant=release)")
        .contains("docker-test (variant=debug)")
        .contains("MiB of memory in use (limit 512 MiB)")
        .contains(&format!("image {image}:release:"));
    assert_eq!(
        lines(&docker(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("name=xtask-{}", "example-service")
        ])),
        Vec::<String>::new()
    );
    let dangling_after = dangling();
    let new: Vec<&String> = dangling_after
        .iter()
        .filter(|d| !dangling_before.contains(d))
        .collect();
    assert!(new.is_empty(), "dangling images appeared: {new:?}");
    assert!(u.images().len() >= 2, "both variants were built");
}

/// Rebuilding a tag with new content moves the tag; the image it named before would dangle, so
/// the build removes it.
#[test]
fn rebuilding_a_tag_leaves_no_dangling_image() {
    if !support::docker_engine() {
        return;
    }
    let u = Unique::new();
    let p = Project::new().file("ctx/Dockerfile", "FROM scratch\nCOPY blob /blob\n").task(
        "twice",
        &format!(
            r#"
            job("twice", || {{
                let options = #{{ context: "ctx", tags: ["{id}:same"], labels: #{{ "dev.xtask.test": "{id}" }} }};
                write("ctx/blob", "first");
                let first = docker::build(options);
                write("ctx/blob", "second");
                let second = docker::build(options);
                assert_eq(first.id != second.id, true, "new content, new image");
                write("ids.txt", `${{first.id}} ${{second.id}}`);
            }});
            "#,
            id = u.id
        ),
    );
    run(&p, &["twice"], &[])
        .code(Exit::Ok)
        .contains("removed the image these tags named before");
    let ids = std::fs::read_to_string(p.join("ids.txt")).unwrap();
    let first = ids.split(' ').next().unwrap();
    let gone = Command::new("docker")
        .args(["image", "inspect", first])
        .output()
        .unwrap();
    assert!(
        !gone.status.success(),
        "the first image {first} is still there"
    );
    u.assert_clean();
}

#[test]
fn a_job_timeout_removes_the_container() {
    if !support::docker_engine() {
        return;
    }
    static_debug_binary();
    let u = Unique::new();
    let p = Project::new().task(
        "slow",
        &format!(
            r#"
            job("build", || {{
                docker::build(#{{ context: "{context}", variant: "debug", tags: ["{id}:debug"], labels: #{{ "dev.xtask.test": "{id}" }} }});
            }});
            job("slow", #{{ needs: ["build"], timeout: "15s" }}, || {{
                docker::run("{id}:debug", #{{ name: "{id}-slow", network: "none", args: ["--listen", "127.0.0.1:0"], ready: #{{ log: "listening on" }} }});
                write("ready.marker", "up");
                run(["sleep", "600"]);
            }});
            "#,
            context = example().display(),
            id = u.id
        ),
    );
    let started = Instant::now();
    run(&p, &["slow"], &[])
        .code(Exit::Failed)
        .contains("timed out");
    assert!(p.join("ready.marker").exists(), "the container had started");
    // The job sleeps ten minutes; ending long before means the timeout stopped it.
    assert!(started.elapsed() < Duration::from_secs(240));
    u.assert_clean();
}

/// hadolint and trivy cannot be installed here: stand-ins on PATH record how they are called
/// (the real tools' exit code 1 means findings). Absent, each call is a note and a skip reason.
#[test]
fn scanners_run_when_installed_and_are_skipped_with_a_reason_when_not() {
    let p = Project::new()
        .file("Dockerfile", "FROM scratch\n")
        .file(
            "bin/hadolint",
            "#!/bin/sh\necho \"hadolint $*\" > hadolint.args\necho 'DL3006 warning: always tag the image'\nexit 1\n",
        )
        .file("bin/trivy", "#!/bin/sh\necho \"$*\" > trivy.args\nexit 0\n")
        .task(
            "scan",
            r#"
            job("lint", || docker::lint("Dockerfile"));
            job("scan", || {
                let r = docker::scan("app:1", #{ severity: "CRITICAL" });
                assert_eq(r.ran, true);
            });
            job("absent", || {
                let r = docker::lint("Dockerfile");
                if !r.ran { skip(r.reason); }
            });
            "#,
        );
    for tool in ["hadolint", "trivy"] {
        support::make_executable(&p.join(&format!("bin/{tool}")));
    }
    let path = support::path_with_first(&p.join("bin"));
    run(&p, &["scan", "--job", "lint"], &[("PATH", &path)])
        .code(Exit::Failed)
        .contains("DL3006")
        .contains("command failed with exit status 1")
        .contains("scan.rhai:2");
    let args = std::fs::read_to_string(p.join("hadolint.args")).unwrap();
    assert!(args.trim_end().ends_with("/Dockerfile"), "{args}");
    run(&p, &["scan", "--job", "scan"], &[("PATH", &path)]).code(Exit::Ok);
    let args = std::fs::read_to_string(p.join("trivy.args")).unwrap();
    assert_eq!(
        args.trim(),
        "image --exit-code 1 --no-progress --severity CRITICAL app:1"
    );
    run(
        &p,
        &["scan", "--job", "absent"],
        &[("PATH", "/usr/bin:/bin")],
    )
    .code(Exit::Ok)
    .contains("hadolint is not installed: Dockerfile lint skipped");
}
