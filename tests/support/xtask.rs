//! One run of the real xtask binary, built up before it starts: arguments, environment, input.
//! Every test runs xtask through this, so the defaults below (no colour, not in GitHub
//! Actions unless asked, no terminal input) hold everywhere.

use std::ffi::OsStr;
use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::Run;

pub struct Invocation {
    command: Command,
    stdin: Option<Vec<u8>>,
}

/// xtask run with `args` in `dir`.
pub fn xtask_in(dir: &Path, args: &[&str]) -> Invocation {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS");
    Invocation {
        command,
        stdin: None,
    }
}

impl Invocation {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.command.envs(vars);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.command.env_remove(key);
        self
    }

    /// As under GitHub Actions (`GITHUB_ACTIONS=true`): groups, annotations, masking notices.
    pub fn actions(self) -> Self {
        self.env("GITHUB_ACTIONS", "true")
    }

    /// Gives the run `text` on stdin (by default it has none: stdin is /dev/null).
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.as_bytes().to_vec());
        self
    }

    /// The command as built, for a test that wires the child's streams itself.
    pub fn command(mut self) -> Command {
        self.command.stdin(Stdio::null());
        self.command
    }

    /// Runs xtask to completion.
    pub fn run(mut self) -> Run {
        let Some(input) = self.stdin.take() else {
            return Run::from(self.command().output().expect("run xtask"));
        };
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run xtask");
        let mut pipe = child.stdin.take().unwrap();
        // Written beside the run: a child that prints before it reads must not block on a full
        // pipe while its input waits. A child that exits unread only closes the pipe.
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let out = child.wait_with_output().expect("run xtask");
        writer.join().unwrap();
        Run::from(out)
    }

    /// Starts xtask in the background, stdout and stderr piped.
    pub fn spawn(self) -> Spawned {
        Spawned(Some(
            self.command()
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn xtask"),
        ))
    }
}

/// A background xtask that cannot outlive its test: a test that panics before it waits (a
/// failed assertion, a poll that gave up) stops it on drop — SIGTERM, so it cleans up what it
/// started, then SIGKILL if it is still there after 30 s — instead of leaving it running into
/// the test's removed temp dir. A `Child` otherwise (`id`, `wait`, `try_wait`, pipes).
pub struct Spawned(Option<Child>);

impl Spawned {
    pub fn wait_with_output(mut self) -> std::io::Result<Output> {
        self.0.take().expect("not waited yet").wait_with_output()
    }
}

impl Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("not waited yet")
    }
}

impl DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("not waited yet")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let Some(child) = self.0.as_mut() else {
            return;
        };
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        // SAFETY: a signal to the pid of a child not yet reaped, so not reused.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let asked = Instant::now();
        while matches!(child.try_wait(), Ok(None)) {
            if asked.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
