//! The engine's HTTP API on its local socket, for what the client answers slowly: `docker stats
//! --no-stream` waits for two of the engine's once-a-second samples, about 1.5 s per call. Two
//! one-shot reads of the same endpoint give the same figures in about 1 s: the engine answers the
//! first at once (memory, processes) and the second at its next sample (CPU use is the
//! difference).
//!
//! Used only where the `docker` client would talk to that same socket: the default client (no
//! `XTASK_DOCKER`), no `DOCKER_HOST` other than `unix://…`, and the default context. Anywhere
//! else, or when the socket does not answer as expected, the caller uses the client.
//!
//! Faster still where the container's main process is one this process can see: its cgroup's
//! counters read directly ([`super::cgroup`]), CPU over [`CPU_WINDOW`], no sample to wait for.
//!
//! Image lookups ([`image`]) and container removal ([`remove_container`]) go here too: the
//! client asks these same endpoints, but starting it costs 10-40 ms each time, and a build looks
//! up every tag before and after it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// Where the engine listens by default.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The least time between the two reads CPU use is measured over (an engine that answers both
/// at once would otherwise measure nothing).
const CPU_WINDOW: Duration = Duration::from_millis(250);
const IO_LIMIT: Duration = Duration::from_secs(10);

/// The socket the default client would use, given the job's environment; `None` when it would
/// use something else (another host, another context) or there is no socket.
pub fn local_socket(env_var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |k: &str| env_var(k).filter(|v| !v.trim().is_empty());
    if set("DOCKER_CONTEXT").is_some_and(|c| c != "default") {
        return None;
    }
    let socket = match set("DOCKER_HOST") {
        Some(host) => PathBuf::from(host.strip_prefix("unix://")?),
        None => {
            if current_context(&env_var).is_some_and(|c| c != "default") {
                return None;
            }
            PathBuf::from(DEFAULT_SOCKET)
        }
    };
    socket.exists().then_some(socket)
}

/// The client configuration's `currentContext`, if any.
fn current_context(env_var: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let dir = env_var("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env_var("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: Value = serde_json::from_str(&text).ok()?;
    config
        .get("currentContext")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Figures as `docker stats` computes them.
#[derive(Debug, PartialEq)]
pub struct Stats {
    pub memory_bytes: f64,
    pub memory_limit_bytes: f64,
    pub cpu_percent: f64,
    pub pids: Option<i64>,
}

/// Where a container's figures were read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    /// Its cgroup's counters, read directly.
    Cgroup,
    /// The engine's API.
    Engine,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Cgroup => "cgroup",
            Source::Engine => "engine",
        }
    }
}

/// The container's stats: from its cgroup where this process can read it (see
/// [`super::cgroup`]), else one one-shot read of the API, another one at least [`CPU_WINDOW`]
/// later, CPU use from the difference. `None` where the socket did not answer as the API does.
pub fn stats(socket: &std::path::Path, container: &str) -> Option<(Stats, Source)> {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if container.is_empty() || !container.chars().all(safe) {
        return None;
    }
    // An inspect that fails only rules out the cgroup: the stats endpoint may still answer.
    let state = get(socket, &format!("/containers/{container}/json")).unwrap_or_default();
    if let (Some(id), Some(pid)) = (
        state.get("Id").and_then(Value::as_str),
        state.pointer("/State/Pid").and_then(Value::as_i64),
    ) {
        let found = super::cgroup::Counters::find(std::path::Path::new("/"), pid, id);
        if let Some(stats) = found.and_then(|c| c.stats(CPU_WINDOW)) {
            return Some((stats, Source::Cgroup));
        }
    }
    engine_stats(socket, container).map(|s| (s, Source::Engine))
}

/// The stats as the engine's API gives them.
fn engine_stats(socket: &std::path::Path, container: &str) -> Option<Stats> {
    let path = format!("/containers/{container}/stats?stream=false&one-shot=true");
    let first = get(socket, &path)?;
    // An engine older than one-shot (API 1.41) samples twice itself and says so in precpu.
    if cpu_totals(first.get("precpu_stats")?).is_some_and(|(_, system)| system > 0.0) {
        return figures(&first, first.get("precpu_stats")?);
    }
    std::thread::sleep(CPU_WINDOW);
    let second = get(socket, &path)?;
    figures(&second, first.get("cpu_stats")?)
}

/// What the engine says of an image name.
#[derive(Debug, PartialEq)]
pub struct Image {
    /// `sha256:…`.
    pub id: String,
    /// How many tags name it.
    pub tags: usize,
    /// Bytes, as `docker image inspect --format {{.Size}}` prints them.
    pub size: i64,
}

/// The image `name` (a tag, an id) names: `Some(None)` when the engine has none of that name,
/// `None` when the socket did not answer as the API does (ask the client instead).
pub fn image(socket: &std::path::Path, name: &str) -> Option<Option<Image>> {
    if name.is_empty() || name.starts_with('-') {
        return None;
    }
    let (status, body) = request(
        socket,
        "GET",
        &format!("/images/{}/json", encode(name)),
        IO_LIMIT,
    )?;
    match status {
        404 => Some(None),
        200 => {
            let json: Value = serde_json::from_str(&body).ok()?;
            Some(Some(Image {
                id: json.get("Id")?.as_str()?.to_string(),
                tags: json
                    .get("RepoTags")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len),
                size: json.get("Size")?.as_i64()?,
            }))
        }
        _ => None,
    }
}

/// An image reference as a path segment: its own characters (`registry:5000/org/img:tag`,
/// `img@sha256:…`) as they are, anything else percent-encoded.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b':' | b'/' | b'@' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Removes the container `name` as `docker rm --force --volumes` does (killing it if it still
/// runs): `Some(true)` when removed, `Some(false)` when the engine has no such container, `None`
/// when the socket did not answer as the API does (ask the client instead).
pub fn remove_container(socket: &std::path::Path, name: &str, limit: Duration) -> Option<bool> {
    if name.is_empty() || name.starts_with('-') {
        return None;
    }
    let path = format!("/containers/{}?force=1&v=1", encode(name));
    match request(socket, "DELETE", &path, limit)?.0 {
        204 | 200 => Some(true),
        404 => Some(false),
        _ => None,
    }
}

/// `GET path` on the socket: the body of a 200 answer, as JSON.
fn get(socket: &std::path::Path, path: &str) -> Option<Value> {
    match request(socket, "GET", path, IO_LIMIT)? {
        (200, body) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// `method path` on the socket: the answer's status and body.
fn request(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    limit: Duration,
) -> Option<(u16, String)> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(limit)).ok()?;
    stream.set_write_timeout(Some(limit)).ok()?;
    // HTTP/1.0: the engine answers with the whole body and closes, no chunked encoding.
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: docker\r\n\r\n").ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8(answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((status, body.to_string()))
}

/// `(container CPU, system CPU)` in nanoseconds from a `cpu_stats`-shaped object.
fn cpu_totals(cpu: &Value) -> Option<(f64, f64)> {
    let total = cpu.pointer("/cpu_usage/total_usage")?.as_f64()?;
    let system = cpu.get("system_cpu_usage").and_then(Value::as_f64)?;
    Some((total, system))
}

/// A container's counters at one moment, as the engine's stats carry them (bytes, nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub memory: f64,
    /// The inactive file cache, which the client leaves out of the memory in use.
    pub inactive_file: f64,
    pub memory_limit: f64,
    /// CPU time the container used, and the whole system's time, since boot.
    pub cpu: f64,
    pub system: f64,
    pub online_cpus: f64,
    pub pids: Option<i64>,
}

impl Sample {
    /// The figures at this sample, CPU use since `before` (its `(cpu, system)`), as the docker
    /// client computes them: memory without the inactive file cache, CPU as a share of the
    /// system's time times the online CPUs.
    pub fn since(&self, before: (f64, f64)) -> Stats {
        let inactive = match self.inactive_file < self.memory {
            true => self.inactive_file,
            false => 0.0,
        };
        let (cpu_delta, system_delta) = (self.cpu - before.0, self.system - before.1);
        let cpu_percent = if cpu_delta > 0.0 && system_delta > 0.0 {
            // To two decimals, as the client prints it.
            (cpu_delta / system_delta * self.online_cpus * 10_000.0).round() / 100.0
        } else {
            0.0
        };
        Stats {
            memory_bytes: self.memory - inactive,
            memory_limit_bytes: self.memory_limit,
            cpu_percent,
            pids: self.pids,
        }
    }
}

/// [`Sample::since`] of the API's `now`, `before` being a `cpu_stats`-shaped object.
fn figures(now: &Value, before: &Value) -> Option<Stats> {
    let memory = now.get("memory_stats")?;
    let usage = memory.get("usage")?.as_f64()?;
    let counter = |k: &str| {
        memory
            .pointer(&format!("/stats/{k}"))
            .and_then(Value::as_f64)
    };
    let cpu = now.get("cpu_stats")?;
    let (total, system) = cpu_totals(cpu)?;
    let sample = Sample {
        memory: usage,
        // cgroup v1 reports total_inactive_file, v2 inactive_file.
        inactive_file: counter("total_inactive_file")
            .or_else(|| counter("inactive_file"))
            .unwrap_or(0.0),
        memory_limit: memory.get("limit")?.as_f64()?,
        cpu: total,
        system,
        online_cpus: match cpu.get("online_cpus").and_then(Value::as_f64) {
            Some(n) if n > 0.0 => n,
            _ => cpu
                .pointer("/cpu_usage/percpu_usage")
                .and_then(Value::as_array)
                .map_or(0.0, |a| a.len() as f64),
        },
        pids: now.pointer("/pids_stats/current").and_then(Value::as_i64),
    };
    Some(sample.since(cpu_totals(before).unwrap_or((0.0, 0.0))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_names_keep_their_own_characters_in_the_path() {
        assert_eq!(
            encode("registry:5000/org/img:v1.2-rc_1"),
            "registry:5000/org/img:v1.2-rc_1"
        );
        assert_eq!(encode("img@sha256:ab"), "img@sha256:ab");
        assert_eq!(encode("a b?#%"), "a%20b%3F%23%25");
    }

    #[test]
    fn figures_are_computed_as_the_docker_client_does() {
        let before =
            json!({ "cpu_usage": { "total_usage": 1_000_000 }, "system_cpu_usage": 10_000_000 });
        // Rounded to two decimals as the client prints it: a third of a CPU is 33.33 %.
        let third = json!({
            "memory_stats": { "usage": 1, "limit": 2 },
            "cpu_stats": { "cpu_usage": { "total_usage": 2_000_000 },
                           "system_cpu_usage": 13_000_000, "online_cpus": 1 },
        });
        assert_eq!(figures(&third, &before).unwrap().cpu_percent, 33.33);
        let now = json!({
            "memory_stats": { "usage": 8_388_608, "limit": 536_870_912,
                              "stats": { "inactive_file": 1_048_576 } },
            "cpu_stats": { "cpu_usage": { "total_usage": 1_500_000 },
                           "system_cpu_usage": 12_000_000, "online_cpus": 2 },
            "pids_stats": { "current": 3 },
        });
        assert_eq!(
            figures(&now, &before),
            Some(Stats {
                memory_bytes: 7_340_032.0,
                memory_limit_bytes: 536_870_912.0,
                cpu_percent: 50.0,
                pids: Some(3),
            })
        );
        // cgroup v1's counter, per-CPU list instead of online_cpus, no CPU used.
        let v1 = json!({
            "memory_stats": { "usage": 4096, "limit": 8192, "stats": { "total_inactive_file": 5000 } },
            "cpu_stats": { "cpu_usage": { "total_usage": 1_000_000, "percpu_usage": [1, 2, 3, 4] },
                           "system_cpu_usage": 12_000_000 },
        });
        let stats = figures(&v1, &before).unwrap();
        assert_eq!(
            (stats.memory_bytes, stats.cpu_percent, stats.pids),
            (4096.0, 0.0, None)
        );
    }

    #[test]
    fn only_the_socket_the_default_client_would_use() {
        let dir = std::env::temp_dir().join(format!("xtask-api-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("cfg")).unwrap();
        let socket = dir.join("engine.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let host = format!("unix://{}", socket.display());
        let cfg = dir.join("cfg").display().to_string();
        let env = |pairs: Vec<(&'static str, String)>| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        assert_eq!(
            local_socket(env(vec![("DOCKER_HOST", host.clone())])),
            Some(socket.clone())
        );
        assert_eq!(
            local_socket(env(vec![("DOCKER_HOST", "tcp://127.0.0.1:2375".into())])),
            None
        );
        assert_eq!(
            local_socket(env(vec![
                ("DOCKER_HOST", host.clone()),
                ("DOCKER_CONTEXT", "remote".into())
            ])),
            None
        );
        std::fs::write(
            dir.join("cfg/config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .unwrap();
        assert_eq!(
            local_socket(env(vec![("DOCKER_CONFIG", cfg.clone())])),
            None
        );
        let missing = dir.join("none.sock").display().to_string();
        assert_eq!(
            local_socket(env(vec![("DOCKER_HOST", format!("unix://{missing}"))])),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
