//! Reads a cargo command's output line by line as it streams: JSON messages become diagnostics
//! (and their human rendering is what gets printed), test and bench lines are counted, and
//! everything else passes through unchanged.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::primitives::options::result;

use super::diagnostics::{self, Diagnostic, Message};
use super::test_results::{Libtest, Nextest, TestReport};

/// What to look for in a command's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Only compiler messages (when cargo was asked for JSON).
    Build,
    /// rustfmt `--check` diffs.
    Fmt,
    /// libtest results (`cargo test`, `cargo bench`).
    Libtest,
    /// cargo-nextest results.
    Nextest,
}

pub struct OutputParser {
    root: PathBuf,
    watch: Watch,
    pub diagnostics: Vec<Diagnostic>,
    seen: HashSet<(String, u32, Option<u32>, String)>,
    pub executables: Vec<String>,
    pub benches: Vec<Bench>,
    libtest: Option<Libtest>,
    nextest: Option<Nextest>,
    /// The first line that says a download failed (advisory databases, the registry index).
    pub fetch_failure: Option<String>,
    fmt_pending: Option<Diagnostic>,
}

result! {
    /// One libtest bench of `cargo::bench`'s result.
    pub struct BenchResult {
        /// The bench's name.
        name: String as "string",
        /// Nanoseconds per iteration.
        ns_per_iter: f64 as "float",
        /// libtest's `+/-` spread, in nanoseconds.
        deviation: f64 as "float",
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Bench {
    pub name: String,
    pub ns_per_iter: f64,
    pub deviation: f64,
}

/// What one line of output turns into.
pub struct Parsed {
    /// Text for the log, when any.
    pub print: Option<String>,
    /// A new diagnostic (duplicates across targets are reported once).
    pub diagnostic: Option<Diagnostic>,
}

impl OutputParser {
    pub fn new(root: PathBuf, watch: Watch) -> Self {
        OutputParser {
            root,
            watch,
            diagnostics: Vec::new(),
            seen: HashSet::new(),
            executables: Vec::new(),
            benches: Vec::new(),
            libtest: (watch == Watch::Libtest).then(Libtest::default),
            nextest: (watch == Watch::Nextest).then(Nextest::default),
            fetch_failure: None,
            fmt_pending: None,
        }
    }

    pub fn feed(&mut self, line: &str) -> Parsed {
        match diagnostics::parse_json_line(line, &self.root) {
            Some(Message::Compiler {
                rendered,
                diagnostic,
            }) => {
                let diagnostic = diagnostic.filter(|d| self.first_time(d));
                // Lint output repeated for the lib and its test target is printed once.
                let duplicate = diagnostic.is_none()
                    && rendered
                        .as_deref()
                        .is_some_and(|r| self.diagnostics.iter().any(|d| d.rendered == r));
                if let Some(d) = &diagnostic {
                    self.diagnostics.push(d.clone());
                }
                Parsed {
                    print: rendered.filter(|_| !duplicate),
                    diagnostic,
                }
            }
            Some(Message::Artifact { executable }) => {
                self.executables.extend(executable);
                Parsed {
                    print: None,
                    diagnostic: None,
                }
            }
            Some(Message::Other) => Parsed {
                print: None,
                diagnostic: None,
            },
            None => self.text_line(line),
        }
    }

    fn text_line(&mut self, line: &str) -> Parsed {
        let mut diagnostic = None;
        let plain = diagnostics::strip_ansi(line);
        match self.watch {
            Watch::Fmt => diagnostic = self.fmt_line(&plain),
            Watch::Libtest => {
                if let Some(parser) = &mut self.libtest {
                    parser.feed(&plain);
                }
                if let Some(bench) = parse_bench(&plain) {
                    self.benches.push(bench);
                }
            }
            Watch::Nextest => {
                if let Some(parser) = &mut self.nextest {
                    parser.feed(&plain);
                }
            }
            Watch::Build => {}
        }
        if self.fetch_failure.is_none() && is_fetch_failure(&plain) {
            self.fetch_failure = Some(plain.trim().to_string());
        }
        Parsed {
            print: Some(line.to_string()),
            diagnostic,
        }
    }

    /// rustfmt's hunk header names the first line of context; the diagnostic names the first
    /// line that changes, so it is held until that line shows.
    fn fmt_line(&mut self, line: &str) -> Option<Diagnostic> {
        if let Some(header) = diagnostics::parse_fmt_line(line, &self.root) {
            let previous = self.flush_fmt();
            self.fmt_pending = Some(header);
            return previous;
        }
        let pending = self.fmt_pending.as_mut()?;
        match line.chars().next() {
            Some('-') | Some('+') => self.flush_fmt(),
            _ => {
                pending.line += 1;
                None
            }
        }
    }

    fn flush_fmt(&mut self) -> Option<Diagnostic> {
        let mut d = self.fmt_pending.take()?;
        d.rendered = format!("{}: not formatted\n", d.location());
        self.diagnostics.push(d.clone());
        Some(d)
    }

    /// Ends the stream: what was still held is recorded.
    pub fn close(&mut self) {
        self.flush_fmt();
    }

    fn first_time(&mut self, d: &Diagnostic) -> bool {
        self.seen
            .insert((d.file.clone(), d.line, d.column, d.message.clone()))
    }

    pub fn tests(&mut self) -> Option<TestReport> {
        if let Some(parser) = self.libtest.take() {
            return Some(parser.finish());
        }
        self.nextest.take().map(Nextest::finish)
    }

    pub fn bench_results(&self) -> Vec<BenchResult> {
        self.benches
            .iter()
            .map(|b| BenchResult {
                name: b.name.clone(),
                ns_per_iter: b.ns_per_iter,
                deviation: b.deviation,
            })
            .collect()
    }
}

/// `test sum ... bench:       1,234.50 ns/iter (+/- 56.25)`.
fn parse_bench(line: &str) -> Option<Bench> {
    let rest = line.strip_prefix("test ")?;
    let (name, rest) = rest.split_once(" ... bench:")?;
    let (ns, rest) = rest.trim_start().split_once(" ns/iter")?;
    let number = |s: &str| s.trim().replace(',', "").parse::<f64>().ok();
    let deviation = rest
        .split_once("(+/-")
        .and_then(|(_, d)| number(d.trim_end().trim_end_matches(')')))
        .unwrap_or(0.0);
    Some(Bench {
        name: name.trim().to_string(),
        ns_per_iter: number(ns)?,
        deviation,
    })
}

/// Whether a line says a download failed: an advisory database or registry fetch, or the
/// network being unreachable. Tools word this differently; these are the words they share.
pub fn is_fetch_failure(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let failed = ["error", "failed", "couldn't", "could not", "unable"]
        .iter()
        .any(|w| lower.contains(w));
    let fetching = ["fetch", "clone", "download", "resolve host", "connect"]
        .iter()
        .any(|w| lower.contains(w));
    let remote = [
        "advisory",
        "database",
        "registry",
        "index",
        "github.com",
        "network",
        "host",
    ]
    .iter()
    .any(|w| lower.contains(w));
    failed && fetching && remote
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_lines() {
        let b = parse_bench("test sum ... bench:       1,234.50 ns/iter (+/- 56.25)").unwrap();
        assert_eq!(b.name, "sum");
        assert_eq!(b.ns_per_iter, 1234.5);
        assert_eq!(b.deviation, 56.25);
        assert!(parse_bench("test sum ... ok").is_none());
    }

    #[test]
    fn fmt_diagnostics_point_at_the_first_changed_line() {
        let mut parser = OutputParser::new(PathBuf::from("/p"), Watch::Fmt);
        let lines = [
            "Diff in /p/src/lib.rs:5:",
            " /// ```",
            " /// assert!(true);",
            " /// ```",
            "-pub fn add(a:i32)->i32{",
            "+pub fn add(a: i32) -> i32 {",
            "Diff in /p/src/b.rs:1:",
        ];
        let found: Vec<_> = lines
            .iter()
            .filter_map(|l| parser.feed(l).diagnostic)
            .collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].location(), "src/lib.rs:8");
        parser.close();
        assert_eq!(parser.diagnostics.len(), 2);
        assert_eq!(parser.diagnostics[1].location(), "src/b.rs:1");
    }

    #[test]
    fn fetch_failures() {
        assert!(is_fetch_failure(
            "error: couldn't fetch advisory database: git operation failed"
        ));
        assert!(is_fetch_failure(
            "[ERROR] failed to fetch advisory database https://github.com/RustSec/advisory-db"
        ));
        assert!(is_fetch_failure(
            "error: failed to download from `https://index.crates.io/config.json`: Could not resolve host: index.crates.io"
        ));
        assert!(!is_fetch_failure("error: 2 vulnerabilities found"));
        assert!(!is_fetch_failure("Fetching advisory database from github"));
    }
}
