//! `import "name" as n;` loads `lib/name.rhai` from the project root. Each module is compiled and
//! evaluated once per run, and carries its file path as its source so errors inside it point
//! at `lib/name.rhai:line:col`. An import cycle (`a` imports `b` imports `a`, or a module
//! importing itself) is a script error showing each import of the cycle, instead of a recursion
//! that overflows the stack.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use std::sync::Arc;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope};

/// What `ModuleResolver` hands back (`rhai::Shared<Module>` with the `sync` feature).
type SharedModule = Arc<Module>;

pub struct LibResolver {
    root: PathBuf,
    cache: Mutex<HashMap<String, SharedModule>>,
}

impl LibResolver {
    pub fn new(root: PathBuf) -> Self {
        LibResolver {
            root,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

/// The file a module path names, relative to the project root.
pub fn lib_file(path: &str) -> String {
    let path = path.trim_start_matches("./").trim_start_matches("lib/");
    if path.ends_with(".rhai") {
        format!("lib/{path}")
    } else {
        format!("lib/{path}.rhai")
    }
}

/// A module being loaded: its file, and the import that asked for it.
struct Loading {
    file: String,
    /// `file:line:col` of the `import` statement.
    imported_at: String,
}

thread_local! {
    /// Modules being loaded on this thread, outermost first. Loading is recursive (a module's
    /// imports resolve while it is evaluated), so this is exactly the chain of open imports.
    static LOADING: RefCell<Vec<Loading>> = const { RefCell::new(Vec::new()) };
}

/// Pops the module off [`LOADING`] however its evaluation ends.
struct LoadingGuard;

impl Drop for LoadingGuard {
    fn drop(&mut self) {
        LOADING.with(|l| l.borrow_mut().pop());
    }
}

fn place(source: Option<&str>, pos: Position) -> String {
    let file = source.unwrap_or("<script>");
    match (pos.line(), pos.position()) {
        (Some(line), Some(col)) => format!("{file}:{line}:{col}"),
        _ => file.to_string(),
    }
}

/// The error for importing `file` (at `imported_at`) while it is still loading, or `None`.
fn cycle_error(file: &str, imported_at: &str) -> Option<String> {
    LOADING.with(|loading| {
        let loading = loading.borrow();
        let start = loading.iter().position(|l| l.file == file)?;
        let mut chain: Vec<String> = loading[start..]
            .iter()
            .map(|l| format!("{} imports {}", l.imported_at, l.file))
            .collect();
        chain.push(format!("{imported_at} imports {file}"));
        Some(format!("import cycle: {}", chain.join(", then ")))
    })
}

impl ModuleResolver for LibResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        if let Some(module) = self.cache.lock().unwrap().get(path) {
            return Ok(module.clone());
        }
        let file = lib_file(path);
        let imported_at = place(source, pos);
        if let Some(message) = cycle_error(&file, &imported_at) {
            return Err(Box::new(EvalAltResult::ErrorRuntime(message.into(), pos)));
        }
        let text = std::fs::read_to_string(self.root.join(&file)).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{path} (no file {file})")
            } else {
                format!("{path} ({file}: {e})")
            };
            Box::new(EvalAltResult::ErrorModuleNotFound(why, pos))
        })?;
        let in_module = |err: Box<EvalAltResult>| {
            Box::new(EvalAltResult::ErrorInModule(file.clone(), err, pos))
        };
        let mut ast = engine.compile(&text).map_err(|e| in_module(e.into()))?;
        ast.set_source(file.as_str());
        LOADING.with(|l| {
            l.borrow_mut().push(Loading {
                file: file.clone(),
                imported_at,
            })
        });
        let _loading = LoadingGuard;
        let mut module = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(in_module)?;
        module.build_index();
        let module: SharedModule = module.into();
        self.cache
            .lock()
            .unwrap()
            .insert(path.to_string(), module.clone());
        Ok(module)
    }
}
