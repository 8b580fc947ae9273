//! A lock on a directory that other processes see: an advisory `flock` on a file inside it.
//!
//! Cargo locks its build directory only while it compiles: `cargo test` and `cargo run` let go
//! before they run the binaries and doctests they built, so a second cargo in another process
//! (two xtask runs, or the jobs of `--rehearse`, each a process of its own over one shared
//! target directory) can rebuild — and replace — an rlib a doctest is about to link against
//! ("extern location … does not exist"). Within one xtask the resource pool already admits one
//! cargo command per build directory; this lock extends that to every xtask on the machine, for
//! the whole command.
//!
//! Locks are counted per process: a second claim of a directory this process already holds
//! (a nested claim, a claim outside the scheduler) does not wait on itself.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::cancel::CancelToken;

/// The file locked inside the directory.
pub const LOCK_FILE: &str = ".xtask-lock";

fn held() -> &'static Mutex<HashMap<PathBuf, (File, usize)>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, (File, usize)>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// Holds the lock on a directory until dropped.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let mut held = held().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, count)) = held.get_mut(&self.dir) {
            *count -= 1;
            if *count == 0 {
                // Closing the file releases the flock.
                held.remove(&self.dir);
            }
        }
    }
}

/// Waits until no other process holds `dir`'s lock, then holds it. `Ok(None)` when the lock
/// cannot be made (the directory cannot be created or written): cargo's own lock still guards
/// the build, so this is a best effort, never a new way to fail.
pub fn lock(dir: &Path, token: &CancelToken) -> Result<Option<DirLock>, String> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    {
        let mut held = held().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, count)) = held.get_mut(&dir) {
            *count += 1;
            return Ok(Some(DirLock { dir }));
        }
    }
    let Ok(file) = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
    }) else {
        return Ok(None);
    };
    loop {
        if token.is_cancelled() {
            return Err(token.reason().unwrap_or_else(|| "cancelled".into()));
        }
        // SAFETY: flock on a descriptor this function owns; no memory is passed.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if locked {
            break;
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => {}
            // A file system without flock: nothing to coordinate with.
            _ => return Ok(None),
        }
        // Polled rather than blocking, so that Ctrl-C and timeouts still end the wait.
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut held = held().lock().unwrap_or_else(|e| e.into_inner());
    // Another thread of this process may have taken it meanwhile (it could not have: the flock
    // was ours to take), so this entry is new.
    held.insert(dir.clone(), (file, 1));
    Ok(Some(DirLock { dir }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another process's lock, as flock sees it: a separate open file description.
    fn foreign_lock(dir: &Path) -> File {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
        file
    }

    #[test]
    fn waits_while_another_holder_has_the_directory_and_goes_on_once_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = foreign_lock(dir.path());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let guard = lock(&path, &CancelToken::new()).unwrap();
            tx.send(()).unwrap();
            drop(guard);
        });
        // Still waiting while the other holder keeps it (no timing: the channel stays empty
        // for as long as the lock is held, however long we look).
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        drop(foreign);
        rx.recv().unwrap();
        waiter.join().unwrap();
    }

    #[test]
    fn a_cancelled_wait_returns_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let _foreign = foreign_lock(dir.path());
        let token = CancelToken::new();
        token.cancel("stop");
        assert_eq!(lock(dir.path(), &token).unwrap_err(), "stop");
    }

    #[test]
    fn a_second_claim_in_the_same_process_does_not_wait_on_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path(), &CancelToken::new()).unwrap();
        let second = lock(dir.path(), &CancelToken::new()).unwrap();
        assert!(first.is_some() && second.is_some());
        drop(first);
        // Still held by `second`: another holder cannot take it.
        let probe = std::fs::File::open(dir.path().join(LOCK_FILE)).unwrap();
        // SAFETY: as above.
        let taken = unsafe { libc::flock(probe.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_ne!(taken, 0);
        drop(second);
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::flock(probe.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
    }
}
