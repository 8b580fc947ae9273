//! Throwaway clusters: `initdb` into a fresh directory (on memory when there is room, see
//! `clusters_parent`), `postgres` on a free loopback port with a private socket dir, stopped
//! and removed when their owner drops them.
//!
//! initdb's result is cached per server build (see `template`), so usually a cluster starts
//! from a copy.
//!
//! Throwaway clusters trade durability for speed: `fsync`, `synchronous_commit` and
//! `full_page_writes` are off and initdb skips its final sync. Never point one at data you keep.

use std::ffi::CString;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::client;
use super::discover::Install;
use super::error::{ClusterProblem, PgError};
use super::template;
use super::Ctx;
use crate::cancel::GroupGuard;
use crate::process::{self, Spec};

/// How long a server may take to accept connections after it was started.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long an immediate shutdown may take before the group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(25);

/// Settings every throwaway cluster gets (on top of port, address and socket dir).
const FAST: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
];

#[derive(Clone, Debug)]
pub struct Options {
    pub locale: String,
    pub settings: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            locale: "C.UTF-8".into(),
            settings: Vec::new(),
        }
    }
}

/// A running server this run owns. Dropping it stops the server and removes its files.
pub struct Native {
    child: Child,
    group: Option<GroupGuard>,
    dir: Option<tempfile::TempDir>,
    pub port: u16,
    pub path: PathBuf,
    /// initdb time, or the time to copy the cached result of an earlier initdb.
    pub initdb: Duration,
    /// Whether the data dir came from the initdb cache (see `template`).
    pub cached: bool,
    pub start: Duration,
}

impl Native {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Immediate shutdown (SIGQUIT: no checkpoint, the data is thrown away anyway), then
    /// SIGKILL to whatever is left of the group, then the directory goes.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child's pid; no memory involved.
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGQUIT);
            }
            let started = Instant::now();
            while started.elapsed() < STOP_GRACE {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        drop(self.group.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for Native {
    fn drop(&mut self) {
        self.stop();
    }
}

/// initdb + start. Cancellation (the ctx's token) stops it within a poll interval.
pub fn start(install: &Install, options: &Options, ctx: &Ctx) -> Result<Native, PgError> {
    let user = server_user(ctx)?;
    let failed = |problem| PgError::Cluster {
        version: install.version.clone(),
        problem,
    };
    let prepare = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |source| failed(ClusterProblem::Prepare { dir, source })
    };
    let parent = clusters_parent(ctx);
    let dir = tempfile::Builder::new()
        .prefix(&format!("xtask-pg{}-", install.major))
        .tempdir_in(&parent)
        .map_err(|source| failed(ClusterProblem::TempDir { parent, source }))?;
    let data = dir.path().join("data");
    let sock = dir.path().join("sock");
    for d in [dir.path(), &data, &sock] {
        private_dir(d, user.as_ref().map(|u| (u.1, u.2))).map_err(prepare(d))?;
    }

    let started = Instant::now();
    let owner = user.as_ref().map(|u| (u.1, u.2));
    let cache = template::root(ctx).map(|root| template::entry(&root, install, options));
    let mut cached = false;
    if let Some(entry) = cache.as_ref().filter(|e| template::ready(e)) {
        cached = template::restore(entry, &data, owner).is_ok();
        if !cached {
            // A damaged entry only costs the initdb it was meant to save.
            let _ = std::fs::remove_dir_all(&data);
            private_dir(&data, owner).map_err(prepare(&data))?;
        }
    }
    if !cached {
        initdb(install, options, ctx, dir.path(), &data, &user).map_err(failed)?;
        if let Some(entry) = &cache {
            template::store(entry, &data);
        }
    }
    let initdb_time = started.elapsed();

    let started = Instant::now();
    let mut last_error = String::new();
    // A free port can be taken between probing and binding: retry with another.
    for _ in 0..3 {
        let port = free_port().map_err(|e| failed(ClusterProblem::NoFreePort(e)))?;
        match launch(install, options, ctx, &data, &sock, port, &user) {
            Ok((child, group)) => {
                let mut native = Native {
                    child,
                    group: Some(group),
                    dir: None,
                    port,
                    path: dir.path().to_path_buf(),
                    initdb: initdb_time,
                    cached,
                    start: Duration::ZERO,
                };
                match wait_ready(&mut native, ctx, &data) {
                    Ok(()) => {
                        native.dir = Some(dir);
                        native.start = started.elapsed();
                        return Ok(native);
                    }
                    Err(Retry::Port(log)) => {
                        native.stop();
                        last_error = log;
                    }
                    Err(Retry::No(problem)) => {
                        native.stop();
                        return Err(failed(problem));
                    }
                }
            }
            Err(e) => return Err(failed(ClusterProblem::Launch(e))),
        }
    }
    Err(failed(ClusterProblem::NoPort { log: last_error }))
}

/// Where throwaway clusters live: `XTASK_PG_DIR` (relative to the job's directory), else
/// `/dev/shm` when it is a memory file system with [`MEMORY_ROOM`] free, else the temporary
/// directory. A throwaway cluster's files are never needed after its job, and a migration's DDL
/// creates, writes and unlinks relation files: on memory (measured on ext4 against tmpfs, 300
/// migrations) applying them took half the time and the copy from the initdb cache a fifth.
fn clusters_parent(ctx: &Ctx) -> PathBuf {
    if let Some(dir) = ctx.env_var("XTASK_PG_DIR").filter(|d| !d.is_empty()) {
        return ctx.dir.join(dir);
    }
    let shm = Path::new("/dev/shm");
    if memory_with_room(shm) {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// The free space below which `/dev/shm` is not used: a container's default is 64 MiB, less than
/// one cluster with its write-ahead log.
const MEMORY_ROOM: u64 = 1 << 30;

/// Whether `dir` is a writable tmpfs with at least [`MEMORY_ROOM`] free.
fn memory_with_room(dir: &Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let Ok(path) = CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid C string; statfs writes only into `fs`, which it owns.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut fs) } != 0 || fs.f_type as i64 != TMPFS_MAGIC {
        return false;
    }
    let free = (fs.f_bavail as u64).saturating_mul(fs.f_bsize as u64);
    // SAFETY: access only reads the path.
    free >= MEMORY_ROOM && unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } == 0
}

fn initdb(
    install: &Install,
    options: &Options,
    ctx: &Ctx,
    cwd: &Path,
    data: &Path,
    user: &Option<(String, u32, u32)>,
) -> Result<(), ClusterProblem> {
    let mut env = ctx.env.clone();
    env.push(("TZ".into(), Some("UTC".into())));
    let spec = Spec {
        argv: vec![
            install.tool("initdb").display().to_string(),
            "-D".into(),
            data.display().to_string(),
            "-U".into(),
            "postgres".into(),
            "-A".into(),
            "trust".into(),
            "-E".into(),
            "UTF8".into(),
            format!("--locale={}", options.locale),
            // The cluster is thrown away: no need to wait for its files to reach the disk.
            "--no-sync".into(),
        ],
        env,
        dir: Some(cwd.to_path_buf()),
        capture_stdout: true,
        user: user.as_ref().map(|u| (u.1, u.2)),
        ..Spec::default()
    };
    let output = Arc::new(Mutex::new(Vec::new()));
    let sink: process::Sink = {
        let output = Arc::clone(&output);
        Arc::new(move |bytes: Vec<u8>| output.lock().unwrap().extend(bytes))
    };
    let finished = process::execute(&spec, &ctx.token, sink)
        .map_err(|e| ClusterProblem::Initdb(e.to_string()))?;
    if !finished.success() {
        let mut text = String::from_utf8_lossy(&finished.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.lock().unwrap()));
        return Err(ClusterProblem::InitdbFailed {
            command: process::display_argv(&spec.argv),
            status: finished.describe(),
            output: text.trim_end().to_string(),
        });
    }
    Ok(())
}

fn launch(
    install: &Install,
    options: &Options,
    ctx: &Ctx,
    data: &Path,
    sock: &Path,
    port: u16,
    user: &Option<(String, u32, u32)>,
) -> Result<(Child, GroupGuard), String> {
    let log = std::fs::File::create(data.parent().unwrap().join("server.log"))
        .map_err(|e| e.to_string())?;
    let mut argv = vec![
        install.tool("postgres").to_string_lossy().into_owned(),
        "-D".into(),
        data.to_string_lossy().into_owned(),
        "-c".into(),
        "listen_addresses=127.0.0.1".into(),
        "-c".into(),
        format!("port={port}"),
        "-c".into(),
        format!("unix_socket_directories={}", sock.display()),
    ];
    for (key, value) in FAST.iter().copied().chain(
        options
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    ) {
        argv.push("-c".into());
        argv.push(format!("{key}={value}"));
    }
    let mut env = ctx.env.clone();
    env.push(("TZ".into(), Some("UTC".into())));
    let spec = Spec {
        argv,
        env,
        dir: Some(data.to_path_buf()),
        user: user.as_ref().map(|u| (u.1, u.2)),
        ..Spec::default()
    };
    // Its own group (as every child): a terminal's Ctrl-C reaches only xtask, and cancellation
    // can kill the postmaster with all its backends.
    let started = process::spawn_background(&spec, process::Output::File(log), &ctx.token)
        .map_err(|e| e.to_string())?;
    Ok((started.child, started.group))
}

enum Retry {
    Port(String),
    No(ClusterProblem),
}

fn wait_ready(native: &mut Native, ctx: &Ctx, data: &Path) -> Result<(), Retry> {
    let started = Instant::now();
    loop {
        if ctx.token.is_cancelled() {
            return Err(Retry::No(ClusterProblem::Stopped {
                reason: ctx.token.reason().unwrap_or_default(),
            }));
        }
        if let Ok(Some(status)) = native.child.try_wait() {
            let log = std::fs::read_to_string(data.parent().unwrap().join("server.log"))
                .unwrap_or_default();
            let tail = tail(&log, 15);
            if log.contains("could not bind") || log.contains("already in use") {
                return Err(Retry::Port(tail));
            }
            return Err(Retry::No(ClusterProblem::Exited {
                status: status.to_string(),
                log: tail,
            }));
        }
        if client::ping(native.port) {
            return Ok(());
        }
        if started.elapsed() > START_LIMIT {
            return Err(Retry::No(ClusterProblem::NotAccepting {
                secs: START_LIMIT.as_secs(),
            }));
        }
        thread::sleep(POLL);
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Mode 0700, owned by the server's user when we run as root.
fn private_dir(dir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// The unprivileged user the server runs as when xtask runs as root (PostgreSQL refuses root):
/// `XTASK_PG_USER`, else `xtask-pg` if it exists, else `nobody`. `None` when not root.
pub fn server_user(ctx: &Ctx) -> Result<Option<(String, u32, u32)>, PgError> {
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    if let Some(name) = ctx.env_var("XTASK_PG_USER").filter(|n| !n.is_empty()) {
        return match lookup_user(&name) {
            Some((0, _)) => Err(PgError::UserIsRoot { name }),
            Some((uid, gid)) => Ok(Some((name, uid, gid))),
            None => Err(PgError::NoSuchUser { name }),
        };
    }
    for name in ["xtask-pg", "nobody"] {
        if let Some((uid, gid)) = lookup_user(name).filter(|(uid, _)| *uid != 0) {
            return Ok(Some((name.to_string(), uid, gid)));
        }
    }
    Err(PgError::RunningAsRoot)
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let cname = CString::new(name).ok()?;
    // SAFETY: getpwnam_r writes into `pwd` and `buf`, both owned here and large enough (it
    // reports ERANGE otherwise, which we treat as not found); `result` points at `pwd` or null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() {
            return None;
        }
        Some((pwd.pw_uid, pwd.pw_gid))
    }
}
