//! `info`, `warn`, `fail`, `set_output`, and where `print` goes.

use rhai::Engine;

use super::options::{self, options, Options as _};
use super::reference::{plain, Function};
use super::{error, Result};
use crate::events::{Event, Level, Severity};
use crate::script::context;

options! {
    /// The finding `annotate` takes.
    pub struct Finding for "annotate" {
        /// `"error"` (the default), `"warning"` or `"notice"`.
        level: Option<String>,
        /// The file the finding is on (required).
        file: Option<String>,
        /// Its line, from 1.
        line: i64 = 1,
        /// Its column, from 1.
        column: i64 = 1,
        /// What was found.
        message: Option<String>,
    }
}

pub(crate) const FUNCTIONS: &[Function] = &[
    plain("info", &["text: string"], "A message in the job's output."),
    plain("warn", &["text: string"], "A warning in the job's output."),
    plain(
        "fail",
        &["text: string"],
        "Fails the job with this message.",
    ),
    Function {
        name: "annotate",
        params: &["finding: map"],
        summary: "A finding on a file and line (from a tool the script ran): an annotation in CI.",
        options: &[Finding::FIELDS],
        result: &[],
    },
    plain(
        "set_output",
        &["name: string", "value: ?"],
        "A value for later CI steps: `$GITHUB_OUTPUT` in Actions, the summary locally.",
    ),
];

pub fn register(engine: &mut Engine) {
    engine.register_fn("info", |text: &str| message(Level::Info, text));
    engine.register_fn("warn", |text: &str| message(Level::Warn, text));
    engine.register_fn("fail", |text: &str| -> Result<()> { error(text) });
    // A finding on a file and line (from a tool the script ran): an annotation in CI.
    engine.register_fn("annotate", |finding: rhai::Map| -> Result<()> {
        annotate(options::parse(&finding)?)
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

fn annotate(finding: Finding) -> Result<()> {
    let level = match finding.level.as_deref() {
        None | Some("error") => Severity::Error,
        Some("warning") => Severity::Warning,
        Some("notice") => Severity::Notice,
        Some(other) => {
            return error(format!(
                "annotation level `{other}`: use error, warning or notice"
            ))
        }
    };
    let Some(file) = finding.file else {
        return error("annotate needs a `file`");
    };
    let scope = context::current();
    scope.host.bus.emit(Event::Diagnostic {
        job: scope.job,
        level,
        file,
        line: finding.line.max(1) as usize,
        column: finding.column.max(1) as usize,
        message: finding.message.unwrap_or_default(),
    });
    Ok(())
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
