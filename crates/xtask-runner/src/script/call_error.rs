//! What to say when Rhai finds no function for a call ("Function not found: job (i64, Fn)").
//! That one error covers four different mistakes, each with its own message:
//! - an operator applied to types it does not take (`"a" - 1`): no `-` for (string, int);
//! - a known function called with the wrong arguments: its signatures against what was passed;
//! - a variable that has the name of a script function: inside a closure or a function Rhai
//!   passes the function (a `Fn`) instead of the variable, which is never captured;
//! - a name nothing defines: the nearest known name.
//!
//! Signatures come from the engine's metadata (native, package and module functions) and the
//! script's own AST (its functions), so they follow whatever is registered.

use std::collections::BTreeMap;

use rhai::{Engine, AST};
use serde::Deserialize;

/// A call as Rhai reports it: the (qualified) name and the script types of the arguments.
#[derive(Debug, PartialEq)]
pub struct FailedCall {
    pub name: String,
    pub args: Vec<String>,
}

impl FailedCall {
    /// Parses Rhai's `perf::compare ((), map, Fn)`.
    pub fn parse(signature: &str, engine: &Engine) -> FailedCall {
        let (name, args) = match signature.split_once(" (") {
            Some((name, rest)) => (name, rest.strip_suffix(')').unwrap_or(rest)),
            None => (signature, ""),
        };
        FailedCall {
            name: name.trim().to_string(),
            args: split_top_level(args)
                .into_iter()
                .map(|t| script_type(t, engine))
                .collect(),
        }
    }

    fn args_text(&self) -> String {
        format!("({})", self.args.join(", "))
    }
}

/// One parameter of a known function: its name when registered with one, its type when known
/// (script functions have none).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Option<String>,
    pub typ: Option<String>,
}

impl Param {
    fn render(&self) -> String {
        match (&self.name, &self.typ) {
            (Some(name), Some(typ)) => format!("{name}: {typ}"),
            (Some(name), None) => name.clone(),
            (None, Some(typ)) => typ.clone(),
            (None, None) => "_".into(),
        }
    }
}

/// Every function a script can call, by qualified name (`job`, `perf::compare`), with the
/// parameters of each overload.
#[derive(Default)]
pub struct Functions {
    by_name: BTreeMap<String, Vec<Vec<Param>>>,
}

/// The parts of `Engine::gen_fn_metadata_with_ast_to_json` used here.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ModuleMeta {
    modules: BTreeMap<String, ModuleMeta>,
    functions: Vec<FnMeta>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FnMeta {
    name: String,
    #[serde(default)]
    is_anonymous: bool,
    num_params: usize,
    #[serde(default)]
    params: Vec<ParamMeta>,
}

#[derive(Deserialize)]
struct ParamMeta {
    name: Option<String>,
    #[serde(rename = "type")]
    typ: Option<String>,
}

impl Functions {
    /// The engine's functions (standard packages included: `len`, `contains`, …) and those the
    /// script `ast` defines.
    pub fn of(engine: &Engine, ast: &AST) -> Functions {
        let json = engine
            .gen_fn_metadata_with_ast_to_json(ast, true)
            .unwrap_or_default();
        let meta: ModuleMeta = serde_json::from_str(&json).unwrap_or_default();
        let mut functions = Functions::default();
        functions.add_module("", &meta, engine);
        for function in crate::primitives::reference::all() {
            if let Some(overloads) = functions.by_name.get_mut(function.name) {
                for params in overloads.iter_mut() {
                    name_params(params, function);
                }
            }
        }
        for overloads in functions.by_name.values_mut() {
            overloads.sort_by_key(Vec::len);
            overloads.dedup();
        }
        functions
    }

    fn add_module(&mut self, prefix: &str, module: &ModuleMeta, engine: &Engine) {
        for f in module.functions.iter().filter(|f| !f.is_anonymous) {
            let mut params: Vec<Param> = f
                .params
                .iter()
                .map(|p| Param {
                    name: p.name.clone(),
                    typ: p.typ.as_deref().map(|t| script_type(t, engine)),
                })
                .collect();
            params.resize(
                f.num_params,
                Param {
                    name: None,
                    typ: None,
                },
            );
            self.by_name
                .entry(format!("{prefix}{}", f.name))
                .or_default()
                .push(params);
        }
        for (name, sub) in &module.modules {
            self.add_module(&format!("{prefix}{name}::"), sub, engine);
        }
    }

    pub fn overloads(&self, name: &str) -> Option<&[Vec<Param>]> {
        self.by_name.get(name).map(Vec::as_slice)
    }

    /// Names a script calls: no operators, no property or index accessors.
    pub fn callable_names(&self) -> impl Iterator<Item = &str> {
        self.by_name
            .keys()
            .map(String::as_str)
            .filter(|n| !is_operator(n) && !n.contains('$'))
    }
}

/// Names an overload's unnamed parameters from the reference (`reference::name_params`: each
/// takes the next documented parameter of its type), so `job(string, Fn)` reads
/// `job(name: string, body: Fn)`. Left as it is when a type is unknown or they do not line up.
fn name_params(params: &mut [Param], documented: &crate::primitives::reference::Function) {
    let Some(types) = params
        .iter()
        .map(|p| p.typ.clone())
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    let Some(named) = crate::primitives::reference::name_params(documented, &types) else {
        return;
    };
    for (param, text) in params.iter_mut().zip(named) {
        if param.name.is_none() {
            param.name = text.split_once(": ").map(|(name, _)| name.to_string());
        }
    }
}

/// The message for a call no function matched.
pub fn explain(call: &FailedCall, functions: &Functions) -> String {
    let got = call.args_text();
    if is_operator(&call.name) {
        return format!("no `{}` for {got}", call.name);
    }
    if call.name.starts_with("index$get$") {
        return match call.args.as_slice() {
            [on, index] => format!("cannot index {on} with {index}"),
            _ => format!("cannot index {got}"),
        };
    }
    if call.name.starts_with("index$set$") {
        return match call.args.as_slice() {
            [on, index, value] => format!("cannot set {on}[{index}] to {value}"),
            _ => format!("cannot index {got}"),
        };
    }
    match functions.overloads(&call.name) {
        Some(overloads) => format!(
            "wrong arguments for `{}`: expected {}, got `{got}`",
            call.name,
            expected(&call.name, overloads)
        ),
        None => {
            let suggestion = crate::suggest::did_you_mean(&call.name, functions.callable_names());
            format!("unknown function `{}{got}`{suggestion}", call.name)
        }
    }
}

/// How many overloads are listed before "…".
const MAX_LISTED: usize = 8;

/// `job(string, [map,] Fn)` for a function whose overloads differ by one run of optional
/// parameters, else each overload.
fn expected(name: &str, overloads: &[Vec<Param>]) -> String {
    if let [short, long] = overloads {
        if let Some(text) = with_optional(short, long) {
            return format!("`{name}({text})`");
        }
    }
    let mut listed: Vec<String> = overloads
        .iter()
        .take(MAX_LISTED)
        .map(|params| format!("`{name}({})`", render(params)))
        .collect();
    if overloads.len() > MAX_LISTED {
        listed.push(format!("… ({} in all)", overloads.len()));
    }
    match listed.as_slice() {
        [one] => one.clone(),
        _ => format!("one of {}", listed.join(", ")),
    }
}

fn render(params: &[Param]) -> String {
    params
        .iter()
        .map(Param::render)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `long` with brackets around what `short` leaves out, when that is one contiguous run.
fn with_optional(short: &[Param], long: &[Param]) -> Option<String> {
    let start = short.iter().zip(long).take_while(|(a, b)| a == b).count();
    let missing = long.len().checked_sub(short.len()).filter(|&n| n > 0)?;
    let end = start + missing;
    if short[start..] != long[end..] {
        return None;
    }
    let (before, optional, after) = (
        render(&long[..start]),
        render(&long[start..end]),
        render(&long[end..]),
    );
    Some(match (before.is_empty(), after.is_empty()) {
        (true, false) => format!("[{optional},] {after}"),
        (false, false) => format!("{before}, [{optional},] {after}"),
        (false, true) => format!("{before}[, {optional}]"),
        (true, true) => format!("[{optional}]"),
    })
}

/// The names among the arguments of the failed call at `line`:`column` that Rhai passed as a
/// function because a script function has the same name: a closure does not capture such a
/// variable, and a function never sees the caller's variables.
pub fn functions_passed_for_variables(
    ast: &AST,
    call: &FailedCall,
    line: usize,
    column: usize,
) -> Vec<(usize, String)> {
    let bare = call.name.rsplit("::").next().unwrap_or(&call.name);
    let script_fns: Vec<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    let mut candidates: Vec<(usize, Vec<(usize, String)>)> = Vec::new();
    ast.walk(&mut |path| {
        // A call is an expression, or a statement of its own (`f(x);`).
        let found = match path.last() {
            Some(rhai::ASTNode::Expr(rhai::Expr::FnCall(f, pos))) => Some((f, pos)),
            Some(rhai::ASTNode::Stmt(rhai::Stmt::FnCall(f, pos))) => Some((f, pos)),
            _ => None,
        };
        if let Some((f, pos)) = found {
            if f.name == bare && pos.line() == Some(line) {
                let names = f
                    .args
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| call.args.get(*i).is_some_and(|t| t == "Fn"))
                    .filter_map(|(i, arg)| match arg {
                        rhai::Expr::Variable(v, ..) if script_fns.iter().any(|n| *n == v.1) => {
                            Some((i, v.1.to_string()))
                        }
                        _ => None,
                    })
                    .collect();
                let distance = pos.position().unwrap_or(0).abs_diff(column);
                candidates.push((distance, names));
            }
        }
        true
    });
    candidates
        .into_iter()
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, names)| names)
        .unwrap_or_default()
}

/// The explanation appended for [`functions_passed_for_variables`].
pub fn explain_function_for_variable(position: usize, name: &str) -> String {
    format!(
        "; argument {} `{name}` is the script function `{name}`, not a variable: a closure does not capture a variable that has a function's name (and a function never sees the caller's variables), so Rhai passes the function instead; rename the variable or the function",
        position + 1
    )
}

fn is_operator(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| "+-*/%^&|!=<>~?.".contains(c))
}

/// Rust's or Rhai's name of a type as scripts know it: `i64` is `int`, `&str` is `string`,
/// `Dynamic` (anything) is `?`.
fn script_type(rust: &str, engine: &Engine) -> String {
    let rust = rust.trim();
    // Rhai names a string argument `&str | ImmutableString | String`.
    if rust.contains(" | ") {
        let mut names: Vec<String> = rust.split(" | ").map(|t| script_type(t, engine)).collect();
        names.dedup();
        return names.join(" | ");
    }
    let rust = rust.strip_prefix("&mut ").unwrap_or(rust);
    match rust {
        "i64" | "INT" => "int".into(),
        "f64" | "FLOAT" => "float".into(),
        "Dynamic" | "rhai::Dynamic" | "rhai::types::dynamic::Dynamic" | "?" => "?".into(),
        "()" => "()".into(),
        "bool" | "char" => rust.into(),
        "String" | "&str" | "ImmutableString" => "string".into(),
        _ if rust.starts_with("RangeInclusive<") => "range=".into(),
        _ if rust.starts_with("Range<") => "range".into(),
        _ => {
            let mapped = engine.map_type_name(rust);
            let mapped = engine.map_type_name(mapped.strip_prefix("rhai::").unwrap_or(mapped));
            mapped.rsplit("::").next().unwrap_or(mapped).to_string()
        }
    }
}

/// Splits `a, Vec<b, c>, ()` at the commas outside brackets.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = text[start..].trim();
    if !last.is_empty() || !parts.is_empty() {
        parts.push(last);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: Option<&str>, typ: &str) -> Param {
        Param {
            name: name.map(String::from),
            typ: Some(typ.into()),
        }
    }

    #[test]
    fn reads_rhai_call_signatures() {
        let engine = Engine::new();
        let call = FailedCall::parse("- (&str | ImmutableString | String, i64)", &engine);
        assert_eq!(call.name, "-");
        assert_eq!(call.args, ["string", "int"]);
        let call = FailedCall::parse("perf::compare ((), map, Fn)", &engine);
        assert_eq!(call.args, ["()", "map", "Fn"]);
        assert_eq!(
            FailedCall::parse("now ()", &engine).args,
            Vec::<String>::new()
        );
    }

    #[test]
    fn unnamed_parameters_take_the_reference_names_of_their_types() {
        let job = crate::primitives::reference::all()
            .into_iter()
            .find(|f| f.name == "job")
            .expect("job is documented");
        let mut short = vec![param(None, "string"), param(None, "Fn")];
        name_params(&mut short, job);
        assert_eq!(render(&short), "name: string, body: Fn");
        let mut mismatched = vec![param(None, "int")];
        name_params(&mut mismatched, job);
        assert_eq!(render(&mismatched), "int");
    }

    #[test]
    fn brackets_the_optional_run() {
        let name = param(Some("name"), "string");
        let options = param(Some("options"), "map");
        let body = param(Some("body"), "Fn");
        assert_eq!(
            with_optional(
                &[name.clone(), body.clone()],
                &[name.clone(), options.clone(), body]
            ),
            Some("name: string, [options: map,] body: Fn".into())
        );
        assert_eq!(
            with_optional(
                std::slice::from_ref(&name),
                &[name.clone(), options.clone()]
            ),
            Some("name: string[, options: map]".into())
        );
        assert_eq!(
            with_optional(&[], std::slice::from_ref(&options)),
            Some("[options: map]".into())
        );
        assert_eq!(with_optional(&[options], &[name.clone(), name]), None);
    }

    #[test]
    fn finds_a_function_passed_for_a_variable() {
        let engine = Engine::new();
        let ast = engine
            .compile("fn limits(x) { x }\nlet limits = #{};\nlet f = || {\n    compare((), #{}, limits);\n};\n")
            .unwrap();
        let call = FailedCall::parse("compare ((), map, Fn)", &engine);
        assert_eq!(
            functions_passed_for_variables(&ast, &call, 4, 5),
            [(2, "limits".to_string())]
        );
    }

    #[test]
    fn operators_are_not_functions() {
        let call = FailedCall {
            name: "-".into(),
            args: vec!["string".into(), "int".into()],
        };
        assert_eq!(
            explain(&call, &Functions::default()),
            "no `-` for (string, int)"
        );
    }
}
