//! Exact-path request routing with `404`/`405` handling.
//!
//! ```
//! use example_service::http::Request;
//! use example_service::response::Response;
//! use example_service::router::Router;
//!
//! fn hello(_req: &Request, greeting: &String) -> Response {
//!     Response::new(200).with_body(greeting.clone())
//! }
//!
//! let router = Router::new().route("GET", "/hello", hello);
//! let state = String::from("hi");
//!
//! assert_eq!(router.dispatch(&Request::new("GET", "/hello?x=1"), &state).body, b"hi");
//! assert_eq!(router.dispatch(&Request::new("HEAD", "/hello"), &state).status, 200);
//! assert_eq!(router.dispatch(&Request::new("POST", "/hello"), &state).status, 405);
//! assert_eq!(router.dispatch(&Request::new("GET", "/nope"), &state).status, 404);
//! ```

use crate::http::Request;
use crate::response::Response;

/// A request handler with shared state `S`.
pub type Handler<S> = fn(&Request, &S) -> Response;

struct Route<S> {
    method: &'static str,
    path: &'static str,
    handler: Handler<S>,
}

/// Result of looking up a method and path.
pub enum Match<S> {
    /// A handler for the request.
    Found(Handler<S>),
    /// The path exists but not for this method; the allowed methods.
    MethodNotAllowed(Vec<&'static str>),
    /// No route has this path.
    NotFound,
}

/// A table of `(method, path) → handler` routes. Paths match exactly (the
/// query string is not part of the path); `HEAD` is served by the `GET`
/// handler.
pub struct Router<S> {
    routes: Vec<Route<S>>,
}

impl<S> Default for Router<S> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<S> Router<S> {
    /// An empty router.
    pub fn new() -> Router<S> {
        Router::default()
    }

    /// Adds a route (builder style).
    pub fn route(
        mut self,
        method: &'static str,
        path: &'static str,
        handler: Handler<S>,
    ) -> Router<S> {
        self.routes.push(Route {
            method,
            path,
            handler,
        });
        self
    }

    /// Looks up the handler for `method` and `path`.
    pub fn find(&self, method: &str, path: &str) -> Match<S> {
        let mut allowed = Vec::new();
        let mut get = None;
        for route in self.routes.iter().filter(|r| r.path == path) {
            if route.method == method {
                return Match::Found(route.handler);
            }
            if route.method == "GET" {
                get = Some(route.handler);
            }
            allowed.push(route.method);
        }
        match get {
            Some(handler) if method == "HEAD" => Match::Found(handler),
            _ if allowed.is_empty() => Match::NotFound,
            _ => {
                if get.is_some() && !allowed.contains(&"HEAD") {
                    allowed.push("HEAD");
                }
                Match::MethodNotAllowed(allowed)
            }
        }
    }

    /// Runs the matching handler, or answers `404 Not Found` /
    /// `405 Method Not Allowed` (with an `Allow` header).
    pub fn dispatch(&self, req: &Request, state: &S) -> Response {
        match self.find(&req.method, &req.path) {
            Match::Found(handler) => handler(req, state),
            Match::MethodNotAllowed(allowed) => {
                Response::error(405, "method not allowed").with_header("Allow", &allowed.join(", "))
            }
            Match::NotFound => Response::error(404, "not found"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(_: &Request, _: &()) -> Response {
        Response::new(200).with_body("a")
    }

    fn b(_: &Request, _: &()) -> Response {
        Response::new(201).with_body("b")
    }

    fn router() -> Router<()> {
        Router::new()
            .route("GET", "/x", a)
            .route("POST", "/x", b)
            .route("POST", "/rpc", b)
    }

    #[test]
    fn exact_matches() {
        let r = router();
        assert_eq!(r.dispatch(&Request::new("GET", "/x"), &()).body, b"a");
        assert_eq!(r.dispatch(&Request::new("POST", "/x"), &()).status, 201);
        assert_eq!(r.dispatch(&Request::new("HEAD", "/x"), &()).status, 200);
    }

    #[test]
    fn not_found_is_exact() {
        let r = router();
        for p in ["/", "/x/", "/X", "/xx", "*"] {
            assert_eq!(r.dispatch(&Request::new("GET", p), &()).status, 404, "{p}");
        }
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        let r = router();
        let resp = r.dispatch(&Request::new("DELETE", "/x"), &());
        assert_eq!(resp.status, 405);
        assert_eq!(resp.header("allow"), Some("GET, POST, HEAD"));
        let resp = r.dispatch(&Request::new("GET", "/rpc"), &());
        assert_eq!(resp.status, 405);
        assert_eq!(resp.header("Allow"), Some("POST"));
        // HEAD is only implied by GET.
        assert_eq!(r.dispatch(&Request::new("HEAD", "/rpc"), &()).status, 405);
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(
            router().dispatch(&Request::new("get", "/x"), &()).status,
            405
        );
    }
}
