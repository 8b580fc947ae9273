//! Which build directory a cargo command writes (`cargo::…`, plain `run(["cargo", …])`,
//! `perf::` builds): cargo lets one command at a time hold it
//! (`Blocking waiting for file lock on build directory`), so the scheduler treats it as a lock
//! (`resources::Claim::cargo`) and a job waiting for it gives its slot to other work.

use std::path::{Path, PathBuf};

/// `CARGO_TARGET_DIR` (or `CARGO_BUILD_TARGET_DIR`) as the command will see it, else
/// `<workspace root>/target`. Only used to tell commands apart: a wrong guess costs some
/// parallelism or adds some, never correctness, since cargo locks the directory itself.
pub fn of(dir: &Path, env: &[(String, Option<String>)]) -> PathBuf {
    for key in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        let set = env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| std::env::var(key).ok());
        if let Some(value) = set.filter(|v| !v.is_empty()) {
            return dir.join(value);
        }
    }
    workspace_root(dir).join("target")
}

/// What a plain `run(["cargo", …])` implies: the build directory and the machine, unless the
/// subcommand leaves the build directory alone.
pub fn claim_for_argv(
    argv: &[String],
    dir: &Path,
    env: &[(String, Option<String>)],
) -> Option<crate::resources::Claim> {
    let program = Path::new(argv.first()?).file_name()?;
    if program != "cargo" {
        return None;
    }
    let subcommand = argv[1..].iter().find(|a| !a.starts_with('+'))?;
    const LEAVE_IT_ALONE: &[&str] = &[
        "fmt",
        "metadata",
        "version",
        "--version",
        "-V",
        "locate-project",
        "pkgid",
        "tree",
        "search",
        "help",
    ];
    if LEAVE_IT_ALONE.contains(&subcommand.as_str()) {
        return None;
    }
    Some(crate::resources::Claim::cargo(
        &of(dir, env).display().to_string(),
    ))
}

/// The nearest ancestor manifest with `[workspace]`, else the nearest manifest's directory.
fn workspace_root(dir: &Path) -> PathBuf {
    let mut package = None;
    for ancestor in dir.ancestors() {
        let manifest = ancestor.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text.lines().any(|l| l.trim() == "[workspace]") {
            return ancestor.to_path_buf();
        }
        package.get_or_insert_with(|| ancestor.to_path_buf());
    }
    package.unwrap_or_else(|| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_root_owns_the_target_dir_unless_the_environment_says_otherwise() {
        let root = tempfile::tempdir().unwrap();
        let member = root.path().join("crates/a");
        std::fs::create_dir_all(&member).unwrap();
        std::fs::write(
            root.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"crates/a\"]\n",
        )
        .unwrap();
        std::fs::write(member.join("Cargo.toml"), "[package]\nname = \"a\"\n").unwrap();
        let unset = vec![
            ("CARGO_TARGET_DIR".to_string(), None),
            ("CARGO_BUILD_TARGET_DIR".to_string(), None),
        ];
        assert_eq!(of(&member, &unset), root.path().join("target"));
        let env = vec![("CARGO_TARGET_DIR".to_string(), Some("/tmp/t".to_string()))];
        assert_eq!(of(&member, &env), PathBuf::from("/tmp/t"));
    }
}
