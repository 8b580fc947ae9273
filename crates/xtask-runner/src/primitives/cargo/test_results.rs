//! Test results from the human output of libtest (`cargo test`) or cargo-nextest: counts, and the
//! failing tests with their output and the place they failed. Both formats are stable on stable
//! Rust; libtest's JSON output is nightly-only, so it is not used.

use crate::primitives::options::result;

use super::diagnostics::strip_ansi;
use crate::events::{Event, EventBus, JobId, Severity};

result! {
    /// The `tests` of `cargo::test`'s and `npm::test`'s results.
    pub struct TestsResult {
        /// Tests that passed.
        passed: i64 as "int",
        /// Tests that failed (or timed out).
        failed: i64 as "int",
        /// Tests ignored or skipped.
        ignored: i64 as "int",
        /// Each failing test: `#{ name, output, location }`.
        failures: Vec<FailureResult> as "array of maps",
    }
}

result! {
    /// One failing test of [`TestsResult`].
    pub struct FailureResult {
        /// The test's full name.
        name: String as "string",
        /// What it printed.
        output: String as "string",
        /// `file:line[:col]` where it failed; `()` when unknown.
        location: Option<String> as "string",
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestFailure {
    pub name: String,
    pub output: String,
    /// `file:line[:col]` where it failed: the panic location, or a doc test's own line.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// The failure's one-line message when the runner states one apart from the output
    /// (node's test runner); otherwise the panic message is looked up in `output`.
    pub message: Option<String>,
}

impl TestFailure {
    pub fn location(&self) -> Option<String> {
        let (file, line) = (self.file.as_ref()?, self.line?);
        Some(match self.column {
            Some(column) => format!("{file}:{line}:{column}"),
            None => format!("{file}:{line}"),
        })
    }

    /// The first line of the panic message, for annotations.
    pub fn summary(&self) -> String {
        if let Some(message) = &self.message {
            return format!("test {} failed: {message}", self.name);
        }
        let mut lines = self.output.lines().map(str::trim);
        while let Some(line) = lines.next() {
            if line.contains("panicked at ") {
                if let Some(next) = lines.next().filter(|l| !l.is_empty()) {
                    return format!("test {} failed: {next}", self.name);
                }
            }
        }
        format!("test {} failed", self.name)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestReport {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub failures: Vec<TestFailure>,
    /// Every test the output named, in order, with how it ended (for per-test reports).
    pub cases: Vec<TestCase>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    pub name: String,
    pub status: TestStatus,
}

pub use crate::events::TestStatus;

impl TestReport {
    /// Announces the run's tests to the reporters: a `TestCase` per test (JUnit testcases) and
    /// a `Diagnostic` (annotation) per failure that has a place in a file.
    pub fn emit(&self, bus: &EventBus, job: Option<JobId>) {
        if let Some(job) = job {
            for case in &self.cases {
                let output = self
                    .failures
                    .iter()
                    .find(|f| f.name == case.name)
                    .map(|f| f.output.clone());
                bus.emit(Event::TestCase {
                    job,
                    name: case.name.clone(),
                    status: case.status,
                    output: output.unwrap_or_default(),
                });
            }
        }
        for failure in &self.failures {
            if let (Some(file), Some(line)) = (&failure.file, failure.line) {
                bus.emit(Event::Diagnostic {
                    job,
                    level: Severity::Error,
                    file: file.clone(),
                    line: line as usize,
                    column: failure.column.unwrap_or(1) as usize,
                    message: failure.summary(),
                });
            }
        }
    }

    /// `2 failed, 5 passed, 0 ignored; failing: a at f.rs:1, b (+3 more)`, for error messages.
    pub fn failure_line(&self) -> String {
        let names: Vec<String> = self
            .failures
            .iter()
            .take(5)
            .map(|f| match f.location() {
                Some(at) => format!("{} at {at}", f.name),
                None => f.name.clone(),
            })
            .collect();
        let more = self.failures.len().saturating_sub(names.len());
        format!(
            "{} failed, {} passed, {} ignored; failing: {}{}",
            self.failed.max(self.failures.len() as u64),
            self.passed,
            self.ignored,
            names.join(", "),
            if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            }
        )
    }

    pub fn to_result(&self) -> TestsResult {
        TestsResult {
            passed: self.passed as i64,
            failed: self.failed as i64,
            ignored: self.ignored as i64,
            failures: self
                .failures
                .iter()
                .map(|f| FailureResult {
                    name: f.name.clone(),
                    output: f.output.clone(),
                    location: f.location(),
                })
                .collect(),
        }
    }

    /// Adds summary counts given as `N word` parts: libtest's `1 passed; 0 failed; 2 ignored`
    /// and nextest's `1 passed, 1 failed, 1 timed out, 2 skipped` alike.
    fn add_counts<'a>(&mut self, parts: impl Iterator<Item = &'a str>) {
        for part in parts {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" | "timed" => self.failed += n,
                "ignored" | "skipped" => self.ignored += n,
                _ => {}
            }
        }
    }

    fn case(&mut self, name: &str, status: TestStatus) {
        self.cases.push(TestCase {
            name: name.to_string(),
            status,
        });
    }

    fn failure(&mut self, name: &str) -> &mut TestFailure {
        let at = match self.failures.iter().position(|f| f.name == name) {
            Some(at) => at,
            None => {
                self.failures.push(TestFailure {
                    name: name.to_string(),
                    ..TestFailure::default()
                });
                self.failures.len() - 1
            }
        };
        &mut self.failures[at]
    }

    /// Fills in each failure's location from its name (doc tests) or its panic message.
    fn locate(&mut self) {
        for failure in &mut self.failures {
            if let Some((file, line)) = doctest_location(&failure.name) {
                failure.file = Some(file);
                failure.line = Some(line);
            } else if let Some((file, line, column)) = panic_location(&failure.output) {
                failure.file = Some(file);
                failure.line = Some(line);
                failure.column = column;
            }
        }
    }
}

/// Parses `cargo test` output: one section per test binary, each ending in `test result:`.
#[derive(Default)]
pub struct Libtest {
    report: TestReport,
    /// The failing test whose captured output is being read.
    capturing: Option<(String, String)>,
}

impl Libtest {
    pub fn feed(&mut self, raw: &str) {
        let line = strip_ansi(raw);
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            self.end_capture();
            self.capturing = Some((name.to_string(), String::new()));
            return;
        }
        if line == "failures:" || line.starts_with("test result: ") {
            self.end_capture();
        }
        if let Some((_, output)) = &mut self.capturing {
            output.push_str(line);
            output.push('\n');
            return;
        }
        if let Some(rest) = line.strip_prefix("test ") {
            if let Some(name) = rest.strip_suffix(" ... FAILED") {
                self.report.failure(name);
                self.report.case(name, TestStatus::Failed);
            } else if let Some(name) = rest.strip_suffix(" ... ok") {
                self.report.case(name, TestStatus::Passed);
            } else if let Some((name, _)) = rest.split_once(" ... ignored") {
                self.report.case(name, TestStatus::Ignored);
            } else if let Some(counts) = rest.strip_prefix("result: ") {
                self.report.add_counts(counts.split(['.', ';']));
            }
        }
    }

    fn end_capture(&mut self) {
        if let Some((name, output)) = self.capturing.take() {
            self.report.failure(&name).output = output.trim_end().to_string() + "\n";
        }
    }

    pub fn finish(mut self) -> TestReport {
        self.end_capture();
        self.report.locate();
        self.report
    }
}

/// Parses cargo-nextest's output: a status line per test, failing tests' output indented under
/// theirs, and a `Summary` line with the counts.
#[derive(Default)]
pub struct Nextest {
    report: TestReport,
    capturing: Option<(String, String)>,
}

/// Statuses nextest prints for a test that did not pass.
const NEXTEST_FAILED: &[&str] = &[
    "FAIL",
    "SIGSEGV",
    "SIGABRT",
    "SIGBUS",
    "SIGILL",
    "SIGFPE",
    "ABORT",
    "TIMEOUT",
    "LEAK-FAIL",
];

impl Nextest {
    pub fn feed(&mut self, raw: &str) {
        let stripped = strip_ansi(raw);
        let line = stripped.trim_end_matches(['\r', '\n']);
        let trimmed = line.trim_start();
        if let Some((status, name)) = status_line(trimmed) {
            self.end_capture();
            // The closing list repeats failed tests; count each test once.
            if !self.report.cases.iter().any(|c| c.name == name) {
                match status {
                    "PASS" | "LEAK" => self.report.case(name, TestStatus::Passed),
                    "SKIP" => self.report.case(name, TestStatus::Ignored),
                    s if NEXTEST_FAILED.contains(&s) => self.report.case(name, TestStatus::Failed),
                    _ => {}
                }
            }
            if NEXTEST_FAILED.contains(&status) {
                self.report.failure(name);
                // The final list repeats failures without output: do not overwrite it.
                if self
                    .report
                    .failures
                    .iter()
                    .any(|f| f.name == name && f.output.is_empty())
                {
                    self.capturing = Some((name.to_string(), String::new()));
                }
            }
            return;
        }
        if let Some(counts) = trimmed.strip_prefix("Summary ") {
            self.end_capture();
            let counts = counts.split_once(" run: ").map_or("", |(_, c)| c);
            self.report.add_counts(counts.split(','));
            return;
        }
        if trimmed.starts_with("────") || trimmed.starts_with("error: ") {
            self.end_capture();
            return;
        }
        if let Some((_, output)) = &mut self.capturing {
            output.push_str(line.strip_prefix("    ").unwrap_or(line));
            output.push('\n');
        }
    }

    fn end_capture(&mut self) {
        if let Some((name, output)) = self.capturing.take() {
            self.report.failure(&name).output = output.trim().to_string() + "\n";
        }
    }

    pub fn finish(mut self) -> TestReport {
        self.end_capture();
        self.report.locate();
        // Nextest counts a failure once, but crashes and timeouts are separate words.
        self.report.failed = self.report.failed.max(self.report.failures.len() as u64);
        self.report
    }
}

/// `FAIL [   0.130s] (2/2) probe tests::bad` -> (`FAIL`, `probe tests::bad`).
fn status_line(line: &str) -> Option<(&str, &str)> {
    let (status, rest) = line.split_once(' ')?;
    if !status.chars().all(|c| c.is_ascii_uppercase() || c == '-') || status.len() < 3 {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('[')?;
    let (time, rest) = rest.split_once(']')?;
    if !time.trim().ends_with('s') {
        return None;
    }
    let mut rest = rest.trim_start();
    if rest.starts_with('(') {
        rest = rest.split_once(')')?.1.trim_start();
    }
    (!rest.is_empty()).then_some((status, rest))
}

/// `src/lib.rs - add (line 5)` -> (`src/lib.rs`, 5).
fn doctest_location(name: &str) -> Option<(String, u32)> {
    let (file, rest) = name.split_once(" - ")?;
    let line = rest.rsplit_once("(line ")?.1.strip_suffix(')')?;
    Some((file.to_string(), line.parse().ok()?))
}

/// `thread 'x' (123) panicked at src/lib.rs:23:9:` (and the pre-1.73 `panicked at 'msg',
/// src/lib.rs:23:9`).
fn panic_location(output: &str) -> Option<(String, u32, Option<u32>)> {
    let line = output.lines().find(|l| l.contains("panicked at "))?;
    let after = line.split_once("panicked at ")?.1.trim_end();
    let place = match after.strip_suffix(':') {
        Some(place) => place,
        None => after.rsplit_once(", ")?.1,
    };
    let mut parts = place.rsplitn(3, ':');
    let (column, line, file) = (parts.next()?, parts.next()?, parts.next()?);
    Some((file.to_string(), line.parse().ok()?, column.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBTEST: &str = "\
running 3 tests
test tests::ign ... ignored
test tests::ok ... ok
test tests::bad ... FAILED

failures:

---- tests::bad stdout ----
some output

thread 'tests::bad' (14645) panicked at src/lib.rs:23:9:
assertion `left == right` failed

failures:
    tests::bad

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.15s

running 1 test
test src/lib.rs - add (line 5) ... FAILED

failures:

---- src/lib.rs - add (line 5) stdout ----
Test executable failed (exit status: 101).

failures:
    src/lib.rs - add (line 5)

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.24s
";

    #[test]
    fn libtest_counts_names_outputs_and_locations() {
        let mut parser = Libtest::default();
        LIBTEST.lines().for_each(|l| parser.feed(l));
        let report = parser.finish();
        assert_eq!((report.passed, report.failed, report.ignored), (1, 2, 1));
        assert_eq!(report.failures.len(), 2);
        let unit = &report.failures[0];
        assert_eq!(unit.name, "tests::bad");
        assert!(unit.output.contains("some output"), "{}", unit.output);
        assert!(!unit.output.contains("failures:"), "{}", unit.output);
        assert_eq!(unit.location().as_deref(), Some("src/lib.rs:23:9"));
        assert_eq!(
            unit.summary(),
            "test tests::bad failed: assertion `left == right` failed"
        );
        assert_eq!(
            report.failures[1].location().as_deref(),
            Some("src/lib.rs:5")
        );
    }

    const NEXTEST: &str = "\
    Starting 2 tests across 1 binary (1 test skipped)
        PASS [   0.008s] (1/2) probe tests::ok
        FAIL [   0.130s] (2/2) probe tests::bad
  stdout ───

    running 1 test
    some output
    test tests::bad ... FAILED

    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.12s

  stderr ───

    thread 'tests::bad' (15536) panicked at src/lib.rs:23:9:
    assertion `left == right` failed

────────────
     Summary [   0.131s] 2 tests run: 1 passed, 1 failed, 1 skipped
        FAIL [   0.130s] (2/2) probe tests::bad
error: test run failed
";

    #[test]
    fn nextest_counts_names_outputs_and_locations() {
        let mut parser = Nextest::default();
        NEXTEST.lines().for_each(|l| parser.feed(l));
        let report = parser.finish();
        assert_eq!((report.passed, report.failed, report.ignored), (1, 1, 1));
        assert_eq!(report.failures.len(), 1);
        let failure = &report.failures[0];
        assert_eq!(failure.name, "probe tests::bad");
        assert!(failure.output.contains("some output"));
        assert_eq!(failure.location().as_deref(), Some("src/lib.rs:23:9"));
    }

    #[test]
    fn old_panic_format() {
        assert_eq!(
            panic_location("thread 'a' panicked at 'boom', src/x.rs:3:7"),
            Some(("src/x.rs".into(), 3, Some(7)))
        );
    }
}
