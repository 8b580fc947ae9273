//! `release::bump`: semver arithmetic, then the version edited in place in every manifest that
//! states it (formatting and comments kept by `toml_edit`), Cargo.lock refreshed offline, and
//! optionally a commit and an annotated tag.

use std::path::{Path, PathBuf};

use semver::{BuildMetadata, Prerelease, Version};
use toml_edit::{DocumentMut, Item, Value};

use super::super::git;
use super::error::{ReleaseError, Result};
use super::workspace::Workspace;

pub struct Options {
    pub commit: bool,
    pub tag: bool,
    pub tag_prefix: String,
    pub message: Option<String>,
    pub lock: bool,
    /// Write the new version's section into this changelog (from git history) before committing.
    pub changelog: Option<String>,
    /// The date for that section.
    pub date: String,
    pub independent: Vec<String>,
}

pub struct Bumped {
    pub from: String,
    pub to: String,
    pub files: Vec<String>,
    pub tag: Option<String>,
}

/// The next version for `how`: `major`, `minor`, `patch`, or an explicit version.
pub fn next_version(current: &str, how: &str) -> Result<Version> {
    let current = Version::parse(current).map_err(|source| ReleaseError::CurrentNotSemver {
        current: current.to_string(),
        source,
    })?;
    let mut next = current.clone();
    next.pre = Prerelease::EMPTY;
    next.build = BuildMetadata::EMPTY;
    match how {
        "major" => {
            next.major += 1;
            next.minor = 0;
            next.patch = 0;
        }
        "minor" => {
            next.minor += 1;
            next.patch = 0;
        }
        // 1.2.3-rc.1 -> 1.2.3: a patch bump of a pre-release releases it.
        "patch" if !current.pre.is_empty() => {}
        "patch" => next.patch += 1,
        explicit => {
            next = Version::parse(explicit.trim_start_matches('v')).map_err(|source| {
                ReleaseError::BadBump {
                    how: explicit.to_string(),
                    source,
                }
            })?;
        }
    }
    if next <= current {
        return Err(ReleaseError::NotForward { current, next });
    }
    Ok(next)
}

pub fn bump(dir: &Path, how: &str, options: &Options) -> Result<Bumped> {
    if options.tag && !options.commit {
        return Err(ReleaseError::TagWithoutCommit);
    }
    let ws = Workspace::load(dir)?;
    let (current, _) = ws.version(&options.independent)?;
    let next = next_version(&current, how)?.to_string();
    let released: Vec<String> = ws
        .released(&options.independent)
        .iter()
        .map(|c| c.name.clone())
        .collect();

    let mut manifests: Vec<PathBuf> = vec![ws.root_manifest()];
    for member in &ws.members {
        if !manifests.contains(&member.manifest) {
            manifests.push(member.manifest.clone());
        }
    }
    let mut changed = Vec::new();
    for manifest in &manifests {
        let is_released = ws
            .members
            .iter()
            .any(|m| &m.manifest == manifest && released.contains(&m.name));
        if edit_manifest(manifest, &current, &next, is_released, &released)? {
            changed.push(manifest.clone());
        }
    }

    let lock = ws.root.join("Cargo.lock");
    if options.lock && lock.exists() {
        // Only the workspace's own entries change; `--offline` keeps it off the network.
        let argv: Vec<String> = ["cargo", "update", "--workspace", "--offline"]
            .map(String::from)
            .to_vec();
        git::capture_ok(&argv, &ws.root)?;
        changed.push(lock);
    }

    if let Some(file) = &options.changelog {
        let notes = super::changelog::from_history(
            &ws,
            None,
            "HEAD",
            &options.tag_prefix,
            &next,
            &options.date,
        )?;
        let path = ws.root.join(file);
        super::changelog::insert(&path, &next, &notes.section)?;
        changed.push(path);
    }

    let files: Vec<String> = changed.iter().map(|p| ws.rel(p)).collect();
    let mut tag = None;
    if options.commit {
        let mut add = vec!["add", "--"];
        add.extend(files.iter().map(String::as_str));
        git::change(&ws.root, &add)?;
        let message = options
            .message
            .clone()
            .unwrap_or_else(|| format!("Release {next}"));
        // Only these files: whatever else happens to be staged stays out of the release commit.
        let mut commit = vec!["commit", "--quiet", "-m", &message, "--"];
        commit.extend(files.iter().map(String::as_str));
        git::change(&ws.root, &commit)?;
        if options.tag {
            let name = format!("{}{next}", options.tag_prefix);
            git::change(&ws.root, &["tag", "-a", &name, "-m", &message])?;
            tag = Some(name);
        }
    }
    Ok(Bumped {
        from: current,
        to: next,
        files,
        tag,
    })
}

/// Sets the version in one manifest: `[workspace.package]`, `[package]` (when this crate is
/// released and states its own version), and `version` of path dependencies on released crates.
/// Returns whether anything changed.
fn edit_manifest(
    path: &Path,
    current: &str,
    next: &str,
    is_released: bool,
    released: &[String],
) -> Result<bool> {
    let text = std::fs::read_to_string(path).map_err(|source| ReleaseError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut doc: DocumentMut = text.parse().map_err(|source| ReleaseError::Toml {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let mut changed = false;

    if let Some(v) = doc
        .get_mut("workspace")
        .and_then(|w| child(w, "package"))
        .and_then(|p| child(p, "version"))
    {
        changed |= set_version(v, |_| next.to_string());
    }
    if is_released {
        if let Some(v) = doc.get_mut("package").and_then(|p| child(p, "version")) {
            // `version.workspace = true` is a table, not a string: set_version leaves it.
            changed |= set_version(v, |_| next.to_string());
        }
    }
    let mut dep_tables: Vec<&mut Item> = Vec::new();
    let (workspace, rest): (Vec<_>, Vec<_>) =
        doc.iter_mut().partition(|(k, _)| k.get() == "workspace");
    for (_, item) in workspace {
        if let Some(deps) = child(item, "dependencies") {
            dep_tables.push(deps);
        }
    }
    for (key, item) in rest {
        match key.get() {
            "dependencies" | "dev-dependencies" | "build-dependencies" => dep_tables.push(item),
            "target" => {
                if let Some(targets) = item.as_table_like_mut() {
                    for (_, t) in targets.iter_mut() {
                        if let Some(t) = t.as_table_like_mut() {
                            for (k, deps) in t.iter_mut() {
                                if k.get().ends_with("dependencies") {
                                    dep_tables.push(deps);
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for deps in dep_tables {
        let Some(deps) = deps.as_table_like_mut() else {
            continue;
        };
        for (name, dep) in deps.iter_mut() {
            let Some(dep) = dep.as_table_like_mut() else {
                continue;
            };
            let package = dep
                .get("package")
                .and_then(|p| p.as_str())
                .unwrap_or(name.get())
                .to_string();
            if dep.get("path").is_none() || !released.contains(&package) {
                continue;
            }
            if let Some(v) = dep.get_mut("version") {
                // Keep the requirement's operator: "=0.3.1" becomes "=0.3.2".
                changed |= set_version(v, |req| req.replace(current, next));
            }
        }
    }

    if changed {
        std::fs::write(path, doc.to_string()).map_err(|source| ReleaseError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(changed)
}

/// A key of a table, never inserted (`Item::get_mut` would add an empty table when missing).
fn child<'a>(item: &'a mut Item, key: &str) -> Option<&'a mut Item> {
    item.as_table_like_mut()?.get_mut(key)
}

/// Replaces a string value, keeping the whitespace and comments around it.
fn set_version(item: &mut Item, new: impl FnOnce(&str) -> String) -> bool {
    let Some(value) = item.as_value_mut() else {
        return false;
    };
    let Some(old) = value.as_str() else {
        return false;
    };
    let new = new(old);
    if new == old {
        return false;
    }
    let decor = value.decor().clone();
    *value = Value::from(new);
    *value.decor_mut() = decor;
    true
}

#[cfg(test)]
mod tests {
    use super::next_version;
    use crate::primitives::release::ReleaseError;

    #[test]
    fn semver_arithmetic() {
        let next = |c: &str, how: &str| next_version(c, how).map(|v| v.to_string());
        assert_eq!(next("0.3.1", "patch").unwrap(), "0.3.2");
        assert_eq!(next("0.3.1", "minor").unwrap(), "0.4.0");
        assert_eq!(next("0.3.1", "major").unwrap(), "1.0.0");
        assert_eq!(next("1.0.0-rc.1", "patch").unwrap(), "1.0.0");
        assert_eq!(next("0.3.1", "v0.5.0-beta.1").unwrap(), "0.5.0-beta.1");
        assert!(next("0.3.1", "0.3.1").is_err());
        assert!(next("0.3.1", "0.2.9").is_err());
        assert!(next("0.3.1", "huge").is_err());
    }

    #[test]
    fn refusals_are_typed_and_carry_the_versions() {
        match next_version("0.3.1", "0.2.9") {
            Err(ReleaseError::NotForward { current, next }) => {
                assert_eq!(
                    (current.to_string(), next.to_string()),
                    ("0.3.1".into(), "0.2.9".into())
                )
            }
            other => panic!("expected NotForward, got {other:?}"),
        }
        let err = next_version("0.3.1", "huge").unwrap_err();
        assert!(matches!(&err, ReleaseError::BadBump { how, .. } if how == "huge"));
        assert!(err.to_string().starts_with(
            "bump takes \"major\", \"minor\", \"patch\" or a version like \"1.2.3\", not \"huge\" ("
        ));
        assert!(matches!(
            next_version("one", "patch"),
            Err(ReleaseError::CurrentNotSemver { current, .. }) if current == "one"
        ));
    }
}
