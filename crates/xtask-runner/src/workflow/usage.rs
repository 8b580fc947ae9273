//! What a job uses, read from the scripts' syntax trees rather than by running anything: the
//! primitive families it calls (`pg::`, `docker::`, `cargo::`), the secrets it reads and the
//! string literals it passes (`"clippy"`, `"fmt"`), following the script and `lib/` functions it
//! calls, transitively. The workflow generator sets up PostgreSQL, docker, toolchain components
//! and secrets only for the jobs that use them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use rhai::{ASTNode, Engine, Expr, Stmt, AST};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Qualified primitives called, as `pg::cluster`, `cargo::clippy`.
    pub calls: BTreeSet<String>,
    /// Global functions called (`run`, `sh`, `secret`, …) and script functions.
    pub globals: BTreeSet<String>,
    /// Names read with `secret("NAME")`.
    pub secrets: BTreeSet<String>,
    /// String literals, for command words like `"fmt"` inside `run([...])`.
    pub strings: BTreeSet<String>,
}

impl Usage {
    pub fn uses_namespace(&self, ns: &str) -> bool {
        let prefix = format!("{ns}::");
        self.calls.iter().any(|c| c.starts_with(&prefix))
    }

    pub fn calls(&self, qualified: &str) -> bool {
        self.calls.contains(qualified)
    }

    fn merge(&mut self, other: &Usage) {
        self.calls.extend(other.calls.iter().cloned());
        self.globals.extend(other.globals.iter().cloned());
        self.secrets.extend(other.secrets.iter().cloned());
        self.strings.extend(other.strings.iter().cloned());
    }
}

/// One compiled script file: its functions by name and its `import … as alias` table.
struct File {
    ast: AST,
    aliases: HashMap<String, String>,
}

/// The task script and every `lib/*.rhai`, compiled (not run).
pub struct Sources {
    files: BTreeMap<String, File>,
}

type FnKey = (String, String);

impl Sources {
    pub fn load(engine: &Engine, root: &Path, task_script: &str) -> Result<Sources, String> {
        let mut names = vec![task_script.to_string()];
        if let Ok(entries) = std::fs::read_dir(root.join("lib")) {
            let mut libs: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".rhai"))
                .map(|n| format!("lib/{n}"))
                .collect();
            libs.sort();
            names.extend(libs);
        }
        let mut files = BTreeMap::new();
        for name in names {
            let text = std::fs::read_to_string(root.join(&name))
                .map_err(|e| format!("cannot read {name}: {e}"))?;
            let ast = engine
                .compile(&text)
                .map_err(|e| format!("{name}: syntax error: {e}"))?;
            let aliases = imports(&ast);
            files.insert(name, File { ast, aliases });
        }
        Ok(Sources { files })
    }

    /// Where a function (a closure's `anon$…` name included) is defined.
    fn find(&self, name: &str) -> Option<String> {
        self.files
            .iter()
            .find(|(_, f)| f.ast.iter_fn_def().any(|d| d.name == name))
            .map(|(file, _)| file.clone())
    }

    /// What the closure named `closure` (a job body) uses, following calls.
    pub fn of_closure(&self, closure: &str) -> Usage {
        let mut usage = Usage::default();
        if let Some(file) = self.find(closure) {
            let mut seen = BTreeSet::new();
            self.visit_fn(&(file, closure.to_string()), true, &mut seen, &mut usage);
        }
        usage
    }

    /// What the task's top level uses outside job bodies (closures are not followed): a
    /// top-level `secret("X")` runs in every job's process.
    pub fn of_top_level(&self, task_script: &str) -> Usage {
        let mut usage = Usage::default();
        let Some(file) = self.files.get(task_script) else {
            return usage;
        };
        let mut seen = BTreeSet::new();
        let mut next = Vec::new();
        for stmt in file.ast.statements() {
            collect(stmt, task_script, file, false, &mut usage, &mut next);
        }
        for key in next {
            self.visit_fn(&key, false, &mut seen, &mut usage);
        }
        usage
    }

    fn visit_fn(
        &self,
        key: &FnKey,
        follow_closures: bool,
        seen: &mut BTreeSet<FnKey>,
        usage: &mut Usage,
    ) {
        if !seen.insert(key.clone()) {
            return;
        }
        let Some(file) = self.files.get(&key.0) else {
            return;
        };
        let mut next = Vec::new();
        let mut found = Usage::default();
        let local = local_fns(file);
        for def in file.ast.iter_fn_def().filter(|d| d.name == key.1.as_str()) {
            // A one-function AST: `walk` then visits exactly this function's body.
            let mut module = rhai::Module::new();
            module.set_script_fn(def.clone());
            AST::new_from_module(module).walk(&mut |nodes: &[ASTNode]| {
                note(
                    nodes,
                    &key.0,
                    file,
                    &local,
                    follow_closures,
                    &mut found,
                    &mut next,
                );
                true
            });
        }
        usage.merge(&found);
        for key in next {
            // A name defined in neither this file nor an imported module is a primitive.
            let target = if self.files.contains_key(&key.0) {
                Some(key)
            } else {
                None
            };
            if let Some(key) = target {
                self.visit_fn(&key, follow_closures, seen, usage);
            }
        }
    }
}

/// `import "x" as y;` at a file's top level: alias `y` → `lib/x.rhai`.
fn imports(ast: &AST) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for stmt in ast.statements() {
        if let Stmt::Import(x, _) = stmt {
            let (path, alias) = &**x;
            if let Expr::StringConstant(path, _) = path {
                out.insert(
                    alias.as_str().to_string(),
                    crate::script::resolver::lib_file(path),
                );
            }
        }
    }
    out
}

fn local_fns(file: &File) -> BTreeSet<String> {
    file.ast.iter_fn_def().map(|d| d.name.to_string()).collect()
}

/// Records what one statement uses; functions it calls go to `next` as (file, name).
fn collect(
    stmt: &Stmt,
    file_name: &str,
    file: &File,
    follow_closures: bool,
    usage: &mut Usage,
    next: &mut Vec<FnKey>,
) {
    let local = local_fns(file);
    let mut path = Vec::new();
    stmt.walk(&mut path, &mut |nodes: &[ASTNode]| {
        note(nodes, file_name, file, &local, follow_closures, usage, next);
        true
    });
}

/// Records the node at the end of `nodes`.
fn note(
    nodes: &[ASTNode],
    file_name: &str,
    file: &File,
    local: &BTreeSet<String>,
    follow_closures: bool,
    usage: &mut Usage,
    next: &mut Vec<FnKey>,
) {
    let call = match nodes.last() {
        Some(ASTNode::Expr(Expr::FnCall(call, _))) => &**call,
        Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => &**call,
        Some(ASTNode::Expr(Expr::StringConstant(s, _))) => {
            usage.strings.insert(s.to_string());
            return;
        }
        // A closure inside the body (`retry(|| …)`): its own anonymous function.
        Some(ASTNode::Expr(Expr::DynamicConstant(value, _))) => {
            if let Some(ptr) = value.read_lock::<rhai::FnPtr>() {
                if follow_closures && local.contains(ptr.fn_name()) {
                    next.push((file_name.to_string(), ptr.fn_name().to_string()));
                }
            }
            return;
        }
        _ => return,
    };
    let name = call.name.as_str();
    let namespace = call.namespace.to_string();
    if namespace.is_empty() {
        usage.globals.insert(name.to_string());
        if local.contains(name) {
            next.push((file_name.to_string(), name.to_string()));
        }
        if name == "secret" {
            if let Some(Expr::StringConstant(secret, _)) = call.args.first() {
                usage.secrets.insert(secret.to_string());
            }
        }
    } else if let Some(module) = file.aliases.get(&namespace) {
        next.push((module.clone(), name.to_string()));
    } else {
        usage.calls.insert(format!("{namespace}::{name}"));
    }
}
