//! Git repositories for tests: git with a fixed identity (so commits and tags never depend on
//! the machine's configuration), and the "everything committed" setup most tests start from.

use std::path::Path;
use std::process::Command;

use super::stdout_of;

/// Runs git in `dir` with a fixed identity (and `extra_env`), failing the test on error;
/// returns stdout, trimmed.
#[track_caller]
pub fn git_with(dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> String {
    let out = stdout_of(
        Command::new("git")
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "commit.gpgSign=false",
                "-c",
                "tag.gpgSign=false",
            ])
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "xtask test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "xtask test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .envs(extra_env.iter().copied()),
        &format!("git {args:?}"),
    );
    out.trim().to_string()
}

#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with(dir, args, &[])
}

/// Stages everything in `dir` and commits it as `message`.
#[track_caller]
pub fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// Makes `dir` a git repository on `main` whose first commit, `message`, holds every file.
#[track_caller]
pub fn init_repo(dir: &Path, message: &str) {
    git(dir, &["init", "-q", "-b", "main"]);
    commit_all(dir, message);
}
