//! `git::` — read-only questions about the repository, through the git CLI (argv only, run by
//! the process layer in the job's directory and environment). Also home of [`capture`], the
//! quiet "run and read stdout" helper the release family shares.

use std::path::{Path, PathBuf};

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Module};

use super::error::{CommandFailed, IntoScript as _};
use super::options::{self, result};
use super::reference::{plain, Function};
use super::Result;
use crate::process::{display_argv, Spec};
use crate::script::context;

pub(crate) const FUNCTIONS: &[Function] = &[
    plain("git::sha", &[], "The full hash of `HEAD` in the job's directory."),
    plain("git::short_sha", &[], "The short hash of `HEAD`."),
    plain("git::branch", &[], "The current branch; empty on a detached `HEAD`."),
    plain("git::tags", &[], "Every tag of the repository."),
    plain("git::tags_at", &["rev: string"], "The tags pointing at a revision."),
    plain("git::describe", &[], "`git describe --tags --always --dirty`."),
    plain("git::is_dirty", &[], "Whether the work tree has uncommitted changes."),
    plain("git::dirty_files", &[], "The files with uncommitted changes."),
    Function {
        result: <CommitResult as options::Fields>::FIELDS,
        ..plain("git::log", &["from: string", "to: string"], "Commits in `to` but not in `from` (all of `to` when `from` is empty), newest first, merges left out: an array of maps with the fields below.")
    },
];

pub fn register(engine: &mut Engine) {
    let mut module = Module::new();
    module.set_native_fn("sha", || git_in_job(&["rev-parse", "HEAD"]));
    module.set_native_fn("short_sha", || {
        git_in_job(&["rev-parse", "--short", "HEAD"])
    });
    module.set_native_fn("branch", || {
        // Empty on a detached HEAD, as `git branch --show-current` prints.
        git_in_job(&["branch", "--show-current"])
    });
    module.set_native_fn("tags", || Ok(lines(&git_in_job(&["tag", "--list"])?)));
    FuncRegistration::new("tags_at")
        .with_params_info(["rev: &str", "Array"])
        .set_into_module(&mut module, |rev: &str| -> Result<Array> {
            Ok(lines(&git_in_job(&["tag", "--points-at", rev])?))
        });
    module.set_native_fn("describe", || {
        git_in_job(&["describe", "--tags", "--always", "--dirty"])
    });
    module.set_native_fn("is_dirty", || {
        Ok(!dirty_files(&job_dir(), None).script()?.is_empty())
    });
    module.set_native_fn("dirty_files", || {
        Ok(dirty_files(&job_dir(), None)
            .script()?
            .into_iter()
            .map(Dynamic::from)
            .collect::<Array>())
    });
    FuncRegistration::new("log")
        .with_params_info(["from: &str", "to: &str", "Array"])
        .set_into_module(&mut module, |from: &str, to: &str| -> Result<Array> {
            Ok(log(&job_dir(), non_empty(from), to, None)
                .script()?
                .iter()
                .map(|c| Dynamic::from_map(c.to_map()))
                .collect::<Array>())
        });
    engine.register_static_module("git", module.into());
}

fn job_dir() -> std::path::PathBuf {
    context::current().dir.borrow().clone()
}

fn git_in_job(args: &[&str]) -> Result<String> {
    git(&job_dir(), args).script()
}

fn non_empty(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}

fn lines(text: &str) -> Array {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| Dynamic::from(l.to_string()))
        .collect()
}

/// Why a quietly run command (git, `cargo metadata`, `rustc -vV`) gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// It did not run to its end: not found, bad directory, cancelled, timed out.
    #[error(transparent)]
    NotRun(#[from] CommandFailed),
    /// It ran and failed; `stderr` says why.
    #[error("`{argv}` failed with {status} in {}: {}", dir.display(), stderr.trim())]
    Failed {
        argv: String,
        status: String,
        dir: PathBuf,
        stderr: String,
    },
}

type Answer<T> = std::result::Result<T, CommandError>;

/// What a quietly run command left behind.
pub struct Captured {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
    pub status: String,
}

/// Runs `argv` in `dir` with the scope's environment and cancel token, capturing stdout and
/// collecting stderr (for the error message) instead of streaming it into the job's log.
pub fn capture(argv: &[String], dir: &Path) -> Answer<Captured> {
    let scope = context::current();
    let spec = Spec {
        argv: argv.to_vec(),
        env: scope.env_changes(),
        dir: Some(dir.to_path_buf()),
        capture_stdout: true,
        ..Spec::default()
    };
    let answer = spec
        .output(&scope.token())
        .map_err(|failure| CommandFailed::NotRun {
            command: display_argv(argv),
            failure,
        })?;
    Ok(Captured {
        stdout: answer.stdout_text(),
        stderr: answer.stderr_text(),
        success: answer.success(),
        status: answer.finished.describe(),
    })
}

/// [`capture`], failing with the command, its status and its stderr unless it succeeds.
/// Returns stdout without the trailing newline.
pub fn capture_ok(argv: &[String], dir: &Path) -> Answer<String> {
    let out = capture(argv, dir)?;
    if !out.success {
        return Err(CommandError::Failed {
            argv: display_argv(argv),
            status: out.status,
            dir: dir.to_path_buf(),
            stderr: out.stderr,
        });
    }
    Ok(out.stdout.trim_end_matches(['\n', '\r']).to_string())
}

/// `git <args>` in `dir`: a question, whose answer the up-to-date check records (see [`change`]
/// for commands that change the repository).
pub fn git(dir: &Path, args: &[&str]) -> Answer<String> {
    let argv = argv(args);
    let out = capture_ok(&argv, dir)?;
    // A query: the up-to-date check asks git again and compares.
    if crate::cache::recording::is_recording() {
        let env = context::current().env_changes();
        crate::cache::recording::command(&argv, &env, Some(dir));
    }
    Ok(out)
}

/// `git <args>` that changes the repository (`add`, `commit`, `tag -a`): run once. Unlike
/// [`git`] it is not recorded as a query, since recording starts the same command again beside
/// the job (to fingerprint its answer): a second `git add` racing the job's `git commit` for
/// the index lock, a second commit or tag.
pub fn change(dir: &Path, args: &[&str]) -> Answer<String> {
    capture_ok(&argv(args), dir)
}

fn argv(args: &[&str]) -> Vec<String> {
    std::iter::once("git")
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

/// Tags pointing at HEAD.
pub fn tags_at_head(dir: &Path) -> Answer<Vec<String>> {
    Ok(git(dir, &["tag", "--points-at", "HEAD"])?
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// The nearest tag reachable from `rev` that matches `pattern` (a glob) and is not `exclude`.
pub fn latest_tag(
    dir: &Path,
    rev: &str,
    pattern: &str,
    exclude: Option<&str>,
) -> Answer<Option<String>> {
    let mut args = vec!["describe", "--tags", "--abbrev=0", "--match", pattern];
    if let Some(exclude) = exclude {
        args.extend(["--exclude", exclude]);
    }
    args.push(rev);
    let out = capture(&argv(&args), dir)?;
    // `describe` fails when no tag matches: that is an answer, not an error.
    Ok(Some(out.stdout.trim().to_string()).filter(|t| out.success && !t.is_empty()))
}

/// Uncommitted changes (tracked or untracked, not ignored) under `pathspec` (all of the
/// repository when `None`), as `git status --porcelain` names them.
pub fn dirty_files(dir: &Path, pathspec: Option<&Path>) -> Answer<Vec<String>> {
    let mut args = vec!["status", "--porcelain", "--untracked-files=normal"];
    let spec;
    if let Some(p) = pathspec {
        spec = p.display().to_string();
        args.push("--");
        args.push(&spec);
    }
    Ok(git(dir, &args)?
        .lines()
        .filter(|l| l.len() > 3)
        .map(|l| l[3..].to_string())
        .collect())
}

/// One commit with its conventional-commit header parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub subject: String,
    /// `feat`, `fix`, … in lower case; empty when the subject is not a conventional header.
    pub kind: String,
    pub scope: String,
    pub breaking: bool,
    /// The description after `type(scope)!: `, or the whole subject.
    pub description: String,
}

impl Commit {
    pub fn to_map(&self) -> Map {
        options::to_map(&CommitResult {
            sha: self.sha.clone(),
            subject: self.subject.clone(),
            r#type: self.kind.clone(),
            scope: self.scope.clone(),
            breaking: self.breaking,
            description: self.description.clone(),
        })
    }
}

result! {
    /// One commit of `git::log` (and of `release::changelog`'s sections).
    pub struct CommitResult {
        /// The full hash.
        sha: String as "string",
        /// The first line of the message.
        subject: String as "string",
        /// The conventional-commit type (`feat`, `fix`, …) in lower case; empty when the subject
        /// is not a conventional header.
        r#type: String as "string",
        /// The scope in `type(scope):`; empty without one.
        scope: String as "string",
        /// Whether the header has `!` or the body a `BREAKING CHANGE:` footer.
        breaking: bool as "bool",
        /// The description after `type(scope)!: `, or the whole subject.
        description: String as "string",
    }
}

/// Commits reachable from `to` but not from `from` (all of `to`'s history without `from`),
/// newest first, merges left out; only those touching `pathspec` when given.
pub fn log(
    dir: &Path,
    from: Option<&str>,
    to: &str,
    pathspec: Option<&Path>,
) -> Answer<Vec<Commit>> {
    let range = match from {
        Some(from) => format!("{from}..{to}"),
        None => to.to_string(),
    };
    // Unit and record separators cannot occur in commit text typed by people.
    let mut args = vec!["log", "--no-merges", "--format=%H%x1f%s%x1f%b%x1e", &range];
    let spec = pathspec.map(|p| p.display().to_string());
    if let Some(spec) = &spec {
        args.extend(["--", spec.as_str()]);
    }
    let out = git(dir, &args)?;
    Ok(out
        .split('\x1e')
        .filter_map(|record| {
            let mut fields = record.trim_start_matches('\n').splitn(3, '\x1f');
            let sha = fields.next()?.trim();
            if sha.is_empty() {
                return None;
            }
            let subject = fields.next().unwrap_or("");
            let body = fields.next().unwrap_or("");
            Some(parse_commit(sha, subject, body))
        })
        .collect())
}

/// Parses `type(scope)!: description`; a `BREAKING CHANGE:` footer also marks it breaking.
pub fn parse_commit(sha: &str, subject: &str, body: &str) -> Commit {
    let footer_breaking = body
        .lines()
        .any(|l| l.starts_with("BREAKING CHANGE:") || l.starts_with("BREAKING-CHANGE:"));
    let mut commit = Commit {
        sha: sha.to_string(),
        subject: subject.to_string(),
        kind: String::new(),
        scope: String::new(),
        breaking: footer_breaking,
        description: subject.to_string(),
    };
    let Some((head, description)) = subject.split_once(':') else {
        return commit;
    };
    let description = description.trim();
    let (head, bang) = match head.strip_suffix('!') {
        Some(h) => (h, true),
        None => (head, false),
    };
    let (kind, scope) = match head.split_once('(') {
        Some((kind, rest)) => match rest.strip_suffix(')') {
            Some(scope) if !scope.contains(['(', ')']) => (kind, scope),
            _ => return commit,
        },
        None => (head, ""),
    };
    if kind.is_empty()
        || description.is_empty()
        || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return commit;
    }
    commit.kind = kind.to_ascii_lowercase();
    commit.scope = scope.trim().to_string();
    commit.breaking |= bang;
    commit.description = description.to_string();
    commit
}

#[cfg(test)]
mod tests {
    use super::{capture_ok, git, parse_commit, CommandError, CommandFailed};
    use crate::script::context;

    #[test]
    fn a_failed_or_missing_command_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let guard = context::enter_for_test(dir.path());
        // Outside a repository, with no repository above it to find.
        let ceiling = dir.path().parent().unwrap().display().to_string();
        guard
            .scope
            .env
            .borrow_mut()
            .insert("GIT_CEILING_DIRECTORIES".into(), Some(ceiling));
        match git(dir.path(), &["rev-parse", "HEAD"]) {
            Err(CommandError::Failed {
                argv,
                dir: at,
                stderr,
                ..
            }) => {
                assert_eq!(argv, "git rev-parse HEAD");
                assert_eq!(at, dir.path());
                assert!(stderr.contains("not a git repository"), "{stderr}");
            }
            other => panic!("expected a failed command, got {other:?}"),
        }
        let missing = ["no-such-program-xyz".to_string()];
        assert!(matches!(
            capture_ok(&missing, dir.path()),
            Err(CommandError::NotRun(CommandFailed::NotRun {
                failure: crate::process::Failure::NotFound { .. },
                ..
            }))
        ));
    }

    #[test]
    fn conventional_headers() {
        let c = parse_commit("a", "feat(api)!: drop v1", "");
        assert_eq!(
            (c.kind.as_str(), c.scope.as_str(), c.breaking),
            ("feat", "api", true)
        );
        assert_eq!(c.description, "drop v1");
        let c = parse_commit("a", "fix: off by one", "");
        assert_eq!(
            (c.kind.as_str(), c.scope.as_str(), c.breaking),
            ("fix", "", false)
        );
        let c = parse_commit("a", "Perf(db): faster", "details\n\nBREAKING CHANGE: x");
        assert_eq!((c.kind.as_str(), c.breaking), ("perf", true));
    }

    #[test]
    fn plain_subjects_are_not_conventional() {
        for subject in [
            "Update README",
            "note: ",
            "Fix the thing: again and again",
            "feat(x: y",
        ] {
            let c = parse_commit("a", subject, "");
            assert_eq!(c.kind, "", "{subject}");
            assert_eq!(c.description, subject);
        }
    }
}
