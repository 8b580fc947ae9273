//! `cargo metadata --no-deps` as a map scripts can read: the workspace's packages, versions,
//! targets and `rust-version` (the MSRV the toolchain matrix tests).

use std::path::Path;

use rhai::{Array, Dynamic, Map};
use serde_json::Value;

pub fn to_map(json: &str, dir: &Path) -> Result<Map, String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("cargo metadata printed bad JSON: {e}"))?;
    let mut packages = Array::new();
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
        let targets: Array = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let mut m = Map::new();
                m.insert("name".into(), text(&t["name"]));
                m.insert("kind".into(), strings(&t["kind"]).into());
                Dynamic::from_map(m)
            })
            .collect();
        let has_lib = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| {
                t["kind"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| matches!(k.as_str(), Some("lib" | "rlib" | "proc-macro")))
            });
        let mut m = Map::new();
        m.insert("name".into(), text(&package["name"]));
        m.insert("version".into(), text(&package["version"]));
        m.insert("rust_version".into(), text(&package["rust_version"]));
        m.insert("manifest_path".into(), text(&package["manifest_path"]));
        m.insert("has_lib".into(), has_lib.into());
        m.insert("targets".into(), targets.into());
        packages.push(Dynamic::from_map(m));
    }
    let mut map = Map::new();
    map.insert(
        "names".into(),
        packages
            .iter()
            .filter_map(|p| p.read_lock::<Map>().map(|m| m["name"].clone()))
            .collect::<Array>()
            .into(),
    );
    map.insert(
        "has_lib".into(),
        packages
            .iter()
            .any(|p| {
                p.read_lock::<Map>()
                    .is_some_and(|m| m["has_lib"].as_bool() == Ok(true))
            })
            .into(),
    );
    map.insert("packages".into(), packages.into());
    map.insert(
        "rust_version".into(),
        msrv.map(Dynamic::from).unwrap_or(Dynamic::UNIT),
    );
    map.insert(
        "version".into(),
        here.map(|p| text(&p["version"])).unwrap_or(Dynamic::UNIT),
    );
    map.insert("workspace_root".into(), text(&value["workspace_root"]));
    map.insert("target_directory".into(), text(&value["target_directory"]));
    Ok(map)
}

fn text(value: &Value) -> Dynamic {
    value
        .as_str()
        .map(|s| Dynamic::from(s.to_string()))
        .unwrap_or(Dynamic::UNIT)
}

fn strings(value: &Value) -> Array {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(|s| Dynamic::from(s.to_string())))
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
