//! `docker::run`: a container for functional tests. It runs as `docker run` in the foreground
//! under `service::start`, so readiness, log capture, the exit-before-ready check and the stop
//! at the job's end (SIGTERM, which the client passes to the container) are the service's.
//! A native cleanup then `docker rm -f`s it by name, whatever happened to the client.
//! Also `docker::inspect`, `docker::remove_image` and the handle's `stats()`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::{client, engine, quick};
use crate::cancel::CancelToken;
use crate::events::Level;
use crate::primitives::service::{self, Service};
use crate::primitives::{at_call_site, check_keys, error, opt_bool, opt_string, Result};
use crate::script::{context, Mode};

const RUN_OPTIONS: &[&str] = &[
    "args",
    "env",
    "network",
    "memory",
    "cpus",
    "rm",
    "ready",
    "name",
    "timeout",
    "user",
    "docker_args",
    "pull",
    "stop_timeout",
    "log_tail",
];
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
            at_call_site(&ctx, inspect(what))
        });
    FuncRegistration::new("remove_image")
        .set_into_module(module, |ctx: NativeCallContext, image: &str| {
            at_call_site(&ctx, remove_image(image))
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
        at_call_site(&ctx, inspect(&c.name))
    });
    engine.register_fn("to_string", |c: &mut Container| c.describe());
    engine.register_fn("to_debug", |c: &mut Container| c.describe());
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

    /// `docker stats --no-stream`: memory in MiB, its limit, CPU percent, processes.
    fn stats(&self) -> Result<Map> {
        let caps = engine()?;
        let out = quick(
            &caps,
            &["stats", "--no-stream", "--format", "{{json .}}", &self.name],
        )?;
        let json: serde_json::Value = serde_json::from_str(out.trim())
            .or_else(|e| error(format!("docker stats answered no JSON ({e}): {out}")))?;
        let field = |k: &str| {
            json.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let usage = field("MemUsage");
        let (used, limit) = usage.split_once('/').unwrap_or((&usage, ""));
        let mut map = Map::new();
        // MiB, the unit of `--memory 512m`.
        let mib = |text: &str| parse_size(text).map(|b| Dynamic::from_float(b / (1024.0 * 1024.0)));
        map.insert("memory_mib".into(), mib(used).unwrap_or(Dynamic::UNIT));
        map.insert(
            "memory_limit_mib".into(),
            mib(limit).unwrap_or(Dynamic::UNIT),
        );
        map.insert(
            "cpu_percent".into(),
            field("CPUPerc")
                .trim_end_matches('%')
                .parse::<f64>()
                .map(Dynamic::from_float)
                .unwrap_or(Dynamic::UNIT),
        );
        map.insert(
            "pids".into(),
            field("PIDs")
                .parse::<i64>()
                .map(Dynamic::from_int)
                .unwrap_or(Dynamic::UNIT),
        );
        Ok(map)
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
pub fn run_argv(image: &str, name: &str, options: &Map) -> Result<(Vec<String>, Map)> {
    let mut argv: Vec<String> = vec!["run".into(), "--name".into(), name.into()];
    argv.extend(["--label".into(), "dev.xtask.run=1".into()]);
    let pull = opt_string(options, "pull")?.unwrap_or_else(|| "never".into());
    if !["never", "missing", "always"].contains(&pull.as_str()) {
        return error(format!(
            "option `pull` is never, missing or always, not `{pull}`"
        ));
    }
    argv.extend(["--pull".into(), pull]);
    if let Some(network) = opt_string(options, "network")? {
        argv.extend(["--network".into(), network]);
    }
    if let Some(memory) = options.get("memory") {
        let text = match memory.as_int() {
            Ok(mb) if mb > 0 => format!("{mb}m"),
            _ if memory.is_string() => memory.to_string(),
            _ => return error("option `memory` is a size like \"512m\" or a number of MB"),
        };
        argv.extend(["--memory".into(), text]);
    }
    if let Some(cpus) = options.get("cpus") {
        let text = if let Ok(n) = cpus.as_int() {
            n.to_string()
        } else if let Ok(f) = cpus.as_float() {
            f.to_string()
        } else if cpus.is_string() {
            cpus.to_string()
        } else {
            return error("option `cpus` is a number of CPUs, like 1 or 0.5");
        };
        argv.extend(["--cpus".into(), text]);
    }
    if let Some(user) = opt_string(options, "user")? {
        argv.extend(["--user".into(), user]);
    }
    let mut client_env = Map::new();
    if let Some(env) = options.get("env") {
        let Some(env) = env.clone().try_cast::<Map>() else {
            return error("option `env` must be a map");
        };
        for (key, value) in env {
            argv.extend(["--env".into(), key.to_string()]);
            client_env.insert(key, value);
        }
    }
    if let Some(extra) = options.get("docker_args") {
        argv.extend(crate::primitives::string_list(
            "option `docker_args`",
            extra,
        )?);
    }
    argv.push(image.into());
    if let Some(args) = options.get("args") {
        argv.extend(crate::primitives::string_list("option `args`", args)?);
    }
    Ok((argv, client_env))
}

fn run(image: &str, options: Map) -> Result<Container> {
    check_keys("docker::run", &options, RUN_OPTIONS)?;
    if image.trim().is_empty() {
        return error("docker::run needs an image");
    }
    let name = match opt_string(&options, "name")? {
        Some(name) if valid_name(&name) => name,
        Some(name) => {
            return error(format!(
                "container name `{name}` may only have letters, digits, `_`, `.` and `-`"
            ))
        }
        None => unique_name(image),
    };
    let (args, client_env) = run_argv(image, &name, &options)?;
    let keep = !opt_bool(&options, "rm")?.unwrap_or(true);
    let scope = context::current();
    let program = if scope.host.mode == Mode::Plan {
        client::configured(|k| scope.env_var(k)).0
    } else {
        engine()?.program
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
    let mut service_options = Map::new();
    service_options.insert("name".into(), name.clone().into());
    service_options.insert("env".into(), client_env.into());
    for key in ["ready", "timeout", "stop_timeout", "log_tail"] {
        if let Some(value) = options.get(key) {
            service_options.insert(key.into(), value.clone());
        }
    }
    let service = service::start(argv, service_options)?;
    Ok(Container {
        name,
        image: image.to_string(),
        program,
        service,
    })
}

/// `docker inspect` of a container or image, as a map (the first object of its answer).
fn inspect(what: &str) -> Result<Map> {
    let caps = engine()?;
    let out = quick(&caps, &["inspect", "--", what])?;
    let json: serde_json::Value = serde_json::from_str(&out)
        .or_else(|e| error(format!("docker inspect answered no JSON: {e}")))?;
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
        None => error(format!("docker inspect `{what}`: no object in its answer")),
    }
}

fn remove_image(image: &str) -> Result<bool> {
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
