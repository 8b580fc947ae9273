//! One run of the real xtask binary, built up before it starts: arguments, environment, input.
//! Every test runs xtask through this, so the defaults below (no colour, not in GitHub
//! Actions unless asked, no terminal input) hold everywhere.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
    pub fn spawn(self) -> Child {
        self.command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn xtask")
    }
}
