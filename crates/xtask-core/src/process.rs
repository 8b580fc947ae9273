//! The process layer: runs one program as an argv array in its own process group, streams its
//! output as complete lines, enforces a timeout, and honours cancellation. Nothing it starts
//! outlives the call: when the program exits, whatever it left in its group is killed.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::cancel::{self, CancelToken, GroupGuard};

/// After the program exits, how long its output pipe may stay open (held by a process that
/// escaped its group) before we stop waiting for it.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// The most output read at once, and so the largest chunk a sink receives.
const CHUNK: usize = 256 * 1024;
/// What the output pipe may hold before the program waits for us (see `widen_pipe`).
#[cfg(target_os = "linux")]
const PIPE_SIZE: usize = 1024 * 1024;

#[derive(Debug, Default, Clone)]
pub struct Spec {
    pub argv: Vec<String>,
    /// Changes to the inherited environment: `None` removes the variable.
    pub env: Vec<(String, Option<String>)>,
    pub dir: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub stdin: Option<Vec<u8>>,
    /// Capture stdout instead of streaming it (stderr still streams).
    pub capture_stdout: bool,
    /// Run as this uid/gid (supplementary groups dropped): servers that refuse root.
    pub user: Option<(u32, u32)>,
}

impl Spec {
    /// `program args…` run in `dir` with its stdout captured: how every query starts (`git`
    /// for refs, stamps and checkouts).
    pub fn query(program: &str, args: &[&str], dir: &Path) -> Spec {
        Spec {
            argv: std::iter::once(program)
                .chain(args.iter().copied())
                .map(String::from)
                .collect(),
            dir: Some(dir.to_path_buf()),
            capture_stdout: true,
            ..Spec::default()
        }
    }
}

impl Spec {
    /// Runs this query to completion with its stdout captured and its stderr collected (not
    /// streamed): the one way a one-shot question (`git`, `cargo metadata`, `--version`,
    /// `docker` probes) is asked. Cleanup that must work after Ctrl-C passes a fresh token.
    pub fn output(&self, token: &CancelToken) -> Result<Answer, Failure> {
        let spec = Spec {
            capture_stdout: true,
            ..self.clone()
        };
        let stderr = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink: Sink = {
            let stderr = Arc::clone(&stderr);
            Arc::new(move |bytes| stderr.lock().unwrap().extend_from_slice(&bytes))
        };
        let finished = execute(&spec, token, sink)?;
        let stderr = std::mem::take(&mut *stderr.lock().unwrap());
        Ok(Answer { finished, stderr })
    }
}

/// What a query printed, and how it ended ([`Spec::output`]).
#[derive(Debug)]
pub struct Answer {
    pub finished: Finished,
    pub stderr: Vec<u8>,
}

impl Answer {
    pub fn success(&self) -> bool {
        self.finished.success()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.finished.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub duration: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// "exit status 3" / "killed by signal 9".
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => "unknown status".into(),
        }
    }
}

/// Why a child could not run to its end: a typed error (`std::error::Error`), so callers can
/// match on it and the script layer turns it into a message in one place.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("program not found: `{program}` (is it installed and on PATH?)")]
    NotFound { program: String },
    #[error("working directory does not exist: {}", dir.display())]
    BadDir { dir: PathBuf },
    #[error("could not run: {0}")]
    Io(#[source] io::Error),
    #[error("timed out after {}", crate::duration::format(*after))]
    TimedOut { after: Duration },
    #[error("cancelled: {reason}")]
    Cancelled { reason: String },
}

/// Shell-like rendering of an argv for messages and "reproduce with" hints.
pub fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where a command's output goes: chunks of whole lines.
pub type Sink = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

/// What the kernel accounted to a finished program and the descendants it waited for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub user: Duration,
    pub sys: Duration,
    /// Peak resident set size of the largest single process in the tree, in KiB.
    pub max_rss_kib: u64,
}

/// Runs `spec` to completion. `sink` receives stdout+stderr (or only stderr when stdout is
/// captured) in chunks of whole lines.
pub fn execute(spec: &Spec, token: &CancelToken, sink: Sink) -> Result<Finished, Failure> {
    run(spec, token, sink, false).map(|(finished, _)| finished)
}

/// [`execute`], also returning the program's resource usage (`None` where the OS cannot report
/// it for one child).
pub fn execute_measured(
    spec: &Spec,
    token: &CancelToken,
    sink: Sink,
) -> Result<(Finished, Option<Usage>), Failure> {
    run(spec, token, sink, true)
}

fn run(
    spec: &Spec,
    token: &CancelToken,
    sink: Sink,
    measure: bool,
) -> Result<(Finished, Option<Usage>), Failure> {
    if token.is_cancelled() {
        return Err(Failure::Cancelled {
            reason: token.reason().unwrap_or_default(),
        });
    }
    let mut command = command(spec)?;
    let (out_reader, out_writer) = os_pipe::pipe().map_err(Failure::Io)?;
    widen_pipe(&out_reader);
    command.stderr(out_writer.try_clone().map_err(Failure::Io)?);
    let mut stdout_reader = None;
    if spec.capture_stdout {
        let (reader, writer) = os_pipe::pipe().map_err(Failure::Io)?;
        command.stdout(writer);
        stdout_reader = Some(reader);
        // Only the child may hold the write end, or the reader never sees EOF.
        drop(out_writer);
    } else {
        command.stdout(out_writer);
    }
    command.stdin(match &spec.stdin {
        Some(_) => Stdio::piped(),
        None => Stdio::null(),
    });
    let program = &spec.argv[0];

    let started = Instant::now();
    let spawned = command.spawn();
    // The command holds our copies of the pipes' write ends: drop it so readers see EOF.
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Failure::NotFound {
                program: program.clone(),
            })
        }
        Err(e) => return Err(Failure::Io(e)),
    };
    if let (Some(mut input), Some(bytes)) = (child.stdin.take(), spec.stdin.clone()) {
        // A program that exits without reading its input closes the pipe: that is not an error.
        thread::spawn(move || {
            let _ = input.write_all(&bytes);
        });
    }
    let pgid = child.id() as i32;
    let group = token.track_group(pgid);

    let (drained_tx, drained_rx) = mpsc::channel::<()>();
    {
        let sink = Arc::clone(&sink);
        let drained_tx = drained_tx.clone();
        // A helper kept for the next command: a thread of its own per command costs more
        // than a short command's output.
        let pump = move || {
            pump_lines(out_reader, &*sink);
            let _ = drained_tx.send(());
        };
        if let Err(e) = crate::workers::spawn(pump) {
            // Nothing would read its output: stop the command rather than leave it running.
            cancel::signal_group(pgid, libc::SIGKILL);
            let _ = child.wait();
            return Err(Failure::Io(e));
        }
    }
    let captured = stdout_reader.map(|mut reader| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = reader.read_to_end(&mut bytes);
            bytes
        })
    });
    drop(drained_tx);

    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = spec.timeout.map(|limit| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let timed_out = Arc::clone(&timed_out);
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
                timed_out.store(true, Ordering::SeqCst);
                cancel::signal_group(pgid, libc::SIGTERM);
                if let Err(mpsc::RecvTimeoutError::Timeout) =
                    done_rx.recv_timeout(cancel::KILL_GRACE)
                {
                    cancel::signal_group(pgid, libc::SIGKILL);
                }
            }
        });
        done_tx
    });

    // Read the child's rusage while it is a zombie, before `wait` reaps it.
    let usage = if measure { exited_usage(pgid) } else { None };
    let status = child.wait().map_err(Failure::Io)?;
    let duration = started.elapsed();
    drop(watchdog);
    // Kill what the program left behind in its group, then collect the rest of its output.
    drop(group);
    let _ = drained_rx.recv_timeout(DRAIN_GRACE);
    let stdout = captured
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default();

    if timed_out.load(Ordering::SeqCst) {
        return Err(Failure::TimedOut {
            after: spec.timeout.unwrap_or_default(),
        });
    }
    if token.is_cancelled() && !status.success() {
        return Err(Failure::Cancelled {
            reason: token.reason().unwrap_or_default(),
        });
    }
    Ok((
        Finished {
            code: status.code(),
            signal: status.signal(),
            stdout,
            duration,
        },
        usage,
    ))
}

/// The command every child starts from: `spec`'s program and arguments in its own process
/// group, in its directory, as its user, with its environment changes. Stdio is the caller's.
fn command(spec: &Spec) -> Result<Command, Failure> {
    let (program, args) = spec.argv.split_first().ok_or(Failure::Io(io::Error::new(
        io::ErrorKind::InvalidInput,
        "empty command",
    )))?;
    if let Some(dir) = &spec.dir {
        if !dir.is_dir() {
            return Err(Failure::BadDir { dir: dir.clone() });
        }
    }
    if let Some(name) = unset_secret(spec) {
        return Err(Failure::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("secret `{name}` is not set (expected in the environment variable {name})"),
        )));
    }
    let executable = match executable(program, spec.dir.is_some()) {
        Ok(executable) => executable,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Failure::NotFound {
                program: program.clone(),
            })
        }
        Err(e) => return Err(Failure::Io(e)),
    };
    // Started by its path when PATH names it: otherwise the spawn tries `execve` in every
    // directory before it (each failed try costs the kernel a new address space and a copy of
    // the arguments and environment), on every command.
    let mut command = match find_on_path(spec) {
        Some(found) => {
            let mut command = Command::new(found);
            command.arg0(program);
            command
        }
        None => Command::new(executable),
    };
    command
        .args(args)
        // Own process group: Ctrl-C in the terminal reaches only us, and we can signal the
        // whole tree the program starts.
        .process_group(0);
    if let Some((uid, gid)) = spec.user {
        command.uid(uid).gid(gid);
    }
    if let Some(dir) = &spec.dir {
        command.current_dir(dir);
    }
    // Only the changes: a command whose environment is rebuilt whole (PATH included) cannot be
    // started with posix_spawn, and forking a process with many threads and a big heap costs
    // far more than the command it starts.
    for (key, value) in &spec.env {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    Ok(command)
}

/// Where a background child's stdout and stderr go.
pub enum Output {
    /// One pipe for both: read it from [`Background::output`] until every writer closed it.
    Pipe,
    /// This file, for both.
    File(std::fs::File),
}

/// A child left running: in its own process group, which the token that started it
/// terminates when cancelled and `group` kills when dropped.
pub struct Background {
    pub child: std::process::Child,
    pub group: GroupGuard,
    /// The read end of [`Output::Pipe`].
    pub output: Option<os_pipe::PipeReader>,
}

/// Starts `spec` and leaves it running (servers, services). Its stdin is null; `timeout`,
/// `stdin` and `capture_stdout` do not apply: the owner decides when it stops.
pub fn spawn_background(
    spec: &Spec,
    output: Output,
    token: &CancelToken,
) -> Result<Background, Failure> {
    let mut command = command(spec)?;
    command.stdin(Stdio::null());
    let reader = match output {
        Output::Pipe => {
            let (reader, writer) = os_pipe::pipe().map_err(Failure::Io)?;
            command
                .stdout(writer.try_clone().map_err(Failure::Io)?)
                .stderr(writer);
            Some(reader)
        }
        Output::File(file) => {
            command
                .stdout(file.try_clone().map_err(Failure::Io)?)
                .stderr(file);
            None
        }
    };
    let spawned = command.spawn();
    // The command holds the pipe's write ends: drop them so the reader sees EOF at exit.
    drop(command);
    let child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Failure::NotFound {
                program: spec.argv[0].clone(),
            })
        }
        Err(e) => return Err(Failure::Io(e)),
    };
    let group = token.track_group(child.id() as i32);
    Ok(Background {
        child,
        group,
        output: reader,
    })
}

/// The program to start. A relative path with a slash (`./scripts/check.sh`) means the file
/// relative to the runner's directory, also when the command runs in another one: the child's
/// `chdir` would otherwise change what it names.
fn executable(program: &str, changes_dir: bool) -> io::Result<OsString> {
    let path = Path::new(program);
    if changes_dir && program.contains('/') && path.is_relative() {
        return path.canonicalize().map(Into::into);
    }
    Ok(program.into())
}

/// Where a command's program is on the PATH it runs with (`spec`'s own, else the inherited
/// one): the first directory holding an executable file of that name, as `execvp` would find
/// it. `None` for a path (`./x`, `/bin/x`), a relative PATH entry (the child resolves it from
/// its own directory), a command run as another user (what it may execute is not what we
/// may), or a program PATH does not have: the spawn then searches as it always did, and
/// reports what it did not find.
pub fn find_on_path(spec: &Spec) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let program = spec.argv.first()?;
    if program.is_empty() || program.contains('/') || spec.user.is_some() {
        return None;
    }
    let path = match spec.env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, value)) => OsString::from(value.clone()?),
        None => std::env::var_os("PATH")?,
    };
    for dir in std::env::split_paths(&path) {
        if dir.is_relative() {
            return None;
        }
        let candidate = dir.join(program);
        match std::fs::metadata(&candidate) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Some(candidate)
            }
            _ => {}
        }
    }
    None
}

/// Gives the output pipe room for a megabyte, so a program printing a lot is not stopped at
/// every 64 KiB to wait for the reader to be scheduled (and the reader takes bigger chunks).
/// Best effort: the kernel may refuse (a lower limit, another OS), and 64 KiB still works.
fn widen_pipe(reader: &os_pipe::PipeReader) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: F_SETPIPE_SZ takes an int and touches no memory of ours.
        unsafe {
            libc::fcntl(
                reader.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                PIPE_SIZE as libc::c_int,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = reader;
}

/// An unset secret's placeholder in the command line, environment or input: the command
/// would run with a value that is not there.
fn unset_secret(spec: &Spec) -> Option<String> {
    let env = spec.env.iter().filter_map(|(_, v)| v.as_deref());
    let stdin = spec.stdin.as_deref().map(String::from_utf8_lossy);
    spec.argv
        .iter()
        .map(String::as_str)
        .chain(env)
        .chain(stdin.as_deref())
        .find_map(crate::redact::unset_secret_in)
        .map(str::to_string)
}

/// Blocks until `pid` has exited and returns its rusage without reaping it, so the normal
/// wait still collects the status. Linux's `waitid` takes a rusage argument (the libc wrapper
/// hides it) and fills it for `WNOWAIT` too: the child's own usage plus that of every
/// descendant it waited for, exactly what `wait4` would report.
#[cfg(target_os = "linux")]
fn exited_usage(pid: i32) -> Option<Usage> {
    if pid <= 0 {
        return None;
    }
    loop {
        // SAFETY: both out-pointers are to zeroed, writable structs of the kernel's layout.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                libc::P_PID,
                pid,
                &mut info as *mut libc::siginfo_t,
                libc::WEXITED | libc::WNOWAIT,
                &mut usage as *mut libc::rusage,
            )
        };
        if rc == 0 {
            let time = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec.max(0) as u64)
                    + Duration::from_micros(t.tv_usec.max(0) as u64)
            };
            return Some(Usage {
                user: time(usage.ru_utime),
                sys: time(usage.ru_stime),
                max_rss_kib: usage.ru_maxrss.max(0) as u64,
            });
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return None;
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn exited_usage(_pid: i32) -> Option<Usage> {
    None
}

/// Reads `reader` to EOF, handing whole lines to `sink` (a final partial line at EOF, and
/// over-long lines, are flushed as they are). The kernel copies output straight into the
/// buffer a big chunk leaves in; a small read (a chatty program's line) is copied out at its
/// size, so no event holds a mostly empty buffer.
fn pump_lines(reader: os_pipe::PipeReader, sink: &(dyn Fn(Vec<u8>) + Send + Sync)) {
    // What was read and not handed on yet: the start of a line whose end is still to come.
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    loop {
        if buf.capacity() - buf.len() < CHUNK / 4 {
            buf.reserve(CHUNK);
        }
        let before = buf.len();
        let n = match read_into_spare(&reader, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let end = match buf[before..before + n].iter().rposition(|&b| b == b'\n') {
            Some(last) => before + last + 1,
            None if buf.len() >= CHUNK => buf.len(),
            None => continue,
        };
        if end <= CHUNK / 4 {
            sink(buf[..end].to_vec());
            buf.drain(..end);
        } else {
            let mut next = Vec::with_capacity(CHUNK.max(buf.len() - end));
            next.extend_from_slice(&buf[end..]);
            buf.truncate(end);
            sink(std::mem::replace(&mut buf, next));
        }
    }
    if !buf.is_empty() {
        buf.push(b'\n');
        sink(buf);
    }
}

/// One `read(2)` into the unused capacity of `buf`, which grows by what was read (no zeroing
/// first: a chatty program's reads are small, the buffer is not).
fn read_into_spare(reader: &os_pipe::PipeReader, buf: &mut Vec<u8>) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = buf.spare_capacity_mut();
    // SAFETY: read(2) writes at most `spare.len()` bytes at the start of the spare capacity,
    // which belongs to `buf`; `set_len` then covers exactly the bytes it wrote.
    let n = unsafe { libc::read(reader.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn program_in(dir: &Path, name: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn with_path(program: &str, path: &str) -> Spec {
        Spec {
            argv: vec![program.into()],
            env: vec![("PATH".into(), Some(path.into()))],
            ..Spec::default()
        }
    }

    #[test]
    fn a_program_is_found_where_execvp_would_find_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (first, second) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir_all(&first).unwrap();
        std::fs::create_dir_all(&second).unwrap();
        // Not executable in the first directory: execvp goes on to the next.
        program_in(&first, "tool", 0o644);
        let runnable = program_in(&second, "tool", 0o755);
        std::fs::create_dir(first.join("sub")).unwrap();
        let path = format!("{}:{}", first.display(), second.display());
        assert_eq!(
            find_on_path(&with_path("tool", &path)),
            Some(runnable.clone())
        );
        // A directory of that name is not a program either.
        assert_eq!(find_on_path(&with_path("sub", &path)), None);
        assert_eq!(find_on_path(&with_path("missing", &path)), None);
        // Paths and relative PATH entries are left to the spawn, as before.
        assert_eq!(find_on_path(&with_path("./tool", &path)), None);
        let relative = format!("rel:{}", second.display());
        assert_eq!(find_on_path(&with_path("tool", &relative)), None);
        let empty_entry = format!(":{}", second.display());
        assert_eq!(find_on_path(&with_path("tool", &empty_entry)), None);
        // Another user's search is the child's own: it may not execute what we may.
        let as_other = Spec {
            user: Some((65534, 65534)),
            ..with_path("tool", &path)
        };
        assert_eq!(find_on_path(&as_other), None);
    }

    #[test]
    fn a_program_found_on_path_runs_with_the_name_it_was_given() {
        let tmp = tempfile::tempdir().unwrap();
        // A shell under another name: `-c 'echo $0'` prints the argv[0] it was started with.
        std::os::unix::fs::symlink("/bin/sh", tmp.path().join("tool")).unwrap();
        let spec = Spec {
            argv: vec!["tool".into(), "-c".into(), "echo $0".into()],
            ..with_path("tool", &tmp.path().display().to_string())
        };
        assert!(find_on_path(&spec).is_some());
        let answer = spec.output(&CancelToken::new()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&answer.finished.stdout).trim(),
            "tool"
        );
    }

    fn collect() -> (Sink, Arc<Mutex<Vec<u8>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let out2 = Arc::clone(&out);
        (
            Arc::new(move |b: Vec<u8>| out2.lock().unwrap().extend(b)),
            out,
        )
    }

    fn spec(argv: &[&str]) -> Spec {
        Spec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            ..Spec::default()
        }
    }

    #[test]
    fn streams_merged_output_and_reports_status() {
        let (sink, out) = collect();
        let done = execute(
            &spec(&["sh", "-c", "echo out; echo err >&2; printf tail; exit 3"]),
            &CancelToken::new(),
            sink,
        )
        .unwrap();
        assert_eq!(done.code, Some(3));
        assert_eq!(
            String::from_utf8_lossy(&out.lock().unwrap()),
            "out\nerr\ntail\n"
        );
    }

    #[test]
    fn captures_stdout_separately() {
        let (sink, out) = collect();
        let mut s = spec(&["sh", "-c", "echo captured; echo streamed >&2"]);
        s.capture_stdout = true;
        let done = execute(&s, &CancelToken::new(), sink).unwrap();
        assert_eq!(done.stdout, b"captured\n");
        assert_eq!(&*out.lock().unwrap(), b"streamed\n");
    }

    #[test]
    fn big_output_arrives_whole_in_chunks_of_whole_lines() {
        let chunks = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let sink: Sink = {
            let chunks = Arc::clone(&chunks);
            Arc::new(move |b: Vec<u8>| chunks.lock().unwrap().push(b))
        };
        // Short lines across many reads, a line longer than a chunk, and no final newline.
        let script = "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done; \
                      head -c 700000 /dev/zero | tr '\\0' x; echo; printf tail";
        let done = execute(&spec(&["sh", "-c", script]), &CancelToken::new(), sink).unwrap();
        assert!(done.success());
        let chunks = chunks.lock().unwrap();
        assert!(
            chunks
                .iter()
                .all(|c| c.ends_with(b"\n") || c.len() >= CHUNK),
            "chunks end at line ends, but for a piece of an over-long line"
        );
        let mut expected = String::new();
        for i in 0..20000 {
            expected.push_str(&format!("line-{i}\n"));
        }
        expected.push_str(&"x".repeat(700000));
        expected.push_str("\ntail\n");
        assert_eq!(String::from_utf8(chunks.concat()).unwrap(), expected);
    }

    #[test]
    fn feeds_stdin_and_changes_the_environment() {
        let (sink, out) = collect();
        let mut s = spec(&["sh", "-c", "cat; echo \"[$XTASK_T_SET][${HOME:-gone}]\""]);
        s.stdin = Some(b"from stdin\n".to_vec());
        s.env = vec![
            ("XTASK_T_SET".into(), Some("yes".into())),
            ("HOME".into(), None),
        ];
        let done = execute(&s, &CancelToken::new(), sink).unwrap();
        assert!(done.success());
        assert_eq!(
            String::from_utf8_lossy(&out.lock().unwrap()),
            "from stdin\n[yes][gone]\n"
        );
    }

    #[test]
    fn missing_program_is_named() {
        let (sink, _) = collect();
        let err = execute(&spec(&["no-such-program-xyz"]), &CancelToken::new(), sink).unwrap_err();
        assert!(err.to_string().contains("no-such-program-xyz"), "{err}");
    }

    #[test]
    fn measured_runs_report_the_tree_s_peak_memory_and_cpu() {
        let (sink, _) = collect();
        // The shell holds 64 MiB read from a pipeline it waited for.
        let (done, usage) = execute_measured(
            &spec(&[
                "sh",
                "-c",
                "x=$(head -c 67108864 /dev/zero | tr '\\0' a); exit 4",
            ]),
            &CancelToken::new(),
            sink,
        )
        .unwrap();
        assert_eq!(done.code, Some(4), "the status is still collected");
        let usage = usage.expect("rusage on Linux");
        assert!(usage.max_rss_kib > 64 * 1024, "{usage:?}");
        assert!(usage.user + usage.sys > Duration::ZERO, "{usage:?}");
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let (sink, _) = collect();
        let mut s = spec(&["sh", "-c", "sleep 30 & sleep 30"]);
        s.timeout = Some(Duration::from_millis(200));
        let started = Instant::now();
        let err = execute(&s, &CancelToken::new(), sink).unwrap_err();
        assert!(matches!(err, Failure::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn background_children_run_in_their_own_group_until_it_is_dropped() {
        let mut s = spec(&["sh", "-c", "echo \"$XTASK_T_BG $(pwd)\"; sleep 30 & wait"]);
        s.env = vec![("XTASK_T_BG".into(), Some("set".into()))];
        s.dir = Some(std::env::temp_dir().canonicalize().unwrap());
        let token = CancelToken::new();
        let mut bg = spawn_background(&s, Output::Pipe, &token).unwrap();
        let pid = bg.child.id() as i32;
        // SAFETY: getpgid(2) reads no memory of ours.
        assert_eq!(unsafe { libc::getpgid(pid) }, pid, "leads its own group");
        let mut first = String::new();
        let mut reader = io::BufReader::new(bg.output.take().unwrap());
        io::BufRead::read_line(&mut reader, &mut first).unwrap();
        assert_eq!(
            first.trim_end(),
            format!("set {}", s.dir.as_ref().unwrap().display())
        );
        drop(bg.group);
        let status = bg.child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        // The background `sleep` died with the group: the pipe's last writer is gone.
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "");
    }

    #[test]
    fn background_start_failures_name_the_program_and_dir() {
        let token = CancelToken::new();
        let err = spawn_background(&spec(&["no-such-program-xyz"]), Output::Pipe, &token)
            .err()
            .unwrap();
        assert!(matches!(err, Failure::NotFound { .. }), "{err}");
        let mut s = spec(&["true"]);
        s.dir = Some("/no/such/dir".into());
        let err = spawn_background(&s, Output::Pipe, &token).err().unwrap();
        assert!(matches!(err, Failure::BadDir { .. }), "{err}");
    }

    #[test]
    fn a_failure_is_a_std_error_with_its_message() {
        let mut s = spec(&["true"]);
        s.dir = Some("/no/such/dir".into());
        let err: Box<dyn std::error::Error> =
            Box::new(execute(&s, &CancelToken::new(), Arc::new(|_| {})).unwrap_err());
        assert_eq!(
            err.to_string(),
            "working directory does not exist: /no/such/dir"
        );
    }
}
