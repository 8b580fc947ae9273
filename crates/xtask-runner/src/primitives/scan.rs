//! `scan::secrets(#{ since, dir, tool, baseline })`: secret scanning with whichever scanner is
//! installed: gitleaks, else detect-secrets (PyPI). Each finding becomes an annotation on its
//! file and line and the job fails listing them; secret values are never printed (gitleaks
//! runs with `--redact`, detect-secrets reports only hashes). With no scanner installed it
//! returns `#{ ran: false, reason }` for `skip(reason)`.
//!
//! `since: "origin/main"` limits the scan to what changed since that ref (commits for gitleaks,
//! changed files for detect-secrets). A detect-secrets baseline (`.secrets.baseline`, made with
//! `detect-secrets scan > .secrets.baseline`) lists accepted findings, which are not reported.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rhai::{FuncRegistration, Map, Module, NativeCallContext};

use super::error::{CommandFailed, IntoScript as _};
use super::options::{self, options, result, Fields as _, Options as _};
use super::reference::Function;
use super::{at_call_site, error, Result};
use crate::events::{Event, Level, Severity};
use crate::process::{self, display_argv, Failure, Spec};
use crate::script::{context, Mode};

options! {
    /// Options of `scan::secrets`.
    pub struct SecretsOptions for "scan::secrets" {
        /// Scans only what changed since this git ref (commits for gitleaks, changed files for
        /// detect-secrets).
        since: Option<String>,
        /// The directory scanned, relative to the job's.
        dir: Option<String>,
        /// `gitleaks` or `detect-secrets` (default: the first installed, in that order).
        tool: Option<String>,
        /// detect-secrets' baseline of accepted findings, relative to `dir`.
        baseline: String = ".secrets.baseline".into() => "\".secrets.baseline\"",
    }
}

result! {
    /// What `scan::secrets` returns (findings fail the job instead).
    pub struct ScanResult {
        /// Whether a scanner ran.
        ran: bool as "bool",
        /// Why none ran (for `skip(reason)`).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String> as "string",
        /// The scanner that ran.
        #[serde(skip_serializing_if = "Option::is_none")]
        tool: Option<String> as "string",
        /// The findings: empty, since a finding fails the job.
        #[serde(skip_serializing_if = "Option::is_none")]
        findings: Option<Vec<String>> as "array",
    }
}

pub(crate) const FUNCTIONS: &[Function] = &[Function {
    name: "scan::secrets",
    params: &["options: map"],
    summary: "Secret scanning with gitleaks or detect-secrets: each finding an annotation on its file and line, the job fails listing them; the secret itself is never printed.",
    options: &[SecretsOptions::FIELDS],
    result: ScanResult::FIELDS,
}];
const TOOLS: &[&str] = &["gitleaks", "detect-secrets"];

pub fn register(engine: &mut rhai::Engine) {
    let mut scan = Module::new();
    FuncRegistration::new("secrets").set_into_module(&mut scan, |ctx: NativeCallContext| {
        at_call_site(&ctx, secrets(&Map::new()))
    });
    FuncRegistration::new("secrets")
        .set_into_module(&mut scan, |ctx: NativeCallContext, options: Map| {
            at_call_site(&ctx, secrets(&options))
        });
    engine.register_static_module("scan", scan.into());
}

/// One finding, without the secret.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub kind: String,
}

/// What can go wrong in `scan::secrets`, findings included.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Command(#[from] CommandFailed),
    #[error("cannot create a temporary file: {0}")]
    TempFile(#[source] std::io::Error),
    #[error("{tool} failed with exit status {code}")]
    ToolFailed { tool: &'static str, code: i32 },
    /// The scanner's JSON could not be read; `what` names it (`gitleaks report`, …).
    #[error("{what}: {source}")]
    BadReport {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("git diff: {0}")]
    GitDiffNotRun(#[source] Failure),
    #[error("scan::secrets: `git diff --name-only {since}` failed: {}", stderr.trim())]
    GitDiffFailed { since: String, stderr: String },
    #[error("{tool} found {} possible secret{}: {}", findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            findings.iter().map(|f| format!("{}:{} ({})", f.file, f.line, f.kind)).collect::<Vec<_>>().join(", "))]
    Found {
        tool: &'static str,
        findings: Vec<Finding>,
    },
}

type Scanned<T> = std::result::Result<T, ScanError>;

fn find_tool(name: &str) -> Option<String> {
    let scope = context::current();
    let path = scope.env_var("PATH").unwrap_or_default();
    let cwd = scope.dir.borrow().clone();
    which::which_in(name, Some(path), cwd)
        .ok()
        .map(|p| p.display().to_string())
}

fn secrets(options: &Map) -> Result<Map> {
    let options: SecretsOptions = options::parse(options)?;
    let scope = context::current();
    let dir = match &options.dir {
        Some(dir) => scope.path(dir),
        None => scope.dir.borrow().clone(),
    };
    let since = options.since;
    let wanted: Vec<&str> = match options.tool {
        Some(tool) if TOOLS.contains(&tool.as_str()) => {
            vec![TOOLS[TOOLS.iter().position(|t| *t == tool).unwrap_or(0)]]
        }
        Some(tool) => {
            return error(format!(
                "scan::secrets: unknown tool `{tool}` (known: {})",
                TOOLS.join(", ")
            ))
        }
        None => TOOLS.to_vec(),
    };
    if scope.host.mode == Mode::Plan {
        return Ok(options::to_map(&ScanResult {
            reason: Some("planning".into()),
            ..ScanResult::default()
        }));
    }
    let Some((tool, program)) = wanted.iter().find_map(|t| find_tool(t).map(|p| (*t, p))) else {
        let reason = format!(
            "no secret scanner installed ({}): secret scan skipped (`pip install detect-secrets`, or gitleaks from https://github.com/gitleaks/gitleaks/releases)",
            wanted.join(", ")
        );
        scope
            .host
            .bus
            .message(scope.job, Level::Info, reason.clone());
        return Ok(options::to_map(&ScanResult {
            reason: Some(reason),
            ..ScanResult::default()
        }));
    };
    let findings = match tool {
        "gitleaks" => gitleaks(&program, &dir, since.as_deref()).script()?,
        _ => detect_secrets(
            &program,
            &dir,
            since.as_deref(),
            &dir.join(&options.baseline),
        )
        .script()?,
    };
    let root = scope.host.root.clone();
    for finding in &findings {
        let file =
            crate::primitives::cargo::diagnostics::relative_to(&dir.join(&finding.file), &root);
        scope.host.bus.emit(Event::Diagnostic {
            job: scope.job,
            level: Severity::Error,
            file,
            line: finding.line,
            column: 1,
            message: format!("possible secret ({}), found by {tool}", finding.kind),
        });
    }
    if !findings.is_empty() {
        return Err(ScanError::Found { tool, findings }).script();
    }
    scope
        .host
        .bus
        .message(scope.job, Level::Info, format!("{tool}: no secrets found"));
    Ok(options::to_map(&ScanResult {
        ran: true,
        tool: Some(tool.to_string()),
        findings: Some(Vec::new()),
        ..ScanResult::default()
    }))
}

/// Runs a scanner with its output in the log, returning its stdout.
fn capture(argv: Vec<String>, dir: &Path) -> Scanned<(i32, String)> {
    let scope = context::current();
    let display = display_argv(&argv);
    let spec = Spec {
        argv,
        env: scope.env_changes(),
        dir: Some(dir.to_path_buf()),
        capture_stdout: true,
        ..Spec::default()
    };
    // The scanner reads the tree and its history: skipped as up to date only with declared
    // `inputs`, like `run`.
    super::implied::run(&spec);
    let sink = scope.host.bus.command_log(scope.job, &display);
    match process::execute(&spec, &scope.token(), sink) {
        Ok(finished) => Ok((
            finished.code.unwrap_or(-1),
            String::from_utf8_lossy(&finished.stdout).into_owned(),
        )),
        Err(failure) => Err(CommandFailed::NotRun {
            command: display,
            failure,
        }
        .into()),
    }
}

fn gitleaks(program: &str, dir: &Path, since: Option<&str>) -> Scanned<Vec<Finding>> {
    let report = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .map_err(ScanError::TempFile)?;
    let mut argv = vec![
        program.to_string(),
        "detect".into(),
        "--source".into(),
        ".".into(),
        "--no-banner".into(),
        "--redact".into(),
        "--exit-code".into(),
        "0".into(),
        "--report-format".into(),
        "json".into(),
        "--report-path".into(),
        report.path().display().to_string(),
    ];
    if let Some(since) = since {
        argv.push(format!("--log-opts={since}..HEAD"));
    }
    let (code, _) = capture(argv, dir)?;
    if code != 0 {
        return Err(ScanError::ToolFailed {
            tool: "gitleaks",
            code,
        });
    }
    let text = std::fs::read_to_string(report.path()).unwrap_or_default();
    parse_gitleaks(&text)
}

pub fn parse_gitleaks(text: &str) -> Scanned<Vec<Finding>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|source| ScanError::BadReport {
            what: "gitleaks report",
            source,
        })?;
    Ok(json
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| Finding {
            file: f["File"].as_str().unwrap_or_default().to_string(),
            line: f["StartLine"].as_u64().unwrap_or(1) as usize,
            kind: f["Description"]
                .as_str()
                .or(f["RuleID"].as_str())
                .unwrap_or("secret")
                .to_string(),
        })
        .collect())
}

fn detect_secrets(
    program: &str,
    dir: &Path,
    since: Option<&str>,
    baseline: &Path,
) -> Scanned<Vec<Finding>> {
    let mut argv = vec![program.to_string(), "scan".into()];
    if let Some(since) = since {
        let files = changed_files(dir, since)?;
        if files.is_empty() {
            return Ok(Vec::new());
        }
        argv.extend(files);
    }
    let (code, stdout) = capture(argv, dir)?;
    if code != 0 {
        return Err(ScanError::ToolFailed {
            tool: "detect-secrets",
            code,
        });
    }
    let accepted = match std::fs::read_to_string(baseline) {
        Ok(text) => accepted_in_baseline(&text),
        Err(_) => HashSet::new(),
    };
    let baseline_name = baseline
        .strip_prefix(dir)
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut findings = parse_detect_secrets(&stdout, &accepted)?;
    findings.retain(|f| Path::new(&f.file) != baseline_name);
    Ok(findings)
}

/// Files changed since `since` (committed or not) that still exist.
fn changed_files(dir: &Path, since: &str) -> Scanned<Vec<String>> {
    let token = context::current().token();
    let diff = ["diff", "--name-only", "--diff-filter=ACMR", since, "--"];
    let output = Spec::query("git", &diff, dir)
        .output(&token)
        .map_err(ScanError::GitDiffNotRun)?;
    if !output.success() {
        return Err(ScanError::GitDiffFailed {
            since: since.into(),
            stderr: output.stderr_text(),
        });
    }
    // git names files from the top of the repository.
    let top = Spec::query("git", &["rev-parse", "--show-toplevel"], dir)
        .output(&token)
        .ok()
        .map(|o| PathBuf::from(o.stdout_text().trim()))
        .unwrap_or_else(|| dir.to_path_buf());
    Ok(output
        .stdout_text()
        .lines()
        .map(|f| top.join(f))
        .filter(|p| p.is_file() && p.starts_with(dir))
        .filter_map(|p| p.strip_prefix(dir).ok().map(|p| p.display().to_string()))
        .collect())
}

fn accepted_in_baseline(text: &str) -> HashSet<(String, String)> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return HashSet::new();
    };
    let mut accepted = HashSet::new();
    if let Some(results) = json["results"].as_object() {
        for (file, list) in results {
            for f in list.as_array().into_iter().flatten() {
                if let Some(hash) = f["hashed_secret"].as_str() {
                    accepted.insert((file.clone(), hash.to_string()));
                }
            }
        }
    }
    accepted
}

pub fn parse_detect_secrets(
    text: &str,
    accepted: &HashSet<(String, String)>,
) -> Scanned<Vec<Finding>> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|source| ScanError::BadReport {
            what: "detect-secrets output",
            source,
        })?;
    let mut findings = Vec::new();
    if let Some(results) = json["results"].as_object() {
        for (file, list) in results {
            for f in list.as_array().into_iter().flatten() {
                let hash = f["hashed_secret"].as_str().unwrap_or_default().to_string();
                if accepted.contains(&(file.clone(), hash)) {
                    continue;
                }
                findings.push(Finding {
                    file: file.clone(),
                    line: f["line_number"].as_u64().unwrap_or(1) as usize,
                    kind: f["type"].as_str().unwrap_or("secret").to_string(),
                });
            }
        }
    }
    findings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitleaks_report() {
        let text = r#"[{"Description":"AWS Access Key","StartLine":3,"File":"src/config.js","Secret":"REDACTED","RuleID":"aws-access-token"}]"#;
        assert_eq!(
            parse_gitleaks(text).unwrap(),
            [Finding {
                file: "src/config.js".into(),
                line: 3,
                kind: "AWS Access Key".into()
            }]
        );
        assert!(parse_gitleaks("").unwrap().is_empty());
        assert!(matches!(
            parse_gitleaks("[{"),
            Err(ScanError::BadReport {
                what: "gitleaks report",
                ..
            })
        ));
    }

    #[test]
    fn findings_are_an_error_listing_each_place() {
        let found = ScanError::Found {
            tool: "gitleaks",
            findings: vec![Finding {
                file: "a.js".into(),
                line: 1,
                kind: "AWS Access Key".into(),
            }],
        };
        assert_eq!(
            found.to_string(),
            "gitleaks found 1 possible secret: a.js:1 (AWS Access Key)"
        );
    }

    #[test]
    fn detect_secrets_findings_minus_the_baseline() {
        let out = r#"{"results":{"a.js":[
            {"type":"AWS Access Key","hashed_secret":"aa","line_number":1},
            {"type":"GitHub Token","hashed_secret":"bb","line_number":2}]}}"#;
        let accepted: HashSet<(String, String)> = [("a.js".to_string(), "bb".to_string())].into();
        let found = parse_detect_secrets(out, &accepted).unwrap();
        assert_eq!(
            found,
            [Finding {
                file: "a.js".into(),
                line: 1,
                kind: "AWS Access Key".into()
            }]
        );
    }
}
