//! Finding the project (the nearest ancestor holding `tasks/`) and its task scripts.

use std::path::{Path, PathBuf};

pub struct Task {
    pub name: String,
    /// The first line of the script's leading `//!` doc comment.
    pub description: String,
}

pub fn find_root(start: &Path) -> Result<PathBuf, String> {
    let start = start
        .canonicalize()
        .map_err(|e| format!("cannot use directory {}: {e}", start.display()))?;
    start
        .ancestors()
        .find(|dir| dir.join("tasks").is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "no `tasks/` directory in {} or any parent; is this an xtask project?",
                start.display()
            )
        })
}

pub fn tasks(root: &Path) -> Vec<Task> {
    let Ok(entries) = std::fs::read_dir(root.join("tasks")) else {
        return Vec::new();
    };
    let mut tasks: Vec<Task> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".rhai")?
                .to_string();
            Some(Task {
                description: description(&path),
                name,
            })
        })
        .collect();
    tasks.sort_by(|a, b| a.name.cmp(&b.name));
    tasks
}

/// The leading `//!` block's first line: the task's one-line summary.
fn description(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(str::trim_start)
        .take_while(|l| l.starts_with("//!") || l.is_empty())
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}
