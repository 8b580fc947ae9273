//! `docker::run`: a container for functional tests. It runs as `docker run` in the foreground
//! under `service::start`, so readiness, log capture, the exit-before-ready check and the stop
//! at the job's end (SIGTERM, which the client passes to the container) are the service's.
//! A native cleanup then `docker rm -f`s it by name, whatever happened to the client.
//! Also `docker::inspect`, `docker::remove_image` and the handle's `stats()`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::error::DockerError;
use super::{api, api_socket, client, engine, quick};
use crate::cancel::CancelToken;
use crate::events::Level;
use crate::primitives::error::IntoScript as _;
use crate::primitives::options::{self, option_type, options, result, script_type};
use crate::primitives::options::{Duration as OptDuration, Strings, Vars};
use crate::primitives::service::ReadyMap;
use crate::primitives::service::{self, Service};
use crate::primitives::{at_call_site, error, Result};
use crate::script::{context, Mode};

option_type! {
    /// A size like `"512m"`, or a number of MB.
    Memory(String) as "string or int", |value| {
        match value.as_int() {
            Ok(mb) if mb > 0 => Ok(format!("{mb}m")),
            _ if value.is_string() => Ok(value.to_string()),
            _ => Err(format!("is a size like \"512m\" or a number of MB, not {}", script_type(&value))),
        }
    }
}

option_type! {
    /// A number of CPUs, like 1 or 0.5.
    Cpus(String) as "number", |value| {
        if let Ok(n) = value.as_int() {
            Ok(n.to_string())
        } else if let Ok(f) = value.as_float() {
            Ok(f.to_string())
        } else if value.is_string() {
            Ok(value.to_string())
        } else {
            Err(format!("is a number of CPUs, like 1 or 0.5, not {}", script_type(&value)))
        }
    }
}

options! {
    /// Options of `docker::run`.
    pub struct DockerRunOptions for "docker::run" {
        /// Arguments for the image's entry point.
        args: Strings,
        /// Variables for the container; the values reach it through the client's environment,
        /// never its command line.
        env: Vars,
        /// `--network` (e.g. `host`).
        network: Option<String>,
        /// `--memory`: a size like `"512m"` or a number of MB.
        memory: Option<Memory>,
        /// `--cpus`: a number of CPUs, like 1 or 0.5.
        cpus: Option<Cpus>,
        /// Removes the container when the job ends (`false` keeps it).
        rm: bool = true,
        /// When the container counts as ready, as for `service::start`.
        ready: Option<ReadyMap>,
        /// The container's name (letters, digits, `_`, `.`, `-`; default a unique one).
        name: Option<String>,
        /// How long to wait for readiness.
        timeout: Option<OptDuration> = None => "\"60s\"",
        /// `--user`.
        user: Option<String>,
        /// More `docker run` arguments, before the image.
        docker_args: Strings,
        /// `--pull`: `never` (a test runs the image just built), `missing` or `always`.
        pull: String = "never".into() => "\"never\"",
        /// How long `stop()` waits after SIGTERM before SIGKILL.
        stop_timeout: Option<OptDuration> = None => "\"5s\"",
        /// Lines of its log shown when the job fails (0 hides it).
        log_tail: Option<i64> = None => "30",
    }
}
/// `docker rm -f` in cleanup: long enough for a slow engine, bounded for a stuck one.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(60);

pub fn register(module: &mut Module) {
    FuncRegistration::new("run").set_into_module(module, |ctx: NativeCallContext, image: &str| {
        at_call_site(&ctx, run(image, Map::new()))
    });
    FuncRegistration::new("run").set_into_module(
        module,
        |ctx: NativeCallContext, image: &str, options: Map| at_call_site(&ctx, run(image, options)),
    );
    FuncRegistration::new("inspect")
        .set_into_module(module, |ctx: NativeCallContext, what: &str| {
            inspect(what).script_at(&ctx)
        });
    FuncRegistration::new("remove_image")
        .set_into_module(module, |ctx: NativeCallContext, image: &str| {
            remove_image(image).script_at(&ctx)
        });
}

pub fn register_type(engine: &mut Engine) {
    engine.register_type_with_name::<Container>("Container");
    engine.register_get("name", |c: &mut Container| c.name.clone());
    engine.register_get("image", |c: &mut Container| c.image.clone());
    engine.register_get("running", |c: &mut Container| c.service.is_running());
    engine.register_fn("log", |c: &mut Container| c.service.log_text());
    engine.register_fn("stop", |c: &mut Container| {
        c.service.stop();
    });
    engine.register_fn("stats", |ctx: NativeCallContext, c: &mut Container| {
        at_call_site(&ctx, c.stats())
    });
    engine.register_fn("inspect", |ctx: NativeCallContext, c: &mut Container| {
        inspect(&c.name).script_at(&ctx)
    });
    engine.register_fn("to_string", |c: &mut Container| c.describe());
    engine.register_fn("to_debug", |c: &mut Container| c.describe());
}

result! {
    /// What a container handle's `stats()` returns; a figure docker did not give is `()`.
    pub struct StatsResult {
        /// Memory used, in MiB.
        memory_mib: Option<f64> as "float",
        /// The memory limit, in MiB.
        memory_limit_mib: Option<f64> as "float",
        /// CPU use in percent of one core.
        cpu_percent: Option<f64> as "float",
        /// Processes in the container.
        pids: Option<i64> as "int",
        /// Where the figures were read: `"cgroup"` (the container's cgroup counters, CPU use
        /// over a quarter second), `"engine"` (the engine's API, CPU use between its
        /// once-a-second samples) or `"client"` (`docker stats --no-stream`).
        source: String as "string",
    }
}

#[derive(Clone)]
pub struct Container {
    name: String,
    image: String,
    program: String,
    service: Service,
}

impl Container {
    fn describe(&self) -> String {
        format!("container `{}` ({})", self.name, self.image)
    }

    /// Memory in MiB, its limit, CPU percent, processes: where the default client would use the
    /// engine's local socket, from the container's cgroup when this process can see its main
    /// process (a quarter second), else from the engine's API (about 1 s instead of the
    /// client's 1.5 s); elsewhere `docker stats --no-stream`.
    fn stats(&self) -> Result<Map> {
        let caps = engine().script()?;
        let in_mib = |bytes: f64| bytes / (1024.0 * 1024.0);
        if let Some((stats, source)) =
            api_socket(caps.explicit).and_then(|socket| api::stats(&socket, &self.name))
        {
            return Ok(options::to_map(&StatsResult {
                memory_mib: Some(in_mib(stats.memory_bytes)),
                memory_limit_mib: Some(in_mib(stats.memory_limit_bytes)),
                cpu_percent: Some(stats.cpu_percent),
                pids: stats.pids,
                source: source.name().to_string(),
            }));
        }
        let out = quick(
            &caps,
            &["stats", "--no-stream", "--format", "{{json .}}", &self.name],
        )
        .script()?;
        let json: serde_json::Value = serde_json::from_str(out.trim())
            .map_err(|source| DockerError::StatsNotJson {
                output: out.clone(),
                source,
            })
            .script()?;
        let field = |k: &str| {
            json.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let usage = field("MemUsage");
        let (used, limit) = usage.split_once('/').unwrap_or((&usage, ""));
        // MiB, the unit of `--memory 512m`.
        let mib = |text: &str| parse_size(text).map(|b| b / (1024.0 * 1024.0));
        Ok(options::to_map(&StatsResult {
            memory_mib: mib(used),
            memory_limit_mib: mib(limit),
            cpu_percent: field("CPUPerc").trim_end_matches('%').parse().ok(),
            pids: field("PIDs").parse().ok(),
            source: "client".to_string(),
        }))
    }
}

/// `1.5MiB`, `512MiB`, `2GB`, `0B` → bytes.
pub fn parse_size(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "B" | "" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(number * factor)
}

/// A container name nothing else in this run (or another run) takes.
fn unique_name(image: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = image
        .rsplit('/')
        .next()
        .unwrap_or(image)
        .split([':', '@'])
        .next()
        .unwrap_or("image");
    let base = super::tags::sanitize(base);
    format!(
        "xtask-{base}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The `docker run` argv (without the client) for these options; env values stay out of it
/// (`-e NAME`, the value in the client's environment) so they never show in a command line.
/// (The table test's entry: options as a script writes them.)
#[cfg(test)]
pub fn run_argv(image: &str, name: &str, options: &Map) -> Result<(Vec<String>, Map)> {
    run_argv_with(image, name, &options::parse(options)?)
}

fn run_argv_with(
    image: &str,
    name: &str,
    options: &DockerRunOptions,
) -> Result<(Vec<String>, Map)> {
    let mut argv: Vec<String> = vec!["run".into(), "--name".into(), name.into()];
    argv.extend(["--label".into(), "dev.xtask.run=1".into()]);
    let pull = options.pull.clone();
    if !["never", "missing", "always"].contains(&pull.as_str()) {
        return error(format!(
            "option `pull` is never, missing or always, not `{pull}`"
        ));
    }
    argv.extend(["--pull".into(), pull]);
    if let Some(network) = &options.network {
        argv.extend(["--network".into(), network.clone()]);
    }
    if let Some(Memory(memory)) = &options.memory {
        argv.extend(["--memory".into(), memory.clone()]);
    }
    if let Some(Cpus(cpus)) = &options.cpus {
        argv.extend(["--cpus".into(), cpus.clone()]);
    }
    if let Some(user) = &options.user {
        argv.extend(["--user".into(), user.clone()]);
    }
    // The variables the client passes through by name: the keys are the user's.
    let mut client_env = Map::new();
    for (key, value) in &options.env.0 {
        argv.extend(["--env".into(), key.clone()]);
        let value = value.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT);
        client_env.insert(key.into(), value);
    }
    argv.extend(options.docker_args.0.iter().cloned());
    argv.push(image.into());
    argv.extend(options.args.0.iter().cloned());
    Ok((argv, client_env))
}

fn run(image: &str, options: Map) -> Result<Container> {
    let options: DockerRunOptions = options::parse(&options)?;
    if image.trim().is_empty() {
        return error("docker::run needs an image");
    }
    let name = match options.name.clone() {
        Some(name) if valid_name(&name) => name,
        Some(name) => {
            return error(format!(
                "container name `{name}` may only have letters, digits, `_`, `.` and `-`"
            ))
        }
        None => unique_name(image),
    };
    let (args, _) = run_argv_with(image, &name, &options)?;
    let keep = !options.rm;
    let scope = context::current();
    let program = if scope.host.mode == Mode::Plan {
        client::configured(|k| scope.env_var(k)).0
    } else {
        engine().script()?.program
    };
    super::super::implied::docker_image(&program, image);

    // Removal by name once the client is gone (cleanups run last-registered first, and the
    // service registers its stop below): also when the client was killed before the container
    // stopped, or the job was interrupted.
    if scope.host.mode != Mode::Plan {
        let bus = scope.host.bus.clone();
        let job = scope.job;
        let program = program.clone();
        let name = name.clone();
        let env = scope.env_changes();
        // The engine's API where the default client would use its local socket: no client to
        // start (10-40 ms) at every job's end.
        let socket = api_socket(client::configured(|k| scope.env_var(k)).1);
        scope.on_exit(move || {
            if keep {
                bus.message(
                    job,
                    Level::Info,
                    format!(
                        "kept container `{name}` (rm: false); remove it with `docker rm -f {name}`"
                    ),
                );
                return;
            }
            // Removed, or already gone: either way nothing is left. `None` is a socket that did
            // not answer as the API does, and the client gets its turn.
            if socket
                .as_deref()
                .and_then(|socket| api::remove_container(socket, &name, REMOVE_TIMEOUT))
                .is_some()
            {
                return;
            }
            // The job's token may be cancelled by now: removal gets its own.
            let argv = [
                program.as_str(),
                "rm",
                "--force",
                "--volumes",
                name.as_str(),
            ];
            match client::output_with(&argv, &env, &CancelToken::new(), REMOVE_TIMEOUT) {
                Ok(out) if out.ok || out.stderr.contains("No such container") => {}
                Ok(out) => bus.message(
                    job,
                    Level::Warn,
                    format!("could not remove container `{name}`: {}", out.error()),
                ),
                Err(e) => bus.message(
                    job,
                    Level::Warn,
                    format!("could not remove container `{name}`: {e}"),
                ),
            }
        });
    }

    let mut argv: Array = vec![program.clone().into()];
    argv.extend(args.into_iter().map(Dynamic::from));
    let defaults = service::StartOptions::default();
    let service = service::start_with(
        argv,
        service::StartOptions {
            name: Some(name.clone()),
            env: options.env,
            ready: options.ready,
            timeout: options.timeout.unwrap_or(defaults.timeout),
            stop_timeout: options.stop_timeout.unwrap_or(defaults.stop_timeout),
            log_tail: options.log_tail.unwrap_or(defaults.log_tail),
            dir: None,
        },
    )?;
    Ok(Container {
        name,
        image: image.to_string(),
        program,
        service,
    })
}

/// `docker inspect` of a container or image, as a map (the first object of its answer).
fn inspect(what: &str) -> std::result::Result<Map, DockerError> {
    let caps = engine()?;
    let out = quick(&caps, &["inspect", "--", what])?;
    let json: serde_json::Value =
        serde_json::from_str(&out).map_err(DockerError::InspectNotJson)?;
    let first = json
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    match rhai::serde::to_dynamic(first)
        .ok()
        .and_then(|d| d.try_cast::<Map>())
    {
        Some(map) => Ok(map),
        None => Err(DockerError::InspectNoObject { what: what.into() }),
    }
}

fn remove_image(image: &str) -> std::result::Result<bool, DockerError> {
    let scope = context::current();
    if scope.host.mode == Mode::Plan {
        return Ok(false);
    }
    let caps = engine()?;
    match quick(&caps, &["image", "rm", image]) {
        Ok(_) => Ok(true),
        Err(e) if e.to_string().contains("No such image") => Ok(false),
        Err(e) => Err(e),
    }
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} via {}", self.describe(), self.program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_command_lines() {
        let mut options = Map::new();
        options.insert("network".into(), "host".into());
        options.insert("memory".into(), Dynamic::from_int(512));
        options.insert("cpus".into(), Dynamic::from_float(1.5));
        let mut env = Map::new();
        env.insert("TOKEN".into(), "s3cret".into());
        options.insert("env".into(), env.into());
        options.insert(
            "args".into(),
            Dynamic::from_array(vec!["--listen".into(), "127.0.0.1:1".into()]),
        );
        let (argv, client_env) = run_argv("app:1", "c1", &options).unwrap();
        assert_eq!(
            argv.join(" "),
            "run --name c1 --label dev.xtask.run=1 --pull never --network host --memory 512m --cpus 1.5 --env TOKEN app:1 --listen 127.0.0.1:1"
        );
        assert!(!argv.join(" ").contains("s3cret"));
        assert_eq!(client_env["TOKEN"].to_string(), "s3cret");
        let mut bad = Map::new();
        bad.insert("pull".into(), "sometimes".into());
        assert!(run_argv("app", "c", &bad).is_err());
    }

    #[test]
    fn sizes_and_names() {
        assert_eq!(parse_size("1.5MiB"), Some(1.5 * 1024.0 * 1024.0));
        assert_eq!(parse_size("512MiB"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(parse_size("0B"), Some(0.0));
        assert_eq!(parse_size("2GB"), Some(2e9));
        assert_eq!(parse_size("lots"), None);
        assert!(unique_name("ghcr.io/o/app:1.2").starts_with("xtask-app-"));
        assert_ne!(unique_name("a"), unique_name("a"));
        assert!(valid_name("my-app_1.x"));
        assert!(!valid_name("-x") && !valid_name("a b") && !valid_name(""));
    }
}
