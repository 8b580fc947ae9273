//! Checks for smoke tests, with messages that show expected against actual: `assert_eq`,
//! `assert_status`, `assert_json`; and `retry` for a flaky block.

// See script/mod.rs: the call-context store is volatile, not deprecated.
#![allow(deprecated)]

use rhai::{Dynamic, Engine, FnPtr, Map, NativeCallContext};
use serde_json::Value;

use super::error::IntoScript as _;
use super::http::{dynamic_to_json, excerpt};
use super::reference::{plain, Function};
use super::wait::{self, Backoff};
use super::Result;
use crate::events::Level;
use crate::script::context;
use crate::script::diagnostic;

pub(crate) const FUNCTIONS: &[Function] = &[
    plain("assert_eq", &["actual: ?", "expected: ?", "message: string"], "Fails the job unless the values are equal, showing expected against actual."),
    plain("assert_status", &["response: map", "status: int"], "Fails unless an `http::` response has this status."),
    plain("assert_json", &["response: ?", "path: string", "expected: ?"], "Fails unless the value at `path` in the JSON (a response or a value) equals `expected`."),
    plain("retry", &["retries: int", "body: Fn"], "Runs `body`, again on an error up to `retries` more times with a short doubling pause; skips and cancellation are not retried."),
];

pub fn register(engine: &mut Engine) {
    engine.register_fn("assert_eq", |actual: Dynamic, expected: Dynamic| {
        assert_eq(&actual, &expected, None)
    });
    engine.register_fn(
        "assert_eq",
        |actual: Dynamic, expected: Dynamic, message: &str| {
            assert_eq(&actual, &expected, Some(message))
        },
    );
    engine.register_fn("assert_status", |response: Map, status: i64| {
        assert_status(&response, status)
    });
    engine.register_fn(
        "assert_json",
        |response: Dynamic, path: &str, expected: Dynamic| assert_json(&response, path, &expected),
    );
    engine.register_fn(
        "retry",
        |ctx: NativeCallContext, retries: i64, body: FnPtr| retry(&ctx, retries, &body),
    );
}

/// A failed assertion, or an assertion that cannot be checked, worded as scripts see it.
/// Values are carried as shown (JSON, cut at 300 characters); `response` / `context` describe
/// the response they came from (or are empty).
#[derive(Debug, thiserror::Error)]
pub enum AssertError {
    #[error(
        "assertion failed: {}\n  expected: {expected}\n    actual: {actual}",
        message.as_deref().unwrap_or("values differ")
    )]
    Differ {
        message: Option<String>,
        expected: String,
        actual: String,
    },
    #[error("assert_status needs a response from http::get / post / request")]
    NotAResponse,
    #[error("expected status {expected}, got {got}\n{response}")]
    Status {
        expected: i64,
        got: i64,
        response: String,
    },
    #[error("invalid JSON path `{path}`: {problem}")]
    Path { path: String, problem: PathProblem },
    #[error("assert_json `{path}`: the response is not JSON\n{response}")]
    NotJson { path: String, response: String },
    /// The checked value cannot be JSON.
    #[error("assert_json: {0}")]
    Document(String),
    #[error("assert_json `{path}`: expected: {reason}")]
    Expected { path: String, reason: String },
    #[error("assert_json `{path}`: {dead_end}\n  expected: {expected}{context}")]
    DeadEnd {
        path: String,
        dead_end: Box<DeadEnd>,
        expected: String,
        context: String,
    },
    #[error("assert_json `{path}`\n  expected: {expected}\n    actual: {actual}{context}")]
    JsonDiffers {
        path: String,
        expected: String,
        actual: String,
        context: String,
    },
    #[error("retry: the number of retries must be from 0 to 100")]
    Retries,
}

/// What is wrong with a JSON path.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PathProblem {
    #[error("empty step")]
    EmptyStep,
    #[error("missing `]`")]
    MissingBracket,
    #[error("`[{0}]`")]
    BadIndex(String),
    #[error("`{0}`")]
    Trailing(String),
}

/// Where a JSON path leads nowhere; `at` is the part walked (`the document` at the start).
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DeadEnd {
    #[error(
        "{at} has no field `{key}` (it has: {})",
        if keys.is_empty() { "no fields".to_string() } else { keys.join(", ") }
    )]
    NoField {
        at: String,
        key: String,
        keys: Vec<String>,
    },
    #[error("{at} has no item [{index}] (it has {len} items)")]
    NoItem {
        at: String,
        index: usize,
        len: usize,
    },
    /// `found` is the value there, shown; `wanted` the step (`field `x``, `item [0]`).
    #[error("{at} is {found}, not something with a {wanted}")]
    Shape {
        at: String,
        found: String,
        wanted: String,
    },
}

/// A value as JSON for comparing and showing; values JSON cannot hold show by type name.
fn as_json(value: &Dynamic) -> std::result::Result<Value, String> {
    dynamic_to_json(value)
}

/// JSON equality where 1 and 1.0 are the same number (scripts mix ints and floats freely).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| same(v, other)))
        }
        _ => a == b,
    }
}

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}

fn assert_eq(actual: &Dynamic, expected: &Dynamic, message: Option<&str>) -> Result<()> {
    let equal = match (as_json(actual), as_json(expected)) {
        (Ok(a), Ok(e)) => same(&a, &e),
        // Values JSON cannot hold (custom types) compare by their text.
        _ => {
            actual.type_name() == expected.type_name() && actual.to_string() == expected.to_string()
        }
    };
    if equal {
        return Ok(());
    }
    let render = |v: &Dynamic| match as_json(v) {
        Ok(json) => show(&json),
        Err(_) => format!("{v} ({})", v.type_name()),
    };
    Err(AssertError::Differ {
        message: message.map(str::to_string),
        expected: render(expected),
        actual: render(actual),
    })
    .script()
}

/// `GET http://… answered 503` plus the body, for messages about a response map.
fn response_context(response: &Map) -> String {
    let get = |key: &str| response.get(key).map(crate::primitives::display_value);
    let request = match (get("method"), get("url")) {
        (Some(m), Some(u)) => format!("{m} {u}"),
        _ => "the request".to_string(),
    };
    let status = get("status").unwrap_or_else(|| "?".into());
    let body = get("body").unwrap_or_default();
    format!(
        "--- response to {request} (status {status}) ---\n{}",
        excerpt(&body)
    )
}

fn assert_status(response: &Map, expected: i64) -> Result<()> {
    let Some(status) = response.get("status").and_then(|s| s.as_int().ok()) else {
        return Err(AssertError::NotAResponse).script();
    };
    if status == expected {
        return Ok(());
    }
    Err(AssertError::Status {
        expected,
        got: status,
        response: response_context(response),
    })
    .script()
}

/// One step of a path like `result.items[0].name` (or `result.items.0.name`).
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> std::result::Result<Vec<Step>, AssertError> {
    let invalid = |problem| AssertError::Path {
        path: path.into(),
        problem,
    };
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            match key.parse::<usize>() {
                Ok(i) => steps.push(Step::Index(i)),
                _ => steps.push(Step::Key(key.to_string())),
            }
        } else if rest.is_empty() {
            return Err(invalid(PathProblem::EmptyStep));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else {
                return Err(invalid(PathProblem::MissingBracket));
            };
            let index = inner[..end]
                .parse::<usize>()
                .map_err(|_| invalid(PathProblem::BadIndex(inner[..end].into())))?;
            steps.push(Step::Index(index));
            rest = &inner[end + 1..];
        }
        if !rest.is_empty() {
            return Err(invalid(PathProblem::Trailing(rest.into())));
        }
    }
    Ok(steps)
}

/// Follows `steps` into `value`; on a dead end, says where and what was there.
fn lookup<'a>(value: &'a Value, steps: &[Step]) -> std::result::Result<&'a Value, DeadEnd> {
    let mut current = value;
    let mut walked = String::new();
    for step in steps {
        let here = if walked.is_empty() {
            "the document".to_string()
        } else {
            format!("`{walked}`")
        };
        current = match (step, current) {
            (Step::Key(key), Value::Object(map)) => match map.get(key) {
                Some(next) => next,
                None => {
                    return Err(DeadEnd::NoField {
                        at: here,
                        key: key.clone(),
                        keys: map.keys().cloned().collect(),
                    });
                }
            },
            (Step::Index(i), Value::Array(items)) => match items.get(*i) {
                Some(next) => next,
                None => {
                    return Err(DeadEnd::NoItem {
                        at: here,
                        index: *i,
                        len: items.len(),
                    })
                }
            },
            // A numeric step on an object is a key ("0").
            (Step::Index(i), Value::Object(map)) if map.contains_key(&i.to_string()) => {
                &map[&i.to_string()]
            }
            (step, other) => {
                let what = match step {
                    Step::Key(k) => format!("field `{k}`"),
                    Step::Index(i) => format!("item [{i}]"),
                };
                return Err(DeadEnd::Shape {
                    at: here,
                    found: show(other),
                    wanted: what,
                });
            }
        };
        match step {
            Step::Key(k) if walked.is_empty() => walked.push_str(k),
            Step::Key(k) => {
                walked.push('.');
                walked.push_str(k);
            }
            Step::Index(i) => walked.push_str(&format!("[{i}]")),
        }
    }
    Ok(current)
}

fn assert_json(target: &Dynamic, path: &str, expected: &Dynamic) -> Result<()> {
    let steps = parse_path(path).script()?;
    // A response map checks its parsed body; any other value is checked as it is.
    let response = target
        .clone()
        .try_cast::<Map>()
        .filter(|m| m.contains_key("status") && m.contains_key("body"));
    let (document, context) = match &response {
        Some(response) => {
            let json = response.get("json").cloned().unwrap_or(Dynamic::UNIT);
            if json.is_unit() {
                return Err(AssertError::NotJson {
                    path: path.into(),
                    response: response_context(response),
                })
                .script();
            }
            (json, format!("\n{}", response_context(response)))
        }
        None => (target.clone(), String::new()),
    };
    let document = as_json(&document).map_err(AssertError::Document).script()?;
    let expected_json = as_json(expected)
        .map_err(|reason| AssertError::Expected {
            path: path.into(),
            reason,
        })
        .script()?;
    let actual = match lookup(&document, &steps) {
        Ok(actual) => actual,
        Err(dead_end) => {
            return Err(AssertError::DeadEnd {
                path: path.into(),
                dead_end: Box::new(dead_end),
                expected: show(&expected_json),
                context,
            })
            .script()
        }
    };
    if same(actual, &expected_json) {
        return Ok(());
    }
    Err(AssertError::JsonDiffers {
        path: path.into(),
        expected: show(&expected_json),
        actual: show(actual),
        context,
    })
    .script()
}

/// Runs `body`; on an error runs it again, up to `retries` more times (like the job option),
/// with a short doubling pause between attempts. Skips and cancellation are not retried.
fn retry(ctx: &NativeCallContext, retries: i64, body: &FnPtr) -> Result<Dynamic> {
    if !(0..=100).contains(&retries) {
        return Err(AssertError::Retries).script();
    }
    let scope = context::current();
    let mut backoff = Backoff::new(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(2),
    );
    let mut attempt = 0;
    loop {
        let err = match body.call_within_context::<Dynamic>(ctx, ()) {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let token = scope.token();
        if attempt >= retries || token.is_cancelled() || diagnostic::skip_reason(&err).is_some() {
            return Err(err);
        }
        attempt += 1;
        let delay = backoff.next_delay();
        scope.host.bus.message(
            scope.job,
            Level::Warn,
            format!(
                "retry {attempt}/{retries} in {}: {}",
                crate::duration::format(delay),
                first_line(&err)
            ),
        );
        if wait::sleep(&token, delay).is_err() {
            return Err(err);
        }
    }
}

fn first_line(err: &rhai::EvalAltResult) -> String {
    let text = match err {
        rhai::EvalAltResult::ErrorRuntime(value, _) => crate::primitives::display_value(value),
        other => other.to_string(),
    };
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse() {
        use Step::*;
        assert_eq!(
            parse_path("result.items[0].name").unwrap(),
            [
                Key("result".into()),
                Key("items".into()),
                Index(0),
                Key("name".into())
            ]
        );
        assert_eq!(
            parse_path("a.1.b").unwrap(),
            [Key("a".into()), Index(1), Key("b".into())]
        );
        assert!(matches!(
            parse_path("a..b"),
            Err(AssertError::Path {
                problem: PathProblem::EmptyStep,
                ..
            })
        ));
        assert_eq!(
            parse_path("a[x]").unwrap_err().to_string(),
            "invalid JSON path `a[x]`: `[x]`"
        );
    }

    #[test]
    fn lookups_explain_dead_ends() {
        let doc = json!({ "result": { "version": "0.3.1", "tags": ["a"] } });
        let get = |p: &str| lookup(&doc, &parse_path(p).unwrap()).cloned();
        assert_eq!(get("result.version").unwrap(), json!("0.3.1"));
        assert_eq!(get("result.tags[0]").unwrap(), json!("a"));
        assert_eq!(
            get("result.name").unwrap_err().to_string(),
            "`result` has no field `name` (it has: tags, version)"
        );
        assert_eq!(
            get("result.tags[3]").unwrap_err(),
            DeadEnd::NoItem {
                at: "`result.tags`".into(),
                index: 3,
                len: 1
            }
        );
        assert_eq!(
            get("result.tags[3]").unwrap_err().to_string(),
            "`result.tags` has no item [3] (it has 1 items)"
        );
        assert!(get("result.version.major")
            .unwrap_err()
            .to_string()
            .contains("`result.version` is \"0.3.1\""));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(same(&json!(1), &json!(1.0)));
        assert!(same(&json!({ "a": [1, 2.5] }), &json!({ "a": [1.0, 2.5] })));
        assert!(!same(&json!("1"), &json!(1)));
        assert!(!same(&json!({ "a": 1 }), &json!({ "a": 1, "b": 2 })));
    }
}
