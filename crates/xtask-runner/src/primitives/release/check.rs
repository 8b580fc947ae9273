//! `release::check`: the versions agree everywhere (manifests, Cargo.lock, the tag at HEAD,
//! the changelog) and the tree is clean. Every mismatch is collected and named with its file
//! and both values, so one run shows all that is wrong.

use std::path::Path;

use super::super::git;
use super::error::{ReleaseError, Result};
use super::workspace::Workspace;

pub struct Options {
    pub tag: bool,
    pub tag_prefix: String,
    /// The changelog file relative to the workspace root, or `None` to skip the check.
    pub changelog: Option<String>,
    pub clean: bool,
    pub lock: bool,
    pub independent: Vec<String>,
}

pub struct Checked {
    pub version: String,
    pub crates: Vec<String>,
}

pub fn check(dir: &Path, options: &Options) -> Result<Checked> {
    let ws = Workspace::load(dir)?;
    let (version, source) = ws.version(&options.independent)?;
    let mut problems = Vec::new();
    let released = ws.released(&options.independent);

    for krate in &released {
        if krate.version != version {
            problems.push(format!(
                "{}: {} has version {}, but {source} says {version}",
                ws.rel(&krate.manifest),
                krate.name,
                krate.version
            ));
        }
    }

    let lock_path = ws.root.join("Cargo.lock");
    if options.lock && lock_path.exists() {
        let locked = locked_versions(&lock_path)?;
        for krate in &released {
            let in_lock: Vec<&String> = locked
                .iter()
                .filter(|(name, _)| name == &krate.name)
                .map(|(_, v)| v)
                .collect();
            if !in_lock.is_empty() && !in_lock.contains(&&krate.version) {
                problems.push(format!(
                    "Cargo.lock: {} is locked at {}, but {} says {}",
                    krate.name,
                    in_lock[0],
                    ws.rel(&krate.manifest),
                    krate.version
                ));
            }
        }
    }

    if options.tag {
        let expected = format!("{}{version}", options.tag_prefix);
        let tags = git::tags_at_head(&ws.root)?;
        let versions: Vec<&String> = tags
            .iter()
            .filter(|t| {
                t.strip_prefix(&options.tag_prefix)
                    .is_some_and(|v| semver::Version::parse(v).is_ok())
            })
            .collect();
        if !versions.is_empty() && !tags.contains(&expected) {
            problems.push(format!(
                "git tag {} at HEAD is version {}, but {source} says {version} (expected tag {expected})",
                versions[0],
                &versions[0][options.tag_prefix.len()..]
            ));
        }
    }

    if let Some(file) = &options.changelog {
        let path = ws.root.join(file);
        match std::fs::read_to_string(&path) {
            Err(e) => problems.push(format!("{file}: cannot read it ({e})")),
            Ok(text) => {
                let sections = changelog_versions(&text);
                if !sections.iter().any(|v| v == &version) {
                    let latest = sections
                        .first()
                        .map(|v| format!("its latest release section is {v}"))
                        .unwrap_or_else(|| "it has no release sections".into());
                    problems.push(format!(
                        "{file}: no section for {version} ({latest}), but {source} says {version}"
                    ));
                }
            }
        }
    }

    if options.clean {
        let dirty = git::dirty_files(&ws.root, Some(&ws.root))?;
        if !dirty.is_empty() {
            let shown: Vec<&str> = dirty.iter().take(5).map(String::as_str).collect();
            let more = dirty.len().saturating_sub(shown.len());
            problems.push(format!(
                "the working tree is not clean: {}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
    }

    if !problems.is_empty() {
        return Err(ReleaseError::CheckFailed { version, problems });
    }
    Ok(Checked {
        version,
        crates: released.iter().map(|c| c.name.clone()).collect(),
    })
}

/// `(name, version)` of every package in a Cargo.lock.
pub fn locked_versions(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|source| ReleaseError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let doc: toml_edit::DocumentMut = text.parse().map_err(|source| ReleaseError::Toml {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let Some(packages) = doc.get("package").and_then(|p| p.as_array_of_tables()) else {
        return Ok(Vec::new());
    };
    Ok(packages
        .iter()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_string(),
                p.get("version")?.as_str()?.to_string(),
            ))
        })
        .collect())
}

/// The versions of a changelog's `## ` sections, in file order: `## [1.2.3] - date`,
/// `## v1.2.3`, `## 1.2.3 (date)`, `## name-v1.2.3`. `Unreleased` and other headings are skipped.
pub fn changelog_versions(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("## "))
        .filter_map(|heading| {
            heading
                .split(|c: char| c.is_whitespace() || "[]()".contains(c))
                .filter(|w| !w.is_empty())
                .find_map(|word| {
                    // Accept a prefix such as `v` or `name-v` before the version itself.
                    (0..word.len())
                        .filter(|&i| word.is_char_boundary(i))
                        .map(|i| &word[i..])
                        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
                        .filter(|w| semver::Version::parse(w).is_ok())
                        .map(String::from)
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::changelog_versions;

    #[test]
    fn changelog_headings() {
        let text = "# Changelog\n## [Unreleased]\n## [0.3.1] - 2024-05-06\n### Fixed\n## v0.3.0\n## svc-v0.2.0 (2024-01-01)\n## Notes\n";
        assert_eq!(changelog_versions(text), ["0.3.1", "0.3.0", "0.2.0"]);
    }
}
