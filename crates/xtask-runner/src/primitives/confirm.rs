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

use super::error::IntoScript as _;
use super::options::{self, options, Options as _};
use super::reference::Function;
use super::Result;
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

/// Why the gate did not open.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error(
        "confirm needs a phrase for the operator to type, e.g. confirm(\"DEPLOY TO PRODUCTION\")"
    )]
    NoPhrase,
    /// Given ahead of time (`source`: `--confirm`, the variable, the dispatch input), not equal.
    #[error("the confirmation given by {given_by} does not match: expected exactly `{phrase}`")]
    Mismatch { given_by: String, phrase: String },
    #[error("not confirmed: what was typed is not `{phrase}`")]
    MistypedAtTerminal { phrase: String },
    #[error("not confirmed: the terminal closed before `{phrase}` was typed")]
    TerminalClosed { phrase: String },
    #[error("cannot use the terminal: {0}")]
    TerminalUnusable(#[source] std::io::Error),
    #[error("cannot write to the terminal: {0}")]
    TerminalWrite(#[source] std::io::Error),
    #[error("cannot read from the terminal: {0}")]
    TerminalRead(#[source] std::io::Error),
    #[error("not confirmed: {reason}")]
    Cancelled { reason: String },
    #[error("needs the confirmation `{phrase}` and there is no terminal to ask: pass --confirm {phrase:?}, or set {env}={phrase:?}, or (in GitHub Actions) give the workflow_dispatch input `{input}`")]
    NoTerminal {
        phrase: String,
        env: String,
        input: String,
    },
    /// The job option `confirm:`: the gate's error, naming where the job was declared.
    #[error("job `{job}` (declared at {defined_at}) {gate}")]
    ForJob {
        job: String,
        defined_at: String,
        gate: Box<ConfirmError>,
    },
}

/// Where a confirmation given ahead of time came from, and its value.
struct Given {
    source: String,
    value: String,
}

/// Passes when the phrase was given or typed; fails otherwise. Returns `true` so scripts can
/// write `if confirm(…) { … }` as well.
pub fn require(phrase: &str, options: &Map) -> Result<bool> {
    gate(phrase, options::parse(options)?).script()
}

/// The job option `confirm:`: the same gate, its errors naming where the job was declared.
pub fn require_for_job(phrase: &str, job: &str, defined_at: &str) -> Result<()> {
    gate(phrase, ConfirmOptions::default())
        .map(|_| ())
        .map_err(|gate| ConfirmError::ForJob {
            job: job.into(),
            defined_at: defined_at.into(),
            gate: Box::new(gate),
        })
        .script()
}

fn gate(phrase: &str, options: ConfirmOptions) -> std::result::Result<bool, ConfirmError> {
    if phrase.trim().is_empty() {
        return Err(ConfirmError::NoPhrase);
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
        return Err(ConfirmError::Mismatch {
            given_by: first.source.clone(),
            phrase: phrase.into(),
        });
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
            Ok(Some(_)) => Err(ConfirmError::MistypedAtTerminal {
                phrase: phrase.into(),
            }),
            Ok(None) => Err(ConfirmError::TerminalClosed {
                phrase: phrase.into(),
            }),
            Err(e) => Err(e),
        };
    }
    Err(ConfirmError::NoTerminal {
        phrase: phrase.into(),
        env: env_name,
        input,
    })
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
) -> std::result::Result<Option<String>, ConfirmError> {
    let mut out = tty.try_clone().map_err(ConfirmError::TerminalUnusable)?;
    write!(out, "\n{prompt}\n> ")
        .and_then(|_| out.flush())
        .map_err(ConfirmError::TerminalWrite)?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::BufReader::new(tty).read_line(&mut line);
        let _ = tx.send(read.map(|n| (n > 0).then_some(line)));
    });
    loop {
        if let Some(reason) = token.reason() {
            return Err(ConfirmError::Cancelled { reason });
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(line)) => return Ok(line.map(|l| l.trim_end_matches(['\n', '\r']).to_string())),
            Ok(Err(e)) => return Err(ConfirmError::TerminalRead(e)),
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
    fn without_a_terminal_the_gate_is_a_typed_error_saying_how_to_confirm() {
        let dir = tempfile::tempdir().unwrap();
        let _scope = context::enter_for_test(dir.path());
        assert!(matches!(
            gate(" ", ConfirmOptions::default()),
            Err(ConfirmError::NoPhrase)
        ));
        // A test has no controlling terminal on stdin, so nothing can be typed.
        if terminal().is_none() {
            match gate("DEPLOY", ConfirmOptions::default()) {
                Err(ConfirmError::NoTerminal { phrase, env, .. }) => {
                    assert_eq!((phrase.as_str(), env.as_str()), ("DEPLOY", ENV));
                }
                other => panic!("expected no terminal, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_push_event_gives_no_input() {
        let env = |name: &str| (name == "GITHUB_EVENT_NAME").then(|| "push".to_string());
        assert!(given(ENV, "confirm", &env).is_empty());
    }
}
