//! `release::` — making a release for real without publishing it: version and changelog
//! consistency (`check`), version bumps (`bump`), release notes from git history
//! (`changelog`), and release artifacts with checksums (`package`). One module per job; this
//! one only binds them to Rhai and reads options.

mod bump;
mod changelog;
mod check;
mod package;
mod workspace;

use std::path::PathBuf;

use rhai::{Dynamic, Engine, Map, Module};

use super::{check_keys, error, opt_bool, opt_string, string_list, Result};
use crate::events::Level;
use crate::script::context;

const CHECK_OPTIONS: &[&str] = &[
    "tag",
    "tag_prefix",
    "changelog",
    "clean",
    "lock",
    "independent",
];
const BUMP_OPTIONS: &[&str] = &[
    "commit",
    "tag",
    "tag_prefix",
    "message",
    "lock",
    "changelog",
    "independent",
];
const CHANGELOG_OPTIONS: &[&str] = &["write", "version", "date", "path", "tag_prefix"];
const PACKAGE_OPTIONS: &[&str] = &[
    "bins",
    "target",
    "strip",
    "out",
    "libs",
    "offline",
    "verify",
    "include",
    "independent",
];

pub fn register(engine: &mut Engine) {
    let mut module = Module::new();
    module.set_native_fn("version", || {
        let ws = workspace::Workspace::load(&dir())?;
        Ok(ws.version(&[])?.0)
    });
    module.set_native_fn("check", || check(Map::new()));
    module.set_native_fn("check", check);
    module.set_native_fn("bump", |how: &str| bump(how, Map::new()));
    module.set_native_fn("bump", bump_with);
    module.set_native_fn("changelog", || changelog("", "HEAD", Map::new()));
    module.set_native_fn("changelog", |options: Map| changelog("", "HEAD", options));
    module.set_native_fn("changelog", |from: &str, to: &str| {
        changelog(from, to, Map::new())
    });
    module.set_native_fn("changelog", changelog_with);
    // `package` is a reserved word in Rhai, hence `pack`.
    module.set_native_fn("pack", || package(Map::new()));
    module.set_native_fn("pack", package);
    engine.register_static_module("release", module.into());
}

fn dir() -> PathBuf {
    super::implied::volatile("release:: reads and changes the repository's state");
    context::current().dir.borrow().clone()
}

fn say(text: String) {
    let scope = context::current();
    scope.host.bus.message(scope.job, Level::Info, text);
}

fn tag_prefix(options: &Map) -> Result<String> {
    Ok(opt_string(options, "tag_prefix")?.unwrap_or_else(|| "v".into()))
}

fn independent(options: &Map) -> Result<Vec<String>> {
    match options.get("independent") {
        None => Ok(Vec::new()),
        Some(v) => string_list("option `independent`", v),
    }
}

/// The `changelog` option: `true`, `false` or a file name (relative to the workspace root).
fn changelog_file(options: &Map, default: bool) -> Result<Option<String>> {
    match options.get("changelog") {
        None if default => Ok(Some("CHANGELOG.md".to_string())),
        None => Ok(None),
        Some(v) if v.is_string() => Ok(Some(v.to_string())),
        Some(v) => match v.as_bool() {
            Ok(true) => Ok(Some("CHANGELOG.md".to_string())),
            Ok(false) => Ok(None),
            Err(t) => error(format!(
                "option `changelog` must be true, false or a file name, not {t}"
            )),
        },
    }
}

fn check(options: Map) -> Result<Map> {
    check_keys("release::check", &options, CHECK_OPTIONS)?;
    let changelog = changelog_file(&options, true)?;
    let checked = check::check(
        &dir(),
        &check::Options {
            tag: opt_bool(&options, "tag")?.unwrap_or(true),
            tag_prefix: tag_prefix(&options)?,
            changelog,
            clean: opt_bool(&options, "clean")?.unwrap_or(true),
            lock: opt_bool(&options, "lock")?.unwrap_or(true),
            independent: independent(&options)?,
        },
    )?;
    say(format!(
        "release {} is consistent: {}",
        checked.version,
        checked.crates.join(", ")
    ));
    let mut map = Map::new();
    map.insert("version".into(), checked.version.into());
    map.insert(
        "crates".into(),
        Dynamic::from_array(checked.crates.into_iter().map(Dynamic::from).collect()),
    );
    Ok(map)
}

fn bump_with(how: &str, options: Map) -> Result<Map> {
    bump(how, options)
}

fn bump(how: &str, options: Map) -> Result<Map> {
    check_keys("release::bump", &options, BUMP_OPTIONS)?;
    let bumped = bump::bump(
        &dir(),
        how,
        &bump::Options {
            commit: opt_bool(&options, "commit")?.unwrap_or(false),
            tag: opt_bool(&options, "tag")?.unwrap_or(false),
            tag_prefix: tag_prefix(&options)?,
            message: opt_string(&options, "message")?,
            lock: opt_bool(&options, "lock")?.unwrap_or(true),
            changelog: changelog_file(&options, false)?,
            date: changelog::today(context::current().env_var("SOURCE_DATE_EPOCH")),
            independent: independent(&options)?,
        },
    )?;
    say(format!(
        "version {} -> {} in {}{}",
        bumped.from,
        bumped.to,
        bumped.files.join(", "),
        bumped
            .tag
            .as_ref()
            .map(|t| format!(", committed and tagged {t}"))
            .unwrap_or_default()
    ));
    let mut map = Map::new();
    map.insert("from".into(), bumped.from.into());
    map.insert("to".into(), bumped.to.into());
    map.insert(
        "files".into(),
        Dynamic::from_array(bumped.files.into_iter().map(Dynamic::from).collect()),
    );
    map.insert(
        "tag".into(),
        bumped.tag.map(Dynamic::from).unwrap_or(Dynamic::UNIT),
    );
    Ok(map)
}

fn changelog_with(from: &str, to: &str, options: Map) -> Result<String> {
    changelog(from, to, options)
}

/// The section for the commits `from..to`; an empty `from` means "since the newest tag
/// reachable from `to`" (all history when there is none).
fn changelog(from: &str, to: &str, options: Map) -> Result<String> {
    check_keys("release::changelog", &options, CHANGELOG_OPTIONS)?;
    let ws = workspace::Workspace::load(&dir())?;
    let version = match opt_string(&options, "version")? {
        Some(v) => v,
        None => ws.version(&[])?.0,
    };
    let date = match opt_string(&options, "date")? {
        Some(d) => d,
        None => changelog::today(context::current().env_var("SOURCE_DATE_EPOCH")),
    };
    let from = (!from.is_empty()).then_some(from);
    let to = if to.is_empty() { "HEAD" } else { to };
    let notes = changelog::from_history(&ws, from, to, &tag_prefix(&options)?, &version, &date)?;
    if opt_bool(&options, "write")?.unwrap_or(false) {
        let file = opt_string(&options, "path")?.unwrap_or_else(|| "CHANGELOG.md".into());
        changelog::insert(&ws.root.join(&file), &version, &notes.section)?;
        say(format!(
            "{file}: added the {version} section ({})",
            notes.describe()
        ));
    }
    Ok(notes.section)
}

fn package(options: Map) -> Result<Map> {
    check_keys("release::pack", &options, PACKAGE_OPTIONS)?;
    let scope = context::current();
    let list = |key: &str| -> Result<Option<Vec<String>>> {
        options
            .get(key)
            .map(|v| string_list(&format!("option `{key}`"), v))
            .transpose()
    };
    let packaged = package::package(
        &dir(),
        &package::Options {
            bins: list("bins")?,
            target: opt_string(&options, "target")?,
            strip: opt_bool(&options, "strip")?.unwrap_or(true),
            out: opt_string(&options, "out")?.map(|o| scope.path(&o)),
            libs: list("libs")?,
            offline: opt_bool(&options, "offline")?.unwrap_or(true),
            verify: opt_bool(&options, "verify")?.unwrap_or(true),
            include: list("include")?.unwrap_or_default(),
            independent: list("independent")?.unwrap_or_default(),
        },
    )?;
    say(format!(
        "{} archive(s) and {} crate(s) for {} {} in {}",
        packaged.archives.len(),
        packaged.crates.len(),
        packaged.version,
        packaged.target,
        packaged.dir.display()
    ));
    Ok(packaged.to_map())
}
