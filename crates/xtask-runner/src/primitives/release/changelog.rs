//! `release::changelog`: a markdown release section from git history, grouped by
//! conventional-commit type, and its insertion into CHANGELOG.md.

use std::path::Path;

use super::super::{git, git::Commit};
use super::error::{ReleaseError, Result};
use super::workspace::Workspace;

/// A rendered section and where its commits came from.
pub struct Notes {
    pub section: String,
    pub commits: usize,
    pub since: Option<String>,
}

impl Notes {
    pub fn describe(&self) -> String {
        format!(
            "{} commits since {}",
            self.commits,
            self.since.as_deref().unwrap_or("the first commit")
        )
    }
}

/// The section for `from..to`. Without `from`: since the newest `<tag_prefix>*` tag reachable
/// from `to` other than `<tag_prefix><version>` (that one is the release being described, not
/// the previous one), or all history when there is none.
pub fn from_history(
    ws: &Workspace,
    from: Option<&str>,
    to: &str,
    tag_prefix: &str,
    version: &str,
    date: &str,
) -> Result<Notes> {
    let since = match from {
        Some(from) => Some(from.to_string()),
        None => git::latest_tag(
            &ws.root,
            to,
            &format!("{tag_prefix}*"),
            Some(&format!("{tag_prefix}{version}")),
        )?,
    };
    // In a monorepo only the commits that touch this workspace belong in its changelog; at the
    // top of a repository every commit does (a path would leave out empty commits).
    let top = git::git(&ws.root, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| {
        a.canonicalize()
            .ok()
            .is_some_and(|a| b.canonicalize().ok() == Some(a))
    };
    let pathspec = (!same(Path::new(&top), &ws.root)).then_some(ws.root.as_path());
    let mut commits = git::log(&ws.root, since.as_deref(), to, pathspec)?;
    // The commit `bump` makes for this very release is not a change of its own.
    commits.retain(|c| c.subject != format!("Release {version}"));
    Ok(Notes {
        section: render(version, date, &commits),
        commits: commits.len(),
        since,
    })
}

/// Groups in the order they are shown. Breaking changes come first and are listed only there.
const GROUPS: &[(&str, &[&str])] = &[
    ("Features", &["feat"]),
    ("Fixes", &["fix"]),
    ("Performance", &["perf"]),
];

/// Renders `## [version] - date` and its groups. Commits are expected newest first (as
/// `git log` gives them) and are listed oldest first within each group.
pub fn render(version: &str, date: &str, commits: &[Commit]) -> String {
    let mut out = format!("## [{version}] - {date}\n");
    // Other changes keep their whole subject, so `docs:` or `ci:` stays visible.
    let mut section = |title: &str, items: Vec<&Commit>, whole_subject: bool| {
        if items.is_empty() {
            return;
        }
        out.push_str(&format!("\n### {title}\n\n"));
        for c in items.into_iter().rev() {
            let text = if whole_subject {
                c.subject.clone()
            } else if c.scope.is_empty() {
                c.description.clone()
            } else {
                format!("**{}:** {}", c.scope, c.description)
            };
            let short = &c.sha[..c.sha.len().min(7)];
            out.push_str(&format!("- {text} ({short})\n"));
        }
    };
    section(
        "Breaking changes",
        commits.iter().filter(|c| c.breaking).collect(),
        false,
    );
    for (title, kinds) in GROUPS {
        section(
            title,
            commits
                .iter()
                .filter(|c| !c.breaking && kinds.contains(&c.kind.as_str()))
                .collect(),
            false,
        );
    }
    section(
        "Other changes",
        commits
            .iter()
            .filter(|c| {
                !c.breaking
                    && !GROUPS
                        .iter()
                        .any(|(_, kinds)| kinds.contains(&c.kind.as_str()))
            })
            .collect(),
        true,
    );
    if commits.is_empty() {
        out.push_str("\nNo changes.\n");
    }
    out
}

/// Puts `section` into the changelog at `path` above the newest release section (below the
/// title, preamble and any `## [Unreleased]` block); creates the file when missing.
pub fn insert(path: &Path, version: &str, section: &str) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Changelog\n".to_string(),
        Err(source) => {
            return Err(ReleaseError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if super::check::changelog_versions(&text)
        .iter()
        .any(|v| v == version)
    {
        return Err(ReleaseError::SectionExists {
            path: path.to_path_buf(),
            version: version.to_string(),
        });
    }
    let mut offset = 0;
    let mut at = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with("## ") && !super::check::changelog_versions(line).is_empty() {
            at = Some(offset);
            break;
        }
        offset += line.len();
    }
    let new = match at {
        Some(at) => format!("{}{section}\n{}", &text[..at], &text[at..]),
        None => {
            let sep = if text.ends_with("\n\n") || text.is_empty() {
                ""
            } else if text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{text}{sep}{section}")
        }
    };
    std::fs::write(path, new).map_err(|source| ReleaseError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Today's date (UTC) as YYYY-MM-DD, or the day of `SOURCE_DATE_EPOCH` when it is set.
pub fn today(source_date_epoch: Option<String>) -> String {
    let secs = source_date_epoch
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| crate::utc::now() as i64);
    crate::utc::date(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::git::parse_commit;

    #[test]
    fn dates() {
        assert_eq!(today(Some("0".into())), "1970-01-01");
        assert_eq!(today(Some("1714953600".into())), "2024-05-06");
        assert_eq!(today(Some("951782400".into())), "2000-02-29");
    }

    #[test]
    fn groups_in_order() {
        let commits = [
            parse_commit("4444444aaa", "docs: readme", ""),
            parse_commit("3333333aaa", "fix(http): close", ""),
            parse_commit("2222222aaa", "feat!: new api", ""),
            parse_commit("1111111aaa", "feat(rpc): batch", ""),
        ];
        let text = render("1.0.0", "2024-01-01", &commits);
        assert_eq!(
            text,
            "## [1.0.0] - 2024-01-01\n\n### Breaking changes\n\n- new api (2222222)\n\n### Features\n\n- **rpc:** batch (1111111)\n\n### Fixes\n\n- **http:** close (3333333)\n\n### Other changes\n\n- docs: readme (4444444)\n"
        );
    }
}
