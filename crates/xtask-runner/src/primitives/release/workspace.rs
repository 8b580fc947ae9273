//! What is being released: the workspace's crates, their manifests and versions, as
//! `cargo metadata --no-deps` reports them (no registry access) plus the root manifest.

use std::path::{Path, PathBuf};

use super::super::git::capture_ok;
use super::error::{ReleaseError, Result, Stated};

#[derive(Debug, Clone)]
pub struct Crate {
    pub name: String,
    pub version: String,
    pub manifest: PathBuf,
    pub publishable: bool,
    pub has_lib: bool,
    pub bins: Vec<String>,
}

impl Crate {
    pub fn dir(&self) -> &Path {
        self.manifest.parent().unwrap_or(Path::new("."))
    }
}

pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub members: Vec<Crate>,
}

impl Workspace {
    /// Reads the workspace that contains `dir`.
    pub fn load(dir: &Path) -> Result<Workspace> {
        let argv: Vec<String> = ["cargo", "metadata", "--no-deps", "--format-version", "1"]
            .map(String::from)
            .to_vec();
        let json = capture_ok(&argv, dir)?;
        let meta: serde_json::Value =
            serde_json::from_str(&json).map_err(ReleaseError::Metadata)?;
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let members = meta["packages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let targets = p["targets"].as_array().cloned().unwrap_or_default();
                let has_kind = |t: &serde_json::Value, kind: &str| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == kind))
                };
                Crate {
                    name: text(&p["name"]),
                    version: text(&p["version"]),
                    manifest: PathBuf::from(text(&p["manifest_path"])),
                    // `null` means any registry, `[]` means `publish = false`.
                    publishable: !p["publish"].as_array().is_some_and(|r| r.is_empty()),
                    has_lib: targets.iter().any(|t| has_kind(t, "lib")),
                    bins: targets
                        .iter()
                        .filter(|t| has_kind(t, "bin"))
                        .map(|t| text(&t["name"]))
                        .collect(),
                }
            })
            .collect();
        Ok(Workspace {
            root: PathBuf::from(text(&meta["workspace_root"])),
            target_dir: PathBuf::from(text(&meta["target_directory"])),
            members,
        })
    }

    pub fn root_manifest(&self) -> PathBuf {
        self.root.join("Cargo.toml")
    }

    /// A path relative to the workspace root, for messages.
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The crates released together: the publishable members and the root package, or every
    /// member when none is publishable; less those versioned on their own (`independent`).
    pub fn released(&self, independent: &[String]) -> Vec<&Crate> {
        let root_manifest = self.root_manifest();
        let chosen: Vec<&Crate> = self
            .members
            .iter()
            .filter(|c| c.publishable || c.manifest == root_manifest)
            .collect();
        let chosen = if chosen.is_empty() {
            self.members.iter().collect()
        } else {
            chosen
        };
        chosen
            .into_iter()
            .filter(|c| !independent.contains(&c.name))
            .collect()
    }

    /// The release version and the file it comes from: `[workspace.package] version`, else the
    /// root package's, else the version the released crates share.
    pub fn version(&self, independent: &[String]) -> Result<(String, String)> {
        let manifest = self.root_manifest();
        let text = std::fs::read_to_string(&manifest).map_err(|source| ReleaseError::Read {
            path: manifest.clone(),
            source,
        })?;
        let doc: toml_edit::DocumentMut = text.parse().map_err(|source| ReleaseError::Toml {
            path: manifest.clone(),
            source: Box::new(source),
        })?;
        let from_table = |table: &str| {
            doc.get(table)
                .and_then(|t| {
                    if table == "workspace" {
                        t.get("package")?.get("version")
                    } else {
                        t.get("version")
                    }
                })
                .and_then(|v| v.as_str())
                .map(String::from)
        };
        if let Some(v) = from_table("workspace").or_else(|| from_table("package")) {
            return Ok((v, "Cargo.toml".into()));
        }
        let released = self.released(independent);
        let Some(first) = released.first() else {
            return Err(ReleaseError::NoCrates { manifest });
        };
        if let Some(other) = released.iter().find(|c| c.version != first.version) {
            let stated = |c: &Crate| {
                Box::new(Stated {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    file: self.rel(&c.manifest),
                })
            };
            return Err(ReleaseError::VersionsDisagree {
                first: stated(first),
                other: stated(other),
            });
        }
        Ok((first.version.clone(), self.rel(&first.manifest)))
    }
}
