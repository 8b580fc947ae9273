//! `docker::image_size` and the size gate `docker::check_size`: an upper bound, and growth
//! against a baseline (another image, a number of MB, or the size recorded by an earlier run
//! under `target/xtask/docker/sizes/`). Growth at or past `warn_growth_mb` (default 20) warns,
//! at or past `fail_growth_mb` (default 50) fails. MB are 10^6 bytes, as `docker images` shows.

use rhai::{Dynamic, FuncRegistration, Map, Module, NativeCallContext};

use super::error::{DockerError, SizeError};
use super::{engine, tags};
use crate::events::Level;
use crate::primitives::error::IntoScript as _;
use crate::primitives::options::{self, option_type, options, result, script_type, Number};
use crate::primitives::{at_call_site, error, Result};
use crate::script::{context, Mode};

option_type! {
    /// Another image (its name) or a number of MB.
    Baseline(Dynamic) as "string or number", |value| {
        if value.is_string() || value.is_unit() || value.as_float().is_ok() || value.as_int().is_ok() {
            Ok(value)
        } else {
            Err(format!("must be an image name or a number of MB, not {}", script_type(&value)))
        }
    }
}

options! {
    /// Options of `docker::check_size`.
    pub struct SizeOptions for "docker::check_size" {
        /// Fails over this many MB (10^6 bytes, as `docker images` shows them).
        max_mb: Option<Number>,
        /// Another image, or a number of MB (default: the size recorded under
        /// `target/xtask/docker/sizes/<key>.json`).
        baseline: Option<Baseline>,
        /// Growth over the baseline from which it warns, in MB.
        warn_growth_mb: Option<Number> = None => "20",
        /// Growth over the baseline from which it fails, in MB.
        fail_growth_mb: Option<Number> = None => "50",
        /// Records the size as the new baseline (default: only the first time).
        record: Option<bool>,
        /// The recorded baseline's name (default: the image's).
        key: Option<String>,
    }
}
const MB: f64 = 1e6;

pub fn register(module: &mut Module) {
    FuncRegistration::new("image_size")
        .set_into_module(module, |ctx: NativeCallContext, image: &str| {
            image_size(image).script_at(&ctx)
        });
    FuncRegistration::new("check_size")
        .set_into_module(module, |ctx: NativeCallContext, image: &str| {
            at_call_site(&ctx, check_size(image, Map::new()))
        });
    FuncRegistration::new("check_size").set_into_module(
        module,
        |ctx: NativeCallContext, image: &str, options: Map| {
            at_call_site(&ctx, check_size(image, options))
        },
    );
}

/// The image's size in bytes.
fn image_size(name: &str) -> std::result::Result<i64, DockerError> {
    let caps = engine()?;
    match super::image(&caps, name)? {
        Some(found) => Ok(found.size),
        None => Err(DockerError::NoSuchImage { name: name.into() }),
    }
}

#[derive(Debug, PartialEq)]
pub enum Verdict {
    Ok,
    Warn(String),
    Fail(SizeError),
}

/// The gate itself, on numbers (MB).
pub fn judge(
    image: &str,
    size: f64,
    max: Option<f64>,
    baseline: Option<(f64, String)>,
    warn: f64,
    fail: f64,
) -> Verdict {
    if let Some(max) = max {
        if size > max {
            return Verdict::Fail(SizeError::OverLimit {
                image: image.into(),
                size,
                limit: max,
            });
        }
    }
    if let Some((base, what)) = baseline {
        let growth = size - base;
        if growth >= fail {
            return Verdict::Fail(SizeError::GrewTooMuch {
                image: image.into(),
                size,
                base,
                baseline: what,
                limit: fail,
            });
        }
        if growth >= warn {
            return Verdict::Warn(format!(
                "image {image} grew {growth:.1} MB ({base:.1} → {size:.1} MB, baseline: {what}); a warning from +{warn:.0} MB, failing from +{fail:.0} MB"
            ));
        }
    }
    Verdict::Ok
}

/// A number of MB, which may not be negative.
fn megabytes(key: &str, value: Option<Number>) -> Result<Option<f64>> {
    match value {
        None => Ok(None),
        Some(Number(n)) if n >= 0.0 => Ok(Some(n)),
        Some(_) => error(format!("option `{key}` must be a number of MB")),
    }
}

result! {
    /// What `docker::check_size` returns (an empty map in `--list` and `--dry-run`).
    pub struct SizeResult {
        /// The image's size in MB.
        size_mb: f64 as "float",
        /// The size compared against; `()` without a baseline.
        baseline_mb: Option<f64> as "float",
        /// `size_mb - baseline_mb`; `()` without a baseline.
        growth_mb: Option<f64> as "float",
        /// `ok`, or `warn` when it grew past `warn_growth_mb` (past `fail_growth_mb` fails).
        status: String as "string",
    }
}

fn check_size(image: &str, options: Map) -> Result<Map> {
    let options: SizeOptions = options::parse(&options)?;
    let scope = context::current();
    let max = megabytes("max_mb", options.max_mb)?;
    let warn = megabytes("warn_growth_mb", options.warn_growth_mb)?.unwrap_or(20.0);
    let fail = megabytes("fail_growth_mb", options.fail_growth_mb)?.unwrap_or(50.0);
    let record = options.record;
    let key = tags::sanitize(
        &options
            .key
            .unwrap_or_else(|| image.replace([':', '/', '@'], "_")),
    );
    let record_file = scope
        .host
        .root
        .join("target/xtask/docker/sizes")
        .join(format!("{key}.json"));
    if scope.host.mode == Mode::Plan {
        return Ok(Map::new());
    }
    let size = image_size(image).script()? as f64 / MB;

    let baseline_given = options.baseline.is_some();
    let baseline = match options.baseline.map(|b| b.0) {
        Some(v) if v.is_string() => {
            let other = v.to_string();
            Some((
                image_size(&other).script()? as f64 / MB,
                format!("image {other}"),
            ))
        }
        Some(v) if !v.is_unit() => {
            let n = v.as_float().or_else(|_| v.as_int().map(|i| i as f64)).ok();
            megabytes("baseline", n.map(Number))?.map(|n| (n, "given".to_string()))
        }
        _ => std::fs::read_to_string(&record_file)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json.get("size_mb").and_then(|s| s.as_f64()))
            .map(|n| (n, format!("recorded in {}", record_file.display()))),
    };
    let verdict = judge(image, size, max, baseline.clone(), warn, fail);
    let mut result = SizeResult {
        size_mb: size,
        baseline_mb: baseline.as_ref().map(|(b, _)| *b),
        growth_mb: baseline.as_ref().map(|(b, _)| size - b),
        status: String::new(),
    };
    let bus = &scope.host.bus;
    let status = match verdict {
        Verdict::Fail(gate) => return Err(gate).script(),
        Verdict::Warn(text) => {
            bus.message(scope.job, Level::Warn, text);
            "warn"
        }
        Verdict::Ok => {
            let against = match &baseline {
                Some((b, what)) => format!(", {:+.1} MB against {b:.1} MB ({what})", size - b),
                None => String::new(),
            };
            let limit = max
                .map(|m| format!(" (limit {m:.1} MB)"))
                .unwrap_or_default();
            bus.message(
                scope.job,
                Level::Info,
                format!("image {image}: {size:.1} MB{limit}{against}"),
            );
            "ok"
        }
    };
    result.status = status.into();
    // Record when asked, or the first time (no baseline yet), so the next run compares.
    let first = !baseline_given && baseline.is_none();
    if record.unwrap_or(first) {
        if let Some(dir) = record_file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let json = serde_json::json!({ "image": image, "size_mb": size });
        if std::fs::write(&record_file, json.to_string()).is_ok() {
            bus.message(
                scope.job,
                Level::Info,
                format!(
                    "recorded {size:.1} MB as the size baseline in {}",
                    record_file.display()
                ),
            );
        }
    }
    Ok(options::to_map(&result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_warns_then_fails_on_growth() {
        let base = || Some((100.0, "image app:main".to_string()));
        assert_eq!(judge("app", 110.0, None, base(), 20.0, 50.0), Verdict::Ok);
        assert!(
            matches!(judge("app", 120.0, None, base(), 20.0, 50.0), Verdict::Warn(t) if t.contains("grew 20.0 MB"))
        );
        assert!(
            matches!(judge("app", 150.0, None, base(), 20.0, 50.0), Verdict::Fail(t) if t.to_string().contains("+50 MB"))
        );
        assert_eq!(
            judge("app", 150.0, None, base(), 20.0, 50.0),
            Verdict::Fail(SizeError::GrewTooMuch {
                image: "app".into(),
                size: 150.0,
                base: 100.0,
                baseline: "image app:main".into(),
                limit: 50.0,
            })
        );
        // Shrinking is fine.
        assert_eq!(judge("app", 10.0, None, base(), 20.0, 50.0), Verdict::Ok);
    }

    #[test]
    fn the_gate_fails_over_the_limit() {
        assert!(
            matches!(judge("app", 12.0, Some(10.0), None, 20.0, 50.0), Verdict::Fail(t) if t.to_string().contains("over its limit of 10.0 MB"))
        );
        assert_eq!(
            judge("app", 12.0, Some(10.0), None, 20.0, 50.0),
            Verdict::Fail(SizeError::OverLimit {
                image: "app".into(),
                size: 12.0,
                limit: 10.0
            })
        );
        assert_eq!(judge("app", 9.0, Some(10.0), None, 20.0, 50.0), Verdict::Ok);
    }
}
