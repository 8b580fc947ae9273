//! What can go wrong in `docker::`: no engine, a build the builder cannot make, a command that
//! did not run or failed, an image over its size limit. Variants carry the image, platform,
//! command or size they are about.

use crate::primitives::error::CommandFailed;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No engine to talk to; `reason` says what the probe found.
    #[error("docker: {reason}")]
    NoEngine { reason: String },
    #[error(
        "docker client not found: `{program}` (install docker, or point XTASK_DOCKER at a client)"
    )]
    ClientNotFound { program: String },
    #[error(transparent)]
    Command(#[from] CommandFailed),
    /// A quick command failed; `output` is the first lines it printed.
    #[error("`{command}` failed: {output}")]
    QuickFailed { command: String, output: String },
    #[error("push: true needs at least one tag (`tags`)")]
    PushWithoutTags,
    #[error("platform `{platform}` is not os/arch[/variant] (e.g. linux/amd64); give a list for several")]
    BadPlatform { platform: String },
    #[error("option `builder` selects a buildx builder, and buildx is not installed")]
    BuilderWithoutBuildx,
    #[error("building for {} at once makes a multi-platform manifest, which needs buildx \
             (not installed: `docker buildx version` fails); install the buildx plugin, or \
             build one platform per call (platforms: [\"{}\"])", platforms.join(", "), platforms[0])]
    MultiPlatformWithoutBuildx { platforms: Vec<String> },
    #[error("cache_to `{to}` needs buildx; `docker build` keeps its cache in the engine")]
    CacheToWithoutBuildx { to: String },
    #[error("cache_from `{from}` needs buildx; without it cache_from takes image references")]
    CacheFromWithoutBuildx { from: String },
    #[error(transparent)]
    Size(#[from] SizeError),
    #[error("docker stats answered no JSON ({source}): {output}")]
    StatsNotJson {
        output: String,
        source: serde_json::Error,
    },
    #[error("docker inspect answered no JSON: {0}")]
    InspectNotJson(#[source] serde_json::Error),
    #[error("docker inspect `{what}`: no object in its answer")]
    InspectNoObject { what: String },
    #[error("docker image inspect: not a size: {output}")]
    NotASize { output: String },
    #[error("no image `{name}` in the engine (build it first, or check the tag)")]
    NoSuchImage { name: String },
    /// The file `docker build --iidfile` writes the image id to could not be made.
    #[error("docker::build: {0}")]
    IdFile(#[source] std::io::Error),
    #[error("load: true cannot take a multi-platform image ({}) into the engine; push it, or load one platform", platforms.join(", "))]
    LoadMultiPlatform { platforms: Vec<String> },
}

/// Why an image fails its size gate (sizes in MB).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SizeError {
    #[error("image {image} is {size:.1} MB, over its limit of {limit:.1} MB")]
    OverLimit {
        image: String,
        size: f64,
        limit: f64,
    },
    #[error("image {image} grew {:.1} MB ({base:.1} → {size:.1} MB, baseline: {baseline}); the limit is +{limit:.0} MB", size - base)]
    GrewTooMuch {
        image: String,
        size: f64,
        base: f64,
        /// What the baseline is: a recorded file or another image.
        baseline: String,
        /// The growth that fails, in MB.
        limit: f64,
    },
}
