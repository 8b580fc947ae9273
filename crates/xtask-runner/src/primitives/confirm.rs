//! `confirm(phrase)` and the job option `confirm: "…"`: a gate an operator opens by typing a
//! phrase (`DEPLOY TO PRODUCTION`). It never passes by default:
//!
//! - given ahead of time (`--confirm "PHRASE"` on the command line, `XTASK_CONFIRM`, or the
//!   `confirm` input of an Actions `workflow_dispatch` run), the value must equal the phrase;
//! - otherwise, on a terminal, the operator is asked on `/dev/tty` and must type it exactly;
//! - otherwise the job fails, saying exactly how to give it.
//!
//! In `--dry-run` nothing is asked; the plan shows the gate instead.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use rhai::{Engine, Map, NativeCallContext};

use super::options::{self, options, Options as _};
use super::reference::Function;
use super::{error, Result};
use crate::events::Level;
use crate::script::{context, Mode};

/// The variable that carries a confirmation for non-interactive runs.
pub const ENV: &str = "XTASK_CONFIRM";
options! {
    /// Options of `confirm`.
    pub struct ConfirmOptions for "confirm" {
        /// The variable that may carry the confirmation in non-interactive runs.
        env: String = ENV.into() => "\"XTASK_CONFIRM\"",
        /// The `workflow_dispatch` input that may carry it.
        input: String = "confirm".into() => "\"confirm\"",
        /// The question at the terminal (default: the job's name and the phrase to type).
        prompt: Option<String>,
    }
}

pub(crate) const FUNCTIONS: &[Function] = &[Function {
    name: "confirm",
    params: &["phrase: string", "options: map"],
    summary: "Passes once the operator gave the phrase (`--confirm`, `XTASK_CONFIRM`, a `workflow_dispatch` input, or typed at the terminal); fails otherwise, saying how.",
    options: &[ConfirmOptions::FIELDS],
    result: &[],
}];

/// `--confirm` values from the command line, set once by the CLI before the task loads.
static GIVEN: OnceLock<Vec<String>> = OnceLock::new();

pub fn set_given(values: Vec<String>) {
    let _ = GIVEN.set(values);
}

pub fn register(engine: &mut Engine) {
    engine.register_fn("confirm", |ctx: NativeCallContext, phrase: &str| {
        super::at_call_site(&ctx, require(phrase, &Map::new()))
    });
    engine.register_fn(
        "confirm",
        |ctx: NativeCallContext, phrase: &str, options: Map| {
            super::at_call_site(&ctx, require(phrase, &options))
        },
    );
}

/// Where a confirmation given ahead of time came from, and its value.
struct Given {
    source: String,
    value: String,
}

/// Passes when the phrase was given or typed; fails otherwise. Returns `true` so scripts can
/// write `if confirm(…) { … }` as well.
pub fn require(phrase: &str, options: &Map) -> Result<bool> {
    gate(phrase, options::parse(options)?)
}

/// The job option `confirm:`: the same gate, its errors naming where the job was declared.
pub fn require_for_job(phrase: &str, job: &str, defined_at: &str) -> Result<()> {
    gate(phrase, ConfirmOptions::default())
        .map(|_| ())
        .map_err(|e| {
            let message = match &*e {
                rhai::EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
                other => other.to_string(),
            };
            format!("job `{job}` (declared at {defined_at}) {message}").into()
        })
}

fn gate(phrase: &str, options: ConfirmOptions) -> Result<bool> {
    if phrase.trim().is_empty() {
        return error("confirm needs a phrase for the operator to type, e.g. confirm(\"DEPLOY TO PRODUCTION\")");
    }
    let scope = context::current();
    let say = |text: String| scope.host.bus.message(scope.job, Level::Info, text);
    if scope.host.mode == Mode::Plan {
        say(format!("would ask for the confirmation `{phrase}`"));
        return Ok(true);
    }
    let env_name = options.env;
    let input = options.input;
    let given = given(&env_name, &input, &|name| scope.env_var(name));
    if let Some(matching) = given.iter().find(|g| g.value == phrase) {
        say(format!("confirmed by {}", matching.source));
        return Ok(true);
    }
    if let Some(first) = given.first() {
        return error(format!(
            "the confirmation given by {} does not match: expected exactly `{phrase}`",
            first.source
        ));
    }
    if let Some(tty) = terminal() {
        let prompt = options
            .prompt
            .unwrap_or_else(|| format!("{}: type `{phrase}` to continue", scope.name));
        return match ask(tty, &prompt, &scope.token()) {
            Ok(Some(typed)) if typed == phrase => {
                say("confirmed at the terminal".to_string());
                Ok(true)
            }
            Ok(Some(_)) => error(format!("not confirmed: what was typed is not `{phrase}`")),
            Ok(None) => error(format!(
                "not confirmed: the terminal closed before `{phrase}` was typed"
            )),
            Err(e) => error(e),
        };
    }
    error(format!(
        "needs the confirmation `{phrase}` and there is no terminal to ask: pass --confirm {:?}, or set {env_name}={:?}, or (in GitHub Actions) give the workflow_dispatch input `{input}`",
        phrase, phrase
    ))
}

/// Confirmations given ahead of time: `--confirm`, the variable, the dispatch input.
fn given(env_name: &str, input: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<Given> {
    let mut found = Vec::new();
    for value in GIVEN.get().into_iter().flatten() {
        found.push(Given {
            source: "--confirm".into(),
            value: value.clone(),
        });
    }
    if let Some(value) = env(env_name).filter(|v| !v.is_empty()) {
        found.push(Given {
            source: format!("${env_name}"),
            value,
        });
    }
    if env("GITHUB_EVENT_NAME").as_deref() == Some("workflow_dispatch") {
        if let Some(value) = env("GITHUB_EVENT_PATH")
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|event| event["inputs"][input].as_str().map(str::to_string))
            .filter(|v| !v.is_empty())
        {
            found.push(Given {
                source: format!("the workflow_dispatch input `{input}`"),
                value,
            });
        }
    }
    found
}

/// The controlling terminal, when xtask runs attached to one.
fn terminal() -> Option<std::fs::File> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
}

/// Prints the prompt on the terminal and reads one line. The read happens on a helper thread so
/// that Ctrl-C (which cancels the job) is not stuck behind a blocking read.
fn ask(
    tty: std::fs::File,
    prompt: &str,
    token: &crate::cancel::CancelToken,
) -> std::result::Result<Option<String>, String> {
    let mut out = tty
        .try_clone()
        .map_err(|e| format!("cannot use the terminal: {e}"))?;
    write!(out, "\n{prompt}\n> ")
        .and_then(|_| out.flush())
        .map_err(|e| format!("cannot write to the terminal: {e}"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::BufReader::new(tty).read_line(&mut line);
        let _ = tx.send(read.map(|n| (n > 0).then_some(line)));
    });
    loop {
        if let Some(reason) = token.reason() {
            return Err(format!("not confirmed: {reason}"));
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(line)) => return Ok(line.map(|l| l.trim_end_matches(['\n', '\r']).to_string())),
            Ok(Err(e)) => return Err(format!("cannot read from the terminal: {e}")),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_input_and_variable_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(&event, r#"{"inputs":{"confirm":"DEPLOY TO PRODUCTION"}}"#).unwrap();
        let event = event.display().to_string();
        let env = |name: &str| match name {
            "GITHUB_EVENT_NAME" => Some("workflow_dispatch".to_string()),
            "GITHUB_EVENT_PATH" => Some(event.clone()),
            "XTASK_CONFIRM" => Some("deploy".to_string()),
            _ => None,
        };
        let found = given(ENV, "confirm", &env);
        let values: Vec<(&str, &str)> = found
            .iter()
            .map(|g| (g.source.as_str(), g.value.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                ("$XTASK_CONFIRM", "deploy"),
                (
                    "the workflow_dispatch input `confirm`",
                    "DEPLOY TO PRODUCTION"
                )
            ]
        );
    }

    #[test]
    fn a_push_event_gives_no_input() {
        let env = |name: &str| (name == "GITHUB_EVENT_NAME").then(|| "push".to_string());
        assert!(given(ENV, "confirm", &env).is_empty());
    }
}
