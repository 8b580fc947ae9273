//! Environment helpers. The process environment is never mutated (jobs run on threads); each
//! scope keeps its own changes, which every command it runs inherits.

use rhai::{Dynamic, Engine};

use super::{error, Result};

use crate::script::context;

use super::reference::{plain, Function};

pub(crate) const FUNCTIONS: &[Function] = &[
    plain("env", &["name: string", "default: string"], "The job's value of a variable: `()` when unset, or the default given."),
    plain("set_env", &["name: string", "value: ?"], "Sets a variable for this scope and every command it runs (the process environment is never changed)."),
    plain("unset_env", &["name: string"], "Unsets a variable for this scope and its commands."),
    plain("which", &["program: string"], "The program's path on the job's `PATH`, or `()`."),
    plain("secret", &["name: string"], "A secret's value, masked in all output; unset, a placeholder that fails the command it reaches."),
    plain("has_secret", &["name: string"], "Whether the secret is set."),
];

pub fn register(engine: &mut Engine) {
    engine.register_fn("env", |name: &str| -> Dynamic {
        let value = context::current().env_var(name);
        super::implied::env(name, value.as_deref());
        value.map(Dynamic::from).unwrap_or(Dynamic::UNIT)
    });
    engine.register_fn("env", |name: &str, default: &str| -> String {
        let value = context::current().env_var(name);
        super::implied::env(name, value.as_deref());
        value.unwrap_or_else(|| default.to_string())
    });
    engine.register_fn("set_env", |name: &str, value: Dynamic| -> Result<()> {
        if name.is_empty() || name.contains('=') {
            return error(format!("invalid environment variable name `{name}`"));
        }
        let value = if value.is_unit() {
            None
        } else {
            Some(crate::primitives::display_value(&value))
        };
        context::current()
            .env
            .borrow_mut()
            .insert(name.to_string(), value);
        Ok(())
    });
    engine.register_fn("unset_env", |name: &str| {
        context::current()
            .env
            .borrow_mut()
            .insert(name.to_string(), None);
    });
    engine.register_fn("which", |program: &str| -> Dynamic {
        let scope = context::current();
        let path = scope.env_var("PATH").unwrap_or_default();
        let dir = scope.dir.borrow().clone();
        super::implied::which(program, &path);
        match which::which_in(program, Some(path), dir) {
            Ok(found) => Dynamic::from(found.display().to_string()),
            Err(_) => Dynamic::UNIT,
        }
    });
    // Planning must work without secrets (a pull request from a fork has none): an unset
    // secret is a placeholder that fails the command it reaches, naming the secret; jobs that
    // do not use it run.
    engine.register_fn("secret", |name: &str| -> String {
        let scope = context::current();
        let value = scope.env_var(name);
        super::implied::env(name, value.as_deref());
        match value {
            Some(value) => {
                scope.host.bus.add_named_secret(name, &value);
                value
            }
            None => crate::redact::unset_secret_placeholder(name),
        }
    });
    engine.register_fn("has_secret", |name: &str| -> bool {
        context::current().env_var(name).is_some()
    });
}
