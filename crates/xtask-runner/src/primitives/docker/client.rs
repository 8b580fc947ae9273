//! Which docker client to run, what the engine supports, and how images get built here:
//! `buildx` when the plugin answers, else BuildKit through a client that has it built in
//! (`DOCKER_BUILDKIT=1 docker build`, clients before 23.0), else the classic builder.
//! The client is `$XTASK_DOCKER` when set (then only that one is used), else `docker` on PATH;
//! when that one has neither buildx nor built-in BuildKit, another `docker` on PATH that has is
//! used for builds. Probes run once per client and run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::error::DockerError;
use crate::cancel::CancelToken;
use crate::primitives::error::CommandFailed;
use crate::process::{self, Failure, Spec};

const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq)]
pub enum Builder {
    /// `docker buildx build`; `driver` is the builder's driver (`docker`, `docker-container`).
    Buildx {
        program: String,
        version: String,
        driver: Option<String>,
    },
    /// `DOCKER_BUILDKIT=1 docker build`: one platform per build, no cache export.
    BuildKit { program: String },
    /// The classic builder: one platform, no BuildKit features.
    Classic { program: String },
}

impl Builder {
    pub fn mode(&self) -> &'static str {
        match self {
            Builder::Buildx { .. } => "buildx",
            Builder::BuildKit { .. } => "buildkit",
            Builder::Classic { .. } => "classic",
        }
    }

    pub fn program(&self) -> &str {
        match self {
            Builder::Buildx { program, .. }
            | Builder::BuildKit { program }
            | Builder::Classic { program } => program,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Caps {
    /// The client every other command uses.
    pub program: String,
    /// Whether `XTASK_DOCKER` chose it (podman, a wrapper): then it alone talks to the engine.
    pub explicit: bool,
    pub client_version: Option<String>,
    pub engine_version: Option<String>,
    /// Why the engine does not answer (or the client is missing).
    pub engine_error: Option<String>,
    pub builder: Option<Builder>,
    /// Architectures with a qemu binfmt handler (`aarch64`, `arm`, …).
    pub emulation: Vec<String>,
}

impl Caps {
    pub fn engine(&self) -> bool {
        self.engine_version.is_some()
    }
}

/// The configured client: `$XTASK_DOCKER` (as the scope sees it) or `docker`.
pub fn configured(env_var: impl Fn(&str) -> Option<String>) -> (String, bool) {
    match env_var("XTASK_DOCKER").filter(|s| !s.trim().is_empty()) {
        Some(program) => (program, true),
        None => ("docker".into(), false),
    }
}

/// The capabilities for `program`, probed once per run.
pub fn probe(program: &str, explicit: bool, token: &CancelToken) -> Caps {
    static CACHE: OnceLock<Mutex<HashMap<(String, bool), Caps>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let key = (program.to_string(), explicit);
    if let Some(caps) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return caps.clone();
    }
    let caps = probe_uncached(program, explicit, token);
    // A cancelled probe says nothing about the engine: do not remember it.
    if !token.is_cancelled() {
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, caps.clone());
    }
    caps
}

fn probe_uncached(program: &str, explicit: bool, token: &CancelToken) -> Caps {
    let mut caps = Caps {
        program: program.to_string(),
        explicit,
        client_version: None,
        engine_version: None,
        engine_error: None,
        builder: None,
        emulation: emulation(Path::new("/proc/sys/fs/binfmt_misc")),
    };
    // Each question is a client started anew (10-40 ms): the independent ones are asked at once.
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            output(
                &[program, "version", "--format", "{{.Server.Version}}"],
                &[],
                token,
            )
        });
        let buildx = s.spawn(|| buildx(program, token));
        match output(&[program, "--version"], &[], token) {
            Ok(out) if out.ok => caps.client_version = client_version(&out.stdout),
            Ok(out) => {
                caps.engine_error = Some(format!("`{program} --version` failed: {}", out.error()));
                return;
            }
            Err(e) => {
                caps.engine_error = Some(e.to_string());
                return;
            }
        }
        match server.join() {
            Ok(Ok(out)) if out.ok && !out.stdout.trim().is_empty() => {
                caps.engine_version = Some(out.stdout.trim().to_string())
            }
            Ok(Ok(out)) => {
                caps.engine_error = Some(format!("the engine does not answer: {}", out.error()))
            }
            Ok(Err(e)) => caps.engine_error = Some(e.to_string()),
            Err(_) => caps.engine_error = Some("the engine probe panicked".into()),
        }
        let buildx = buildx.join().ok().flatten();
        caps.builder = Some(choose_builder(
            program,
            buildx,
            caps.client_version.as_deref(),
            explicit,
            token,
        ));
    });
    caps
}

/// The builder: `buildx_found` (what [`buildx`] found for `program`), else the client's own
/// BuildKit, else another client on PATH with either, else the classic builder.
fn choose_builder(
    program: &str,
    buildx_found: Option<Builder>,
    version: Option<&str>,
    explicit: bool,
    token: &CancelToken,
) -> Builder {
    if let Some(builder) = buildx_found {
        return builder;
    }
    if version.is_some_and(has_builtin_buildkit) {
        return Builder::BuildKit {
            program: program.into(),
        };
    }
    if !explicit {
        let first = which::which(program)
            .ok()
            .and_then(|p| p.canonicalize().ok());
        for other in other_clients(first.as_deref()) {
            let other = other.to_string_lossy().into_owned();
            let (found, version) = std::thread::scope(|s| {
                let found = s.spawn(|| buildx(&other, token));
                let version = output(&[&other, "--version"], &[], token);
                (found.join().ok().flatten(), version)
            });
            if let Some(builder) = found {
                return builder;
            }
            if let Ok(out) = version {
                if out.ok && client_version(&out.stdout).is_some_and(|v| has_builtin_buildkit(&v)) {
                    return Builder::BuildKit { program: other };
                }
            }
        }
    }
    Builder::Classic {
        program: program.into(),
    }
}

fn buildx(program: &str, token: &CancelToken) -> Option<Builder> {
    let out = output(&[program, "buildx", "version"], &[], token).ok()?;
    if !out.ok {
        return None;
    }
    // "github.com/docker/buildx v0.12.1 30feaa1"
    let version = out
        .stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or("unknown")
        .to_string();
    let driver = output(&[program, "buildx", "inspect"], &[], token)
        .ok()
        .filter(|o| o.ok)
        .and_then(|o| buildx_driver(&o.stdout));
    Some(Builder::Buildx {
        program: program.into(),
        version,
        driver,
    })
}

/// The `Driver:` line of `docker buildx inspect`.
pub fn buildx_driver(inspect: &str) -> Option<String> {
    inspect.lines().find_map(|line| {
        let value = line.trim().strip_prefix("Driver:")?.trim();
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// `Docker version 20.10.24+dfsg1, build 297e128` → `20.10.24+dfsg1`.
pub fn client_version(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix("Docker version ")?;
    Some(rest.split([',', ' ']).next()?.to_string())
}

/// Clients before 23.0 build with BuildKit on `DOCKER_BUILDKIT=1` by themselves; later ones
/// hand BuildKit builds to the buildx plugin.
pub fn has_builtin_buildkit(version: &str) -> bool {
    version
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| (18..23).contains(&major))
}

/// Other `docker` executables on PATH (and Debian's /usr/bin/docker), not `first`.
fn other_clients(first: Option<&Path>) -> Vec<PathBuf> {
    let mut seen: Vec<PathBuf> = first.map(Path::to_path_buf).into_iter().collect();
    let mut found = Vec::new();
    let mut candidates: Vec<PathBuf> = which::which_all("docker")
        .map(|all| all.collect())
        .unwrap_or_default();
    candidates.push(PathBuf::from("/usr/bin/docker"));
    for candidate in candidates {
        let Ok(real) = candidate.canonicalize() else {
            continue;
        };
        if !seen.contains(&real) {
            seen.push(real);
            found.push(candidate);
        }
    }
    found
}

/// Emulated architectures: enabled `qemu-<arch>` entries under binfmt_misc.
pub fn emulation(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut arches: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let arch = name.strip_prefix("qemu-")?.to_string();
            let status = std::fs::read_to_string(e.path()).unwrap_or_default();
            status.starts_with("enabled").then_some(arch)
        })
        .collect();
    arches.sort();
    arches
}

/// The platform an emulated architecture runs (`aarch64` → `linux/arm64`).
pub fn platform_of(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        "arm" | "armeb" => "linux/arm/v7",
        "i386" | "i486" | "i686" => "linux/386",
        "ppc64le" => "linux/ppc64le",
        "s390x" => "linux/s390x",
        "riscv64" => "linux/riscv64",
        "mips64el" => "linux/mips64le",
        _ => return None,
    })
}

pub fn host_platform() -> String {
    platform_of(std::env::consts::ARCH)
        .map(str::to_string)
        .unwrap_or_else(|| format!("linux/{}", std::env::consts::ARCH))
}

/// What a quick command printed.
pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The first lines of stderr (or stdout), for messages.
    pub fn error(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text.trim().lines().take(5).collect();
        if lines.is_empty() {
            "no output".into()
        } else {
            lines.join("\n")
        }
    }
}

/// Runs a short command through the process layer (own group, cancellable, timed out) and
/// returns what it printed instead of streaming it.
pub fn output(
    argv: &[&str],
    env: &[(String, Option<String>)],
    token: &CancelToken,
) -> Result<Output, DockerError> {
    output_with(argv, env, token, PROBE_TIMEOUT)
}

pub fn output_with(
    argv: &[&str],
    env: &[(String, Option<String>)],
    token: &CancelToken,
    timeout: Duration,
) -> Result<Output, DockerError> {
    let spec = Spec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: env.to_vec(),
        timeout: Some(timeout),
        capture_stdout: true,
        ..Spec::default()
    };
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let stderr = Arc::clone(&stderr);
        Arc::new(move |bytes: Vec<u8>| {
            stderr
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(bytes)
        })
    };
    let display = process::display_argv(&spec.argv);
    match process::execute(&spec, token, sink) {
        Ok(done) => Ok(Output {
            ok: done.success(),
            stdout: String::from_utf8_lossy(&done.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.lock().unwrap_or_else(|e| e.into_inner()))
                .into_owned(),
        }),
        Err(Failure::NotFound { program }) => Err(DockerError::ClientNotFound { program }),
        Err(failure) => Err(CommandFailed::new(display, failure).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_versions_and_builtin_buildkit() {
        assert_eq!(
            client_version("Docker version 20.10.24+dfsg1, build 297e128\n").as_deref(),
            Some("20.10.24+dfsg1")
        );
        assert_eq!(
            client_version("Docker version 28.2.2, build e6534b4").as_deref(),
            Some("28.2.2")
        );
        assert_eq!(client_version("podman version 4.3.1"), None);
        assert!(has_builtin_buildkit("20.10.24+dfsg1"));
        assert!(has_builtin_buildkit("18.09.0"));
        assert!(!has_builtin_buildkit("28.2.2"));
        assert!(!has_builtin_buildkit("23.0.0"));
    }

    #[test]
    fn buildx_inspect_names_the_driver() {
        let text = "Name:   default\nDriver: docker\n\nNodes:\nName:      default\n";
        assert_eq!(buildx_driver(text).as_deref(), Some("docker"));
        assert_eq!(buildx_driver("Name: x\n"), None);
    }

    #[test]
    fn emulation_reads_enabled_qemu_handlers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("qemu-aarch64"),
            "enabled\ninterpreter /usr/bin/qemu-aarch64\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("qemu-arm"), "disabled\n").unwrap();
        std::fs::write(dir.path().join("register"), "").unwrap();
        std::fs::write(dir.path().join("status"), "enabled\n").unwrap();
        assert_eq!(emulation(dir.path()), ["aarch64"]);
        assert_eq!(platform_of("aarch64"), Some("linux/arm64"));
        assert!(emulation(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn a_missing_client_is_named() {
        let err = output(
            &["/nonexistent/docker", "--version"],
            &[],
            &CancelToken::new(),
        )
        .err()
        .unwrap();
        assert!(
            matches!(&err, DockerError::ClientNotFound { program } if program == "/nonexistent/docker"),
            "{err:?}"
        );
        assert!(err.to_string().contains("XTASK_DOCKER"), "{err}");
    }
}
