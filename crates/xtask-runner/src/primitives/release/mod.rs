//! `release::` — making a release for real without publishing it: version and changelog
//! consistency (`check`), version bumps (`bump`), release notes from git history
//! (`changelog`), and release artifacts with checksums (`package`). One module per job; this
//! one only binds them to Rhai and reads options.

mod bump;
mod changelog;
mod check;
mod error;
mod package;
mod workspace;

pub use error::ReleaseError;

use std::path::PathBuf;

use rhai::{Engine, Map, Module};

use super::error::IntoScript as _;
use super::options::{self, option_type, options, result, script_type, Strings};
use super::options::{Fields as _, Options as _};
use super::reference::{plain, Function};
use super::Result;
use crate::events::Level;
use crate::script::context;

option_type! {
    /// `true` (`CHANGELOG.md`), `false` (none) or a file name relative to the workspace root.
    ChangelogFile(Option<String>) as "bool or string", |value| {
        if value.is_string() {
            Ok(Some(value.to_string()))
        } else {
            match value.as_bool() {
                Ok(true) => Ok(Some("CHANGELOG.md".to_string())),
                Ok(false) => Ok(None),
                Err(_) => Err(format!(
                    "must be true, false or a file name, not {}",
                    script_type(&value)
                )),
            }
        }
    }
}

options! {
    /// Options of `release::check`.
    pub struct CheckOptions for "release::check" {
        /// When HEAD has a version tag, it must be `<tag_prefix><version>`.
        tag: bool = true,
        /// What comes before the version in a tag.
        tag_prefix: String = "v".into() => "\"v\"",
        /// The changelog that must have a section for the version: `true` (`CHANGELOG.md`),
        /// `false` (not checked) or a file name.
        changelog: Option<ChangelogFile> = None => "true",
        /// The workspace directory may have no uncommitted or untracked files.
        clean: bool = true,
        /// `Cargo.lock` must agree with the manifests' versions.
        lock: bool = true,
        /// Crates that keep their own version (left out of the shared-version check).
        independent: Strings,
    }
}

options! {
    /// Options of `release::bump`.
    pub struct BumpOptions for "release::bump" {
        /// Commits the change as `Release X.Y.Z`.
        commit: bool = false,
        /// Makes an annotated tag `<tag_prefix>X.Y.Z` (with `commit`).
        tag: bool = false,
        /// What comes before the version in a tag.
        tag_prefix: String = "v".into() => "\"v\"",
        /// The commit message (default `Release X.Y.Z`).
        message: Option<String>,
        /// Refreshes `Cargo.lock` (`cargo update --workspace --offline`).
        lock: bool = true,
        /// Writes the release notes into the changelog: `true` (`CHANGELOG.md`), `false` or a
        /// file name.
        changelog: Option<ChangelogFile> = None => "false",
        /// Crates that keep their own version (not bumped).
        independent: Strings,
    }
}

options! {
    /// Options of `release::changelog`.
    pub struct ChangelogOptions for "release::changelog" {
        /// Puts the section into the changelog above the newest release.
        write: bool = false,
        /// The section's version (default: the workspace's).
        version: Option<String>,
        /// The section's date (default: today, or `SOURCE_DATE_EPOCH`'s).
        date: Option<String>,
        /// The changelog written with `write`, relative to the workspace root.
        path: String = "CHANGELOG.md".into() => "\"CHANGELOG.md\"",
        /// What comes before the version in a tag (finds the previous release).
        tag_prefix: String = "v".into() => "\"v\"",
    }
}

options! {
    /// Options of `release::pack`.
    pub struct PackOptions for "release::pack" {
        /// Binaries to archive (default: every binary of the released crates).
        bins: Option<Strings>,
        /// A target triple for `cargo build --target` (default: the host's, without `--target`).
        target: Option<String>,
        /// Strips the binaries.
        strip: bool = true,
        /// Where the archives go, relative to the job's directory (default `<target dir>/dist`).
        out: Option<String>,
        /// Library crates to `cargo package` (default: every publishable crate with a lib
        /// target; a `publish = false` crate is packed only when named here).
        libs: Option<Strings>,
        /// `cargo package --offline`: the registry is not contacted, so the dependencies must
        /// be in the local cache.
        offline: bool = true,
        /// Lets `cargo package` build the packaged crate (`--no-verify` when false).
        verify: bool = true,
        /// Extra files (relative to the workspace root) for every archive, besides README and
        /// LICENSE.
        include: Strings,
        /// Crates that keep their own version.
        independent: Strings,
    }
}

result! {
    /// What `release::check` returns.
    pub struct CheckResult {
        /// The release version.
        version: String as "string",
        /// The released crates.
        crates: Vec<String> as "array of strings",
    }
}

result! {
    /// What `release::bump` returns.
    pub struct BumpResult {
        /// The version before.
        from: String as "string",
        /// The version after.
        to: String as "string",
        /// The files changed.
        files: Vec<String> as "array of strings",
        /// The tag made, or `()`.
        tag: Option<String> as "string",
    }
}

result! {
    /// What `release::pack` returns.
    pub struct PackResult {
        /// The directory the archives went to.
        dir: String as "string",
        /// The `.tar.gz` archives, one per binary.
        archives: Vec<String> as "array of strings",
        /// The `.crate` files `cargo package` made.
        crates: Vec<String> as "array of strings",
        /// The `checksums.txt` (`sha256sum -c` reads it).
        checksums: String as "string",
        /// The release version.
        version: String as "string",
        /// The target triple the binaries were built for.
        target: String as "string",
    }
}

pub(crate) const FUNCTIONS: &[Function] = &[
    plain(
        "release::version",
        &[],
        "The release version: `[workspace.package]`'s, else the root package's, else the one the released crates share.",
    ),
    Function {
        name: "release::check",
        params: &["options: map"],
        summary: "Checks that the released crates share the version, Cargo.lock agrees, the tag and changelog match and the tree is clean; lists every mismatch with its file and both values.",
        options: &[CheckOptions::FIELDS],
        result: CheckResult::FIELDS,
    },
    Function {
        name: "release::bump",
        params: &["how: string", "options: map"],
        summary: "Bumps the version (`major`, `minor`, `patch` or `X.Y.Z`) in place in every manifest that states it, comments and layout kept.",
        options: &[BumpOptions::FIELDS],
        result: BumpResult::FIELDS,
    },
    Function {
        name: "release::changelog",
        params: &["from: string", "to: string", "options: map"],
        summary: "A `## [X.Y.Z] - date` section from the conventional commits in `from..to` (default: since the previous release tag).",
        options: &[ChangelogOptions::FIELDS],
        result: &[],
    },
    Function {
        name: "release::pack",
        params: &["options: map"],
        summary: "Release archives (`<bin>-<version>-<target>.tar.gz`, `checksums.txt`) and `cargo package` crates; never uploads (`package` is a Rhai keyword, hence `pack`).",
        options: &[PackOptions::FIELDS],
        result: PackResult::FIELDS,
    },
];

pub fn register(engine: &mut Engine) {
    let mut module = Module::new();
    module.set_native_fn("version", || {
        let ws = workspace::Workspace::load(&dir()).script()?;
        Ok(ws.version(&[]).script()?.0)
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

fn check(options: Map) -> Result<Map> {
    let options: CheckOptions = options::parse(&options)?;
    let changelog = match options.changelog {
        Some(file) => file.0,
        None => Some("CHANGELOG.md".to_string()),
    };
    let checked = check::check(
        &dir(),
        &check::Options {
            tag: options.tag,
            tag_prefix: options.tag_prefix,
            changelog,
            clean: options.clean,
            lock: options.lock,
            independent: options.independent.0,
        },
    )
    .script()?;
    say(format!(
        "release {} is consistent: {}",
        checked.version,
        checked.crates.join(", ")
    ));
    Ok(options::to_map(&CheckResult {
        version: checked.version,
        crates: checked.crates,
    }))
}

fn bump_with(how: &str, options: Map) -> Result<Map> {
    bump(how, options)
}

fn bump(how: &str, options: Map) -> Result<Map> {
    let options: BumpOptions = options::parse(&options)?;
    let bumped = bump::bump(
        &dir(),
        how,
        &bump::Options {
            commit: options.commit,
            tag: options.tag,
            tag_prefix: options.tag_prefix,
            message: options.message,
            lock: options.lock,
            changelog: options.changelog.and_then(|file| file.0),
            date: changelog::today(context::current().env_var("SOURCE_DATE_EPOCH")),
            independent: options.independent.0,
        },
    )
    .script()?;
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
    Ok(options::to_map(&BumpResult {
        from: bumped.from,
        to: bumped.to,
        files: bumped.files,
        tag: bumped.tag,
    }))
}

fn changelog_with(from: &str, to: &str, options: Map) -> Result<String> {
    changelog(from, to, options)
}

/// The section for the commits `from..to`; an empty `from` means "since the newest tag
/// reachable from `to`" (all history when there is none).
fn changelog(from: &str, to: &str, options: Map) -> Result<String> {
    let options: ChangelogOptions = options::parse(&options)?;
    let ws = workspace::Workspace::load(&dir()).script()?;
    let version = match options.version {
        Some(v) => v,
        None => ws.version(&[]).script()?.0,
    };
    let date = match options.date {
        Some(d) => d,
        None => changelog::today(context::current().env_var("SOURCE_DATE_EPOCH")),
    };
    let from = (!from.is_empty()).then_some(from);
    let to = if to.is_empty() { "HEAD" } else { to };
    let notes =
        changelog::from_history(&ws, from, to, &options.tag_prefix, &version, &date).script()?;
    if options.write {
        let file = options.path;
        changelog::insert(&ws.root.join(&file), &version, &notes.section).script()?;
        say(format!(
            "{file}: added the {version} section ({})",
            notes.describe()
        ));
    }
    Ok(notes.section)
}

fn package(options: Map) -> Result<Map> {
    let options: PackOptions = options::parse(&options)?;
    let scope = context::current();
    let packaged = package::package(
        &dir(),
        &package::Options {
            bins: options.bins.map(|b| b.0),
            target: options.target,
            strip: options.strip,
            out: options.out.map(|o| scope.path(&o)),
            libs: options.libs.map(|l| l.0),
            offline: options.offline,
            verify: options.verify,
            include: options.include.0,
            independent: options.independent.0,
        },
    )
    .script()?;
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
