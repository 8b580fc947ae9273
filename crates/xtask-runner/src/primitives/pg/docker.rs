//! The docker backend: a throwaway server from a PostgreSQL image that is already present
//! (`postgres:<major>` unless told otherwise; it is never pulled), on the host network bound to
//! 127.0.0.1 on a free port, trust auth, the same speed settings as native clusters. The
//! container is removed (`docker rm -f -v`) when its owner drops it.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::error::DockerError;
use super::{client, cluster, Ctx};
use crate::cancel::CancelToken;
use crate::process::{self, Spec};

const START_LIMIT: Duration = Duration::from_secs(120);

pub struct Container {
    docker: String,
    pub id: String,
    pub port: u16,
    pub start: Duration,
}

impl Drop for Container {
    fn drop(&mut self) {
        // Cleanup runs even when the job was cancelled: not under its token.
        let rm = Spec {
            argv: [self.docker.as_str(), "rm", "-f", "-v", &self.id]
                .map(String::from)
                .to_vec(),
            ..Spec::default()
        };
        let _ = rm.output(&CancelToken::new());
    }
}

pub fn default_image(major: u32) -> String {
    format!("postgres:{major}")
}

/// Whether a docker engine answers and has `image` locally.
pub fn has_image(ctx: &Ctx, image: &str) -> bool {
    docker(ctx).is_some_and(|d| {
        let inspect = Spec {
            argv: [d.as_str(), "image", "inspect", "--format", "{{.Id}}", image]
                .map(String::from)
                .to_vec(),
            env: ctx.env.clone(),
            ..Spec::default()
        };
        inspect.output(&ctx.token).is_ok_and(|a| a.success())
    })
}

fn docker(ctx: &Ctx) -> Option<String> {
    let path = ctx.env_var("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("docker"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

pub fn start(image: &str, options: &cluster::Options, ctx: &Ctx) -> Result<Container, DockerError> {
    let docker = docker(ctx).ok_or(DockerError::NoDocker)?;
    if !has_image(ctx, image) {
        return Err(DockerError::NoImage {
            image: image.into(),
        });
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(DockerError::NoFreePort)?
        .port();
    let mut argv: Vec<String> = [
        docker.as_str(),
        "run",
        "-d",
        "--rm",
        "--network",
        "host",
        "-e",
        "POSTGRES_HOST_AUTH_METHOD=trust",
        "-e",
        "POSTGRES_USER=postgres",
        "-e",
        "TZ=UTC",
        "--label",
        "xtask.pg=throwaway",
        image,
        "postgres",
        "-c",
        "listen_addresses=127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(["-c".into(), format!("port={port}")]);
    for setting in [
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
    ] {
        argv.extend(["-c".into(), setting.into()]);
    }
    for (k, v) in &options.settings {
        argv.extend(["-c".into(), format!("{k}={v}")]);
    }
    let spec = Spec {
        argv,
        env: ctx.env.clone(),
        capture_stdout: true,
        ..Spec::default()
    };
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink: process::Sink = {
        let errors = Arc::clone(&errors);
        Arc::new(move |b: Vec<u8>| errors.lock().unwrap().extend(b))
    };
    let started = Instant::now();
    let finished =
        process::execute(&spec, &ctx.token, sink).map_err(|e| DockerError::Spawn(e.to_string()))?;
    let id = String::from_utf8_lossy(&finished.stdout).trim().to_string();
    if !finished.success() || id.is_empty() {
        return Err(DockerError::RunFailed {
            image: image.into(),
            stderr: String::from_utf8_lossy(&errors.lock().unwrap())
                .trim()
                .to_string(),
        });
    }
    let mut container = Container {
        docker,
        id,
        port,
        start: Duration::ZERO,
    };
    // The image's entrypoint runs initdb and a socket-only server first; TCP answers only
    // once the real server is up.
    while !client::ping(port) {
        if ctx.token.is_cancelled() {
            return Err(DockerError::Stopped);
        }
        if started.elapsed() > START_LIMIT {
            return Err(DockerError::NotAccepting {
                id: container.id.clone(),
                secs: START_LIMIT.as_secs(),
            });
        }
        thread::sleep(Duration::from_millis(50));
    }
    container.start = started.elapsed();
    Ok(container)
}
