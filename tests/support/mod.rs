//! Test builder: a throwaway project tree (tasks/, lib/, any files) and a way to run the real
//! xtask binary in it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use xtask_core::exit::Exit;

pub struct Project {
    dir: tempfile::TempDir,
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("xtask-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join("tasks")).unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `tasks/<name>.rhai`.
    pub fn task(self, name: &str, script: &str) -> Self {
        self.file(&format!("tasks/{name}.rhai"), script)
    }

    /// Writes `lib/<name>.rhai`.
    pub fn lib(self, name: &str, script: &str) -> Self {
        self.file(&format!("lib/{name}.rhai"), script)
    }

    pub fn file(self, path: &str, contents: &str) -> Self {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
        self
    }

    pub fn join(&self, path: &str) -> PathBuf {
        self.dir.path().join(path)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs xtask to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run xtask"))
    }

    /// Starts xtask in the background, output piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn xtask")
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: out
                .status
                .code()
                .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Asserts the run ended with `expected` (the runner's own exit code type, so a test
    /// cannot name a code the runner does not have).
    #[track_caller]
    pub fn code(&self, expected: Exit) -> &Self {
        assert_eq!(
            self.code,
            expected.code(),
            "unexpected exit code: {} ({:?} expected)\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            expected,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn contains(&self, needle: &str) -> &Self {
        assert!(
            self.all().contains(needle),
            "output lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.all().contains(needle),
            "output has {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Waits until `path` exists (polling), or panics after `limit`.
#[track_caller]
pub fn wait_for_file(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < limit,
            "{} did not appear within {limit:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process is still running (a killed process not yet reaped by init is not).
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Whether a process is gone within `limit` (a signal takes a moment to land).
pub fn gone_within(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    while pid_alive(pid) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Whether a service the test needs must be present: CI sets `XTASK_REQUIRE_<NAME>=1` (or
/// `CI=true`), so a missing PostgreSQL or Docker fails there instead of skipping.
pub fn required(name: &str) -> bool {
    std::env::var(format!("XTASK_REQUIRE_{name}")).is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Runs git in `dir` with a fixed identity (and `extra_env`), failing the test on error;
/// returns stdout, trimmed.
#[track_caller]
pub fn git_with(dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgSign=false",
            "-c",
            "tag.gpgSign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "xtask test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "xtask test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .envs(extra_env.iter().copied())
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with(dir, args, &[])
}

/// Whether XTASK_PG_PATH lists a server bin directory of each of `versions`; in CI a missing
/// one fails the test, locally it is a visible skip.
pub fn pg_servers(versions: &[u32]) -> bool {
    let path = std::env::var("XTASK_PG_PATH").unwrap_or_default();
    let found = versions.iter().all(|v| {
        path.split(':')
            .any(|d| d.contains(&format!("/{v}/")) && Path::new(d).join("initdb").exists())
    });
    if !found {
        assert!(
            !required("PG"),
            "PostgreSQL {versions:?} required: set XTASK_PG_PATH (bash .ci/provision-postgres.sh)"
        );
        eprintln!("skipped: XTASK_PG_PATH does not list PostgreSQL {versions:?}");
    }
    found
}

/// Whether a docker engine answers; in CI a missing one fails the test, locally it is a
/// visible skip.
pub fn docker_engine() -> bool {
    let up = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !up {
        assert!(
            !required("DOCKER"),
            "no docker engine answers, and CI requires one (run .ci/start-docker.sh)"
        );
        eprintln!("skipping: no docker engine answers (run .ci/start-docker.sh)");
    }
    up
}
