//! Test results from JUnit XML files, as Jest (`jest-junit`) and Vitest (`--reporter=junit`)
//! write them: every `<testcase>`, failed when it holds `<failure>` or `<error>`, skipped with
//! `<skipped>`. A small scanner rather than an XML crate: only these elements and their
//! attributes matter, and the files come from the project's own test run.

use std::path::Path;

use crate::events::TestStatus;
use crate::primitives::cargo::diagnostics::relative_to;
use crate::primitives::cargo::test_results::{TestCase, TestFailure, TestReport};

pub fn parse_into(report: &mut TestReport, xml: &str, root: &Path) {
    let mut rest = xml;
    while let Some(at) = rest.find("<testcase") {
        rest = &rest[at + "<testcase".len()..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let self_closing = tag.ends_with('/');
        let body = if self_closing {
            ""
        } else {
            let end = rest.find("</testcase>").unwrap_or(rest.len());
            &rest[tag_end + 1..end]
        };
        let name = attribute(tag, "name").unwrap_or_default();
        let name = match attribute(tag, "classname") {
            Some(class) if !class.is_empty() && class != name && class != "test" => {
                format!("{class} > {name}")
            }
            _ => name,
        };
        let failed_at = body.find("<failure").or_else(|| body.find("<error"));
        let status = if failed_at.is_some() {
            TestStatus::Failed
        } else if body.contains("<skipped") {
            TestStatus::Ignored
        } else {
            TestStatus::Passed
        };
        match status {
            TestStatus::Passed => report.passed += 1,
            TestStatus::Failed => report.failed += 1,
            _ => report.ignored += 1,
        }
        report.cases.push(TestCase {
            name: name.clone(),
            status,
        });
        if let Some(at) = failed_at {
            let element = &body[at..];
            let open_end = element.find('>').unwrap_or(element.len());
            let message = attribute(&element[..open_end], "message");
            let text = unescape(
                element[open_end.saturating_add(1).min(element.len())..]
                    .split("</")
                    .next()
                    .unwrap_or(""),
            );
            let mut failure = TestFailure {
                name,
                output: text.trim().to_string(),
                message: message.map(|m| m.lines().next().unwrap_or("").to_string()),
                ..TestFailure::default()
            };
            let place = match (attribute(tag, "file"), attribute(tag, "line")) {
                (Some(file), Some(line)) => line.parse().ok().map(|l| (file, l, None)),
                _ => stack_location(&text, root),
            };
            if let Some((file, line, column)) = place {
                failure.file = Some(relative_to(&root.join(file), root));
                failure.line = Some(line);
                failure.column = column;
            }
            report.failures.push(failure);
        }
        rest = &rest[tag_end..];
    }
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

/// The first `file:line:col` of a stack trace that lies inside the project and outside
/// `node_modules`: where the test failed.
fn stack_location(text: &str, root: &Path) -> Option<(String, u32, Option<u32>)> {
    let root = root.display().to_string();
    for line in text.lines() {
        let Some(at) = line.find(root.as_str()) else {
            continue;
        };
        let place = line[at..].trim_end_matches(')').trim();
        if place.contains("/node_modules/") {
            continue;
        }
        let mut parts = place.rsplitn(3, ':');
        let (Some(column), Some(line_no), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if let (Ok(line_no), Ok(column)) = (line_no.parse(), column.parse()) {
            return Some((file.to_string(), line_no, Some(column)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jest_and_vitest_testcases() {
        let xml = r#"<?xml version="1.0"?>
<testsuites><testsuite name="sum">
  <testcase classname="sum adds" name="sum adds" time="0.01"/>
  <testcase classname="sum" name="fails" time="0.02">
    <failure message="expected 3 to be 4">Error: expected 3 to be 4
    at Object.&lt;anonymous&gt; (/srv/app/src/sum.test.ts:7:19)
    at /srv/app/node_modules/jest/x.js:1:1</failure>
  </testcase>
  <testcase classname="sum" name="later"><skipped/></testcase>
</testsuite></testsuites>"#;
        let mut report = TestReport::default();
        parse_into(&mut report, xml, Path::new("/srv/app"));
        assert_eq!((report.passed, report.failed, report.ignored), (1, 1, 1));
        assert_eq!(report.cases[0].name, "sum adds");
        let failure = &report.failures[0];
        assert_eq!(failure.name, "sum > fails");
        assert_eq!(failure.location().as_deref(), Some("src/sum.test.ts:7:19"));
        assert_eq!(
            failure.summary(),
            "test sum > fails failed: expected 3 to be 4"
        );
    }
}
