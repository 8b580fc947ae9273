//! Cargo's JSON messages (`--message-format=json…`) and rustfmt's `--check` output turned into
//! structured diagnostics: file, line, column, level, code, message, and the human rendering.

use std::path::{Path, PathBuf};

use crate::primitives::options::result;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Relative to the project root when the file is inside it.
    pub file: String,
    pub line: u32,
    pub column: Option<u32>,
    /// `error`, `warning`, `note`, `help`.
    pub level: String,
    /// `E0425`, `clippy::needless_return`, … when the compiler gives one.
    pub code: Option<String>,
    pub message: String,
    /// The compiler's human rendering (what cargo would have printed).
    pub rendered: String,
}

impl Diagnostic {
    pub fn location(&self) -> String {
        match self.column {
            Some(column) => format!("{}:{}:{column}", self.file, self.line),
            None => format!("{}:{}", self.file, self.line),
        }
    }

    /// `src/lib.rs:13:5: error[clippy::needless_return]: unneeded `return` statement`.
    pub fn headline(&self) -> String {
        let code = self
            .code
            .as_deref()
            .map(|c| format!("[{c}]"))
            .unwrap_or_default();
        format!(
            "{}: {}{code}: {}",
            self.location(),
            self.level,
            self.message
        )
    }

    pub fn is_error(&self) -> bool {
        self.level == "error"
    }

    pub fn to_result(&self) -> DiagnosticResult {
        DiagnosticResult {
            file: self.file.clone(),
            line: i64::from(self.line),
            column: self.column.map(i64::from),
            level: self.level.clone(),
            code: self.code.clone(),
            message: self.message.clone(),
            rendered: self.rendered.clone(),
        }
    }
}

result! {
    /// One compiler diagnostic, as the `diagnostics` of a cargo primitive's result.
    pub struct DiagnosticResult {
        /// Relative to the project root when the file is inside it.
        file: String as "string",
        /// Line, from 1.
        line: i64 as "int",
        /// Column, from 1; `()` when the tool gives none (rustfmt).
        column: Option<i64> as "int",
        /// `error`, `warning`, `note`, `help`.
        level: String as "string",
        /// `E0425`, `clippy::needless_return`, …; `()` when the compiler gives none.
        code: Option<String> as "string",
        /// The message's first line.
        message: String as "string",
        /// The compiler's human rendering (what cargo would have printed).
        rendered: String as "string",
    }
}

/// One line of cargo's JSON output, understood.
#[derive(Debug)]
pub enum Message {
    /// A compiler message: what to print, and the diagnostic when it points at a file.
    Compiler {
        rendered: Option<String>,
        diagnostic: Option<Diagnostic>,
    },
    /// A finished compilation; `executable` is set for binaries, tests and benches.
    Artifact { executable: Option<String> },
    /// Build-script output, `build-finished`, and what later cargo versions add.
    Other,
}

/// Parses a line that cargo printed as JSON; `None` when it is not one of cargo's messages.
/// `root` is the project root, for making file names relative to it.
pub fn parse_json_line(line: &str, root: &Path) -> Option<Message> {
    if !line.starts_with("{\"reason\":") {
        return None;
    }
    let value: Value = serde_json::from_str(line).ok()?;
    match value["reason"].as_str()? {
        "compiler-message" => {
            let message = &value["message"];
            let rendered = message["rendered"].as_str().map(str::to_string);
            let manifest = value["manifest_path"].as_str().map(Path::new);
            let diagnostic = compiler_diagnostic(message, manifest, root, rendered.as_deref());
            Some(Message::Compiler {
                rendered,
                diagnostic,
            })
        }
        "compiler-artifact" => Some(Message::Artifact {
            executable: value["executable"].as_str().map(str::to_string),
        }),
        _ => Some(Message::Other),
    }
}

fn compiler_diagnostic(
    message: &Value,
    manifest: Option<&Path>,
    root: &Path,
    rendered: Option<&str>,
) -> Option<Diagnostic> {
    let level = match message["level"].as_str()? {
        "error" | "error: internal compiler error" => "error",
        "warning" => "warning",
        // Summaries ("aborting due to …") and stray notes point nowhere useful.
        _ => return None,
    };
    let span = message["spans"]
        .as_array()?
        .iter()
        .find(|s| s["is_primary"].as_bool() == Some(true))?;
    let file_name = span["file_name"].as_str()?;
    Some(Diagnostic {
        file: resolve_file(file_name, manifest, root),
        line: span["line_start"].as_u64()? as u32,
        column: span["column_start"].as_u64().map(|c| c as u32),
        level: level.to_string(),
        code: message["code"]["code"].as_str().map(str::to_string),
        message: message["message"].as_str().unwrap_or_default().to_string(),
        rendered: rendered.unwrap_or_default().to_string(),
    })
}

/// Compiler file names are relative to the workspace root, which may be any ancestor of the
/// package's manifest: find the one where the file exists, then express it from `root`.
pub fn resolve_file(file_name: &str, manifest: Option<&Path>, root: &Path) -> String {
    let path = Path::new(file_name);
    let absolute: Option<PathBuf> = if path.is_absolute() {
        Some(path.to_path_buf())
    } else {
        manifest
            .and_then(Path::parent)
            .into_iter()
            .flat_map(Path::ancestors)
            .map(|dir| dir.join(path))
            .find(|candidate| candidate.is_file())
    };
    match absolute {
        Some(absolute) => relative_to(&absolute, root),
        None => file_name.to_string(),
    }
}

/// `path` relative to `root` when inside it, else as it is.
pub fn relative_to(path: &Path, root: &Path) -> String {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    match canonical(path).strip_prefix(canonical(root)) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

/// rustfmt's `--check` header for one hunk: `Diff in /abs/src/lib.rs:3:` (or the older
/// `Diff in /abs/src/lib.rs at line 3:`).
pub fn parse_fmt_line(line: &str, root: &Path) -> Option<Diagnostic> {
    let rest = line
        .trim_end()
        .strip_prefix("Diff in ")?
        .strip_suffix(':')?;
    let (file, line_no) = match rest.rsplit_once(" at line ") {
        Some((file, n)) => (file, n),
        None => rest.rsplit_once(':')?,
    };
    let line_no: u32 = line_no.trim().parse().ok()?;
    let file = resolve_file(file, None, root);
    Some(Diagnostic {
        message: "not formatted as rustfmt would (run `cargo fmt --all`)".into(),
        rendered: format!("{file}:{line_no}: not formatted\n"),
        file,
        line: line_no,
        column: None,
        level: "error".into(),
        code: Some("rustfmt".into()),
    })
}

/// Removes ANSI escape sequences (colour codes, and rustfmt's `ESC ( B`).
pub fn strip_ansi(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\x1b') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // CSI: parameters, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some('(') | Some(')') => {
                chars.next();
            }
            _ => {}
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIPPY: &str = r#"{"reason":"compiler-message","package_id":"path+file:///nowhere#0.1.0","manifest_path":"/nowhere/Cargo.toml","target":{"kind":["lib"]},"message":{"rendered":"error: unneeded `return` statement\n  --> src/lib.rs:13:5\n","$message_type":"diagnostic","children":[],"code":{"code":"clippy::needless_return","explanation":null},"level":"error","message":"unneeded `return` statement","spans":[{"byte_end":1,"byte_start":0,"column_end":13,"column_start":5,"expansion":null,"file_name":"src/lib.rs","is_primary":true,"label":null,"line_end":13,"line_start":13,"suggested_replacement":null,"suggestion_applicability":null,"text":[]}]}}"#;

    #[test]
    fn compiler_messages_become_diagnostics() {
        let Some(Message::Compiler {
            rendered,
            diagnostic: Some(d),
        }) = parse_json_line(CLIPPY, Path::new("/nowhere"))
        else {
            panic!("not parsed");
        };
        assert!(rendered.unwrap().contains("--> src/lib.rs:13:5"));
        assert_eq!(d.location(), "src/lib.rs:13:5");
        assert_eq!(d.level, "error");
        assert_eq!(d.code.as_deref(), Some("clippy::needless_return"));
        assert_eq!(
            d.headline(),
            "src/lib.rs:13:5: error[clippy::needless_return]: unneeded `return` statement"
        );
    }

    #[test]
    fn other_lines_are_not_messages() {
        assert!(parse_json_line("   Compiling x v0.1.0", Path::new("/")).is_none());
        assert!(parse_json_line("{\"reason\": broken", Path::new("/")).is_none());
        assert!(matches!(
            parse_json_line(
                r#"{"reason":"build-finished","success":true}"#,
                Path::new("/")
            ),
            Some(Message::Other)
        ));
    }

    #[test]
    fn summaries_without_spans_are_not_diagnostics() {
        let line = r#"{"reason":"compiler-message","manifest_path":"/x/Cargo.toml","message":{"rendered":"error: aborting due to 1 previous error\n","level":"error","message":"aborting due to 1 previous error","code":null,"spans":[]}}"#;
        let Some(Message::Compiler { diagnostic, .. }) = parse_json_line(line, Path::new("/"))
        else {
            panic!("not parsed");
        };
        assert!(diagnostic.is_none());
    }

    #[test]
    fn rustfmt_headers_both_styles() {
        let root = Path::new("/proj");
        let d = parse_fmt_line("Diff in /proj/src/other.rs:12:", root).unwrap();
        assert_eq!(d.location(), "src/other.rs:12");
        let d = parse_fmt_line("Diff in /proj/src/a.rs at line 4:", root).unwrap();
        assert_eq!(d.line, 4);
        assert!(parse_fmt_line("-pub fn   g( ) {}", root).is_none());
    }

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(strip_ansi("\x1b[31m-a\x1b(B\x1b[m b"), "-a b");
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
