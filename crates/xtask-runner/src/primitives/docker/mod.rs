//! `docker::`: image builds (buildx, or BuildKit / the classic builder one platform at a time),
//! tags and OCI labels from git and CI, containers for functional tests (run as services, so
//! they stop with the job), image size gates, optional scanners, and what the engine supports.
//!
//! | file | job |
//! |---|---|
//! | `client.rs` | which client, engine, builder and emulation this machine has |
//! | `build.rs` | the build command lines (pure; table-tested) |
//! | `tags.rs` | tags, version and labels from git / Actions facts (pure; table-tested) |
//! | `git.rs` | those facts from the environment or the local repository |
//! | `container.rs` | `docker::run`, the container handle, `inspect`, `stats` |
//! | `size.rs` | `image_size`, `check_size` |
//! | `scan.rs` | hadolint and trivy when installed |

mod build;
mod client;
mod container;
mod git;
mod scan;
mod size;
mod tags;

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::{at_call_site, error, Result};
use crate::events::Level;
use crate::process::{self, display_argv, Failure, Spec};
use crate::script::context::{self, JobScope};

pub fn register(engine: &mut Engine) {
    let mut module = Module::new();
    FuncRegistration::new("available").set_into_module(&mut module, |ctx: NativeCallContext| {
        at_call_site(&ctx, Ok(available()))
    });
    FuncRegistration::new("build")
        .set_into_module(&mut module, |ctx: NativeCallContext, options: Map| {
            at_call_site(&ctx, build_image(options))
        });
    FuncRegistration::new("tags").set_into_module(
        &mut module,
        |ctx: NativeCallContext, image: &str| {
            at_call_site(&ctx, git::script_tags(image, Map::new()))
        },
    );
    FuncRegistration::new("tags").set_into_module(
        &mut module,
        |ctx: NativeCallContext, image: &str, options: Map| {
            at_call_site(&ctx, git::script_tags(image, options))
        },
    );
    FuncRegistration::new("metadata").set_into_module(
        &mut module,
        |ctx: NativeCallContext, image: &str| {
            at_call_site(&ctx, git::script_metadata(image, Map::new()))
        },
    );
    FuncRegistration::new("metadata").set_into_module(
        &mut module,
        |ctx: NativeCallContext, image: &str, options: Map| {
            at_call_site(&ctx, git::script_metadata(image, options))
        },
    );
    container::register(&mut module);
    size::register(&mut module);
    scan::register(&mut module);
    engine.register_static_module("docker", module.into());
    container::register_type(engine);
}

/// The client and what it can do; an error saying why when there is no engine.
fn engine() -> Result<client::Caps> {
    let scope = context::current();
    let (program, explicit) = client::configured(|k| scope.env_var(k));
    let caps = client::probe(&program, explicit, &scope.token());
    if let Some(reason) = &caps.engine_error {
        return error(format!("docker: {reason}"));
    }
    Ok(caps)
}

fn available() -> Map {
    let scope = context::current();
    let (program, explicit) = client::configured(|k| scope.env_var(k));
    let caps = client::probe(&program, explicit, &scope.token());
    let mut map = Map::new();
    let text = |v: &Option<String>| v.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT);
    map.insert("engine".into(), Dynamic::from_bool(caps.engine()));
    map.insert("engine_version".into(), text(&caps.engine_version));
    map.insert("client".into(), Dynamic::from(caps.program.clone()));
    map.insert("client_version".into(), text(&caps.client_version));
    let builder = caps.builder.as_ref();
    let buildx = match builder {
        Some(client::Builder::Buildx { version, .. }) => Some(version.clone()),
        _ => None,
    };
    map.insert("buildx".into(), Dynamic::from_bool(buildx.is_some()));
    map.insert("buildx_version".into(), text(&buildx));
    map.insert(
        "buildkit".into(),
        Dynamic::from_bool(matches!(
            builder,
            Some(client::Builder::Buildx { .. } | client::Builder::BuildKit { .. })
        )),
    );
    map.insert(
        "build_mode".into(),
        builder
            .map(|b| Dynamic::from(b.mode().to_string()))
            .unwrap_or(Dynamic::UNIT),
    );
    map.insert(
        "build_client".into(),
        builder
            .map(|b| Dynamic::from(b.program().to_string()))
            .unwrap_or(Dynamic::UNIT),
    );
    map.insert(
        "emulation".into(),
        Dynamic::from_array(caps.emulation.iter().map(|a| a.into()).collect()),
    );
    let mut platforms = vec![client::host_platform()];
    for arch in &caps.emulation {
        if let Some(p) = client::platform_of(arch) {
            if !platforms.iter().any(|q| q == p) {
                platforms.push(p.to_string());
            }
        }
    }
    map.insert(
        "platforms".into(),
        Dynamic::from_array(platforms.into_iter().map(Dynamic::from).collect()),
    );
    // One sentence for skip(): what is missing.
    let reason = match (&caps.engine_error, builder) {
        (Some(e), _) => Some(e.clone()),
        (None, Some(client::Builder::Buildx { .. })) => None,
        (None, _) => Some("no buildx: one platform per build, no multi-platform manifests".into()),
    };
    map.insert("reason".into(), text(&reason));
    map
}

/// Streams one command into the job's log; errors name the command and its status.
fn stream(scope: &JobScope, argv: &[String], env: &[(String, Option<String>)]) -> Result<()> {
    let display = display_argv(argv);
    let sink = scope.host.bus.command_log(scope.job, &display);
    let mut full_env = scope.env_changes();
    full_env.extend(env.iter().cloned());
    let spec = Spec {
        argv: argv.to_vec(),
        env: full_env,
        dir: Some(scope.dir.borrow().clone()),
        ..Spec::default()
    };
    match process::execute(&spec, &scope.token(), sink) {
        Ok(done) if done.success() => Ok(()),
        Ok(done) => error(format!(
            "command failed with {}: `{display}`",
            done.describe()
        )),
        Err(Failure::Cancelled { reason }) => error(format!("`{display}` was stopped: {reason}")),
        Err(Failure::NotFound { program }) => error(format!(
            "docker client not found: `{program}` (install docker, or point XTASK_DOCKER at a client)"
        )),
        Err(e) => error(format!("`{display}`: {e}")),
    }
}

/// A quick docker command's stdout, or an error with its stderr.
fn quick(caps: &client::Caps, args: &[&str]) -> Result<String> {
    let scope = context::current();
    let mut argv = vec![caps.program.as_str()];
    argv.extend_from_slice(args);
    match client::output(&argv, &scope.env_changes(), &scope.token()) {
        Ok(out) if out.ok => Ok(out.stdout),
        Ok(out) => error(format!(
            "`{}` failed: {}",
            display_argv(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            out.error()
        )),
        Err(e) => error(e),
    }
}

const BUILD_OPTIONS: &[&str] = &[
    "context",
    "file",
    "platforms",
    "platform",
    "tags",
    "variant",
    "target",
    "build_args",
    "labels",
    "push",
    "load",
    "cache",
    "cache_from",
    "cache_to",
    "builder",
    "version",
];

fn string_map(
    what: &str,
    value: Option<&Dynamic>,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    let Some(value) = value else {
        return Ok(out);
    };
    let Some(map) = value.clone().try_cast::<Map>() else {
        return error(format!(
            "option `{what}` must be a map, not {}",
            value.type_name()
        ));
    };
    for (k, v) in map {
        out.insert(k.to_string(), crate::primitives::display_value(&v));
    }
    Ok(out)
}

fn list(options: &Map, key: &str) -> Result<Vec<String>> {
    match options.get(key) {
        None => Ok(Vec::new()),
        Some(v) if v.is_unit() => Ok(Vec::new()),
        Some(v) => super::string_list(&format!("option `{key}`"), v),
    }
}

fn build_image(options: Map) -> Result<Map> {
    super::check_keys("docker::build", &options, BUILD_OPTIONS)?;
    let scope = context::current();
    let mut platforms = list(&options, "platforms")?;
    platforms.extend(list(&options, "platform")?);
    let mut spec = build::BuildSpec {
        context: super::opt_string(&options, "context")?.unwrap_or_else(|| ".".into()),
        file: super::opt_string(&options, "file")?,
        platforms,
        tags: list(&options, "tags")?,
        target: super::opt_string(&options, "target")?,
        variant: super::opt_string(&options, "variant")?,
        build_args: string_map("build_args", options.get("build_args"))?,
        labels: string_map("labels", options.get("labels"))?,
        push: super::opt_bool(&options, "push")?.unwrap_or(false),
        load: super::opt_bool(&options, "load")?,
        cache: super::opt_bool(&options, "cache")?.unwrap_or(true),
        cache_from: list(&options, "cache_from")?,
        cache_to: list(&options, "cache_to")?,
        builder: super::opt_string(&options, "builder")?,
        iidfile: None,
    };
    spec.context = scope.path(&spec.context).display().to_string();
    if let Some(file) = &spec.file {
        spec.file = Some(scope.path(file).display().to_string());
    }
    // OCI labels from git (source, revision, created, version); the script's own win.
    let facts = git::facts(&scope);
    let meta = tags::compute(&facts, &tags::Options::default());
    let created = git::created(&scope);
    let mut labels = tags::labels(&facts, &meta, &created);
    if let Some(version) = super::opt_string(&options, "version")? {
        labels.insert("org.opencontainers.image.version".into(), version);
    }
    labels.extend(std::mem::take(&mut spec.labels));
    spec.labels = labels;

    if scope.host.mode == crate::script::Mode::Plan {
        return Ok(build_result(&spec, None, "planned", false));
    }
    {
        let context = std::path::PathBuf::from(&spec.context);
        let dockerfile = spec
            .file
            .as_ref()
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| context.join("Dockerfile"));
        // Labels carry the git revision and a date: not part of what the build depends on.
        let mut key = spec.clone();
        key.labels.clear();
        super::implied::docker_build(&context, &dockerfile, &[format!("{key:?}")], spec.push);
    }
    let caps = engine()?;
    let builder = caps.builder.clone().unwrap_or(client::Builder::Classic {
        program: caps.program.clone(),
    });
    let scope_name = {
        let base = spec
            .tags
            .first()
            .map(|t| {
                t.rsplit('/')
                    .next()
                    .unwrap_or(t)
                    .split(':')
                    .next()
                    .unwrap_or(t)
                    .to_string()
            })
            .unwrap_or_else(|| "image".into());
        tags::sanitize(&match spec.variant.as_ref().or(spec.target.as_ref()) {
            Some(v) => format!("{base}-{v}"),
            None => base,
        })
    };
    let place = build::Place {
        gha_cache: scope.env_var("GITHUB_ACTIONS").as_deref() == Some("true")
            && scope.env_var("ACTIONS_RUNTIME_TOKEN").is_some()
            && (scope.env_var("ACTIONS_CACHE_URL").is_some()
                || scope.env_var("ACTIONS_RESULTS_URL").is_some()),
        cache_dir: scope
            .host
            .root
            .join("target/xtask/docker/cache")
            .join(&scope_name),
        scope: scope_name,
    };
    let iid = tempfile::NamedTempFile::new().or_else(|e| error(format!("docker::build: {e}")))?;
    spec.iidfile = Some(iid.path().to_path_buf());
    let plan = build::plan(&spec, &builder, &place).or_else(error)?;
    for note in &plan.notes {
        scope.host.bus.message(scope.job, Level::Info, note.clone());
    }
    // Images these tags named before: once the build moves the tags away they are dangling.
    let replaced: Vec<String> = if plan.loads {
        spec.tags
            .iter()
            .filter_map(|t| quick(&caps, &["image", "inspect", "--format", "{{.Id}}", t]).ok())
            .map(|id| id.trim().to_string())
            .collect()
    } else {
        Vec::new()
    };
    if let Some((_, old)) = &plan.rotate_cache {
        let _ = std::fs::create_dir_all(old);
    }
    for step in &plan.steps {
        stream(&scope, &step.argv, &step.env)?;
    }
    if let Some((fresh, old)) = &plan.rotate_cache {
        if fresh.is_dir() {
            let _ = std::fs::remove_dir_all(old);
            let _ = std::fs::rename(fresh, old);
        }
    }
    let id = std::fs::read_to_string(iid.path())
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    for old in replaced {
        if Some(&old) == id.as_ref() {
            continue;
        }
        let dangling = quick(
            &caps,
            &["image", "inspect", "--format", "{{len .RepoTags}}", &old],
        )
        .is_ok_and(|n| n.trim() == "0");
        if dangling && quick(&caps, &["image", "rm", &old]).is_ok() {
            scope.host.bus.message(
                scope.job,
                Level::Info,
                format!(
                    "removed the image these tags named before ({})",
                    short_id(&old)
                ),
            );
        }
    }
    // The images it left are its outputs: removed or retagged, the job runs again.
    if plan.loads {
        for tag in &spec.tags {
            super::implied::docker_image(&caps.program, tag);
        }
    }
    let mut result = build_result(&spec, id, builder.mode(), plan.loads);
    result.insert("client".into(), builder.program().to_string().into());
    Ok(result)
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn build_result(spec: &build::BuildSpec, id: Option<String>, mode: &str, loaded: bool) -> Map {
    let mut map = Map::new();
    let strings = |v: &[String]| Dynamic::from_array(v.iter().map(|s| s.into()).collect::<Array>());
    map.insert("tags".into(), strings(&spec.tags));
    map.insert("platforms".into(), strings(&spec.platforms));
    map.insert("id".into(), id.map(Dynamic::from).unwrap_or(Dynamic::UNIT));
    map.insert("mode".into(), mode.into());
    map.insert("pushed".into(), Dynamic::from_bool(spec.push));
    map.insert("loaded".into(), Dynamic::from_bool(loaded));
    let mut labels = Map::new();
    for (k, v) in &spec.labels {
        labels.insert(k.into(), v.into());
    }
    map.insert("labels".into(), labels.into());
    map
}
