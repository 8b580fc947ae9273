//! `info`, `warn`, `fail`, `set_output`, and where `print` goes.

use rhai::Engine;

use super::{error, Result};
use crate::events::{Event, Level, Severity};
use crate::script::context;

pub fn register(engine: &mut Engine) {
    engine.register_fn("info", |text: &str| message(Level::Info, text));
    engine.register_fn("warn", |text: &str| message(Level::Warn, text));
    engine.register_fn("fail", |text: &str| -> Result<()> { error(text) });
    // A finding on a file and line (from a tool the script ran): an annotation in CI.
    engine.register_fn("annotate", |finding: rhai::Map| -> Result<()> {
        super::check_keys(
            "annotate",
            &finding,
            &["level", "file", "line", "column", "message"],
        )?;
        let level = match super::opt_string(&finding, "level")?.as_deref() {
            None | Some("error") => Severity::Error,
            Some("warning") => Severity::Warning,
            Some("notice") => Severity::Notice,
            Some(other) => {
                return error(format!(
                    "annotation level `{other}`: use error, warning or notice"
                ))
            }
        };
        let number = |key: &str| {
            finding
                .get(key)
                .and_then(|v| v.as_int().ok())
                .unwrap_or(1)
                .max(1) as usize
        };
        let Some(file) = super::opt_string(&finding, "file")? else {
            return error("annotate needs a `file`");
        };
        let message = super::opt_string(&finding, "message")?.unwrap_or_default();
        let scope = context::current();
        scope.host.bus.emit(Event::Diagnostic {
            job: scope.job,
            level,
            file,
            line: number("line"),
            column: number("column"),
            message,
        });
        Ok(())
    });
    // A value for later CI steps: `$GITHUB_OUTPUT` in Actions, the summary locally.
    engine.register_fn(
        "set_output",
        |name: &str, value: rhai::Dynamic| -> Result<()> {
            if name.is_empty() || name.contains(['=', '\n']) {
                return error(format!("invalid output name `{name}`"));
            }
            let scope = context::current();
            let value = crate::primitives::display_value(&value);
            super::implied::volatile("set_output passes a value to later CI steps");
            scope.host.bus.emit(Event::Export {
                name: name.to_string(),
                value,
            });
            Ok(())
        },
    );
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
