//! JSON-RPC 2.0 request handling (single calls, notifications and batches).
//!
//! ```
//! use example_service::rpc;
//!
//! let reply = rpc::handle(br#"{"jsonrpc":"2.0","id":1,"method":"getversion"}"#).unwrap();
//! assert_eq!(
//!     reply.to_string(),
//!     format!(
//!         r#"{{"jsonrpc":"2.0","id":1,"result":{{"version":"{}","name":"example-service"}}}}"#,
//!         env!("CARGO_PKG_VERSION")
//!     )
//! );
//!
//! let reply = rpc::handle(br#"{"jsonrpc":"2.0","id":"a","method":"nope"}"#).unwrap();
//! assert_eq!(reply.get("error").unwrap().get("code").unwrap().as_i64(), Some(rpc::METHOD_NOT_FOUND));
//!
//! // Notifications (no "id") get no reply.
//! assert!(rpc::handle(br#"{"jsonrpc":"2.0","method":"getversion"}"#).is_none());
//! ```

use crate::json::Value;

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;

/// Largest number of calls accepted in one batch.
pub const MAX_BATCH: usize = 100;

/// Name reported by `getversion`.
pub const SERVICE_NAME: &str = "example-service";

/// The hash of the one block this stand-in chain has: the node-like methods (`getblockcount`,
/// `getbestblockhash`, `getblockhash`, `getconnectioncount`) answer as a freshly started node
/// would, so a smoke test can exercise a node's method set.
pub const GENESIS_HASH: &str = "0x1f4d1defa46faa5e7b9b8d3f79a06bec777d7c26c4aa5f6f5899a291daa87c15";

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// Error code (see the constants in this module).
    pub code: i64,
    /// Short description.
    pub message: String,
}

impl RpcError {
    /// Creates an error.
    pub fn new(code: i64, message: &str) -> RpcError {
        RpcError {
            code,
            message: message.to_string(),
        }
    }

    fn to_value(&self) -> Value {
        Value::object([
            ("code", Value::from(self.code)),
            ("message", Value::from(self.message.as_str())),
        ])
    }
}

/// Handles a request body: a single call or a batch. Returns the reply, or
/// `None` when there is nothing to send back (only notifications).
pub fn handle(body: &[u8]) -> Option<Value> {
    let parsed = std::str::from_utf8(body)
        .ok()
        .and_then(|text| Value::parse(text).ok());
    let Some(request) = parsed else {
        return Some(error_reply(
            Value::Null,
            &RpcError::new(PARSE_ERROR, "Parse error"),
        ));
    };
    match request {
        Value::Array(calls) if calls.is_empty() => Some(invalid_request()),
        Value::Array(calls) if calls.len() > MAX_BATCH => Some(error_reply(
            Value::Null,
            &RpcError::new(INVALID_REQUEST, "Invalid Request: batch too large"),
        )),
        Value::Array(calls) => {
            let replies: Vec<Value> = calls.iter().filter_map(handle_call).collect();
            if replies.is_empty() {
                None
            } else {
                Some(Value::Array(replies))
            }
        }
        call => handle_call(&call),
    }
}

/// Handles one call object. Returns `None` for a valid notification.
pub fn handle_call(call: &Value) -> Option<Value> {
    if call.as_object().is_none() {
        return Some(invalid_request());
    }
    // The id, if present, must be a string, number or null; echo it back.
    let id = match call.get("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => Some(id.clone()),
        Some(_) => return Some(invalid_request()),
    };
    let version_ok = call.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let method = call.get("method").and_then(Value::as_str);
    let params = call.get("params");
    let params_ok = matches!(params, None | Some(Value::Array(_) | Value::Object(_)));
    let (true, Some(method), true) = (version_ok, method, params_ok) else {
        return Some(error_reply(
            id.unwrap_or(Value::Null),
            &RpcError::new(INVALID_REQUEST, "Invalid Request"),
        ));
    };

    let outcome = dispatch(method, params);
    let id = id?; // notification: run it, reply nothing
    Some(match outcome {
        Ok(result) => Value::object([
            ("jsonrpc", Value::from("2.0")),
            ("id", id),
            ("result", result),
        ]),
        Err(e) => error_reply(id, &e),
    })
}

/// Runs a method by name.
pub fn dispatch(method: &str, params: Option<&Value>) -> Result<Value, RpcError> {
    match method {
        "getversion" => {
            if !params_empty(params) {
                return Err(RpcError::new(
                    INVALID_PARAMS,
                    "Invalid params: getversion takes none",
                ));
            }
            Ok(Value::object([
                ("version", Value::from(env!("CARGO_PKG_VERSION"))),
                ("name", Value::from(SERVICE_NAME)),
            ]))
        }
        "getblockcount" | "getbestblockhash" | "getconnectioncount" if !params_empty(params) => {
            Err(RpcError::new(INVALID_PARAMS, "Invalid params: takes none"))
        }
        "getblockcount" => Ok(Value::from(1_i64)),
        "getbestblockhash" => Ok(Value::from(GENESIS_HASH)),
        "getconnectioncount" => Ok(Value::from(0_i64)),
        "getblockhash" => match params {
            Some(Value::Array(args)) if args.len() == 1 => match args[0].as_i64() {
                Some(0) => Ok(Value::from(GENESIS_HASH)),
                Some(_) => Err(RpcError::new(
                    INVALID_PARAMS,
                    "Invalid params: block index out of range",
                )),
                None => Err(RpcError::new(
                    INVALID_PARAMS,
                    "Invalid params: the block index must be an integer",
                )),
            },
            _ => Err(RpcError::new(
                INVALID_PARAMS,
                "Invalid params: getblockhash takes [index]",
            )),
        },
        _ => Err(RpcError::new(METHOD_NOT_FOUND, "Method not found")),
    }
}

fn params_empty(params: Option<&Value>) -> bool {
    match params {
        None => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

fn invalid_request() -> Value {
    error_reply(
        Value::Null,
        &RpcError::new(INVALID_REQUEST, "Invalid Request"),
    )
}

fn error_reply(id: Value, error: &RpcError) -> Value {
    Value::object([
        ("jsonrpc", Value::from("2.0")),
        ("id", id),
        ("error", error.to_value()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str) -> String {
        handle(body.as_bytes())
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    fn version_result(id: &str) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"result":{{"version":"{}","name":"example-service"}}}}"#,
            env!("CARGO_PKG_VERSION")
        )
    }

    #[test]
    fn node_methods_answer_like_a_fresh_node() {
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":1,"method":"getblockcount"}"#),
            r#"{"jsonrpc":"2.0","id":1,"result":1}"#
        );
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":[0]}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"result":"{GENESIS_HASH}"}}"#)
        );
        assert!(
            call(r#"{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":[5]}"#)
                .contains("out of range")
        );
        assert!(
            call(r#"{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":[1]}"#)
                .contains(&INVALID_PARAMS.to_string())
        );
    }

    #[test]
    fn getversion_with_various_ids() {
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":1,"method":"getversion"}"#),
            version_result("1")
        );
        assert_eq!(
            call(r#"{"method":"getversion","params":[],"id":"a\"b","jsonrpc":"2.0"}"#),
            version_result(r#""a\"b""#)
        );
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":null,"method":"getversion","params":{}}"#),
            version_result("null")
        );
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":-9007199254740993,"method":"getversion"}"#),
            version_result("-9007199254740993")
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":3,"method":"nosuch"}"#),
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}}"#
        );
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":3,"method":"getversion","params":[1]}"#),
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"Invalid params: getversion takes none"}}"#
        );
        let parse_error =
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#;
        assert_eq!(call(r#"{"jsonrpc":"2.0","#), parse_error);
        assert_eq!(call(""), parse_error);
        assert_eq!(handle(b"\xff\xfe").unwrap().to_string(), parse_error);

        let invalid =
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#;
        for body in [
            "42",
            r#""getversion""#,
            "[]",
            r#"{"jsonrpc":"2.0","id":{},"method":"getversion"}"#,
            r#"{"jsonrpc":"1.0","method":"getversion"}"#,
            r#"{"id":1,"method":"getversion"}"#,
        ] {
            let want = if body.contains(r#""id":1"#) {
                invalid.replace("null", "1")
            } else {
                invalid.to_string()
            };
            assert_eq!(call(body), want, "{body}");
        }
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":7,"method":5}"#),
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"Invalid Request"}}"#
        );
        assert_eq!(
            call(r#"{"jsonrpc":"2.0","id":7,"method":"getversion","params":"x"}"#),
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"Invalid Request"}}"#
        );
    }

    #[test]
    fn notifications_and_batches() {
        assert_eq!(call(r#"{"jsonrpc":"2.0","method":"nosuch"}"#), "");
        assert_eq!(
            call(r#"[{"jsonrpc":"2.0","method":"getversion"},{"jsonrpc":"2.0","method":"x"}]"#),
            ""
        );
        let reply = call(
            r#"[{"jsonrpc":"2.0","id":1,"method":"getversion"},{"jsonrpc":"2.0","method":"getversion"},1,{"jsonrpc":"2.0","id":2,"method":"x"}]"#,
        );
        assert_eq!(
            reply,
            format!(
                r#"[{},{},{}]"#,
                version_result("1"),
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#,
                r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found"}}"#
            )
        );
        let big = format!("[{}]", vec!["1"; MAX_BATCH + 1].join(","));
        assert!(call(&big).contains("batch too large"));
    }
}
