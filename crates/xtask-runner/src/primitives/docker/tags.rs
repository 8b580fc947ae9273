//! Image tags and OCI metadata from git and the CI environment, the way docker/metadata-action
//! computes them with its usual configuration (`type=ref,event=branch`, `type=ref,event=pr`,
//! `type=semver` for `{{version}}`, `{{major}}.{{minor}}`, `{{major}}`, `type=sha`):
//!
//! | where HEAD is | tags |
//! |---|---|
//! | a branch | the branch name, sanitized (`feature/x` → `feature-x`), and `sha-<7>` |
//! | the default branch | the same, plus `latest` |
//! | a pull request (Actions) | `pr-<n>` and `sha-<7>` |
//! | a tag `v1.2.3` | `1.2.3`, `1.2`, `1` and `sha-<7>` (no `1.2`/`1` for a pre-release like `v1.2.3-rc.1`, no `0` for `v0.x`) |
//! | any other tag | the tag name, sanitized, and `sha-<7>` |
//!
//! `latest` follows the default branch (option `latest: "semver"` moves it to non-pre-release
//! semver tags instead, `false` drops it). A `suffix`/`prefix` (variants: `-debug`) applies to
//! every tag, `latest` included, like metadata-action's flavor. The version (for the
//! `org.opencontainers.image.version` label) is the highest-priority tag: semver, then the
//! ref (branch, tag, PR), then the sha.
//!
//! Inside GitHub Actions the facts come from `GITHUB_EVENT_NAME`, `GITHUB_REF`,
//! `GITHUB_REF_NAME`, `GITHUB_HEAD_REF`, `GITHUB_SHA` and the event payload (the default
//! branch, a PR's number); elsewhere from the local git repository.

use std::collections::BTreeMap;

/// What the tags are computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub branch: Option<String>,
    /// Tags pointing at HEAD.
    pub tags: Vec<String>,
    pub pr: Option<u64>,
    pub sha: Option<String>,
    pub default_branch: Option<String>,
    /// `https://github.com/owner/repo` for the source label.
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Latest {
    DefaultBranch,
    Semver,
    Never,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub latest: Latest,
    pub prefix: String,
    pub suffix: String,
    pub sha_length: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            latest: Latest::DefaultBranch,
            prefix: String::new(),
            suffix: String::new(),
            sha_length: 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// Tag names only (`1.2.3`), highest priority first.
    pub tags: Vec<String>,
    pub version: Option<String>,
    pub is_pr: bool,
    pub is_default_branch: bool,
}

/// Facts from the Actions environment (`env` answers for variables; `event` is the parsed
/// event payload, when there is one).
pub fn facts_from_actions(
    env: &dyn Fn(&str) -> Option<String>,
    event: Option<&serde_json::Value>,
) -> Facts {
    let event_name = env("GITHUB_EVENT_NAME").unwrap_or_default();
    let reference = env("GITHUB_REF").unwrap_or_default();
    let mut facts = Facts {
        sha: env("GITHUB_SHA").filter(|s| !s.is_empty()),
        ..Facts::default()
    };
    let payload = |path: &[&str]| -> Option<serde_json::Value> {
        let mut value = event?;
        for key in path {
            value = value.get(key)?;
        }
        Some(value.clone())
    };
    facts.default_branch = env("XTASK_DEFAULT_BRANCH").or_else(|| {
        payload(&["repository", "default_branch"]).and_then(|v| v.as_str().map(str::to_string))
    });
    if let (Some(server), Some(repo)) = (env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY")) {
        facts.source = Some(format!("{server}/{repo}"));
    }
    if event_name.starts_with("pull_request") {
        facts.pr = payload(&["pull_request", "number"])
            .and_then(|v| v.as_u64())
            .or_else(|| pr_number(&reference));
        // The PR's source branch, for scripts that want it; tags use the number.
        facts.branch = env("GITHUB_HEAD_REF").filter(|s| !s.is_empty());
    } else if let Some(tag) = reference.strip_prefix("refs/tags/") {
        facts.tags = vec![tag.to_string()];
    } else if let Some(branch) = reference.strip_prefix("refs/heads/") {
        facts.branch = Some(branch.to_string());
    } else if let Some(n) = pr_number(&reference) {
        facts.pr = Some(n);
    } else {
        facts.branch = env("GITHUB_REF_NAME").filter(|s| !s.is_empty());
    }
    facts
}

fn pr_number(reference: &str) -> Option<u64> {
    reference
        .strip_prefix("refs/pull/")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// A `vMAJOR.MINOR.PATCH[-pre][+build]` tag (the `v` optional).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Semver {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Option<String>,
}

impl Semver {
    pub fn parse(tag: &str) -> Option<Semver> {
        let text = tag.strip_prefix('v').unwrap_or(tag);
        let text = text.split('+').next()?;
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_string())),
            Some(_) => return None,
            None => (text, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        if numbers.len() != 3 {
            return None;
        }
        let number = |s: &str| -> Option<u64> {
            if s.is_empty()
                || !s.bytes().all(|b| b.is_ascii_digit())
                || (s.len() > 1 && s.starts_with('0'))
            {
                None
            } else {
                s.parse().ok()
            }
        };
        Some(Semver {
            major: number(numbers[0])?,
            minor: number(numbers[1])?,
            patch: number(numbers[2])?,
            pre,
        })
    }

    fn version(&self) -> String {
        match &self.pre {
            Some(pre) => format!("{}.{}.{}-{pre}", self.major, self.minor, self.patch),
            None => format!("{}.{}.{}", self.major, self.minor, self.patch),
        }
    }
}

/// A valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; other characters become `-`.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.starts_with(['.', '-']) {
        out.remove(0);
    }
    out.truncate(128);
    out
}

pub fn compute(facts: &Facts, options: &Options) -> Meta {
    let mut tags: Vec<String> = Vec::new();
    let mut semver_release = false;
    // Of several tags at HEAD, the highest semver wins; a non-semver tag counts only alone.
    let semver = facts.tags.iter().filter_map(|t| Semver::parse(t)).max();
    if let Some(v) = &semver {
        tags.push(v.version());
        if v.pre.is_none() {
            semver_release = true;
            tags.push(format!("{}.{}", v.major, v.minor));
            if v.major > 0 {
                tags.push(v.major.to_string());
            }
        }
    } else if let Some(tag) = facts.tags.first() {
        tags.push(sanitize(tag));
    }
    let is_pr = facts.pr.is_some();
    let on_tag = !facts.tags.is_empty();
    if let Some(n) = facts.pr {
        tags.push(format!("pr-{n}"));
    } else if !on_tag {
        if let Some(branch) = &facts.branch {
            tags.push(sanitize(branch));
        }
    }
    let is_default_branch =
        !is_pr && !on_tag && facts.branch.is_some() && facts.branch == facts.default_branch;
    let version = tags.first().cloned();
    if let Some(sha) = &facts.sha {
        let short: String = sha.chars().take(options.sha_length).collect();
        tags.push(format!("sha-{short}"));
    }
    let latest = match options.latest {
        Latest::DefaultBranch => is_default_branch,
        Latest::Semver => semver_release,
        Latest::Never => false,
    };
    if latest {
        tags.push("latest".into());
    }
    let mut seen = std::collections::HashSet::new();
    let tags = tags
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| sanitize(&format!("{}{t}{}", options.prefix, options.suffix)))
        .filter(|t| seen.insert(t.clone()))
        .collect();
    Meta {
        tags,
        version: version.map(|v| format!("{}{v}{}", options.prefix, options.suffix)),
        is_pr,
        is_default_branch,
    }
}

/// `image:tag` for every tag; the image name is lowercased (a registry requirement).
pub fn refs(image: &str, tags: &[String]) -> Vec<String> {
    let image = image.to_lowercase();
    tags.iter().map(|t| format!("{image}:{t}")).collect()
}

/// A git remote URL as an https address (`git@github.com:o/r.git` → `https://github.com/o/r`).
pub fn source_url(remote: &str) -> Option<String> {
    let remote = remote.trim();
    let url = if let Some(rest) = remote.strip_prefix("git@") {
        let (host, path) = rest.split_once(':')?;
        format!("https://{host}/{path}")
    } else if let Some(rest) = remote.strip_prefix("ssh://git@") {
        format!("https://{rest}")
    } else if let Some((scheme, rest)) = remote
        .split_once("://")
        .filter(|(s, _)| *s == "https" || *s == "http")
    {
        // Credentials in the URL must never reach a label.
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit('@').next().unwrap_or(authority);
        format!("{scheme}://{host}/{path}")
    } else {
        return None;
    };
    Some(url.trim_end_matches(".git").to_string())
}

/// The OCI labels for an image built from these facts.
pub fn labels(facts: &Facts, meta: &Meta, created: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            labels.insert(format!("org.opencontainers.image.{key}"), value);
        }
    };
    put("source", facts.source.clone());
    put("revision", facts.sha.clone());
    put("created", Some(created.to_string()));
    put("version", meta.version.clone());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn actions(vars: &[(&str, &str)], event: Option<serde_json::Value>) -> Meta {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = |k: &str| map.get(k).cloned();
        compute(
            &facts_from_actions(&env, event.as_ref()),
            &Options::default(),
        )
    }

    fn default_main() -> serde_json::Value {
        serde_json::json!({ "repository": { "default_branch": "main" } })
    }

    #[test]
    fn a_branch_push_tags_the_sanitized_branch_and_sha() {
        let meta = actions(
            &[
                ("GITHUB_EVENT_NAME", "push"),
                ("GITHUB_REF", "refs/heads/feature/Fast_path+x"),
                ("GITHUB_REF_NAME", "feature/Fast_path+x"),
                ("GITHUB_SHA", SHA),
            ],
            Some(default_main()),
        );
        assert_eq!(meta.tags, ["feature-Fast_path-x", "sha-0123456"]);
        assert_eq!(meta.version.as_deref(), Some("feature-Fast_path-x"));
        assert!(!meta.is_pr && !meta.is_default_branch);
    }

    #[test]
    fn the_default_branch_adds_latest() {
        let meta = actions(
            &[
                ("GITHUB_EVENT_NAME", "push"),
                ("GITHUB_REF", "refs/heads/main"),
                ("GITHUB_SHA", SHA),
            ],
            Some(default_main()),
        );
        assert_eq!(meta.tags, ["main", "sha-0123456", "latest"]);
        assert!(meta.is_default_branch);
        // Another default branch in the payload: `main` is then an ordinary branch.
        let meta = actions(
            &[
                ("GITHUB_EVENT_NAME", "push"),
                ("GITHUB_REF", "refs/heads/main"),
                ("GITHUB_SHA", SHA),
            ],
            Some(serde_json::json!({ "repository": { "default_branch": "trunk" } })),
        );
        assert_eq!(meta.tags, ["main", "sha-0123456"]);
    }

    #[test]
    fn a_pull_request_tags_pr_n_never_latest() {
        let meta = actions(
            &[
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_REF", "refs/pull/42/merge"),
                ("GITHUB_HEAD_REF", "main"),
                ("GITHUB_SHA", SHA),
            ],
            Some(default_main()),
        );
        assert_eq!(meta.tags, ["pr-42", "sha-0123456"]);
        assert!(meta.is_pr && !meta.is_default_branch);
        // pull_request_target: the ref is the base branch; the number is in the payload.
        let meta = actions(
            &[
                ("GITHUB_EVENT_NAME", "pull_request_target"),
                ("GITHUB_REF", "refs/heads/main"),
                ("GITHUB_SHA", SHA),
            ],
            Some(serde_json::json!({ "pull_request": { "number": 7 } })),
        );
        assert_eq!(meta.tags, ["pr-7", "sha-0123456"]);
    }

    #[test]
    fn a_semver_tag_gives_version_minor_and_major() {
        let meta = actions(
            &[
                ("GITHUB_EVENT_NAME", "push"),
                ("GITHUB_REF", "refs/tags/v1.2.3"),
                ("GITHUB_REF_NAME", "v1.2.3"),
                ("GITHUB_SHA", SHA),
            ],
            Some(default_main()),
        );
        assert_eq!(meta.tags, ["1.2.3", "1.2", "1", "sha-0123456"]);
        assert_eq!(meta.version.as_deref(), Some("1.2.3"));
    }

    #[test]
    fn pre_releases_and_zero_majors_get_fewer_tags() {
        let facts = |tag: &str| Facts {
            tags: vec![tag.into()],
            ..Facts::default()
        };
        let tags = |tag: &str| compute(&facts(tag), &Options::default()).tags;
        assert_eq!(tags("v1.2.3-rc.1"), ["1.2.3-rc.1"]);
        assert_eq!(tags("v0.3.1"), ["0.3.1", "0.3"]);
        assert_eq!(tags("2.0.0+build.5"), ["2.0.0", "2.0", "2"]);
        // Not semver: the tag itself, sanitized.
        assert_eq!(tags("nightly/2024"), ["nightly-2024"]);
        assert_eq!(tags("v1.2"), ["v1.2"]);
        assert_eq!(tags("v01.2.3"), ["v01.2.3"]);
    }

    #[test]
    fn latest_on_semver_when_asked() {
        let facts = Facts {
            tags: vec!["v1.2.3".into()],
            sha: Some(SHA.into()),
            ..Facts::default()
        };
        let options = Options {
            latest: Latest::Semver,
            ..Options::default()
        };
        assert_eq!(
            compute(&facts, &options).tags,
            ["1.2.3", "1.2", "1", "sha-0123456", "latest"]
        );
        let pre = Facts {
            tags: vec!["v1.2.3-beta".into()],
            ..Facts::default()
        };
        assert_eq!(compute(&pre, &options).tags, ["1.2.3-beta"]);
    }

    #[test]
    fn suffix_and_prefix_apply_to_every_tag() {
        let facts = Facts {
            branch: Some("main".into()),
            default_branch: Some("main".into()),
            sha: Some(SHA.into()),
            ..Facts::default()
        };
        let options = Options {
            suffix: "-debug".into(),
            sha_length: 12,
            ..Options::default()
        };
        let meta = compute(&facts, &options);
        assert_eq!(
            meta.tags,
            ["main-debug", "sha-0123456789ab-debug", "latest-debug"]
        );
        assert_eq!(meta.version.as_deref(), Some("main-debug"));
    }

    #[test]
    fn the_highest_semver_tag_at_head_wins() {
        let facts = Facts {
            tags: vec!["v1.9.0".into(), "v1.10.0".into(), "latest-build".into()],
            ..Facts::default()
        };
        assert_eq!(
            compute(&facts, &Options::default()).tags,
            ["1.10.0", "1.10", "1"]
        );
    }

    #[test]
    fn sanitizing_keeps_tags_valid() {
        assert_eq!(sanitize("feature/a b"), "feature-a-b");
        assert_eq!(sanitize("-.x"), "x");
        assert_eq!(sanitize(&"a".repeat(200)).len(), 128);
        assert_eq!(refs("Org/App", &["1".into()]), ["org/app:1"]);
    }

    #[test]
    fn source_urls_lose_credentials_and_dot_git() {
        assert_eq!(
            source_url("git@github.com:o/r.git").as_deref(),
            Some("https://github.com/o/r")
        );
        assert_eq!(
            source_url("https://user:token@github.com/o/r.git").as_deref(),
            Some("https://github.com/o/r")
        );
        assert_eq!(
            source_url("https://github.com/o/r").as_deref(),
            Some("https://github.com/o/r")
        );
        assert_eq!(source_url("/srv/git/r.git"), None);
    }

    #[test]
    fn labels_and_created_time() {
        assert_eq!(crate::utc::rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        let facts = Facts {
            sha: Some(SHA.into()),
            source: Some("https://github.com/o/r".into()),
            ..Facts::default()
        };
        let meta = Meta {
            tags: vec![],
            version: Some("1.2.3".into()),
            is_pr: false,
            is_default_branch: false,
        };
        let labels = labels(&facts, &meta, "2024-01-01T00:00:00Z");
        assert_eq!(labels["org.opencontainers.image.revision"], SHA);
        assert_eq!(labels["org.opencontainers.image.version"], "1.2.3");
        assert_eq!(
            labels["org.opencontainers.image.source"],
            "https://github.com/o/r"
        );
        assert_eq!(labels.len(), 4);
    }
}
