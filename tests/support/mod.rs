//! The integration-test harness: a throwaway project tree (tasks/, lib/, any files), runs of
//! the real xtask binary in it ([`Invocation`]: environment, input), git repository helpers,
//! stand-in programs put first on PATH, and visible skips for missing components.

// Each binary that includes the harness (the tests, benches/perf_gate.rs) uses a part of it.
#![allow(dead_code, unused_imports)]

mod process;
mod repo;
mod skip;
mod stand_in;
mod xtask;

pub use process::{gone_within, pid_alive, stdout_of, wait_for_file};
pub use repo::{commit_all, git, git_with, init_repo};
pub use skip::{docker_engine, installed, pg_servers, require, required, skip};
pub use stand_in::{make_executable, path_with_first, write_program};
pub use xtask::{xtask_in, Invocation, Spawned};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
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

    /// xtask with `args` in this project, to add environment or input to before it runs.
    pub fn xtask(&self, args: &[&str]) -> Invocation {
        xtask_in(self.path(), args)
    }

    /// The command of `xtask(args)`, for a test that wires the child's streams itself.
    pub fn command(&self, args: &[&str]) -> Command {
        self.xtask(args).command()
    }

    /// Runs xtask to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        self.xtask(args).run()
    }

    /// Starts xtask in the background, output piped.
    pub fn spawn(&self, args: &[&str]) -> Spawned {
        self.xtask(args).spawn()
    }

    /// `git <args>` in this project (fixed identity); stdout, trimmed.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }

    /// Makes this project a git repository on `main` with every file committed as `message`.
    #[track_caller]
    pub fn init_repo(&self, message: &str) {
        init_repo(self.path(), message)
    }

    /// Stages everything and commits it as `message`.
    #[track_caller]
    pub fn commit_all(&self, message: &str) {
        commit_all(self.path(), message)
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
