//! What identifies a job for the up-to-date check, on the script's side: the source text of
//! its declaration (the whole `job(…)` call: name, options, closure), the values its closure
//! captured, the script's named functions (each by its own text), the modules in `lib/`, the
//! job's options and matrix combination, the environment the top level set, and the task's
//! arguments. Text, not positions: adding a line above a job does not make it run again.

// See script/mod.rs: the call-context store is volatile, not deprecated.
#![allow(deprecated)]

use std::path::Path;
use std::sync::OnceLock;

use rhai::{Engine, Position};

use super::{Host, JobBody};
use crate::graph::{Body, Condition, PlannedJob};

/// (what, value) pairs; the cache keeps a digest of each value and names the key that changed.
pub fn of(host: &Host, job: &PlannedJob) -> Vec<(String, String)> {
    let def = &job.def;
    let mut out = Vec::new();
    out.push(("its code".to_string(), declaration_text(host, job)));
    out.push((
        "a value its closure captured".to_string(),
        captured(&def.body),
    ));
    if let Condition::Check { body, .. } = &def.condition {
        out.push((
            "a value its `if` closure captured".to_string(),
            captured(body),
        ));
    }
    out.push((
        "its options".to_string(),
        format!(
            "needs={:?} timeout={:?} retries={} env={:?} dir={:?} inputs={:?} outputs={:?} cache={:?}",
            def.needs, def.timeout, def.retries, def.env, def.dir, def.inputs, def.outputs, def.cache
        ),
    ));
    out.push((
        "its matrix values".to_string(),
        job.matrix
            .iter()
            .map(|(k, v)| match v.value.downcast_ref::<rhai::Dynamic>() {
                Some(d) => format!("{k}={d:?}"),
                None => format!("{k}={}", v.label),
            })
            .collect::<Vec<_>>()
            .join(" "),
    ));
    out.push((
        "the environment the script set".to_string(),
        format!("{:?}", host.base_env.lock().unwrap()),
    ));
    out.push((
        "the task's arguments".to_string(),
        format!("{:?}", host.args),
    ));
    for (name, text) in script_functions(host) {
        out.push((
            format!("function `{name}` in {}", host.script),
            text.clone(),
        ));
    }
    for (file, text) in modules(&host.root) {
        out.push((file.clone(), text.clone()));
    }
    out
}

fn captured(body: &Body) -> String {
    let Some(body) = body.downcast_ref::<JobBody>() else {
        return String::new();
    };
    body.closure
        .curry()
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of the `job(…)` call at `defined_at` (`file:line:col`), from `job` to its closing
/// parenthesis. When the text cannot be found (a generated file), the closure's syntax tree,
/// which also holds positions: never less precise, only more eager to re-run.
fn declaration_text(host: &Host, job: &PlannedJob) -> String {
    let def = &job.def;
    let fallback = || format!("{}\n{:?}", def.defined_at, closure_tree(host, &def.body));
    let Some((file, line, col)) = split_site(&def.defined_at) else {
        return fallback();
    };
    let Some(text) = source(host, file) else {
        return fallback();
    };
    let Some(start) = offset(&text, line, col) else {
        return fallback();
    };
    match call_extent(&text[start..]) {
        Some(len) => text[start..start + len].to_string(),
        None => fallback(),
    }
}

/// The text of `file` (relative to the root) as this run first read it.
fn source(host: &Host, file: &str) -> Option<std::sync::Arc<str>> {
    let mut sources = host.sources.lock().unwrap_or_else(|e| e.into_inner());
    sources
        .entry(file.to_string())
        .or_insert_with(|| {
            std::fs::read_to_string(host.root.join(file))
                .ok()
                .map(Into::into)
        })
        .clone()
}

fn closure_tree(host: &Host, body: &Body) -> String {
    let Some(body) = body.downcast_ref::<JobBody>() else {
        return String::new();
    };
    let ctx = body.store.create_context(host.engine());
    for module in ctx.iter_namespaces() {
        for (.., fn_def) in module.iter_script_fn_info() {
            if fn_def.name == body.closure.fn_name() {
                return format!("{:?}", fn_def.body);
            }
        }
    }
    body.closure.fn_name().to_string()
}

fn split_site(site: &str) -> Option<(&str, usize, usize)> {
    let mut parts = site.rsplitn(3, ':');
    let col = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((parts.next()?, line, col))
}

/// Byte offset of 1-based (line, column-in-characters).
fn offset(text: &str, line: usize, col: usize) -> Option<usize> {
    let mut at = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let (byte, _) = l.char_indices().nth(col.checked_sub(1)?)?;
            return Some(at + byte);
        }
        at += l.len();
    }
    None
}

/// Length of a call expression `name(…)` at the start of `text`: up to its matching `)`,
/// skipping strings, characters, comments and `${…}` in back-tick strings.
pub fn call_extent(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let open = text.find('(')?;
    if !text[..open]
        .trim()
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' | b'\'' => i = skip_quoted(bytes, i)?,
            b'`' => i = skip_backtick(bytes, i)?,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i += bytes[i..].iter().position(|&b| b == b'\n')?;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2 + text[i + 2..].find("*/")? + 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the closing quote of the string or character starting at `start`.
fn skip_quoted(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b if b == quote => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the closing back-tick; `${ … }` parts may hold any expression, strings included.
fn skip_backtick(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'`' => return Some(i),
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                let mut depth = 0usize;
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        b'"' | b'\'' => i = skip_quoted(bytes, i)?,
                        b'`' => i = skip_backtick(bytes, i)?,
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Named functions of the task script, each with its parameters and body text. Compiled once
/// per run (the script does not change while it runs: its text was read at start).
fn script_functions(host: &Host) -> &'static [(String, String)] {
    static FUNCTIONS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    FUNCTIONS.get_or_init(|| {
        // Taken from the script as it was loaded, rather than compiled a second time.
        if let Some(functions) = host.script_functions.get() {
            return functions.clone();
        }
        let Some(text) = source(host, &host.script) else {
            return Vec::new();
        };
        named_functions(host.engine(), &text)
    })
}

fn named_functions(engine: &Engine, text: &str) -> Vec<(String, String)> {
    let Ok(ast) = engine.compile(text) else {
        return Vec::new();
    };
    functions_of(&ast, text)
}

/// The named functions of `ast`, compiled from `text`, each as (`name/arity`, its parameters
/// and body text).
pub fn functions_of(ast: &rhai::AST, text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = ast
        .iter_fn_def()
        // Closures are compiled to functions named `anon$…`: those are the jobs' own code.
        .filter(|f| !f.name.starts_with("anon$"))
        .map(|f| {
            let text = slice(text, f.body.start_position(), f.body.end_position())
                .map(str::to_string)
                .unwrap_or_else(|| format!("{:?}", f.body));
            let params: Vec<&str> = f.params.iter().map(|p| p.as_str()).collect();
            (
                format!("{}/{}", f.name, params.len()),
                format!("({}) {text}", params.join(", ")),
            )
        })
        .collect();
    out.sort();
    out
}

fn slice(text: &str, start: Position, end: Position) -> Option<&str> {
    let from = offset(text, start.line()?, start.position()?)?;
    let to = offset(text, end.line()?, end.position()?)?;
    (to >= from).then(|| &text[from..=to])
}

/// Every module file in `lib/`, read once per run: a job's closure may call into any of them.
fn modules(root: &Path) -> &'static [(String, String)] {
    static MODULES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    MODULES.get_or_init(|| {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(root.join("lib")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".rhai") {
                    if let Ok(text) = std::fs::read_to_string(entry.path()) {
                        out.push((format!("lib/{name}"), text));
                    }
                }
            }
        }
        out.sort();
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_ends_at_its_matching_parenthesis() {
        let text = r#"job("a", #{ needs: ["b"] }, || { run(["echo", ")"]); `x ${ "}" }` }); // )
job("b", || 1);"#;
        let len = call_extent(text).unwrap();
        assert!(text[..len].ends_with("` });"[..4].trim_end_matches(';')));
        assert_eq!(&text[len..len + 1], ";");
        assert_eq!(offset("ab\ncd", 2, 2), Some(4));
    }

    #[test]
    fn named_functions_are_taken_by_their_text() {
        let engine = Engine::new();
        let a = named_functions(&engine, "fn f(x) { x + 1 }\njob(\"a\", || f(1));");
        let b = named_functions(&engine, "\n\nfn f(x) { x + 1 }\n");
        assert_eq!(a, b, "positions do not matter");
        assert_eq!(a[0].1, "(x) { x + 1 }");
        let c = named_functions(&engine, "fn f(x) { x + 2 }");
        assert_ne!(a, c);
    }
}
