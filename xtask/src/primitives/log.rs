//! `info`, `warn`, `fail`, and where `print` goes.

use rhai::Engine;

use super::{error, Result};
use crate::events::{Event, Level};
use crate::script::context;

pub fn register(engine: &mut Engine) {
    engine.register_fn("info", |text: &str| message(Level::Info, text));
    engine.register_fn("warn", |text: &str| message(Level::Warn, text));
    engine.register_fn("fail", |text: &str| -> Result<()> { error(text) });
}

fn message(level: Level, text: &str) {
    if let Some(scope) = context::try_current() {
        scope.host.bus.message(scope.job, level, text);
    }
}

/// `print` and `debug` output: a line of the current job's output.
pub fn print_line(text: &str) {
    if let Some(scope) = context::try_current() {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        scope.host.bus.emit(Event::Output {
            job: scope.job,
            bytes,
        });
    }
}
