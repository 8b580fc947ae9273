//! `release::` and `git::` end to end: the real binary in throwaway git repositories holding
//! tiny dependency-free crates, real cargo builds, real `strip`, `tar` and `sha256sum`.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::{Project, Run};
use xtask_core::exit::Exit;

const IDENTITY: &[(&str, &str)] = &[
    ("GIT_AUTHOR_NAME", "Release Test"),
    ("GIT_AUTHOR_EMAIL", "release@example.invalid"),
    ("GIT_COMMITTER_NAME", "Release Test"),
    ("GIT_COMMITTER_EMAIL", "release@example.invalid"),
    ("GIT_AUTHOR_DATE", "2024-05-06T12:00:00Z"),
    ("GIT_COMMITTER_DATE", "2024-05-06T12:00:00Z"),
];

/// `git <args>` in `dir` with a fixed identity, failing the test when git fails.
fn git(dir: &Path, args: &[&str]) -> String {
    support::git_with(dir, args, IDENTITY)
}

fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "--allow-empty", "-m", message]);
}

/// xtask with the fixed git identity (bump commits and tags).
fn xtask(p: &Project, args: &[&str]) -> Run {
    p.xtask(args)
        .envs(IDENTITY.iter().copied())
        .env("SOURCE_DATE_EPOCH", "1714996800")
        .run()
}

const MANIFEST: &str = r#"# Demo crate: these comments must survive a bump.
[package]
name    = "demo"        # aligned on purpose
version = "1.2.3"
edition = "2021"
description = "release test crate"
license = "MIT"

[dependencies]   # none, on purpose

[workspace]

[profile.release]
strip = false  # release::pack strips
"#;

const CHANGELOG: &str = "# Changelog\n\n## [Unreleased]\n\n## [1.2.3] - 2024-05-06\n\n- First.\n\n## [1.2.2] - 2024-04-01\n\n- Older.\n";

const TASKS: &str = r#"
job("check", || release::check(#{}));
"#;

/// A committed repository with one crate (lib + bin) at 1.2.3, its lock file and changelog.
fn demo() -> Project {
    let p = Project::new()
        .file("Cargo.toml", MANIFEST)
        .file("src/lib.rs", "pub fn answer() -> u32 { 42 }\n")
        .file(
            "src/main.rs",
            "fn main() { println!(\"demo says {}\", demo::answer()); }\n",
        )
        .file("README.md", "# demo\n")
        .file("LICENSE", "MIT\n")
        .file("CHANGELOG.md", CHANGELOG)
        .file(".gitignore", "/target\n")
        .task("check", TASKS)
        .task(
            "bump",
            r#"job("bump", || release::bump(args[0], #{ commit: opts.commit == true || opts.tag == true, tag: opts.tag == true, changelog: opts.changelog == true }));"#,
        )
        .task(
            "changelog",
            r#"job("changelog", || print(release::changelog(#{ write: opts.write == true })));"#,
        )
        .task(
            "pack",
            r#"job("pack", || { let r = release::pack(#{}); print("DIR=" + r.dir); });"#,
        );
    let status = Command::new("cargo")
        .args(["generate-lockfile", "--offline", "--quiet"])
        .current_dir(p.path())
        .status()
        .expect("cargo generate-lockfile");
    assert!(status.success());
    git(p.path(), &["init", "--quiet"]);
    commit_all(p.path(), "feat: first release");
    p
}

#[test]
fn a_consistent_release_passes() {
    let p = demo();
    git(p.path(), &["tag", "v1.2.3"]);
    xtask(&p, &["check"])
        .code(Exit::Ok)
        .contains("release 1.2.3 is consistent: demo");
}

#[test]
fn a_member_version_mismatch_names_the_file_and_both_versions() {
    let p = Project::new()
        .file(
            "Cargo.toml",
            "[workspace]\nmembers = [\"a\", \"b\"]\nresolver = \"2\"\n\n[workspace.package]\nversion = \"2.0.0\"\n",
        )
        .file(
            "a/Cargo.toml",
            "[package]\nname = \"a\"\nversion.workspace = true\nedition = \"2021\"\n",
        )
        .file("a/src/lib.rs", "")
        .file(
            "b/Cargo.toml",
            "[package]\nname = \"b\"\nversion = \"1.9.0\"\nedition = \"2021\"\n",
        )
        .file("b/src/lib.rs", "")
        .file("CHANGELOG.md", "## [2.0.0]\n")
        .task("check", TASKS)
        .task(
            "independent",
            r#"job("check", || release::check(#{ independent: ["b"] }));"#,
        );
    git(p.path(), &["init", "--quiet"]);
    commit_all(p.path(), "init");
    xtask(&p, &["check"])
        .code(Exit::Failed)
        .contains("b/Cargo.toml: b has version 1.9.0, but Cargo.toml says 2.0.0")
        .lacks("a/Cargo.toml");
    // A crate configured to carry its own version is left out of the comparison.
    xtask(&p, &["independent"])
        .code(Exit::Ok)
        .contains("release 2.0.0 is consistent: a");
}

#[test]
fn a_lock_file_mismatch_names_both_versions() {
    let p = demo();
    let lock = std::fs::read_to_string(p.join("Cargo.lock")).unwrap();
    std::fs::write(
        p.join("Cargo.lock"),
        lock.replace("version = \"1.2.3\"", "version = \"1.2.0\""),
    )
    .unwrap();
    commit_all(p.path(), "stale lock");
    xtask(&p, &["check"])
        .code(Exit::Failed)
        .contains("Cargo.lock: demo is locked at 1.2.0, but Cargo.toml says 1.2.3");
}

#[test]
fn a_tag_mismatch_names_both_versions() {
    let p = demo();
    git(p.path(), &["tag", "v1.2.2"]);
    xtask(&p, &["check"])
        .code(Exit::Failed)
        .contains("git tag v1.2.2 at HEAD is version 1.2.2, but Cargo.toml says 1.2.3");
    // Tags that are not versions are none of the check's business.
    git(p.path(), &["tag", "-d", "v1.2.2"]);
    git(p.path(), &["tag", "deployed"]);
    xtask(&p, &["check"]).code(Exit::Ok);
}

#[test]
fn a_changelog_without_the_release_names_both_versions() {
    let p = demo();
    std::fs::write(
        p.join("CHANGELOG.md"),
        CHANGELOG.replace("## [1.2.3] - 2024-05-06\n\n- First.\n\n", ""),
    )
    .unwrap();
    commit_all(p.path(), "lose the section");
    xtask(&p, &["check"]).code(Exit::Failed).contains(
        "CHANGELOG.md: no section for 1.2.3 (its latest release section is 1.2.2), but Cargo.toml says 1.2.3",
    );
}

#[test]
fn every_mismatch_is_reported_at_once() {
    let p = demo();
    std::fs::write(p.join("CHANGELOG.md"), "# Changelog\n").unwrap();
    commit_all(p.path(), "empty changelog");
    git(p.path(), &["tag", "v9.9.9"]);
    xtask(&p, &["check"])
        .code(Exit::Failed)
        .contains("git tag v9.9.9 at HEAD is version 9.9.9")
        .contains("CHANGELOG.md: no section for 1.2.3 (it has no release sections)");
}

#[test]
fn a_dirty_tree_fails_and_names_the_files() {
    let p = demo();
    std::fs::write(p.join("stray.txt"), "uncommitted\n").unwrap();
    xtask(&p, &["check"])
        .code(Exit::Failed)
        .contains("the working tree is not clean: stray.txt");
    std::fs::remove_file(p.join("stray.txt")).unwrap();
    std::fs::write(p.join("src/lib.rs"), "pub fn answer() -> u32 { 43 }\n").unwrap();
    xtask(&p, &["check"])
        .code(Exit::Failed)
        .contains("the working tree is not clean: src/lib.rs");
}

/// The manifest with only its version line changed.
fn manifest_at(version: &str) -> String {
    MANIFEST.replace(
        "version = \"1.2.3\"\n",
        &format!("version = \"{version}\"\n"),
    )
}

fn locked_version(p: &Project) -> String {
    let lock = std::fs::read_to_string(p.join("Cargo.lock")).unwrap();
    let at = lock
        .find("name = \"demo\"\nversion = \"")
        .expect("demo in Cargo.lock");
    let rest = &lock[at + "name = \"demo\"\nversion = \"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[test]
fn bumps_keep_every_other_byte_of_the_manifest() {
    let p = demo();
    for (how, expected) in [
        ("patch", "1.2.4"),
        ("minor", "1.3.0"),
        ("major", "2.0.0"),
        ("2.1.0-rc.1", "2.1.0-rc.1"),
        ("patch", "2.1.0"),
    ] {
        xtask(&p, &["bump", how])
            .code(Exit::Ok)
            .contains(&format!("-> {expected} in Cargo.toml, Cargo.lock"));
        let manifest = std::fs::read_to_string(p.join("Cargo.toml")).unwrap();
        assert_eq!(manifest, manifest_at(expected), "after bump {how}");
        assert_eq!(locked_version(&p), expected, "Cargo.lock after bump {how}");
    }
    xtask(&p, &["bump", "1.0.0"])
        .code(Exit::Failed)
        .contains("bump to 1.0.0 would not move forward from the current version 2.1.0");
    xtask(&p, &["bump", "sideways"])
        .code(Exit::Failed)
        .contains("not \"sideways\"");
}

/// The commit and tag are made once: nothing runs `git add`, `git commit` or `git tag` again
/// beside the job (a second `git add` racing the commit for the index lock failed bumps).
#[test]
fn bump_runs_each_git_change_once() {
    let p = demo();
    // Outside the repository, so the trace is no untracked file of it.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("git-trace.txt");
    p.xtask(&["bump", "minor", "--tag"])
        .envs(IDENTITY.iter().copied())
        .env("GIT_TRACE", &trace)
        .run()
        .code(Exit::Ok)
        .contains("committed and tagged v1.3.0");
    let trace = std::fs::read_to_string(&trace).unwrap();
    for command in ["git add", "git commit", "git tag -a"] {
        let runs = trace
            .lines()
            .filter(|l| l.contains(&format!("built-in: {command} ")))
            .count();
        assert_eq!(runs, 1, "`{command}` ran {runs} times:\n{trace}");
    }
}

#[test]
fn bump_commits_and_tags() {
    let p = demo();
    // Something staged by hand stays out of the release commit.
    std::fs::write(p.join("notes.txt"), "unrelated\n").unwrap();
    git(p.path(), &["add", "notes.txt"]);
    xtask(&p, &["bump", "minor", "--tag"])
        .code(Exit::Ok)
        .contains("committed and tagged v1.3.0");
    assert_eq!(
        git(p.path(), &["log", "-1", "--format=%s"]),
        "Release 1.3.0"
    );
    assert_eq!(git(p.path(), &["tag", "--points-at", "HEAD"]), "v1.3.0");
    assert_eq!(git(p.path(), &["status", "--porcelain"]), "A  notes.txt");
    git(p.path(), &["reset", "--quiet", "notes.txt"]);
    std::fs::remove_file(p.join("notes.txt")).unwrap();
    // Now only the changelog is behind, and the check says so.
    xtask(&p, &["check"])
        .code(Exit::Failed)
        .contains("CHANGELOG.md: no section for 1.3.0 (its latest release section is 1.2.3)")
        .lacks("git tag");

    // With the changelog written into the release commit, the release is consistent.
    git(
        p.path(),
        &[
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "fix: after 1.3.0",
        ],
    );
    xtask(&p, &["bump", "patch", "--tag", "--changelog"])
        .code(Exit::Ok)
        .contains("-> 1.3.1 in Cargo.toml, Cargo.lock, CHANGELOG.md, committed and tagged v1.3.1");
    xtask(&p, &["check"])
        .code(Exit::Ok)
        .contains("release 1.3.1 is consistent");
    let fix = git(p.path(), &["rev-parse", "--short=7", "HEAD~1"]);
    let changelog = std::fs::read_to_string(p.join("CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains(&format!(
            "## [Unreleased]\n\n## [1.3.1] - 2024-05-06\n\n### Fixes\n\n- after 1.3.0 ({fix})\n\n## [1.2.3]"
        )),
        "{changelog}"
    );
    // Asked again for the tagged release, the notes cover the same commits.
    xtask(&p, &["changelog"])
        .code(Exit::Ok)
        .contains(&format!("### Fixes\n\n- after 1.3.0 ({fix})\n"))
        .lacks("Release 1.3");
}

#[test]
fn bump_updates_a_whole_workspace() {
    let root = "# The workspace.\n[workspace]\nmembers = [\"core\", \"cli\"]\nresolver = \"2\"\n\n[workspace.package]\nversion = \"0.4.0\" # shared\n\n[workspace.dependencies]\ncore = { path = \"core\", version = \"=0.4.0\" }\n";
    let core = "[package]\nname = \"core\"\nversion.workspace = true\nedition = \"2021\"\n";
    let cli = "[package]\nname    = \"cli\"\nversion = \"0.4.0\"\nedition = \"2021\"\n\n[dependencies]\ncore = { path = \"../core\", version = \"0.4.0\" } # pinned\n";
    let p = Project::new()
        .file("Cargo.toml", root)
        .file("core/Cargo.toml", core)
        .file("core/src/lib.rs", "")
        .file("cli/Cargo.toml", cli)
        .file("cli/src/main.rs", "fn main() {}\n")
        .task(
            "bump",
            r#"job("bump", || release::bump(args[0], #{ lock: false }));"#,
        );
    git(p.path(), &["init", "--quiet"]);
    commit_all(p.path(), "init");
    xtask(&p, &["bump", "patch"]).code(Exit::Ok);
    let read = |f: &str| std::fs::read_to_string(p.join(f)).unwrap();
    assert_eq!(read("Cargo.toml"), root.replace("0.4.0", "0.4.1"));
    assert_eq!(read("core/Cargo.toml"), core);
    assert_eq!(read("cli/Cargo.toml"), cli.replace("0.4.0", "0.4.1"));
}

#[test]
fn the_changelog_groups_a_planted_history() {
    let p = demo();
    git(p.path(), &["tag", "v1.2.3"]);
    let history = [
        ("feat(api): add the batch endpoint", ""),
        ("fix: close idle connections", ""),
        ("Update the readme", ""),
        ("perf(db): reuse prepared statements", ""),
        ("feat!: drop the v1 routes", ""),
        ("docs: explain the config", ""),
        (
            "refactor(config): rename keys",
            "Clearer names.\n\nBREAKING CHANGE: `listen` is now `address`",
        ),
        ("fix(http): answer HEAD without a body", ""),
    ];
    for (subject, body) in history {
        let message = if body.is_empty() {
            subject.to_string()
        } else {
            format!("{subject}\n\n{body}")
        };
        git(
            p.path(),
            &["commit", "--quiet", "--allow-empty", "-m", &message],
        );
    }
    let sha = |back: usize| git(p.path(), &["rev-parse", &format!("HEAD~{back}")])[..7].to_string();
    let expected = format!(
        "## [1.3.0] - 2024-05-06

### Breaking changes

- drop the v1 routes ({})
- **config:** rename keys ({})

### Features

- **api:** add the batch endpoint ({})

### Fixes

- close idle connections ({})
- **http:** answer HEAD without a body ({})

### Performance

- **db:** reuse prepared statements ({})

### Other changes

- Update the readme ({})
- docs: explain the config ({})
",
        sha(3),
        sha(1),
        sha(7),
        sha(6),
        sha(0),
        sha(4),
        sha(5),
        sha(2)
    );
    // The release being described is the next one: the tag of 1.2.3 is where it starts.
    std::fs::write(p.join("Cargo.toml"), manifest_at("1.3.0")).unwrap();
    let run = xtask(&p, &["changelog"]);
    run.code(Exit::Ok)
        .contains(&expected)
        .lacks("first release");

    // --write puts the section above the newest release, below [Unreleased], once.
    xtask(&p, &["changelog", "--write"])
        .code(Exit::Ok)
        .contains("added the 1.3.0 section (8 commits since v1.2.3)");
    let written = std::fs::read_to_string(p.join("CHANGELOG.md")).unwrap();
    assert_eq!(
        written,
        CHANGELOG.replace(
            "## [1.2.3] - 2024-05-06\n\n- First.",
            &format!("{expected}\n## [1.2.3] - 2024-05-06\n\n- First.")
        )
    );
    xtask(&p, &["changelog", "--write"])
        .code(Exit::Failed)
        .contains("already has a section for 1.3.0");
}

#[test]
fn git_primitives_read_the_repository() {
    let p = demo().task(
        "git",
        r#"
        job("git", || {
            print(`SHA=${git::sha()}`);
            print(`BRANCH=${git::branch()}`);
            print(`TAGS=${git::tags_at("HEAD")}`);
            print(`DESCRIBE=${git::describe()}`);
            print(`DIRTY=${git::is_dirty()} ${git::dirty_files()}`);
            let log = git::log("", "HEAD");
            print(`LOG=${log.len()} ${log[0].type} ${log[0].breaking} ${log[0].description}`);
        });
        "#,
    );
    git(p.path(), &["tag", "-a", "v1.2.3", "-m", "Release 1.2.3"]);
    let head = git(p.path(), &["rev-parse", "HEAD"]);
    xtask(&p, &["git"])
        .code(Exit::Ok)
        .contains(&format!("SHA={head}"))
        .contains("BRANCH=main")
        .contains("TAGS=[\"v1.2.3\"]")
        // Untracked files make the tree dirty for a release, not for `describe`.
        .contains("DIRTY=true [\"tasks/git.rhai\"]")
        .contains("DESCRIBE=v1.2.3\n")
        .contains("LOG=1 feat false first release");
}

/// Section names of an ELF file (64-bit little-endian, as this machine builds).
fn elf_sections(bytes: &[u8]) -> Vec<String> {
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let strtab = u64_at(shoff + shstrndx * shentsize + 0x18);
    (0..shnum)
        .map(|i| {
            let name = strtab + u32_at(shoff + i * shentsize);
            let end = bytes[name..].iter().position(|&b| b == 0).unwrap();
            String::from_utf8_lossy(&bytes[name..name + end]).into_owned()
        })
        .collect()
}

#[test]
fn pack_builds_strips_archives_and_checksums() {
    let p = demo();
    let run = xtask(&p, &["pack"]);
    run.code(Exit::Ok)
        .contains("cargo build --release --locked --bin demo")
        .contains("cargo package --package demo --offline")
        .contains("nothing is uploaded");
    let dist = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("DIR="))
        .expect("the dist dir is printed")
        .to_string();
    let dist = Path::new(&dist);
    let host = String::from_utf8(Command::new("rustc").arg("-vV").output().unwrap().stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap();
    let name = format!("demo-1.2.3-{host}");

    let mut listed: Vec<String> = std::fs::read_dir(dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "checksums.txt".to_string(),
            format!("{name}.tar.gz"),
            "demo-1.2.3.crate".to_string()
        ]
    );

    let sums = Command::new("sha256sum")
        .args(["-c", "checksums.txt"])
        .current_dir(dist)
        .output()
        .unwrap();
    assert!(
        sums.status.success(),
        "{}",
        String::from_utf8_lossy(&sums.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&sums.stdout)
            .matches(": OK")
            .count(),
        2
    );

    let unpacked = tempfile::tempdir().unwrap();
    let tar = Command::new("tar")
        .args(["-xzf"])
        .arg(dist.join(format!("{name}.tar.gz")))
        .current_dir(unpacked.path())
        .status()
        .unwrap();
    assert!(tar.success());
    let top = unpacked.path().join(&name);
    for file in ["demo", "README.md", "LICENSE"] {
        assert!(top.join(file).is_file(), "{file} is not in the archive");
    }
    let packed = std::fs::read(top.join("demo")).unwrap();
    let sections = elf_sections(&packed);
    assert!(sections.iter().any(|s| s == ".text"), "{sections:?}");
    assert!(
        !sections.iter().any(|s| s == ".symtab"),
        "not stripped: {sections:?}"
    );
    // The build itself kept its symbols: the strip is the packer's doing.
    let built = std::fs::read(p.join("target/release/demo")).unwrap();
    assert!(elf_sections(&built).iter().any(|s| s == ".symtab"));
    let said = Command::new(top.join("demo")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&said.stdout), "demo says 42\n");
}

#[test]
fn pack_rejects_an_unknown_binary() {
    let p = demo().task(
        "bad",
        r#"job("bad", || release::pack(#{ bins: ["nope"] }));"#,
    );
    xtask(&p, &["bad"])
        .code(Exit::Failed)
        .contains("no binary target named `nope`")
        .contains("(binaries: demo)");
}

#[test]
fn a_failed_pack_leaves_no_staged_binary_behind() {
    let p = demo().task(
        "bad",
        r#"job("bad", || release::pack(#{ include: ["NOTES.md"] }));"#,
    );
    xtask(&p, &["bad"])
        .code(Exit::Failed)
        .contains("include: no file")
        .contains("NOTES.md");
    let left: Vec<String> = std::fs::read_dir(p.join("target/dist"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
