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
//! | `api.rs` | the engine's API on its local socket (`stats` without the client's wait) |
//! | `size.rs` | `image_size`, `check_size` |
//! | `scan.rs` | hadolint and trivy when installed |

mod api;
mod build;
mod cgroup;
mod client;
mod container;
mod error;
mod git;
mod scan;
mod size;
mod tags;

use rhai::{Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::error::{CommandFailed, IntoScript as _};
use super::{at_call_site, Result};
use crate::events::Level;
use crate::process::{self, display_argv, Failure, Spec};
use crate::script::context::{self, JobScope};
pub use error::DockerError;

use super::options::{self, result, Fields as _, Options as _};
use super::reference::{plain, Function};

/// A docker function as the reference lists it.
const fn doc(
    name: &'static str,
    params: &'static [&'static str],
    summary: &'static str,
    options: &'static [&'static [super::options::Field]],
) -> Function {
    Function {
        name,
        params,
        summary,
        options,
        result: &[],
    }
}

pub(crate) const FUNCTIONS: &[Function] = &[
    Function {
        result: BuildResult::FIELDS,
        ..doc("docker::build", &["options: map"], "`docker buildx build` (or BuildKit / the classic builder without buildx) with OCI labels from git and a build cache.", &[BuildOptions::FIELDS])
    },
    doc("docker::tags", &["image: string", "options: map"], "Tags like docker/metadata-action's, from the Actions environment or the local repository.", &[git::TagOptions::FIELDS]),
    Function {
        result: git::MetadataResult::FIELDS,
        ..doc("docker::metadata", &["image: string", "options: map"], "The tags plus what they were computed from.", &[git::TagOptions::FIELDS])
    },
    doc("docker::run", &["image: string", "options: map"], "`docker run` in the foreground as a `service::start` service; stopped and removed when the job ends. Returns a handle (`.name`, `.running`, `.log()`, `.stop()`, `.inspect()`, `.stats()`).", &[container::DockerRunOptions::FIELDS]),
    doc("docker::inspect", &["name: string"], "`docker inspect` of a container or image, as a map.", &[]),
    doc("docker::image_size", &["image: string"], "The image's size in bytes.", &[]),
    doc("docker::remove_image", &["image: string"], "Removes the image; false when it was absent.", &[]),
    Function {
        result: size::SizeResult::FIELDS,
        ..doc("docker::check_size", &["image: string", "options: map"], "The size gate: fails over `max_mb`, warns and fails on growth over a baseline; records the size the first time.", &[size::SizeOptions::FIELDS])
    },
    Function {
        result: scan::ToolResult::FIELDS,
        ..doc("docker::lint", &["dockerfile: string"], "hadolint when installed; otherwise a note and `#{ ran: false, reason }`.", &[])
    },
    Function {
        result: scan::ToolResult::FIELDS,
        ..doc("docker::scan", &["image: string", "options: map"], "trivy when installed (fails on findings); otherwise a note and `#{ ran: false, reason }`.", &[scan::ScanOptions::FIELDS])
    },
    Function {
        result: AvailableResult::FIELDS,
        ..doc("docker::available", &[], "What this machine has: engine, client, buildx, BuildKit, emulation, platforms, and `reason` saying what is missing.", &[])
    },
];

/// The methods of the handle `docker::run` returns.
pub(crate) const HANDLE: &[Function] = &[
    plain(
        "Container.name",
        &["container: &mut Container"],
        "The container's name.",
    ),
    plain(
        "Container.image",
        &["container: &mut Container"],
        "The image it runs.",
    ),
    plain(
        "Container.running",
        &["container: &mut Container"],
        "Whether it is still running.",
    ),
    plain(
        "Container.log",
        &["container: &mut Container"],
        "Its output so far, secrets masked.",
    ),
    plain(
        "Container.stop",
        &["container: &mut Container"],
        "Stops and removes it now instead of at the end of the job.",
    ),
    plain(
        "Container.inspect",
        &["container: &mut Container"],
        "`docker inspect` of the container, as a map (docker's own keys).",
    ),
    Function {
        result: <container::StatsResult as options::Fields>::FIELDS,
        ..plain(
            "Container.stats",
            &["container: &mut Container"],
            "Memory, its limit, CPU and processes as `docker stats --no-stream` gives them; where the default client would use the engine's local socket, read from the container's cgroup when this process can see the container's main process (CPU over a quarter second), else from the engine's API (about 1 s instead of the client's 1.5 s); `source` says which.",
        )
    },
    plain(
        "Container.to_string",
        &["container: &mut Container"],
        "Says `container NAME (IMAGE)`, for messages.",
    ),
    plain(
        "Container.to_debug",
        &["container: &mut Container"],
        "The same as `to_string`.",
    ),
];

pub fn register(engine: &mut Engine) {
    let mut module = Module::new();
    FuncRegistration::new("available").set_into_module(&mut module, |ctx: NativeCallContext| {
        at_call_site(&ctx, Ok(options::to_map(&available())))
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
fn engine() -> std::result::Result<client::Caps, DockerError> {
    let scope = context::current();
    let (program, explicit) = client::configured(|k| scope.env_var(k));
    let caps = client::probe(&program, explicit, &scope.token());
    if let Some(reason) = &caps.engine_error {
        return Err(DockerError::NoEngine {
            reason: reason.clone(),
        });
    }
    Ok(caps)
}

result! {
    /// What `docker::available` returns.
    pub struct AvailableResult {
        /// Whether an engine answers.
        engine: bool as "bool",
        /// The engine's version; `()` without one.
        engine_version: Option<String> as "string",
        /// The client program: `$XTASK_DOCKER`, else `docker`.
        client: String as "string",
        /// The client's version; `()` when it did not say.
        client_version: Option<String> as "string",
        /// Whether buildx is installed.
        buildx: bool as "bool",
        /// buildx's version; `()` without it.
        buildx_version: Option<String> as "string",
        /// Whether builds use BuildKit (through buildx or `DOCKER_BUILDKIT=1`).
        buildkit: bool as "bool",
        /// How images are built (`buildx`, `buildkit`, `classic`); `()` without a builder.
        build_mode: Option<String> as "string",
        /// The program builds run; `()` without a builder.
        build_client: Option<String> as "string",
        /// Architectures emulated (binfmt), beyond the host's.
        emulation: Vec<String> as "array of strings",
        /// Platforms images can be built for: the host's first.
        platforms: Vec<String> as "array of strings",
        /// What is missing, in one sentence for `skip()`; `()` when nothing is.
        reason: Option<String> as "string",
    }
}

fn available() -> AvailableResult {
    let scope = context::current();
    let (program, explicit) = client::configured(|k| scope.env_var(k));
    let caps = client::probe(&program, explicit, &scope.token());
    let builder = caps.builder.as_ref();
    let buildx = match builder {
        Some(client::Builder::Buildx { version, .. }) => Some(version.clone()),
        _ => None,
    };
    let mut platforms = vec![client::host_platform()];
    for arch in &caps.emulation {
        if let Some(p) = client::platform_of(arch) {
            if !platforms.iter().any(|q| q == p) {
                platforms.push(p.to_string());
            }
        }
    }
    // One sentence for skip(): what is missing.
    let reason = match (&caps.engine_error, builder) {
        (Some(e), _) => Some(e.clone()),
        (None, Some(client::Builder::Buildx { .. })) => None,
        (None, _) => Some("no buildx: one platform per build, no multi-platform manifests".into()),
    };
    AvailableResult {
        engine: caps.engine(),
        engine_version: caps.engine_version.clone(),
        client: caps.program.clone(),
        client_version: caps.client_version.clone(),
        buildx: buildx.is_some(),
        buildx_version: buildx,
        buildkit: matches!(
            builder,
            Some(client::Builder::Buildx { .. } | client::Builder::BuildKit { .. })
        ),
        build_mode: builder.map(|b| b.mode().to_string()),
        build_client: builder.map(|b| b.program().to_string()),
        emulation: caps.emulation.clone(),
        platforms,
        reason,
    }
}

/// Streams one command into the job's log; errors name the command and its status.
fn stream(
    scope: &JobScope,
    argv: &[String],
    env: &[(String, Option<String>)],
) -> std::result::Result<(), DockerError> {
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
        Ok(done) => Err(CommandFailed::Exited {
            command: display,
            status: done.describe(),
        }
        .into()),
        Err(Failure::NotFound { program }) => Err(DockerError::ClientNotFound { program }),
        Err(failure) => Err(CommandFailed::new(display, failure).into()),
    }
}

/// The engine's local socket, for the job's client (`explicit`: one `XTASK_DOCKER` names) when
/// that client is the default one and would use that socket (`api.rs`); `None`: ask the client.
fn api_socket(explicit: bool) -> Option<std::path::PathBuf> {
    if explicit {
        return None;
    }
    let scope = context::current();
    api::local_socket(|k| scope.env_var(k))
}

/// What the engine has under `name`: `None` when it has no such image. From the engine's API
/// where the default client would use its local socket (no client to start), else from
/// `docker image inspect`.
fn image(caps: &client::Caps, name: &str) -> std::result::Result<Option<api::Image>, DockerError> {
    if let Some(found) = api_socket(caps.explicit).and_then(|socket| api::image(&socket, name)) {
        return Ok(found);
    }
    let format = "{{.Id}} {{len .RepoTags}} {{.Size}}";
    let out = match quick(caps, &["image", "inspect", "--format", format, "--", name]) {
        Ok(out) => out,
        Err(DockerError::QuickFailed { output, .. })
            if output.to_ascii_lowercase().contains("no such image") =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let fields: Vec<&str> = out.split_whitespace().collect();
    match fields[..] {
        [id, tags, size] => Ok(Some(api::Image {
            id: id.to_string(),
            tags: tags.parse().unwrap_or(0),
            size: size.parse().map_err(|_| DockerError::NotASize {
                output: out.clone(),
            })?,
        })),
        _ => Err(DockerError::NotASize { output: out }),
    }
}

/// A quick docker command's stdout, or an error with its stderr.
fn quick(caps: &client::Caps, args: &[&str]) -> std::result::Result<String, DockerError> {
    let scope = context::current();
    let mut argv = vec![caps.program.as_str()];
    argv.extend_from_slice(args);
    match client::output(&argv, &scope.env_changes(), &scope.token()) {
        Ok(out) if out.ok => Ok(out.stdout),
        Ok(out) => Err(DockerError::QuickFailed {
            command: display_argv(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            output: out.error(),
        }),
        Err(e) => Err(e),
    }
}

use super::options::{option_type, options, script_type, Strings};

option_type! {
    /// A map of names to values (written as text).
    StringMap(std::collections::BTreeMap<String, String>) as "map of strings", |value| {
        if value.is_unit() {
            Ok(Default::default())
        } else {
            match value.clone().try_cast::<Map>() {
                Some(map) => Ok(map
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), crate::primitives::display_value(&v)))
                    .collect()),
                None => Err(format!("must be a map, not {}", script_type(&value))),
            }
        }
    }
}

options! {
    /// Options of `docker::build`.
    pub struct BuildOptions for "docker::build" {
        /// The build context, relative to the job's directory.
        context: String = ".".into() => "\".\"",
        /// The Dockerfile (default: the context's `Dockerfile`).
        file: Option<String>,
        /// Platforms (`linux/amd64`, …); more than one needs buildx.
        #[alias = "platform"]
        platforms: Strings,
        /// Image tags (`app:1.2.3`).
        tags: Strings,
        /// The build argument `VARIANT`.
        variant: Option<String>,
        /// The stage to build (`--target`).
        target: Option<String>,
        /// Build arguments (`--build-arg`).
        build_args: StringMap,
        /// OCI labels over those computed from git (`source`, `revision`, `created`, `version`).
        labels: StringMap,
        /// Pushes the tags (only when asked).
        push: bool = false,
        /// Loads the image into the engine (default: for one platform without `push`).
        load: Option<bool>,
        /// Uses a build cache (`type=gha` inside Actions, else a local directory).
        cache: bool = true,
        /// More `--cache-from` sources.
        cache_from: Strings,
        /// More `--cache-to` destinations (buildx only).
        cache_to: Strings,
        /// The buildx builder (buildx only).
        builder: Option<String>,
        /// The `org.opencontainers.image.version` label (default: from git).
        version: Option<String>,
    }
}

fn build_image(options: Map) -> Result<Map> {
    let options: BuildOptions = super::options::parse(&options)?;
    let scope = context::current();
    let mut spec = build::BuildSpec {
        context: options.context,
        file: options.file,
        platforms: options.platforms.0,
        tags: options.tags.0,
        target: options.target,
        variant: options.variant,
        build_args: options.build_args.0,
        labels: options.labels.0,
        push: options.push,
        load: options.load,
        cache: options.cache,
        cache_from: options.cache_from.0,
        cache_to: options.cache_to.0,
        builder: options.builder,
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
    if let Some(version) = options.version {
        labels.insert("org.opencontainers.image.version".into(), version);
    }
    labels.extend(std::mem::take(&mut spec.labels));
    spec.labels = labels;

    if scope.host.mode == crate::script::Mode::Plan {
        return Ok(options::to_map(&build_result(
            &spec, None, "planned", false,
        )));
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
    let caps = engine().script()?;
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
    let iid = tempfile::NamedTempFile::new()
        .map_err(DockerError::IdFile)
        .script()?;
    spec.iidfile = Some(iid.path().to_path_buf());
    let plan = build::plan(&spec, &builder, &place).script()?;
    for note in &plan.notes {
        scope.host.bus.message(scope.job, Level::Info, note.clone());
    }
    // Images these tags named before: once the build moves the tags away they are dangling.
    let mut replaced: Vec<String> = Vec::new();
    if plan.loads {
        for tag in &spec.tags {
            if let Ok(Some(image)) = image(&caps, tag) {
                if !replaced.contains(&image.id) {
                    replaced.push(image.id);
                }
            }
        }
    }
    if let Some((_, old)) = &plan.rotate_cache {
        let _ = std::fs::create_dir_all(old);
    }
    for step in &plan.steps {
        stream(&scope, &step.argv, &step.env).script()?;
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
        let dangling = image(&caps, &old).is_ok_and(|i| i.is_some_and(|i| i.tags == 0));
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
    Ok(options::to_map(&BuildResult {
        client: Some(builder.program().to_string()),
        ..build_result(&spec, id, builder.mode(), plan.loads)
    }))
}

fn build_result(
    spec: &build::BuildSpec,
    id: Option<String>,
    mode: &str,
    loaded: bool,
) -> BuildResult {
    BuildResult {
        tags: spec.tags.clone(),
        platforms: spec.platforms.clone(),
        id,
        mode: mode.to_string(),
        pushed: spec.push,
        loaded,
        labels: spec.labels.clone(),
        client: None,
    }
}

result! {
    /// What `docker::build` returns.
    pub struct BuildResult {
        /// The tags given to the image.
        tags: Vec<String> as "array of strings",
        /// The platforms built for; empty for the host's.
        platforms: Vec<String> as "array of strings",
        /// The image id; `()` when the build left none here (pushed only, or several platforms).
        id: Option<String> as "string",
        /// How it was built: `buildx`, `buildkit`, `classic`; `planned` in `--list` and
        /// `--dry-run`.
        mode: String as "string",
        /// Whether the image was pushed.
        pushed: bool as "bool",
        /// Whether the image is in the local engine afterwards.
        loaded: bool as "bool",
        /// The labels set, by name (OCI labels from git, then the `labels` option).
        labels: std::collections::BTreeMap<String, String> as "map of strings",
        /// The program that built it (not set in `--list` and `--dry-run`).
        #[serde(skip_serializing_if = "Option::is_none")]
        client: Option<String> as "string",
    }
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}
