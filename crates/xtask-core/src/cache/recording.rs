//! What a running job depends on, recorded by the primitives it calls. The recorder lives on
//! the job's worker thread from the scheduler's `begin` to its `end`; outside a job (top-level
//! code, listing) every call here does nothing.
//!
//! Digests are taken when the primitive is called, before its command runs: a file edited
//! while the job runs then differs on the next check, so the job runs again (never the reverse).
//! A query command (`rustc -vV`) starts then too, but may answer while the job's command runs;
//! either answer is safe, since one that changed is a difference the next check sees.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use super::files::{self, FileSet};
use super::hashing::digest_text;
use super::{Fact, Session};

/// What one run of a job recorded.
#[derive(Default, Debug)]
pub struct Recorded {
    pub facts: Vec<Fact>,
    /// Effects outside the tree (a push, a request to another host, a moving baseline): the
    /// job always runs unless it opts in with `cache: true`.
    pub volatile: Vec<String>,
    /// Commands whose inputs only the script knows (`run`, `sh`): the job always runs unless
    /// it declares `inputs` (or sets `cache: true`).
    pub opaque: Vec<String>,
    /// Facts recorded from a prediction that [`confirm`] found wrong: the record is not kept,
    /// whatever the job's `cache:` says.
    pub untrusted: Vec<String>,
}

/// A check [`end`] runs: `Some(why)` when the record cannot be trusted.
type Confirmation = Box<dyn FnOnce() -> Option<String>>;

struct Recorder {
    session: Arc<Session>,
    recorded: Recorded,
    pending: Vec<PendingCommand>,
    confirmations: Vec<Confirmation>,
}

thread_local! {
    static CURRENT: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Starts recording on this thread.
pub fn begin(session: Arc<Session>) {
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Recorder {
            session,
            recorded: Recorded::default(),
            pending: Vec::new(),
            confirmations: Vec::new(),
        })
    });
}

/// Stops recording and returns what was recorded, once the queries it started have answered.
pub fn end() -> Option<Recorded> {
    let recorder = CURRENT.with(|c| c.borrow_mut().take())?;
    let Recorder {
        session,
        mut recorded,
        pending,
        confirmations,
    } = recorder;
    settle(&session, &mut recorded, pending);
    for confirm in confirmations {
        if let Some(why) = confirm() {
            push_reason(&mut recorded.untrusted, why);
        }
    }
    Some(recorded)
}

/// The directory the records are kept in, while recording.
pub fn cache_dir() -> Option<std::path::PathBuf> {
    CURRENT.with(|c| c.borrow().as_ref().map(|r| r.session.dir().to_path_buf()))
}

/// Facts just recorded came from a prediction (what an earlier run learned) so that the job's
/// command need not wait for what confirms it: `check` runs at [`end`], when the job is done,
/// and its `Some(why)` keeps the record from being stored.
pub fn confirm(check: impl FnOnce() -> Option<String> + 'static) {
    CURRENT.with(|c| {
        if let Some(r) = c.borrow_mut().as_mut() {
            r.confirmations.push(Box::new(check));
        }
    });
}

pub fn is_recording() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

fn with(f: impl FnOnce(&Session, &mut Recorded)) {
    CURRENT.with(|c| {
        if let Some(r) = c.borrow_mut().as_mut() {
            f(&r.session, &mut r.recorded);
        }
    });
}

fn push(recorded: &mut Recorded, fact: Fact) {
    if !recorded.facts.contains(&fact) {
        recorded.facts.push(fact);
    }
}

/// A primitive call and its arguments, e.g. `cargo::test: --workspace --features x`.
pub fn call(what: impl Into<String>) {
    let what = what.into();
    with(|_, r| push(r, Fact::Call { what }));
}

/// A file set the job reads, digested now.
pub fn files(set: FileSet) {
    file_set(|_| set);
}

/// One file (absolute, or relative to the project root).
pub fn file(path: &Path) {
    file_set(|root| FileSet::Path {
        path: files::relative(root, path),
    });
}

/// A directory tree (`ignore`: `.dockerignore`-style rules relative to it).
pub fn tree(dir: &Path, ignore: Vec<String>) {
    file_set(|root| FileSet::Tree {
        dir: files::relative(root, dir),
        ignore,
    });
}

/// Glob patterns relative to `dir` (absolute, or relative to the project root): the files they
/// match now, so one that appears later is a difference.
pub fn glob(dir: &Path, patterns: Vec<String>) {
    file_set(|root| FileSet::Glob {
        dir: files::relative(root, dir),
        patterns,
    });
}

/// The set `make` names, given the project root, digested now. Nothing is made or read
/// outside a job.
fn file_set(make: impl FnOnce(&Path) -> FileSet) {
    with(|session, r| {
        let set = make(session.root());
        let entries = set.entries(&session.files());
        push(r, Fact::Files { set, entries });
    });
}

/// An environment variable's value as the job's commands see it.
pub fn env(name: &str, value: Option<&str>) {
    with(|_, r| {
        push(
            r,
            Fact::Env {
                name: name.to_string(),
                digest: value.map(digest_text),
            },
        )
    });
}

/// What a query command printed. The next check runs it again and compares.
pub fn command_output(
    argv: &[String],
    env: &[(String, Option<String>)],
    dir: Option<&Path>,
    stdout: &[u8],
    success: bool,
) {
    with(|session, r| {
        let argv = argv.to_vec();
        let dir = dir.map(|d| files::relative(session.root(), d));
        let digest = super::session::output_digest(stdout, success);
        session.remember_command(&argv, env, dir.as_deref(), &digest);
        push(
            r,
            Fact::Command {
                argv,
                env: env.to_vec(),
                dir,
                digest,
            },
        );
    });
}

/// A query command's output (`rustc -vV`), once per run for the same command. It starts now on
/// a helper thread, beside the job's own command, and the job's record waits for it at
/// [`end`]: the version checks of a cargo job are off its critical path.
pub fn command(argv: &[String], env: &[(String, Option<String>)], dir: Option<&Path>) {
    CURRENT.with(|c| {
        if let Some(r) = c.borrow_mut().as_mut() {
            let dir = dir.map(|d| files::relative(r.session.root(), d));
            Session::prefetch_command(&r.session, argv, env, dir.as_deref());
            r.pending.push(PendingCommand {
                argv: argv.to_vec(),
                env: env.to_vec(),
                dir,
            });
        }
    });
}

/// A query started by [`command`] whose digest the record still needs.
struct PendingCommand {
    argv: Vec<String>,
    env: Vec<(String, Option<String>)>,
    dir: Option<String>,
}

fn settle(session: &Session, recorded: &mut Recorded, pending: Vec<PendingCommand>) {
    for PendingCommand { argv, env, dir } in pending {
        match session.command_digest(&argv, &env, dir.as_deref()) {
            Some(digest) => push(
                recorded,
                Fact::Command {
                    argv,
                    env,
                    dir,
                    digest,
                },
            ),
            None => push_reason(
                &mut recorded.volatile,
                format!("`{}` could not be run to fingerprint it", argv.join(" ")),
            ),
        }
    }
}

/// Effects outside the tree: see [`Recorded::volatile`].
pub fn volatile(why: impl Into<String>) {
    let why = why.into();
    with(|_, r| push_reason(&mut r.volatile, why));
}

/// A command whose file inputs are not known: see [`Recorded::opaque`].
pub fn opaque(why: impl Into<String>) {
    let why = why.into();
    with(|_, r| push_reason(&mut r.opaque, why));
}

/// Adds a reason to [`Recorded::volatile`] or [`Recorded::opaque`], once.
fn push_reason(reasons: &mut Vec<String>, why: String) {
    if !reasons.contains(&why) {
        reasons.push(why);
    }
}
