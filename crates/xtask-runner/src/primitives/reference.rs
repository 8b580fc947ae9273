//! The reference scripts' authors read (`docs/primitives.md`, the `.d.rhai` doc comments): one
//! entry per function, next to the function's registration, its option and result tables taken
//! from the declarations in `options.rs` form.

use super::options::Field;

/// One function as the reference describes it.
#[derive(Debug)]
pub struct Function {
    /// As scripts call it: `run`, `cargo::test`.
    pub name: &'static str,
    /// `name: type` of the parameters of its fullest form, in order; shorter forms leave some
    /// out (`job(name, body)` and `job(name, options, body)`).
    pub params: &'static [&'static str],
    /// One line.
    pub summary: &'static str,
    /// Its options: one table, or several when it takes those of other functions too.
    pub options: &'static [&'static [Field]],
    pub result: &'static [Field],
}

/// A function without options or a result table.
pub const fn plain(
    name: &'static str,
    params: &'static [&'static str],
    summary: &'static str,
) -> Function {
    Function {
        name,
        params,
        summary,
        options: &[],
        result: &[],
    }
}

impl Function {
    /// Every option, once (a function taking several functions' options can share a name).
    pub fn all_options(&self) -> Vec<&'static Field> {
        let mut out: Vec<&'static Field> = Vec::new();
        for field in self.options.iter().flat_map(|o| o.iter()) {
            if !out.iter().any(|f| f.name == field.name) {
                out.push(field);
            }
        }
        out
    }
}

/// Every documented function of the families compiled in.
pub fn all() -> Vec<&'static Function> {
    let families: &[&[Function]] = &[
        super::process::FUNCTIONS,
        super::jobs::FUNCTIONS,
        super::log::FUNCTIONS,
        super::fs::FUNCTIONS,
        super::env::FUNCTIONS,
        #[cfg(feature = "http")]
        super::assert::FUNCTIONS,
        super::confirm::FUNCTIONS,
        super::version::FUNCTIONS,
        #[cfg(feature = "cargo")]
        super::cargo::FUNCTIONS,
        #[cfg(feature = "perf")]
        super::perf::FUNCTIONS,
        #[cfg(feature = "release")]
        super::git::FUNCTIONS,
        #[cfg(feature = "release")]
        super::release::FUNCTIONS,
        #[cfg(feature = "node")]
        super::npm::FUNCTIONS,
        #[cfg(feature = "http")]
        super::service::FUNCTIONS,
        #[cfg(feature = "http")]
        super::service::HANDLE,
        #[cfg(feature = "http")]
        super::http::FUNCTIONS,
        #[cfg(feature = "http")]
        super::load::FUNCTIONS,
        #[cfg(feature = "docker")]
        super::docker::FUNCTIONS,
        #[cfg(feature = "docker")]
        super::docker::HANDLE,
        #[cfg(feature = "pg")]
        super::pg::FUNCTIONS,
        #[cfg(feature = "pg")]
        super::pg::HANDLE,
        #[cfg(feature = "scan")]
        super::scan::FUNCTIONS,
    ];
    families.iter().flat_map(|f| f.iter()).collect()
}

/// Option tables nested inside another option, by that option's name: the reference entries do
/// not list them, but their fields need doc comments all the same.
pub fn nested_options() -> Vec<(&'static str, &'static [Field])> {
    let families: &[&[(&str, &[Field])]] = &[
        #[cfg(feature = "http")]
        super::service::NESTED_OPTIONS,
    ];
    families.iter().flat_map(|f| f.iter().copied()).collect()
}

/// The parameter names of a signature with these types: each takes the next documented
/// parameter of the same type, so `job(string, Fn)` is `job(name, body)`.
pub fn name_params(doc: &Function, types: &[String]) -> Option<Vec<String>> {
    let mut documented = doc
        .params
        .iter()
        .map(|p| p.split_once(": ").unwrap_or((p, "")));
    let mut named = Vec::new();
    for ty in types {
        let (name, _) = documented.by_ref().find(|(_, t)| t == ty)?;
        named.push(format!("{name}: {ty}"));
    }
    Some(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every option and result field carries a doc comment: the reference is written from them.
    #[test]
    fn every_documented_field_has_a_doc_comment() {
        let mut missing = Vec::new();
        for function in all() {
            assert!(
                !function.summary.is_empty(),
                "{} has no summary",
                function.name
            );
            let options = function.options.iter().flat_map(|o| o.iter());
            for field in options.chain(function.result) {
                if field.text().is_empty() {
                    missing.push(format!("{}: {}", function.name, field.name));
                }
            }
        }
        for (option, fields) in nested_options() {
            for field in fields {
                if field.text().is_empty() {
                    missing.push(format!("{option}.{}", field.name));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "fields without a doc comment: {missing:?}"
        );
    }

    #[test]
    fn shorter_forms_take_the_names_of_their_types() {
        let doc = Function {
            name: "job",
            params: &["name: string", "options: map", "body: Fn"],
            summary: "x",
            options: &[],
            result: &[],
        };
        let types = ["string".to_string(), "Fn".to_string()];
        assert_eq!(
            name_params(&doc, &types).unwrap(),
            ["name: string", "body: Fn"]
        );
    }
}
