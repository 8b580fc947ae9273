//! What `xtask init` learns about a repository before writing anything: its cargo workspace (from
//! `cargo metadata --no-deps`, so workspaces, globs and inherited fields read as cargo reads
//! them), its migrations, Dockerfiles, benchmarks and release files.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The facts the generated files are written from.
#[derive(Debug, Default)]
pub struct Repo {
    pub root: PathBuf,
    pub members: Vec<Member>,
    /// The lowest `rust-version` among the members, when any declares one.
    pub msrv: Option<String>,
    /// The root manifest has a `[workspace]` table (the xtask crate must stay out of it).
    pub root_is_workspace: bool,
    pub migrations: Option<Migrations>,
    pub dockerfiles: Vec<Dockerfile>,
    pub changelog: bool,
}

#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub has_lib: bool,
    pub publishable: bool,
    /// `harness = false` bench targets of a package that depends on criterion.
    pub criterion_benches: Vec<String>,
    /// Depends on `sea-orm-migration` (or is SeaORM's conventional `migration` crate).
    pub sea_orm_migration: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Migrations {
    /// `migrations/<version>_<name>.sql` or `.up.sql` / `.down.sql` (sqlx).
    Sqlx { dir: String },
    /// `migrations/<version>_<name>/up.sql` and `down.sql` (diesel).
    Diesel { dir: String },
    /// A SeaORM migration crate, driven through its own binary.
    SeaOrm { package: String },
}

#[derive(Debug)]
pub struct Dockerfile {
    /// Relative to the root, `/`-separated.
    pub path: String,
    /// The directory the Dockerfile lives in (its build context), `.` for the root.
    pub context: String,
    /// Named stages (`FROM … AS name`), in order.
    pub stages: Vec<String>,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    #[serde(default)]
    rust_version: Option<String>,
    #[serde(default)]
    publish: Option<Vec<String>>,
    targets: Vec<Target>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
}

pub fn inspect(root: &Path) -> Result<Repo, String> {
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| {
        format!(
            "{}: {e} (run `xtask init` in the root of a cargo project, or pass -C DIR)",
            manifest.display()
        )
    })?;
    let root_doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("{}: {e}", manifest.display()))?;
    let cargo = std::env::var("CARGO").unwrap_or("cargo".into());
    let metadata = crate::primitives::implied::CARGO_METADATA;
    let output = crate::process::Spec::query(&cargo, metadata, root)
        .output(&crate::cancel::CancelToken::new())
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.success() {
        return Err(format!(
            "cargo metadata failed in {}:\n{}",
            root.display(),
            output.stderr_text().trim_end()
        ));
    }
    let metadata: Metadata = serde_json::from_slice(&output.finished.stdout)
        .map_err(|e| format!("cannot read cargo metadata's output: {e}"))?;

    let mut repo = Repo {
        root: root.to_path_buf(),
        root_is_workspace: root_doc.get("workspace").is_some(),
        changelog: root.join("CHANGELOG.md").is_file(),
        ..Repo::default()
    };
    for package in metadata
        .packages
        .iter()
        .filter(|p| metadata.workspace_members.contains(&p.id))
    {
        let depends_on = |name: &str| package.dependencies.iter().any(|d| d.name == name);
        let criterion = depends_on("criterion");
        repo.members.push(Member {
            name: package.name.clone(),
            has_lib: package
                .targets
                .iter()
                .any(|t| t.kind.iter().any(|k| k == "lib" || k == "proc-macro")),
            publishable: package.publish.as_ref().is_none_or(|r| !r.is_empty()),
            criterion_benches: package
                .targets
                .iter()
                .filter(|t| criterion && t.kind.iter().any(|k| k == "bench"))
                .map(|t| t.name.clone())
                .collect(),
            sea_orm_migration: depends_on("sea-orm-migration") || package.name == "migration",
        });
        if let Some(v) = &package.rust_version {
            if repo
                .msrv
                .as_ref()
                .is_none_or(|m| version_key(v) < version_key(m))
            {
                repo.msrv = Some(v.clone());
            }
        }
    }
    repo.members.sort_by(|a, b| a.name.cmp(&b.name));
    repo.migrations = find_migrations(root, &repo.members);
    repo.dockerfiles = find_dockerfiles(root);
    Ok(repo)
}

fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// A SeaORM migration crate first (its binary is the migration tool), then `migrations/` as
/// diesel (directories with `up.sql`) or sqlx (flat `.sql` files) lays it out.
fn find_migrations(root: &Path, members: &[Member]) -> Option<Migrations> {
    if let Some(m) = members.iter().find(|m| m.sea_orm_migration) {
        return Some(Migrations::SeaOrm {
            package: m.name.clone(),
        });
    }
    let dir = root.join("migrations");
    let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    if entries
        .iter()
        .any(|p| p.is_dir() && p.join("up.sql").is_file())
    {
        return Some(Migrations::Diesel {
            dir: "migrations".into(),
        });
    }
    if entries
        .iter()
        .any(|p| p.is_file() && p.extension().is_some_and(|e| e == "sql"))
    {
        return Some(Migrations::Sqlx {
            dir: "migrations".into(),
        });
    }
    None
}

/// Dockerfiles up to three levels down (not in build output, dependencies or VCS folders).
fn find_dockerfiles(root: &Path) -> Vec<Dockerfile> {
    let skip = ["target", "node_modules", ".git", "xtask", "vendor"];
    let mut found: Vec<Dockerfile> = walkdir::WalkDir::new(root)
        .max_depth(3)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !skip.contains(&e.file_name().to_string_lossy().as_ref())
        })
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && is_dockerfile(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            let rel = e.path().strip_prefix(root).ok()?;
            let path = rel.to_string_lossy().replace('\\', "/");
            let context = match rel.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_string_lossy().replace('\\', "/"),
                _ => ".".into(),
            };
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some(Dockerfile {
                path,
                context,
                stages: stages(&text),
            })
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn is_dockerfile(name: &str) -> bool {
    name == "Dockerfile" || name.starts_with("Dockerfile.") || name.ends_with(".Dockerfile")
}

/// `FROM image AS name` stage names, in order.
pub fn stages(dockerfile: &str) -> Vec<String> {
    dockerfile
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [from, .., as_, name]
                    if from.eq_ignore_ascii_case("FROM") && as_.eq_ignore_ascii_case("AS") =>
                {
                    Some(name.to_string())
                }
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_read_from_from_lines() {
        let text = "FROM scratch AS build\nRUN x\nfrom --platform=$BUILDPLATFORM scratch as runtime\nFROM scratch\n";
        assert_eq!(stages(text), ["build", "runtime"]);
    }

    #[test]
    fn dockerfile_names() {
        assert!(is_dockerfile("Dockerfile"));
        assert!(is_dockerfile("Dockerfile.debug"));
        assert!(is_dockerfile("api.Dockerfile"));
        assert!(!is_dockerfile("dockerfile.md"));
    }
}
