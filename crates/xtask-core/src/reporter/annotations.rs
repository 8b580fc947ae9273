//! The annotation budget. GitHub shows at most 10 error and 10 warning (and 10 notice)
//! annotations per step and silently drops the rest, so the Actions reporter collects findings
//! during the run and spends the budget at its end: errors before warnings, findings in files
//! the change touched (against `GITHUB_BASE_REF`, or `XTASK_BASE_REF`) before the others, then
//! in the order they were found. What does not fit is listed in the step summary with its
//! `file:line`.

use std::collections::HashSet;
use std::path::Path;

use crate::events::Severity;

/// GitHub's per-step limit for each of errors, warnings and notices.
pub const PER_STEP: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub title: String,
    /// Repository-relative file, line and column, when the finding has a place.
    pub location: Option<(String, usize, usize)>,
    pub message: String,
}

fn rank(severity: Severity) -> u8 {
    match severity {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Notice => 2,
    }
}

/// Splits findings into those to annotate (at most [`PER_STEP`] of each severity, best first)
/// and the overflow, both in ranked order.
pub fn spend(findings: &[Finding], changed: &HashSet<String>) -> (Vec<Finding>, Vec<Finding>) {
    let in_change = |f: &Finding| {
        f.location
            .as_ref()
            .is_some_and(|(file, _, _)| changed.contains(file))
    };
    let mut order: Vec<usize> = (0..findings.len()).collect();
    // A stable sort keeps the order of discovery within each rank.
    order.sort_by_key(|&i| (rank(findings[i].severity), !in_change(&findings[i])));
    let mut used = [0usize; 3];
    let (mut shown, mut rest) = (Vec::new(), Vec::new());
    for i in order {
        let f = &findings[i];
        let slot = &mut used[rank(f.severity) as usize];
        if *slot < PER_STEP {
            *slot += 1;
            shown.push(f.clone());
        } else {
            rest.push(f.clone());
        }
    }
    (shown, rest)
}

/// Files changed against the base ref (`GITHUB_BASE_REF` on pull requests, else
/// `XTASK_BASE_REF`), repository-relative; empty when there is no base or git cannot tell.
pub fn changed_files(repo_dir: &Path) -> HashSet<String> {
    let base = ["GITHUB_BASE_REF", "XTASK_BASE_REF"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty());
    let Some(base) = base else {
        return HashSet::new();
    };
    // Actions names the branch (`main`); the checkout has it as a remote ref, if fetched.
    for candidate in [format!("origin/{base}"), base.clone()] {
        let range = format!("{candidate}...HEAD");
        let diff = crate::process::Spec::query("git", &["diff", "--name-only", &range], repo_dir);
        let out = diff.output(&crate::cancel::CancelToken::new());
        // `git diff` names paths from the top of the repository, as annotations do.
        if let Some(out) = out.ok().filter(|o| o.success()) {
            return out.stdout_text().lines().map(str::to_string).collect();
        }
    }
    HashSet::new()
}

/// The overflow as a markdown list for the step summary.
pub fn overflow_markdown(rest: &[Finding]) -> String {
    if rest.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n**and {} more** not annotated (GitHub shows {PER_STEP} errors and {PER_STEP} warnings per step):\n\n",
        rest.len()
    );
    for f in rest {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        };
        let place = match &f.location {
            Some((file, line, _)) => format!("`{file}:{line}`"),
            None => format!("`{}`", f.title),
        };
        let first = f.message.lines().next().unwrap_or("").replace('|', "\\|");
        out.push_str(&format!("- {place} {level}: {first}\n"));
    }
    out
}

/// GitHub rejects a step summary over 1 MiB.
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// Cuts `markdown` at a line boundary so that, appended to a summary of `existing` bytes, the
/// whole stays under the limit, with a note saying so.
pub fn trim_summary(markdown: &str, existing: usize) -> String {
    let note_room = 200;
    let budget = SUMMARY_LIMIT.saturating_sub(existing + note_room);
    if markdown.len() <= budget + note_room {
        return markdown.to_string();
    }
    let mut cut = budget.min(markdown.len());
    while !markdown.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = markdown[..cut].rfind('\n').map(|i| i + 1).unwrap_or(0);
    format!(
        "{}\n> **Summary trimmed**: {} more bytes did not fit GitHub's 1 MiB step summary limit (`--report json=PATH` keeps everything).\n",
        &markdown[..cut],
        markdown.len() - cut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity, file: &str, line: usize) -> Finding {
        Finding {
            severity,
            title: "clippy".into(),
            location: Some((file.into(), line, 1)),
            message: format!("finding at {line}"),
        }
    }

    #[test]
    fn errors_first_then_changed_files_within_the_limits() {
        let mut all: Vec<Finding> = (1..=30)
            .map(|i| finding(Severity::Warning, "src/old.rs", i))
            .collect();
        all.push(finding(Severity::Warning, "src/new.rs", 99));
        all.push(finding(Severity::Error, "src/old.rs", 5));
        let changed: HashSet<String> = ["src/new.rs".to_string()].into();
        let (shown, rest) = spend(&all, &changed);
        assert_eq!(shown.len(), 11);
        assert_eq!(shown[0].severity, Severity::Error);
        assert_eq!(shown[1].location.as_ref().unwrap().0, "src/new.rs");
        assert_eq!(rest.len(), 21);
        assert!(overflow_markdown(&rest).contains("**and 21 more**"));
        assert!(overflow_markdown(&rest).contains("- `src/old.rs:10` warning: finding at 10"));
    }

    #[test]
    fn a_long_summary_is_trimmed_under_the_limit() {
        let line = "x".repeat(99) + "\n";
        let big = line.repeat(20_000);
        let trimmed = trim_summary(&big, 1000);
        assert!(trimmed.len() + 1000 < SUMMARY_LIMIT);
        assert!(trimmed.contains("Summary trimmed"));
        assert_eq!(trim_summary("small\n", 0), "small\n");
    }
}
