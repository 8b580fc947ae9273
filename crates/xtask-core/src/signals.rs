//! Interrupts: SIGINT, SIGTERM, SIGHUP (the terminal or SSH session went away) and SIGQUIT all
//! mean "stop the run". They escalate:
//!
//! 1. the first cancels every watched job token (their process groups get SIGTERM, then SIGKILL);
//!    the run then unwinds normally: `defer`s run, temp dirs are removed, the process exits 130;
//! 2. the second also stops the cleanup: every group, cleanup commands' included, gets SIGKILL
//!    at once and cleanup tokens are cancelled, so the remaining `defer`s cannot start commands;
//! 3. the third kills every known group and exits 130 on the spot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::cancel::CancelToken;

/// The signals that end a run.
pub const HANDLED: [i32; 4] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGQUIT,
];

static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
/// Tokens of running jobs and of top-level code: cancelled by the first interrupt.
static WATCHED: Mutex<Vec<CancelToken>> = Mutex::new(Vec::new());
/// Tokens of cleanup code (`defer`s): left alone by the first interrupt, stopped by the second.
static CLEANUP: Mutex<Vec<CancelToken>> = Mutex::new(Vec::new());

pub fn is_interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
}

/// Cancels `token` when the run is interrupted (at once if it already was).
pub fn watch(token: &CancelToken) {
    lock(&WATCHED).push(token.clone());
    if is_interrupted() {
        token.cancel("interrupted");
    }
}

/// Tracks a cleanup token: a second interrupt stops what it runs (at once if there was one).
pub fn watch_cleanup(token: &CancelToken) {
    lock(&CLEANUP).push(token.clone());
    if INTERRUPTS.load(Ordering::SeqCst) >= 2 {
        stop_now(token, "interrupted again");
    }
}

pub fn unwatch(token: &CancelToken) {
    lock(&WATCHED).retain(|t| !t.same(token));
    lock(&CLEANUP).retain(|t| !t.same(token));
}

pub fn install() -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new(HANDLED)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                interrupt(name(signal));
            }
        })?;
    Ok(())
}

fn name(signal: i32) -> &'static str {
    match signal {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGHUP => "SIGHUP",
        signal_hook::consts::SIGQUIT => "SIGQUIT",
        _ => "signal",
    }
}

/// What a signal does; public so tests and the scheduler share one path.
pub fn interrupt(cause: &str) {
    let count = INTERRUPTS.fetch_add(1, Ordering::SeqCst) + 1;
    let jobs = lock(&WATCHED).clone();
    match count {
        1 => {
            for token in jobs {
                token.cancel(&format!("interrupted ({cause})"));
            }
        }
        2 => {
            let cleanups = lock(&CLEANUP).clone();
            for token in jobs.iter().chain(&cleanups) {
                stop_now(token, &format!("interrupted again ({cause})"));
            }
        }
        _ => {
            let cleanups = lock(&CLEANUP).clone();
            for token in jobs.iter().chain(&cleanups) {
                token.kill_now();
            }
            // Not `eprintln!`: after SIGHUP the terminal may be gone, and a panic here would
            // keep the process alive.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("xtask: {cause} a third time: exiting now\n").as_bytes(),
            );
            std::process::exit(crate::exit::Exit::Interrupted.code());
        }
    }
}

/// Cancels the token (later commands fail at once) and SIGKILLs its groups without a grace.
fn stop_now(token: &CancelToken, reason: &str) {
    token.cancel(reason);
    token.kill_now();
}

/// The lists stay usable even if a thread panicked while holding one.
fn lock(
    list: &'static Mutex<Vec<CancelToken>>,
) -> std::sync::MutexGuard<'static, Vec<CancelToken>> {
    list.lock().unwrap_or_else(|e| e.into_inner())
}
