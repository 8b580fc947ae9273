//! Results of node's built-in test runner from its TAP output (`--test-reporter=tap`): counts,
//! every test with how it ended, and each failure with its message and `file:line:col`.
//!
//! TAP is the runner's stable machine format in every Node version that has the runner; nested
//! tests (`describe`) are indented by four spaces per level and named here `outer > inner`.

use std::path::Path;

use crate::events::TestStatus;
use crate::primitives::cargo::test_results::{TestCase, TestFailure, TestReport};

/// One `ok` / `not ok` line with its YAML block.
struct Point {
    depth: usize,
    name: String,
    ok: bool,
    directive: Option<String>,
    yaml: Vec<String>,
}

pub fn parse(tap: &str, root: &Path) -> TestReport {
    let points = points(tap);
    let mut report = TestReport::default();
    let mut names: Vec<String> = Vec::with_capacity(points.len());
    // Suite names are only known when the suite's own line comes, after its children: collect
    // children per depth and prefix them when their parent closes.
    let mut open: Vec<Vec<usize>> = Vec::new();
    let mut suite = vec![false; points.len()];
    for (i, point) in points.iter().enumerate() {
        names.push(point.name.clone());
        while open.len() <= point.depth + 1 {
            open.push(Vec::new());
        }
        let children = std::mem::take(&mut open[point.depth + 1]);
        if !children.is_empty() {
            suite[i] = true;
            for &child in &children {
                names[child] = format!("{} > {}", point.name, names[child]);
            }
        }
        open[point.depth].push(i);
        open[point.depth].extend(children);
    }
    for (i, point) in points.iter().enumerate() {
        if suite[i] && !point.yaml_has("failureType: 'hookFailed'") {
            continue;
        }
        let status = match (&point.directive, point.ok) {
            (Some(_), _) => TestStatus::Ignored,
            (None, true) => TestStatus::Passed,
            (None, false) => TestStatus::Failed,
        };
        match status {
            TestStatus::Passed => report.passed += 1,
            TestStatus::Failed => report.failed += 1,
            _ => report.ignored += 1,
        }
        report.cases.push(TestCase {
            name: names[i].clone(),
            status,
        });
        if status == TestStatus::Failed {
            let output = point.error_text();
            let mut failure = TestFailure {
                name: names[i].clone(),
                message: output.lines().next().map(str::to_string),
                output,
                ..TestFailure::default()
            };
            if let Some((file, line, column)) = point.location() {
                failure.file = Some(crate::primitives::cargo::diagnostics::relative_to(
                    Path::new(&file),
                    root,
                ));
                failure.line = Some(line);
                failure.column = Some(column);
            }
            report.failures.push(failure);
        }
    }
    report
}

fn points(tap: &str) -> Vec<Point> {
    let mut points: Vec<Point> = Vec::new();
    let mut in_yaml: Option<usize> = None;
    for raw in tap.lines() {
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        let line = raw.trim_start_matches(' ');
        if let Some(yaml_indent) = in_yaml {
            if line == "..." && indent == yaml_indent {
                in_yaml = None;
            } else if let Some(point) = points.last_mut() {
                point
                    .yaml
                    .push(raw.get(yaml_indent..).unwrap_or(line).to_string());
            }
            continue;
        }
        if line == "---" {
            if let Some(point) = points.last() {
                if indent == point.depth * 4 + 2 {
                    in_yaml = Some(indent);
                }
            }
            continue;
        }
        let (ok, rest) = if let Some(rest) = line.strip_prefix("not ok ") {
            (false, rest)
        } else if let Some(rest) = line.strip_prefix("ok ") {
            (true, rest)
        } else {
            continue;
        };
        // `3 - name # SKIP reason`
        let rest = rest.split_once(" - ").map(|(_, name)| name).unwrap_or(rest);
        let (name, directive) = match rest.rsplit_once(" # ") {
            Some((name, d))
                if d.to_ascii_uppercase().starts_with("SKIP")
                    || d.to_ascii_uppercase().starts_with("TODO") =>
            {
                (name, Some(d.to_string()))
            }
            _ => (rest, None),
        };
        points.push(Point {
            depth: indent / 4,
            name: unescape(name),
            ok,
            directive,
            yaml: Vec::new(),
        });
    }
    points
}

/// TAP escapes `#` and `\` in names.
fn unescape(name: &str) -> String {
    name.replace("\\#", "#").replace("\\\\", "\\")
}

impl Point {
    fn yaml_has(&self, text: &str) -> bool {
        self.yaml.iter().any(|l| l.trim() == text)
    }

    /// `location: '/abs/file.js:3:1'`
    fn location(&self) -> Option<(String, u32, u32)> {
        let value = self
            .yaml
            .iter()
            .find_map(|l| l.strip_prefix("location: "))?
            .trim()
            .trim_matches('\'');
        let (rest, column) = value.rsplit_once(':')?;
        let (file, line) = rest.rsplit_once(':')?;
        Some((file.to_string(), line.parse().ok()?, column.parse().ok()?))
    }

    /// The `error:` value, quoted or a `|-` block.
    fn error_text(&self) -> String {
        let Some(at) = self.yaml.iter().position(|l| l.starts_with("error: ")) else {
            return String::new();
        };
        let value = self.yaml[at]["error: ".len()..].trim();
        if value == "|-" || value == "|" {
            let block: Vec<&str> = self.yaml[at + 1..]
                .iter()
                .take_while(|l| l.starts_with("  ") || l.is_empty())
                .map(|l| l.get(2..).unwrap_or(""))
                .collect();
            return block.join("\n").trim().to_string();
        }
        value.trim_matches('\'').replace("''", "'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAP: &str = "TAP version 13
# Subtest: health
    # Subtest: answers ok
    ok 1 - answers ok
      ---
      duration_ms: 1.2
      ...
    # Subtest: says \\# of items
    not ok 2 - says \\# of items
      ---
      duration_ms: 3.4
      location: '/srv/app/test/health.test.js:12:5'
      failureType: 'testCodeFailure'
      error: |-
        Expected values to be strictly equal:
        
        1 !== 2
        
      code: 'ERR_ASSERTION'
      ...
    1..2
not ok 1 - health
  ---
  duration_ms: 5
  location: '/srv/app/test/health.test.js:3:1'
  failureType: 'subtestsFailed'
  error: '1 subtest failed'
  ...
# Subtest: skipped one
ok 2 - skipped one # SKIP not here
  ---
  duration_ms: 0.1
  ...
# Subtest: top level
ok 3 - top level
  ---
  duration_ms: 0.1
  ...
1..3
# tests 4
# pass 2
# fail 1
";

    #[test]
    fn counts_leaves_and_names_failures_with_their_place() {
        let report = parse(TAP, Path::new("/srv/app"));
        assert_eq!((report.passed, report.failed, report.ignored), (2, 1, 1));
        let names: Vec<&str> = report.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "health > answers ok",
                "health > says # of items",
                "skipped one",
                "top level"
            ]
        );
        let failure = &report.failures[0];
        assert_eq!(failure.name, "health > says # of items");
        assert_eq!(
            failure.location().as_deref(),
            Some("test/health.test.js:12:5")
        );
        assert_eq!(
            failure.output,
            "Expected values to be strictly equal:\n\n1 !== 2"
        );
    }

    #[test]
    fn a_file_that_fails_to_load_is_a_failure() {
        let tap = "not ok 1 - /srv/app/test/broken.test.js\n  ---\n  duration_ms: 30\n  location: '/srv/app/test/broken.test.js:1:1'\n  failureType: 'testCodeFailure'\n  error: 'test failed'\n  ...\n";
        let report = parse(tap, Path::new("/srv/app"));
        assert_eq!(report.failed, 1);
        assert_eq!(report.failures[0].output, "test failed");
        assert_eq!(
            report.failures[0].location().as_deref(),
            Some("test/broken.test.js:1:1")
        );
    }
}
