//! The scope a piece of script code runs in: the top level, or one job on its worker thread.
//! Primitives find it through [`current`], so they need no arguments threaded through Rhai.

// See script/mod.rs: the call-context store is volatile, not deprecated.
#![allow(deprecated)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use rhai::{FnPtr, Map};

use super::Host;
use crate::cancel::CancelToken;
use crate::events::JobId;

/// A closure registered with `defer`, kept with the call context it needs to run later.
pub struct Deferred {
    pub closure: FnPtr,
    pub store: Arc<rhai::NativeCallContextStore>,
}

pub struct JobScope {
    pub host: Arc<Host>,
    /// `None` at the top level.
    pub job: Option<JobId>,
    pub name: String,
    pub token: RefCell<CancelToken>,
    /// Changes to the inherited environment (`None` unsets), applied to every command.
    pub env: RefCell<BTreeMap<String, Option<String>>>,
    pub dir: RefCell<PathBuf>,
    pub defers: RefCell<Vec<Deferred>>,
    /// Native cleanup (stop a server, remove a cluster) registered by primitives; runs when the
    /// scope ends, after the script's `defer`s, whether the job passed, failed or was cancelled.
    pub cleanups: RefCell<Vec<Box<dyn FnOnce()>>>,
    pub matrix: Map,
    /// Set before cleanups run when the scope ends in an error (not a skip), so cleanup can show
    /// what helps diagnose it (a service's log tail).
    pub failed: Cell<bool>,
}

impl JobScope {
    pub fn token(&self) -> CancelToken {
        self.token.borrow().clone()
    }

    /// The environment changes as a list for the process layer.
    pub fn env_changes(&self) -> Vec<(String, Option<String>)> {
        self.env
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A variable as commands in this scope see it.
    pub fn env_var(&self, key: &str) -> Option<String> {
        let value = match self.env.borrow().get(key) {
            Some(value) => value.clone(),
            None => std::env::var(key).ok(),
        };
        // Whatever a primitive reads from the environment is an input of the job.
        crate::cache::recording::env(key, value.as_deref());
        value
    }

    /// Resolves a script-given path against the scope's directory.
    pub fn path(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.dir.borrow().join(p)
        }
    }

    pub fn is_top_level(&self) -> bool {
        self.job.is_none()
    }

    /// Registers native cleanup for the end of this scope (see `cleanups`).
    #[allow(dead_code)] // the entry point for primitives that own resources (servers, clusters)
    pub fn on_exit(&self, cleanup: impl FnOnce() + 'static) {
        self.cleanups.borrow_mut().push(Box::new(cleanup));
    }

    /// Runs native cleanups, last registered first.
    pub fn run_cleanups(&self) {
        let cleanups = std::mem::take(&mut *self.cleanups.borrow_mut());
        for cleanup in cleanups.into_iter().rev() {
            cleanup();
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<JobScope>>> = const { RefCell::new(None) };
}

/// Makes `scope` current on this thread until the guard drops.
pub fn enter(scope: JobScope) -> ScopeGuard {
    let scope = Rc::new(scope);
    let previous = CURRENT.with(|c| c.replace(Some(Rc::clone(&scope))));
    ScopeGuard { scope, previous }
}

pub struct ScopeGuard {
    pub scope: Rc<JobScope>,
    previous: Option<Rc<JobScope>>,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| c.replace(previous));
    }
}

/// The current scope. Primitives are only ever called from script code, which always runs
/// inside one.
pub fn current() -> Rc<JobScope> {
    try_current().expect("script code runs inside a job scope")
}

pub fn try_current() -> Option<Rc<JobScope>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// A top-level scope in `dir` with no reporters, so domain code that reads the current scope
/// (its directory, environment, cancel token) can be tested without a script.
#[cfg(test)]
pub fn enter_for_test(dir: &std::path::Path) -> ScopeGuard {
    let host = Host::new(
        dir.to_path_buf(),
        "test",
        crate::events::EventBus::new(Vec::new()),
        super::Mode::Execute,
        Vec::new(),
    );
    enter(JobScope {
        host,
        job: None,
        name: "test".into(),
        token: CancelToken::new().into(),
        env: Default::default(),
        dir: dir.to_path_buf().into(),
        defers: Default::default(),
        cleanups: Default::default(),
        matrix: Map::new(),
        failed: Default::default(),
    })
}
