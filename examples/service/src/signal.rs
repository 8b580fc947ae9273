//! Graceful shutdown on `SIGINT`/`SIGTERM` (e.g. `docker stop`, Ctrl-C),
//! without a signal-handling crate.
//!
//! The signal handler only sets an atomic flag (async-signal-safe); a
//! watcher thread polls the flag and calls [`ShutdownHandle::shutdown`].

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::server::ShutdownHandle;

static SIGNALLED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
mod sys {
    use std::os::raw::c_int;

    pub const SIGINT: c_int = 2;
    pub const SIGTERM: c_int = 15;

    extern "C" {
        // `sighandler_t signal(int, sighandler_t)` from the C library; the
        // return value (the previous handler) is pointer-sized.
        pub fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    }

    pub extern "C" fn on_signal(_signum: c_int) {
        super::SIGNALLED.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Installs handlers for `SIGINT` and `SIGTERM` that shut the server down
/// through `handle`. On non-Unix platforms this does nothing.
pub fn install(handle: ShutdownHandle) {
    #[cfg(unix)]
    {
        let spawned = thread::Builder::new()
            .name("signal-watch".into())
            .spawn(move || loop {
                if SIGNALLED.load(Ordering::SeqCst) {
                    handle.shutdown();
                    return;
                }
                if handle.is_shutdown() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            });
        // Without the watcher the signals would be swallowed, so keep the
        // default action (terminate) in that case.
        if spawned.is_ok() {
            // SAFETY: `signal` is called with valid signal numbers and an
            // `extern "C"` handler that only stores to a static atomic.
            unsafe {
                sys::signal(sys::SIGINT, sys::on_signal);
                sys::signal(sys::SIGTERM, sys::on_signal);
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = handle;
    }
}
