//! `import "name" as n;` loads `lib/name.rhai` from the project root. Each module is compiled and
//! evaluated once per run, and carries its file path as its source so errors inside it point
//! at `lib/name.rhai:line:col`.

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

impl ModuleResolver for LibResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        if let Some(module) = self.cache.lock().unwrap().get(path) {
            return Ok(module.clone());
        }
        let file = lib_file(path);
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
