//! `example-service`: a small, dependency-free HTTP/1.1 + JSON-RPC 2.0
//! service. It is the example project that xtask's CI pipelines (format,
//! lint, test, docs, smoke test, database migrations, container image,
//! release packaging) run against.
//!
//! Endpoints (see [`handlers`]):
//!
//! | request              | response                                              |
//! |----------------------|-------------------------------------------------------|
//! | `GET /health`        | `200 {"status":"ok"}`                                 |
//! | `GET /health/deep`   | `200`/`503` with the PostgreSQL probe result          |
//! | `POST /rpc`          | JSON-RPC 2.0; method `getversion`                     |
//!
//! Parsing a request and answering it without a network:
//!
//! ```
//! use example_service::handlers::{router, AppState};
//! use example_service::http::parse_request;
//!
//! let raw = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
//! let request = parse_request(raw).expect("valid request");
//! let response = router().dispatch(&request, &AppState::default());
//!
//! assert_eq!(response.status, 200);
//! assert_eq!(response.body, br#"{"status":"ok"}"#);
//! ```
//!
//! Running the server (see [`server::Server`]):
//!
//! ```no_run
//! use example_service::{handlers::AppState, server::Server};
//!
//! let server = Server::bind("127.0.0.1:8080", AppState::from_env())?;
//! println!("listening on http://{}", server.local_addr());
//! server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod handlers;
pub mod http;
pub mod json;
pub mod pg;
pub mod response;
pub mod router;
pub mod rpc;
pub mod server;
pub mod signal;
pub mod time;

pub use http::{parse_request, ParseError, Request};
pub use json::Value;
pub use response::Response;
pub use server::Server;

/// The crate version (`CARGO_PKG_VERSION`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
