//! `release::pack` (`package` is a reserved word in Rhai): release binaries built by cargo, stripped, packed as
//! `<bin>-<version>-<target>.tar.gz` (with README/LICENSE), a `checksums.txt` that
//! `sha256sum -c` accepts, and `cargo package` for the library crates. Nothing is published.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use rhai::Map;
use sha2::{Digest, Sha256};

use super::super::git;
use super::super::options::Vars;
use super::super::process::{run_with, RunOptions};
use super::error::{ReleaseError, Result};
use super::workspace::Workspace;

pub struct Options {
    /// Binary targets to pack; `None`: every bin of the released crates.
    pub bins: Option<Vec<String>>,
    /// A target triple for `cargo build --target`; `None`: the host's, built without `--target`.
    pub target: Option<String>,
    pub strip: bool,
    /// Where archives go; `None`: `<target dir>/dist`.
    pub out: Option<PathBuf>,
    /// Library crates to `cargo package`; `None`: every publishable crate with a lib target.
    /// A crate with `publish = false` is packed only when named here.
    pub libs: Option<Vec<String>>,
    /// Pass `--offline` to `cargo package` (default): the registry is not contacted, so the
    /// crate's dependencies must be in the local cache.
    pub offline: bool,
    /// Let `cargo package` build the packed crate (default); `false` passes `--no-verify`.
    pub verify: bool,
    /// Extra files (relative to the workspace root) to put into every archive.
    pub include: Vec<String>,
    pub independent: Vec<String>,
}

pub struct Packaged {
    pub dir: PathBuf,
    pub archives: Vec<PathBuf>,
    pub crates: Vec<PathBuf>,
    pub checksums: PathBuf,
    pub version: String,
    pub target: String,
}

impl Packaged {
    pub fn to_map(&self) -> Map {
        let text = |p: &Path| p.display().to_string();
        super::super::options::to_map(&super::PackResult {
            dir: text(&self.dir),
            archives: self.archives.iter().map(|p| text(p)).collect(),
            crates: self.crates.iter().map(|p| text(p)).collect(),
            checksums: text(&self.checksums),
            version: self.version.clone(),
            target: self.target.clone(),
        })
    }
}

/// Runs a command with its output streamed into the job's log (the same path as `run`).
fn run(argv: &[String], dir: &Path, env: &[(&str, Option<&str>)]) -> Result<()> {
    let options = RunOptions {
        dir: Some(dir.display().to_string()),
        env: Vars(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.map(String::from)))
                .collect(),
        ),
        ..RunOptions::default()
    };
    run_with(argv.to_vec(), options, false)?;
    Ok(())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub fn host_triple(dir: &Path) -> Result<String> {
    let info = git::capture_ok(&strings(&["rustc", "-vV"]), dir)?;
    match info.lines().find_map(|l| l.strip_prefix("host: ")) {
        Some(host) => Ok(host.trim().to_string()),
        None => Err(ReleaseError::NoHostTriple),
    }
}

pub fn package(dir: &Path, options: &Options) -> Result<Packaged> {
    let ws = Workspace::load(dir)?;
    let (version, _) = ws.version(&options.independent)?;
    let released = ws.released(&options.independent);
    let scope = crate::script::context::current();
    let say = |text: String| {
        scope
            .host
            .bus
            .message(scope.job, crate::events::Level::Info, text)
    };

    let bins = match &options.bins {
        Some(bins) => bins.clone(),
        None => released.iter().flat_map(|c| c.bins.clone()).collect(),
    };
    for bin in &bins {
        if !ws.members.iter().any(|c| c.bins.contains(bin)) {
            return Err(ReleaseError::NoSuchBin {
                bin: bin.clone(),
                root: ws.root.clone(),
                known: ws.members.iter().flat_map(|c| c.bins.clone()).collect(),
            });
        }
    }
    let target = match &options.target {
        Some(t) => t.clone(),
        None => host_triple(&ws.root)?,
    };
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("dist"));
    std::fs::create_dir_all(&out).map_err(|source| ReleaseError::CreateDir {
        path: out.clone(),
        source,
    })?;

    let mut archives = Vec::new();
    if !bins.is_empty() {
        let strip_program = options.strip && which::which("strip").is_ok();
        let mut build = strings(&["cargo", "build", "--release"]);
        if ws.root.join("Cargo.lock").exists() {
            build.push("--locked".into());
        }
        if let Some(t) = &options.target {
            build.extend(["--target".into(), t.clone()]);
        }
        if options.strip && !strip_program {
            // No `strip` on this machine: let the linker drop the symbols instead.
            say("no `strip` program found: building with profile.release.strip=\"symbols\"".into());
            build.extend([
                "--config".into(),
                "profile.release.strip=\"symbols\"".into(),
            ]);
        }
        for bin in &bins {
            build.extend(["--bin".into(), bin.clone()]);
        }
        run(&build, &ws.root, &[])?;

        let built_dir = match &options.target {
            Some(t) => ws.target_dir.join(t).join("release"),
            None => ws.target_dir.join("release"),
        };
        let mtime = source_time(&ws.root);
        for bin in &bins {
            let owner = ws.members.iter().find(|c| c.bins.contains(bin));
            let name = format!("{bin}-{version}-{target}");
            // Stripped on a copy, so the build's own binary keeps its symbols for debugging; the
            // guard removes the copy however this ends.
            let staged = Staged(out.join(format!(".{name}.bin")));
            let staged = &staged.0;
            std::fs::copy(built_dir.join(bin), staged).map_err(|source| ReleaseError::Copy {
                path: built_dir.join(bin),
                source,
            })?;
            if strip_program {
                run(
                    &["strip".into(), staged.display().to_string()],
                    &ws.root,
                    &[],
                )?;
            }
            let mut files = vec![(staged.clone(), bin.clone(), 0o755)];
            for doc in docs(owner.map(|c| c.dir()), &ws.root) {
                let file_name = doc.file_name().unwrap().to_string_lossy().into_owned();
                files.push((doc, file_name, 0o644));
            }
            for extra in &options.include {
                let path = ws.root.join(extra);
                if !path.is_file() {
                    return Err(ReleaseError::NoInclude { path });
                }
                let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
                files.push((path, file_name, 0o644));
            }
            let archive = out.join(format!("{name}.tar.gz"));
            write_archive(&archive, &name, &files, mtime).map_err(|source| {
                ReleaseError::Write {
                    path: archive.clone(),
                    source,
                }
            })?;
            say(format!("packed {}", archive.display()));
            archives.push(archive);
        }
    }

    let mut crates = Vec::new();
    let libs: Vec<String> = match &options.libs {
        Some(libs) => libs.clone(),
        None => released
            .iter()
            .filter(|c| c.publishable && c.has_lib)
            .map(|c| c.name.clone())
            .collect(),
    };
    // One `cargo package` for all of them: crates that depend on each other are packed against
    // each other's fresh .crate files (cargo's local overlay), before any is on a registry.
    let mut argv = strings(&["cargo", "package"]);
    let mut produced = Vec::new();
    for lib in &libs {
        let Some(krate) = ws.members.iter().find(|c| &c.name == lib) else {
            return Err(ReleaseError::NoSuchCrate { name: lib.clone() });
        };
        if !krate.publishable {
            // `cargo package` still packs it (only `publish` refuses): asked for by name.
            say(format!(
                "{}: {lib} has `publish = false`; its .crate is for inspection only",
                ws.rel(&krate.manifest)
            ));
        }
        argv.extend(strings(&["--package", lib]));
        produced.push(format!("{lib}-{}.crate", krate.version));
    }
    if !libs.is_empty() {
        if options.offline {
            argv.push("--offline".into());
        }
        if !options.verify {
            argv.push("--no-verify".into());
        }
        say(format!(
            "cargo package for {}{}{}: a dry run, nothing is uploaded",
            libs.join(", "),
            if options.offline {
                " (--offline: the registry is not contacted)"
            } else {
                ""
            },
            if options.verify {
                ""
            } else {
                " (--no-verify: the packed crate is not built)"
            }
        ));
        // `cargo package` never uploads; no token is handed to it all the same.
        run(&argv, &ws.root, &[("CARGO_REGISTRY_TOKEN", None)])?;
    }
    for file in produced {
        let made = ws.target_dir.join("package").join(&file);
        let copy = out.join(&file);
        std::fs::copy(&made, &copy).map_err(|source| ReleaseError::Copy { path: made, source })?;
        crates.push(copy);
    }
    if bins.is_empty() && libs.is_empty() {
        return Err(ReleaseError::NothingToPackage { root: ws.root });
    }

    let checksums = out.join("checksums.txt");
    let mut lines = String::new();
    for file in archives.iter().chain(&crates) {
        let digest = sha256_file(file).map_err(|source| ReleaseError::Read {
            path: file.clone(),
            source,
        })?;
        let name = file.file_name().unwrap().to_string_lossy();
        // Two spaces: the format `sha256sum` writes and `sha256sum -c` reads.
        lines.push_str(&format!("{digest}  {name}\n"));
    }
    std::fs::write(&checksums, lines).map_err(|source| ReleaseError::Write {
        path: checksums.clone(),
        source,
    })?;
    Ok(Packaged {
        dir: out,
        archives,
        crates,
        checksums,
        version,
        target,
    })
}

/// A temporary file removed when dropped.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// README*, LICENSE*, COPYING* and NOTICE* of the crate, else of the workspace root.
fn docs(crate_dir: Option<&Path>, root: &Path) -> Vec<PathBuf> {
    let wanted = |name: &str| {
        let upper = name.to_ascii_uppercase();
        ["README", "LICENSE", "LICENCE", "COPYING", "NOTICE"]
            .iter()
            .any(|p| upper.starts_with(p))
    };
    let list = |dir: &Path| -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| wanted(&n.to_string_lossy())))
            .collect();
        found.sort();
        found
    };
    let mut found = crate_dir.map(list).unwrap_or_default();
    if found.is_empty() {
        found = list(root);
    }
    found
}

/// The archive timestamp: `SOURCE_DATE_EPOCH`, else the HEAD commit's time, so the same commit
/// packs the same bytes.
fn source_time(root: &Path) -> u64 {
    let scope = crate::script::context::current();
    if let Some(t) = scope
        .env_var("SOURCE_DATE_EPOCH")
        .and_then(|v| v.trim().parse().ok())
    {
        return t;
    }
    git::git(root, &["log", "-1", "--format=%ct"])
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// A gzip'd tar of `files` under the directory `prefix/`, with fixed owners and times.
fn write_archive(
    path: &Path,
    prefix: &str,
    files: &[(PathBuf, String, u32)],
    mtime: u64,
) -> std::io::Result<()> {
    let file = File::create(path)?;
    let gz = GzBuilder::new()
        .mtime(mtime as u32)
        .write(file, Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(mtime);
    dir.set_cksum();
    tar.append_data(&mut dir, format!("{prefix}/"), std::io::empty())?;
    for (source, name, mode) in files {
        let mut data = Vec::new();
        File::open(source)?.read_to_end(&mut data)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        tar.append_data(&mut header, format!("{prefix}/{name}"), data.as_slice())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()?.sync_all()
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_of_a_known_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(
            super::sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
