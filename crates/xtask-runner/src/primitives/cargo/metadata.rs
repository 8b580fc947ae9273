//! `cargo metadata --no-deps` as a map scripts can read: the workspace's packages, versions,
//! targets and `rust-version` (the MSRV the toolchain matrix tests).

use std::path::Path;

use rhai::Map;
use serde_json::Value;

use crate::primitives::options::{self, result};

result! {
    /// What `cargo::metadata` returns.
    pub struct MetadataResult {
        /// The workspace's packages, in cargo's order.
        packages: Vec<Package> as "array of maps",
        /// Their names.
        names: Vec<String> as "array of strings",
        /// The version of the package in the job's directory (else the first package's).
        version: Option<String> as "string",
        /// The MSRV: the highest `rust-version` of the packages, `()` when none sets one.
        rust_version: Option<String> as "string",
        /// Whether any package has a library target.
        has_lib: bool as "bool",
        /// The workspace's root directory.
        workspace_root: Option<String> as "string",
        /// Cargo's target directory.
        target_directory: Option<String> as "string",
    }
}

result! {
    /// One package of `cargo::metadata`'s `packages`.
    pub struct Package {
        /// The package's name.
        name: Option<String> as "string",
        /// Its version.
        version: Option<String> as "string",
        /// Its `rust-version`, or `()`.
        rust_version: Option<String> as "string",
        /// The path of its `Cargo.toml`.
        manifest_path: Option<String> as "string",
        /// Whether it has a library target (lib, rlib or proc-macro).
        has_lib: bool as "bool",
        /// Its targets.
        targets: Vec<Target> as "array of maps",
    }
}

result! {
    /// One target of a package.
    pub struct Target {
        /// The target's name.
        name: Option<String> as "string",
        /// Its kinds (`bin`, `lib`, …).
        kind: Vec<String> as "array of strings",
    }
}

pub fn to_map(json: &str, dir: &Path) -> Result<Map, super::CargoError> {
    let value: Value = serde_json::from_str(json).map_err(super::CargoError::BadMetadata)?;
    let mut packages = Vec::new();
    let mut msrv: Option<String> = None;
    let mut here: Option<&Value> = None;
    for package in value["packages"].as_array().into_iter().flatten() {
        let rust_version = package["rust_version"].as_str();
        if let Some(rv) = rust_version {
            // The workspace builds on a toolchain only if every member does: the highest wins.
            if msrv.as_deref().is_none_or(|m| newer(rv, m)) {
                msrv = Some(rv.to_string());
            }
        }
        let manifest = package["manifest_path"].as_str().unwrap_or_default();
        if Path::new(manifest).parent() == Some(dir) || here.is_none() {
            here = Some(package);
        }
        let targets: Vec<Target> = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| Target {
                name: text(&t["name"]),
                kind: strings(&t["kind"]),
            })
            .collect();
        let has_lib = targets.iter().any(|t| {
            t.kind
                .iter()
                .any(|k| matches!(k.as_str(), "lib" | "rlib" | "proc-macro"))
        });
        packages.push(Package {
            name: text(&package["name"]),
            version: text(&package["version"]),
            rust_version: text(&package["rust_version"]),
            manifest_path: text(&package["manifest_path"]),
            has_lib,
            targets,
        });
    }
    Ok(options::to_map(&MetadataResult {
        names: packages.iter().filter_map(|p| p.name.clone()).collect(),
        has_lib: packages.iter().any(|p| p.has_lib),
        packages,
        rust_version: msrv,
        version: here.and_then(|p| text(&p["version"])),
        workspace_root: text(&value["workspace_root"]),
        target_directory: text(&value["target_directory"]),
    }))
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Whether version `a` is above `b` (`1.85` vs `1.74.1`), comparing numbers part by part.
fn newer(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a) > parts(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_packages_and_the_highest_msrv() {
        let json = r#"{"packages":[
            {"name":"a","version":"0.1.0","rust_version":"1.74","manifest_path":"/w/a/Cargo.toml","targets":[{"name":"a","kind":["bin"]}]},
            {"name":"b","version":"0.2.0","rust_version":"1.80.1","manifest_path":"/w/Cargo.toml","targets":[{"name":"b","kind":["lib"]}]}
        ],"workspace_root":"/w","target_directory":"/w/target"}"#;
        let map = to_map(json, Path::new("/w")).unwrap();
        assert_eq!(map["rust_version"].to_string(), "1.80.1");
        assert_eq!(map["version"].to_string(), "0.2.0");
        assert_eq!(map["has_lib"].as_bool(), Ok(true));
        assert_eq!(map["names"].to_string(), r#"["a", "b"]"#);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(newer("1.85", "1.74.1"));
        assert!(newer("1.100", "1.99"));
        assert!(!newer("1.74", "1.74"));
    }
}
