//! The facts tags are computed from: the Actions environment when `GITHUB_ACTIONS=true`, the
//! local git repository (of the job's directory) otherwise. `docker::tags` / `docker::metadata`.

use rhai::{Dynamic, Map};

use super::client;
use super::tags::{self, Facts, Latest, Options};
use crate::primitives::options::{self, options, result};
use crate::primitives::{error, Result};
use crate::script::context::{self, JobScope};

options! {
    /// Options of `docker::tags` and `docker::metadata`.
    pub struct TagOptions for "docker::tags" {
        /// When `latest` is tagged: `"default-branch"`, `"semver"` (a release tag) or `false`.
        latest: Option<Dynamic> = None => "\"default-branch\"",
        /// Put before every tag.
        prefix: String,
        /// Put after every tag.
        suffix: String,
        /// Hex digits of the `sha-` tag (4 to 40).
        sha_length: Option<i64> = None => "7",
        /// The default branch (default: the repository's, else `main`).
        default_branch: Option<String>,
    }
}

pub fn facts(scope: &JobScope) -> Facts {
    let env = |k: &str| scope.env_var(k).filter(|v| !v.is_empty());
    if env("GITHUB_ACTIONS").as_deref() == Some("true") {
        let event = env("GITHUB_EVENT_PATH")
            .and_then(|p| {
                crate::cache::recording::file(std::path::Path::new(&p));
                std::fs::read_to_string(p).ok()
            })
            .and_then(|text| serde_json::from_str(&text).ok());
        return tags::facts_from_actions(&env, event.as_ref());
    }
    let git = |args: &[&str]| -> Option<String> {
        let mut argv = vec!["git", "-C"];
        let dir = scope.dir.borrow().display().to_string();
        argv.push(&dir);
        argv.extend_from_slice(args);
        let env = scope.env_changes();
        let out = client::output(&argv, &env, &scope.token()).ok()?;
        // Tags follow the branch and the tags at HEAD: the up-to-date check asks git again.
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        crate::cache::recording::command_output(&argv, &env, None, out.stdout.as_bytes(), out.ok);
        let text = out.stdout.trim().to_string();
        (out.ok && !text.is_empty()).then_some(text)
    };
    let Some(sha) = git(&["rev-parse", "HEAD"]) else {
        return Facts::default();
    };
    let default_branch = env("XTASK_DEFAULT_BRANCH").or_else(|| {
        git(&["symbolic-ref", "--short", "refs/remotes/origin/HEAD"])
            .map(|r| r.trim_start_matches("origin/").to_string())
    });
    Facts {
        branch: git(&["symbolic-ref", "--short", "-q", "HEAD"]),
        tags: git(&["tag", "--points-at", "HEAD"])
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default(),
        pr: None,
        sha: Some(sha),
        default_branch: default_branch.or_else(|| Some("main".into())),
        source: git(&["remote", "get-url", "origin"]).and_then(|u| tags::source_url(&u)),
    }
}

/// `created` for labels: SOURCE_DATE_EPOCH when set (reproducible builds), else now.
pub fn created(scope: &JobScope) -> String {
    let secs = scope
        .env_var("SOURCE_DATE_EPOCH")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(crate::utc::now);
    crate::utc::rfc3339(secs)
}

fn options(map: &Map) -> Result<(Options, Option<String>)> {
    let given: TagOptions = options::parse(map)?;
    let mut options = Options::default();
    if let Some(value) = given.latest {
        options.latest = if value.as_bool() == Ok(false) {
            Latest::Never
        } else {
            match value.to_string().as_str() {
                "default-branch" | "default_branch" | "branch" => Latest::DefaultBranch,
                "semver" | "tag" => Latest::Semver,
                "false" | "never" => Latest::Never,
                other => {
                    return error(format!(
                        "option `latest` is \"default-branch\", \"semver\" or false, not `{other}`"
                    ))
                }
            }
        };
    }
    options.prefix = given.prefix;
    options.suffix = given.suffix;
    if let Some(n) = given.sha_length {
        match n {
            n if (4..=40).contains(&n) => options.sha_length = n as usize,
            _ => return error("option `sha_length` must be a number from 4 to 40"),
        }
    }
    Ok((options, given.default_branch))
}

fn compute(image: &str, map: &Map) -> Result<(Facts, tags::Meta, Vec<String>)> {
    // `localhost:5000/app` is a name; `app:1.0` already has a tag.
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.trim().is_empty() || last.contains(':') || last.contains('@') {
        return error(format!(
            "docker::tags takes an image name without a tag (`registry/name`), not `{image}`"
        ));
    }
    let (options, default_branch) = options(map)?;
    let scope = context::current();
    let mut facts = facts(&scope);
    if default_branch.is_some() {
        facts.default_branch = default_branch;
    }
    let meta = tags::compute(&facts, &options);
    let refs = tags::refs(image, &meta.tags);
    Ok((facts, meta, refs))
}

pub fn script_tags(image: &str, map: Map) -> Result<rhai::Array> {
    let (_, _, refs) = compute(image, &map)?;
    Ok(refs.into_iter().map(Dynamic::from).collect())
}

/// Tags plus what they were computed from: `#{ tags, version, labels, is_pr, push_allowed,
/// is_default_branch, branch, sha }`.
pub fn script_metadata(image: &str, map: Map) -> Result<Map> {
    let (facts, meta, refs) = compute(image, &map)?;
    let scope = context::current();
    let labels = tags::labels(&facts, &meta, &created(&scope));
    Ok(options::to_map(&MetadataResult {
        tags: refs,
        version: meta.version,
        is_pr: meta.is_pr,
        // The reference pipelines push everywhere but pull requests.
        push_allowed: !meta.is_pr,
        is_default_branch: meta.is_default_branch,
        branch: facts.branch,
        sha: facts.sha,
        labels,
    }))
}

result! {
    /// What `docker::metadata` returns.
    pub struct MetadataResult {
        /// The tags, as `docker::tags` gives them.
        tags: Vec<String> as "array of strings",
        /// The highest-priority tag (semver first), for the version label; `()` without tags.
        version: Option<String> as "string",
        /// Whether this is a pull request build.
        is_pr: bool as "bool",
        /// Whether pushing is fitting: everywhere but pull requests.
        push_allowed: bool as "bool",
        /// Whether the branch is the repository's default branch.
        is_default_branch: bool as "bool",
        /// The branch; `()` when detached or unknown.
        branch: Option<String> as "string",
        /// The commit; `()` when unknown.
        sha: Option<String> as "string",
        /// The OCI labels, by name.
        labels: std::collections::BTreeMap<String, String> as "map of strings",
    }
}
