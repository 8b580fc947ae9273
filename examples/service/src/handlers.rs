//! The service's endpoints and the state they share.

use std::time::Duration;

use crate::http::Request;
use crate::json::Value;
use crate::pg;
use crate::response::Response;
use crate::router::Router;
use crate::rpc;

/// How long `/health/deep` waits for the database by default.
pub const DEFAULT_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// State shared by all handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppState {
    /// `DATABASE_URL` to probe in `/health/deep`, if configured.
    pub database_url: Option<String>,
    /// Deadline for the database probe.
    pub db_timeout: Duration,
}

impl AppState {
    /// State with the given database URL (an empty string counts as none)
    /// and the default probe timeout.
    pub fn new(database_url: Option<String>) -> AppState {
        AppState {
            database_url: database_url.filter(|u| !u.trim().is_empty()),
            db_timeout: DEFAULT_DB_TIMEOUT,
        }
    }

    /// State from the `DATABASE_URL` environment variable.
    pub fn from_env() -> AppState {
        AppState::new(std::env::var("DATABASE_URL").ok())
    }
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new(None)
    }
}

/// The service's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("GET", "/health", health)
        .route("GET", "/health/deep", health_deep)
        .route("POST", "/rpc", rpc)
}

/// `GET /health`: the process is up. Always `200 {"status":"ok"}`.
pub fn health(_req: &Request, _state: &AppState) -> Response {
    Response::json(200, &Value::object([("status", Value::from("ok"))]))
}

/// `GET /health/deep`: the process is up and its database answers.
///
/// * no `DATABASE_URL`: `200 {"status":"ok","database":"not configured"}`
/// * database answers the `SSLRequest`: `200 {"status":"ok","database":"ok"}`
/// * otherwise: `503 {"status":"degraded","database":"<error>"}`
pub fn health_deep(_req: &Request, state: &AppState) -> Response {
    let (status, overall, database) = match &state.database_url {
        None => (200, "ok", "not configured".to_string()),
        Some(url) => match pg::check(url, state.db_timeout) {
            Ok(_) => (200, "ok", "ok".to_string()),
            Err(e) => (503, "degraded", e.to_string()),
        },
    };
    Response::json(
        status,
        &Value::object([
            ("status", Value::from(overall)),
            ("database", Value::from(database)),
        ]),
    )
}

/// `POST /rpc`: JSON-RPC 2.0. Replies `200` with the JSON-RPC response
/// (errors included), or `204` when the request held only notifications.
pub fn rpc(req: &Request, _state: &AppState) -> Response {
    match rpc::handle(&req.body) {
        Some(reply) => Response::json(200, &reply),
        None => Response::new(204),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, state: &AppState) -> Response {
        router().dispatch(&Request::new("GET", path), state)
    }

    #[test]
    fn health_is_ok() {
        let r = get("/health", &AppState::default());
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (200, r#"{"status":"ok"}"#)
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }

    #[test]
    fn deep_health_without_database() {
        let r = get("/health/deep", &AppState::new(Some("  ".into())));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body_text(),
            r#"{"status":"ok","database":"not configured"}"#
        );
    }

    #[test]
    fn deep_health_with_bad_url() {
        let r = get("/health/deep", &AppState::new(Some("mysql://x/y".into())));
        assert_eq!(r.status, 503);
        assert_eq!(
            r.body_text(),
            r#"{"status":"degraded","database":"invalid DATABASE_URL: scheme must be postgres:// or postgresql://"}"#
        );
    }

    #[test]
    fn rpc_endpoint() {
        let req =
            Request::new("POST", "/rpc").with_body(r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#);
        let r = router().dispatch(&req, &AppState::default());
        assert_eq!(r.status, 200);
        assert!(r.body_text().contains("-32601"));
        let req = Request::new("POST", "/rpc").with_body(r#"{"jsonrpc":"2.0","method":"x"}"#);
        assert_eq!(router().dispatch(&req, &AppState::default()).status, 204);
    }
}
