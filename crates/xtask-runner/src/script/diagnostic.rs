//! Script errors as people want to read them: the message, `file:line:col`, the source line and
//! a caret. Rhai wraps errors raised inside functions and modules; we unwrap them to the place
//! where the error really happened.

use std::fmt::Write;
use std::path::Path;

use rhai::{EvalAltResult, ParseError, ParseErrorType, Position};

use super::resolver::lib_file;

#[derive(Clone, Debug)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub message: String,
    pub location: Option<Location>,
}

/// A `skip("reason")` inside a job travels as this error value.
#[derive(Clone, Debug)]
pub struct SkipSignal(pub String);

impl Diagnostic {
    pub fn plain(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            location: None,
        }
    }

    /// `root` is the project root, where the file's source is read for context.
    pub fn from_parse(err: &ParseError, file: &str, root: &Path) -> Self {
        let location = location(file, err.position());
        Diagnostic {
            message: syntax_message(err.err_type(), location.as_ref(), root),
            location,
        }
    }

    /// `main_file` is the file the error belongs to when no wrapper names another.
    pub fn from_eval(err: &EvalAltResult, main_file: &str, root: &Path) -> Self {
        let (inner, file) = innermost(err, main_file);
        let message = match inner {
            EvalAltResult::ErrorRuntime(value, _) if value.is_string() => value.to_string(),
            EvalAltResult::ErrorParsing(kind, pos) => {
                syntax_message(kind, location(&file, *pos).as_ref(), root)
            }
            EvalAltResult::ErrorTooManyOperations(_) => {
                "the script ran too many operations (an endless loop?); raise the limit with XTASK_MAX_OPERATIONS".into()
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                let (variable, default) = match what.as_str() {
                    w if w.contains("string") => ("XTASK_MAX_STRING_SIZE", "bytes"),
                    w if w.contains("array") => ("XTASK_MAX_ARRAY_SIZE", "elements"),
                    _ => ("XTASK_MAX_MAP_SIZE", "entries"),
                };
                format!(
                    "{what} is over the script size limit (a runaway allocation?); raise the limit ({default}) with {variable}"
                )
            }
            EvalAltResult::ErrorStackOverflow(_) => "call depth limit exceeded (runaway recursion?)".into(),
            other => without_position(other),
        };
        Diagnostic {
            message,
            location: location(&file, inner.position()),
        }
    }

    /// The diagnostic as an event for annotations, when it has a location.
    pub fn event(&self, job: Option<crate::events::JobId>) -> Option<crate::events::Event> {
        let loc = self.location.as_ref()?;
        Some(crate::events::Event::Diagnostic {
            job,
            level: crate::events::Severity::Error,
            file: loc.file.clone(),
            line: loc.line,
            column: loc.column,
            message: self.message.clone(),
        })
    }

    pub fn with_suffix(mut self, suffix: &str) -> Self {
        self.message.push_str(suffix);
        self
    }

    /// `error: …` with the location and the source line under a caret.
    pub fn render(&self, root: &Path) -> String {
        let mut out = format!("error: {}", self.message);
        if let Some(loc) = &self.location {
            let arrow_pad = " ".repeat(loc.line.to_string().len());
            let _ = write!(out, "\n{arrow_pad}--> {loc}");
            if let Some(text) = source_line(root, loc) {
                let gutter = loc.line.to_string().len();
                let pad = " ".repeat(gutter + 1);
                let caret_pad: String = text
                    .chars()
                    .take(loc.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let _ = write!(out, "\n{pad}|\n{} | {text}\n{pad}| {caret_pad}^", loc.line);
            }
        }
        out
    }
}

/// Follows function-call and module wrappers to the error that started it all, tracking which
/// file that error's position belongs to.
fn innermost<'a>(mut err: &'a EvalAltResult, main_file: &str) -> (&'a EvalAltResult, String) {
    let mut file = main_file.to_string();
    loop {
        match err {
            EvalAltResult::ErrorInFunctionCall(_, source, inner, _) => {
                if !source.is_empty() {
                    file = source.clone();
                }
                err = inner;
            }
            EvalAltResult::ErrorInModule(path, inner, _) => {
                file = if path.starts_with("lib/") {
                    path.clone()
                } else {
                    lib_file(path)
                };
                err = inner;
            }
            _ => return (err, file),
        }
    }
}

/// The error a `skip("…")` raised, if this is one.
pub fn skip_reason(err: &EvalAltResult) -> Option<String> {
    match innermost(err, "").0 {
        EvalAltResult::ErrorRuntime(value, _) => {
            value.clone().try_cast::<SkipSignal>().map(|s| s.0)
        }
        _ => None,
    }
}

/// Rhai's `name (arg types)` of a call no function matched, if this is such an error.
pub fn missing_function(err: &EvalAltResult) -> Option<&str> {
    match innermost(err, "").0 {
        EvalAltResult::ErrorFunctionNotFound(signature, _) => Some(signature),
        _ => None,
    }
}

/// A syntax error's message. A reserved word or keyword where a name is expected is the one
/// Rhai explains least: `#{ package: "x" }` says "'package' is a reserved keyword", and
/// `#{ if: 1 }` "Expecting '}'". Both are map keys that need quotes.
fn syntax_message(kind: &ParseErrorType, location: Option<&Location>, root: &Path) -> String {
    let plain = format!("syntax error: {kind}");
    let Some(loc) = location else {
        return plain;
    };
    let reserved = matches!(kind, ParseErrorType::Reserved(_));
    let word_expected = reserved || matches!(kind, ParseErrorType::MissingToken(..));
    let Some(text) = source_line(root, loc).filter(|_| word_expected) else {
        return plain;
    };
    let at = loc.column.saturating_sub(1);
    let word: String = text
        .chars()
        .skip(at)
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let after = text
        .chars()
        .skip(at + word.chars().count())
        .collect::<String>();
    let after = after.trim_start();
    let is_key = after.starts_with(':') && !after.starts_with("::");
    let is_property = at > 0 && text.chars().nth(at - 1) == Some('.');
    // A keyword (`if`, `fn`) trips the parser before it can say so; a plain name never does.
    let is_word =
        !word.is_empty() && (reserved || rhai::Token::lookup_symbol_from_syntax(&word).is_some());
    match (is_word, is_key, is_property) {
        (true, true, _) => format!(
            "syntax error: `{word}` is a reserved word in Rhai and cannot be a map key as it is: write it quoted, \"{word}\": … (or use the option's unquoted spelling, where it has one)"
        ),
        (true, false, true) => format!(
            "syntax error: `{word}` is a reserved word in Rhai and cannot follow `.`: write the field as [\"{word}\"]"
        ),
        (true, false, false) if reserved => format!(
            "syntax error: `{word}` is a reserved word in Rhai and cannot be a name; choose another"
        ),
        _ => plain,
    }
}

/// Rhai's message without the " (line 3, position 5)" it appends: we show positions our way.
fn without_position(err: &EvalAltResult) -> String {
    let text = err.to_string();
    match text.rfind(" (line ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

fn location(file: &str, pos: Position) -> Option<Location> {
    let line = pos.line()?;
    Some(Location {
        file: file.to_string(),
        line,
        column: pos.position().unwrap_or(1),
    })
}

fn source_line(root: &Path, loc: &Location) -> Option<String> {
    let text = std::fs::read_to_string(root.join(&loc.file)).ok()?;
    text.lines()
        .nth(loc.line.checked_sub(1)?)
        .map(|l| l.trim_end().to_string())
}
