//! `docker::build`: the command lines for one image build, decided from the options, the
//! builder this machine has, and where it runs (Actions or not). Pure, so every combination is
//! a table test; running them is the caller's job.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::client::Builder;
use super::error::DockerError;

#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    pub context: String,
    pub file: Option<String>,
    pub platforms: Vec<String>,
    pub tags: Vec<String>,
    /// A stage of a multi-stage Dockerfile (`--target`).
    pub target: Option<String>,
    /// Passed as the build argument `VARIANT` (`release`, `debug`, `slim`).
    pub variant: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub push: bool,
    /// `None`: load when building one platform without pushing.
    pub load: Option<bool>,
    /// `false` turns off the default cache (`cache_from`/`cache_to` still apply).
    pub cache: bool,
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
    pub builder: Option<String>,
    /// Written by the build: the image ID (or manifest digest when pushing).
    pub iidfile: Option<PathBuf>,
}

/// Where the build runs.
#[derive(Debug, Clone, Default)]
pub struct Place {
    /// Inside GitHub Actions with the cache service reachable (`ACTIONS_CACHE_URL` /
    /// `ACTIONS_RESULTS_URL` and `ACTIONS_RUNTIME_TOKEN`, exported by
    /// crazy-max/ghaction-github-runtime or setup-buildx-action).
    pub gha_cache: bool,
    /// The local cache directory (`target/xtask/docker/cache/<scope>`).
    pub cache_dir: PathBuf,
    /// The cache scope: one per image and variant, so variants do not evict each other.
    pub scope: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub argv: Vec<String>,
    pub env: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Said once before the build (fallbacks, skipped cache).
    pub notes: Vec<String>,
    /// After a successful build, this fresh local cache replaces the old one (the `local`
    /// exporter never prunes, so the directory would only grow).
    pub rotate_cache: Option<(PathBuf, PathBuf)>,
    pub loads: bool,
}

pub fn plan(spec: &BuildSpec, builder: &Builder, place: &Place) -> Result<Plan, DockerError> {
    if spec.push && spec.tags.is_empty() {
        return Err(DockerError::PushWithoutTags);
    }
    for platform in &spec.platforms {
        if platform.split('/').count() < 2 || platform.contains(',') {
            return Err(DockerError::BadPlatform {
                platform: platform.clone(),
            });
        }
    }
    let mut plan = Plan::default();
    let program = builder.program().to_string();
    let mut argv = vec![program.clone()];
    match builder {
        Builder::Buildx { .. } => {
            argv.extend(["buildx".into(), "build".into(), "--progress=plain".into()]);
            if let Some(name) = &spec.builder {
                argv.extend(["--builder".into(), name.clone()]);
            }
        }
        Builder::BuildKit { .. } | Builder::Classic { .. } => {
            if spec.builder.is_some() {
                return Err(DockerError::BuilderWithoutBuildx);
            }
            if spec.platforms.len() > 1 {
                return Err(DockerError::MultiPlatformWithoutBuildx {
                    platforms: spec.platforms.clone(),
                });
            }
            if let Some(to) = spec.cache_to.first() {
                return Err(DockerError::CacheToWithoutBuildx { to: to.clone() });
            }
            if let Some(from) = spec.cache_from.iter().find(|c| c.starts_with("type=")) {
                return Err(DockerError::CacheFromWithoutBuildx { from: from.clone() });
            }
            argv.push("build".into());
            if matches!(builder, Builder::BuildKit { .. }) {
                argv.push("--progress=plain".into());
            }
        }
    }
    if let Some(file) = &spec.file {
        argv.extend(["--file".into(), file.clone()]);
    }
    if !spec.platforms.is_empty() {
        argv.extend(["--platform".into(), spec.platforms.join(",")]);
    }
    if let Some(target) = &spec.target {
        argv.extend(["--target".into(), target.clone()]);
    }
    let mut build_args = spec.build_args.clone();
    if let Some(variant) = &spec.variant {
        build_args.insert("VARIANT".into(), variant.clone());
    }
    for (key, value) in &build_args {
        argv.extend(["--build-arg".into(), format!("{key}={value}")]);
    }
    for (key, value) in &spec.labels {
        argv.extend(["--label".into(), format!("{key}={value}")]);
    }
    for tag in &spec.tags {
        argv.extend(["--tag".into(), tag.clone()]);
    }
    if let Some(file) = &spec.iidfile {
        argv.extend(["--iidfile".into(), file.display().to_string()]);
    }

    let mut env = Vec::new();
    match builder {
        Builder::Buildx { driver, .. } => {
            let load = spec.load.unwrap_or(!spec.push && spec.platforms.len() <= 1);
            if load && spec.platforms.len() > 1 {
                return Err(DockerError::LoadMultiPlatform {
                    platforms: spec.platforms.clone(),
                });
            }
            if spec.push {
                argv.push("--push".into());
            }
            if load {
                argv.push("--load".into());
            }
            plan.loads = load;
            let mut from = spec.cache_from.clone();
            let mut to = spec.cache_to.clone();
            if spec.cache && from.is_empty() && to.is_empty() {
                if driver.as_deref() == Some("docker") {
                    plan.notes.push(
                        "cache: the buildx `docker` driver cannot export a cache; the engine's own \
                         BuildKit cache is used (`docker buildx create --use` makes a builder that can)"
                            .into(),
                    );
                } else if place.gha_cache {
                    from.push(format!("type=gha,scope={}", place.scope));
                    to.push(format!("type=gha,mode=max,scope={}", place.scope));
                } else {
                    let dir = place.cache_dir.clone();
                    let fresh = PathBuf::from(format!("{}-new", dir.display()));
                    from.push(format!("type=local,src={}", dir.display()));
                    to.push(format!("type=local,dest={},mode=max", fresh.display()));
                    plan.rotate_cache = Some((fresh, dir));
                }
            }
            for cache in from {
                argv.extend(["--cache-from".into(), cache]);
            }
            for cache in to {
                argv.extend(["--cache-to".into(), cache]);
            }
        }
        Builder::BuildKit { .. } => {
            env.push(("DOCKER_BUILDKIT".into(), Some("1".into())));
            for cache in &spec.cache_from {
                argv.extend(["--cache-from".into(), cache.clone()]);
            }
            plan.notes.push(
                "no buildx: building one platform with BuildKit through `docker build` (a multi-platform manifest needs buildx); its cache stays in the engine"
                    .into(),
            );
            plan.loads = true;
        }
        Builder::Classic { .. } => {
            // A newer client with DOCKER_BUILDKIT=1 in the environment refuses to build at all.
            env.push(("DOCKER_BUILDKIT".into(), Some("0".into())));
            for cache in &spec.cache_from {
                argv.extend(["--cache-from".into(), cache.clone()]);
            }
            plan.notes.push(
                "no buildx and no client with built-in BuildKit: using the classic builder (one platform; set XTASK_DOCKER to a client with BuildKit)"
                    .into(),
            );
            plan.loads = true;
        }
    }
    argv.push(spec.context.clone());
    plan.steps.push(Step { argv, env });

    if spec.push && !matches!(builder, Builder::Buildx { .. }) {
        for tag in &spec.tags {
            plan.steps.push(Step {
                argv: vec![program.clone(), "push".into(), tag.clone()],
                env: Vec::new(),
            });
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buildx(driver: &str) -> Builder {
        Builder::Buildx {
            program: "docker".into(),
            version: "v0.12.1".into(),
            driver: Some(driver.into()),
        }
    }

    fn buildkit() -> Builder {
        Builder::BuildKit {
            program: "/usr/bin/docker".into(),
        }
    }

    fn classic() -> Builder {
        Builder::Classic {
            program: "docker".into(),
        }
    }

    fn local() -> Place {
        Place {
            gha_cache: false,
            cache_dir: PathBuf::from("/p/target/xtask/docker/cache/app-release"),
            scope: "app-release".into(),
        }
    }

    fn gha() -> Place {
        Place {
            gha_cache: true,
            ..local()
        }
    }

    fn spec() -> BuildSpec {
        BuildSpec {
            context: ".".into(),
            tags: vec!["app:main".into()],
            cache: true,
            ..BuildSpec::default()
        }
    }

    fn words(plan: &Plan) -> String {
        plan.steps[0].argv.join(" ")
    }

    /// One row: options, builder, place → the build command (or the error).
    type Row = (
        &'static str,
        BuildSpec,
        Builder,
        Place,
        Result<&'static str, &'static str>,
    );

    #[test]
    fn buildx_command_lines() {
        let multi = vec!["linux/amd64".to_string(), "linux/arm64".into()];
        let rows: Vec<Row> = vec![
            (
                "one platform loads, local cache rotates",
                BuildSpec { platforms: vec!["linux/amd64".into()], ..spec() },
                buildx("docker-container"),
                local(),
                Ok("docker buildx build --progress=plain --platform linux/amd64 --tag app:main --load \
                    --cache-from type=local,src=/p/target/xtask/docker/cache/app-release \
                    --cache-to type=local,dest=/p/target/xtask/docker/cache/app-release-new,mode=max ."),
            ),
            (
                "multi-platform push in Actions uses the gha cache",
                BuildSpec { platforms: multi.clone(), push: true, ..spec() },
                buildx("docker-container"),
                gha(),
                Ok("docker buildx build --progress=plain --platform linux/amd64,linux/arm64 --tag app:main --push \
                    --cache-from type=gha,scope=app-release --cache-to type=gha,mode=max,scope=app-release ."),
            ),
            (
                "multi-platform without push neither loads nor pushes",
                BuildSpec { platforms: multi.clone(), ..spec() },
                buildx("docker-container"),
                gha(),
                Ok("docker buildx build --progress=plain --platform linux/amd64,linux/arm64 --tag app:main \
                    --cache-from type=gha,scope=app-release --cache-to type=gha,mode=max,scope=app-release ."),
            ),
            (
                "multi-platform load is refused",
                BuildSpec { platforms: multi.clone(), load: Some(true), ..spec() },
                buildx("docker-container"),
                local(),
                Err("cannot take a multi-platform image"),
            ),
            (
                "variant, target, args, labels, file, builder; cache off",
                BuildSpec {
                    file: Some("docker/Dockerfile".into()),
                    target: Some("runtime".into()),
                    variant: Some("debug".into()),
                    build_args: [("RUST".to_string(), "1.95".to_string())].into(),
                    labels: [("org.opencontainers.image.revision".to_string(), "abc".to_string())].into(),
                    builder: Some("ci".into()),
                    cache: false,
                    ..spec()
                },
                buildx("docker-container"),
                local(),
                Ok("docker buildx build --progress=plain --builder ci --file docker/Dockerfile --target runtime \
                    --build-arg RUST=1.95 --build-arg VARIANT=debug \
                    --label org.opencontainers.image.revision=abc --tag app:main --load ."),
            ),
            (
                "explicit cache wins over the default",
                BuildSpec {
                    cache_from: vec!["type=registry,ref=r/app:cache".into()],
                    cache_to: vec!["type=registry,ref=r/app:cache,mode=max".into()],
                    push: true,
                    load: Some(true),
                    ..spec()
                },
                buildx("docker-container"),
                gha(),
                Ok("docker buildx build --progress=plain --tag app:main --push --load \
                    --cache-from type=registry,ref=r/app:cache --cache-to type=registry,ref=r/app:cache,mode=max ."),
            ),
            (
                "the docker driver gets no cache export",
                spec(),
                buildx("docker"),
                local(),
                Ok("docker buildx build --progress=plain --tag app:main --load ."),
            ),
            (
                "push needs a tag",
                BuildSpec { tags: vec![], push: true, ..spec() },
                buildx("docker-container"),
                local(),
                Err("needs at least one tag"),
            ),
            (
                "a comma in one platform is a mistake",
                BuildSpec { platforms: vec!["linux/amd64,linux/arm64".into()], ..spec() },
                buildx("docker-container"),
                local(),
                Err("is not os/arch"),
            ),
        ];
        for (what, spec, builder, place, expected) in rows {
            let got = plan(&spec, &builder, &place);
            match (expected, got) {
                (Ok(line), Ok(plan)) => {
                    let line: Vec<&str> = line.split_whitespace().collect();
                    assert_eq!(words(&plan), line.join(" "), "{what}");
                    assert_eq!(plan.steps.len(), 1, "{what}: buildx pushes itself");
                }
                (Err(part), Err(e)) => assert!(e.to_string().contains(part), "{what}: {e}"),
                (expected, got) => panic!("{what}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn local_cache_is_rotated_after_the_build() {
        let p = plan(&spec(), &buildx("docker-container"), &local()).unwrap();
        assert_eq!(
            p.rotate_cache,
            Some((
                PathBuf::from("/p/target/xtask/docker/cache/app-release-new"),
                PathBuf::from("/p/target/xtask/docker/cache/app-release")
            ))
        );
        assert!(p.loads);
    }

    #[test]
    fn without_buildx_one_platform_builds_with_buildkit_and_pushes_per_tag() {
        let spec = BuildSpec {
            platforms: vec!["linux/amd64".into()],
            tags: vec!["r/app:1.2.3".into(), "r/app:1.2".into()],
            variant: Some("release".into()),
            push: true,
            ..spec()
        };
        let p = plan(&spec, &buildkit(), &local()).unwrap();
        assert_eq!(
            words(&p),
            "/usr/bin/docker build --progress=plain --platform linux/amd64 --build-arg VARIANT=release \
             --tag r/app:1.2.3 --tag r/app:1.2 ."
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(
            p.steps[0].env,
            [("DOCKER_BUILDKIT".to_string(), Some("1".to_string()))]
        );
        assert_eq!(p.steps[1].argv, ["/usr/bin/docker", "push", "r/app:1.2.3"]);
        assert_eq!(p.steps[2].argv, ["/usr/bin/docker", "push", "r/app:1.2"]);
        assert!(p.notes[0].contains("multi-platform manifest needs buildx"));
        assert_eq!(p.rotate_cache, None);
    }

    #[test]
    fn without_buildx_several_platforms_is_an_error_not_a_half_build() {
        let spec = BuildSpec {
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            ..spec()
        };
        for builder in [buildkit(), classic()] {
            let err = plan(&spec, &builder, &local()).unwrap_err();
            assert!(
                matches!(&err, DockerError::MultiPlatformWithoutBuildx { platforms } if platforms == &spec.platforms),
                "{err:?}"
            );
            let err = err.to_string();
            assert!(err.contains("linux/amd64, linux/arm64"), "{err}");
            assert!(err.contains("needs buildx"), "{err}");
        }
    }

    #[test]
    fn without_buildx_cache_export_and_builders_are_errors() {
        let to = BuildSpec {
            cache_to: vec!["type=local,dest=x".into()],
            ..spec()
        };
        assert!(matches!(
            plan(&to, &buildkit(), &local()),
            Err(DockerError::CacheToWithoutBuildx { to }) if to == "type=local,dest=x"
        ));
        let from = BuildSpec {
            cache_from: vec!["type=gha".into()],
            ..spec()
        };
        assert!(matches!(
            plan(&from, &buildkit(), &local()),
            Err(DockerError::CacheFromWithoutBuildx { from }) if from == "type=gha"
        ));
        let named = BuildSpec {
            builder: Some("ci".into()),
            ..spec()
        };
        assert!(matches!(
            plan(&named, &classic(), &local()),
            Err(DockerError::BuilderWithoutBuildx)
        ));
    }

    #[test]
    fn the_classic_builder_turns_buildkit_off_explicitly() {
        let p = plan(&spec(), &classic(), &local()).unwrap();
        assert_eq!(words(&p), "docker build --tag app:main .");
        assert_eq!(
            p.steps[0].env,
            [("DOCKER_BUILDKIT".to_string(), Some("0".to_string()))]
        );
        assert!(p.notes[0].contains("classic builder"));
    }
}
