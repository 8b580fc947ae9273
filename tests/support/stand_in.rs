//! Stand-in programs: scripts a test puts first on PATH in place of a real tool (a logging
//! `cargo`, a fake `hadolint`), or before it.

use std::path::Path;

/// Makes the file at `path` executable.
#[track_caller]
pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Writes `script` (with its `#!` line) to `path` as an executable.
#[track_caller]
pub fn write_program(path: &Path, script: &str) {
    std::fs::write(path, script).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    make_executable(path);
}

/// This process's `PATH` with `dir` in front: its programs are found before the real ones.
pub fn path_with_first(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
