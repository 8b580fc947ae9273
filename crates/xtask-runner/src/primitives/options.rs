//! One declaration per primitive: its options as a serde struct, its result as a serde struct,
//! and the same fields as a table the reference (`cargo xtask definitions`) is written from.
//!
//! `options!` takes a struct whose fields carry a doc comment, optional `#[alias = "…"]`
//! spellings and an optional `= default`; it emits the `Deserialize` struct (unknown fields
//! denied, defaults from the declaration) and `Options::FIELDS`. `parse` reads a script's map
//! into it with Rhai's serde support, keeping the "did you mean" error for unknown keys and
//! naming the option, the expected type and what was passed for a mistyped one.
//! `result!` is the same for what a primitive returns (`Serialize`, `to_dynamic`).

use rhai::{Dynamic, EvalAltResult, Map};

use super::{error, Result};

/// One option (or result field) as the reference shows it.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    /// Older or keyword spellings also accepted (`package` for `packages`).
    pub aliases: &'static [&'static str],
    pub ty: &'static str,
    /// The default as declared; empty when the field has none (absent means "not set").
    pub default: &'static str,
    /// The field's doc comment, one entry per line.
    pub doc: &'static [&'static str],
}

/// A result's field table: its base's fields, then its own (see `result!`).
pub const fn concat_fields<const N: usize>(bases: &[&[Field]], own: &[Field]) -> [Field; N] {
    let blank = Field {
        name: "",
        aliases: &[],
        ty: "",
        default: "",
        doc: &[],
    };
    let mut out = [blank; N];
    let mut at = 0;
    let mut b = 0;
    while b < bases.len() {
        let mut i = 0;
        while i < bases[b].len() {
            out[at] = bases[b][i];
            at += 1;
            i += 1;
        }
        b += 1;
    }
    let mut i = 0;
    while i < own.len() {
        out[at] = own[i];
        at += 1;
        i += 1;
    }
    out
}

/// A field's name as scripts see it: `r#type` is `type` (serde drops the prefix too).
pub const fn unraw(name: &'static str) -> &'static str {
    match name.as_bytes() {
        [b'r', b'#', rest @ ..] => match std::str::from_utf8(rest) {
            Ok(rest) => rest,
            Err(_) => name,
        },
        _ => name,
    }
}

impl Field {
    /// The doc comment as one line of text.
    pub fn text(&self) -> String {
        let lines: Vec<&str> = self.doc.iter().map(|l| l.trim()).collect();
        lines.join(" ").trim().to_string()
    }
}

/// What `options!` implements: the primitive's name for messages and its field table.
pub trait Options: serde::de::DeserializeOwned {
    /// The function as scripts call it (`run`, `cargo::test`), for messages.
    const WHAT: &'static str;
    const FIELDS: &'static [Field];
    /// Checks one present key's value against its field's type; `Err` is the message tail.
    fn check_field(key: &str, value: &Dynamic) -> std::result::Result<(), String>;
}

/// What `result!` implements.
pub trait Fields {
    const FIELDS: &'static [Field];
}

/// A type an option can have, with the name the reference and messages use for it.
pub trait OptionType: serde::de::DeserializeOwned {
    const TYPE: &'static str;

    /// Whether `value` reads as this type; the error reads after "option `x` ".
    fn check(value: &Dynamic) -> std::result::Result<(), String> {
        rhai::serde::from_dynamic::<Self>(value)
            .map(drop)
            .map_err(|e| mismatch(&e, Self::TYPE, value))
    }
}

/// The tail of a type error: a message a wrapper type gave, else "must be T, not U".
fn mismatch(err: &EvalAltResult, expected: &str, value: &Dynamic) -> String {
    if let EvalAltResult::ErrorParsing(
        rhai::ParseErrorType::BadInput(rhai::LexError::ImproperSymbol(_, message)),
        _,
    ) = err
    {
        return message.clone();
    }
    let article = if expected.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("must be {article} {expected}, not {}", script_type(value))
}

/// A value's type as scripts write it.
pub fn script_type(value: &Dynamic) -> String {
    match value.type_name() {
        "i64" | "i32" => "int".into(),
        "f64" | "f32" => "float".into(),
        "alloc::string::String" | "ImmutableString" => "string".into(),
        other => other.to_string(),
    }
}

impl OptionType for String {
    const TYPE: &'static str = "string";
}
impl OptionType for bool {
    const TYPE: &'static str = "bool";
}
impl OptionType for i64 {
    const TYPE: &'static str = "int";
}
impl OptionType for Dynamic {
    const TYPE: &'static str = "any";
}
impl<T: OptionType> OptionType for Option<T> {
    const TYPE: &'static str = T::TYPE;
}

/// Reads a script's option map into `T`: unknown keys get "did you mean", a mistyped value an
/// error naming the option, the type it takes and what it got.
pub fn parse<T: Options>(options: &Map) -> Result<T> {
    check_known(T::WHAT, options, &[T::FIELDS])?;
    read(T::WHAT, options)
}

/// Refuses keys none of `parts` knows: for a function whose options are those of several
/// others (`perf::compare_refs` takes `perf::bench`'s, `perf::time`'s and `perf::compare`'s).
pub fn check_known(what: &str, options: &Map, parts: &[&[Field]]) -> Result<()> {
    let fields = || parts.iter().flat_map(|p| p.iter());
    let mut names: Vec<&str> = Vec::new();
    for f in fields() {
        if !names.contains(&f.name) {
            names.push(f.name);
        }
    }
    for key in options.keys() {
        let known = fields().any(|f| f.name == key.as_str() || f.aliases.contains(&key.as_str()));
        if !known {
            return error(format!(
                "unknown {what} option `{key}`{} (known: {})",
                crate::suggest::did_you_mean(key, names.iter().copied()),
                names.join(", ")
            ));
        }
    }
    Ok(())
}

/// Reads into `T` the keys `T` knows, leaving the rest to the other parts (see `check_known`);
/// errors name `what`, the function the script called.
pub fn parse_part<T: Options>(what: &str, options: &Map) -> Result<T> {
    let mine: Map = options
        .iter()
        .filter(|(k, _)| {
            T::FIELDS
                .iter()
                .any(|f| f.name == k.as_str() || f.aliases.contains(&k.as_str()))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    read(what, &mine)
}

/// A map of known keys into `T`.
fn read<T: Options>(what: &str, options: &Map) -> Result<T> {
    for field in T::FIELDS {
        let given: Vec<&str> = std::iter::once(field.name)
            .chain(field.aliases.iter().copied())
            .filter(|k| options.contains_key(*k))
            .collect();
        if given.len() > 1 {
            return error(format!(
                "{what} options `{}` are one option: give one of them",
                given.join("` and `")
            ));
        }
    }
    for (key, value) in options {
        if let Err(tail) = T::check_field(key, value) {
            return error(format!("{what} option `{key}` {tail}"));
        }
    }
    rhai::serde::from_dynamic(&Dynamic::from_map(options.clone()))
        .or_else(|e| error(format!("{what} options: {e}")))
}

/// A whole-number option that may not be negative.
pub fn count(what: &str, key: &str, n: i64) -> Result<usize> {
    usize::try_from(n).or_else(|_| {
        error(format!(
            "{what} option `{key}` must be a whole number ≥ 0, not {n}"
        ))
    })
}

/// A result struct as the map scripts get.
pub fn to_map<T: serde::Serialize>(value: &T) -> Map {
    rhai::serde::to_dynamic(value)
        .ok()
        .and_then(|d| d.try_cast::<Map>())
        .unwrap_or_default()
}

/// Wrapper types whose value scripts give in more than one form: each reads the raw value and
/// converts it the way the primitives always have.
macro_rules! option_type {
    ($(#[doc = $doc:literal])* $name:ident($inner:ty) as $ty:literal, |$v:ident| $convert:expr) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Default)]
        pub struct $name(pub $inner);
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let $v = <rhai::Dynamic as serde::Deserialize>::deserialize(d)?;
                let converted: std::result::Result<$inner, String> = $convert;
                converted.map($name).map_err(serde::de::Error::custom)
            }
        }
        impl $crate::primitives::options::OptionType for $name {
            const TYPE: &'static str = $ty;
        }
    };
}
// Used by the families behind features (http, docker, perf, release); not every build has one.
#[allow(unused_imports)]
pub(crate) use option_type;

option_type! {
    /// A duration: `"90s"`, `"10m"`, `"1h"`, or a number of seconds.
    Duration(std::time::Duration) as "duration", |value| {
        if let Ok(secs) = value.as_int() {
            Ok(std::time::Duration::from_secs(secs.max(0) as u64))
        } else if let Ok(secs) = value.as_float() {
            Ok(std::time::Duration::from_secs_f64(secs.max(0.0)))
        } else if value.is_string() {
            crate::duration::parse(&value.to_string()).map_err(|e| format!("is not a duration: {e}"))
        } else {
            Err(format!(
                "must be a duration like \"90s\" or \"10m\", not {}",
                script_type(&value)
            ))
        }
    }
}

option_type! {
    /// A list of strings: an array (items written as text) or a single string.
    Strings(Vec<String>) as "string or array of strings", |value| {
        if value.is_unit() {
            Ok(Vec::new())
        } else if value.is_string() {
            Ok(vec![value.to_string()])
        } else if let Some(items) = value.clone().try_cast::<rhai::Array>() {
            Ok(items.iter().map(super::display_value).collect())
        } else {
            Err(format!(
                "must be a string or an array of strings, not {}",
                script_type(&value)
            ))
        }
    }
}

option_type! {
    /// Environment variables: a map of names to values (written as text); `()` unsets one.
    Vars(Vec<(String, Option<String>)>) as "map of variables", |value| {
        match value.clone().try_cast::<Map>() {
            Some(map) => Ok(map
                .into_iter()
                .map(|(k, v)| (k.to_string(), (!v.is_unit()).then(|| super::display_value(&v))))
                .collect()),
            None => Err(format!(
                "must be a map, e.g. #{{ RUST_LOG: \"debug\" }}, not {}",
                script_type(&value)
            )),
        }
    }
}

option_type! {
    /// A number: an int or a float.
    Number(f64) as "number", |value| {
        value
            .as_float()
            .or_else(|_| value.as_int().map(|n| n as f64))
            .map_err(|t| format!("must be a number, not {t}"))
    }
}

option_type! {
    /// A map of arrays: a job's matrix axes (checked where they are read).
    Axes(Dynamic) as "map of arrays", |value| Ok(value)
}

option_type! {
    /// `true`, `false` or a closure returning one of them (checked where it is read).
    Condition(Dynamic) as "bool or Fn", |value| Ok(value)
}

/// Declares a primitive's options. See the module comment.
macro_rules! options {
    (
        $(#[doc = $sdoc:literal])*
        $vis:vis struct $name:ident for $what:literal {
            $(
                $(#[doc = $doc:literal])*
                $(#[alias = $alias:literal])*
                $field:ident : $ty:ty $(= $default:expr $(=> $shown:literal)?)?
            ),* $(,)?
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        $vis struct $name {
            $(
                $(#[doc = $doc])*
                $(#[serde(alias = $alias)])*
                pub $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $($field: $crate::primitives::options::options!(@default $($default)?),)* }
            }
        }

        impl $crate::primitives::options::Options for $name {
            const WHAT: &'static str = $what;
            const FIELDS: &'static [$crate::primitives::options::Field] = &[$(
                $crate::primitives::options::Field {
                    name: stringify!($field),
                    aliases: &[$($alias),*],
                    ty: <$ty as $crate::primitives::options::OptionType>::TYPE,
                    default: $crate::primitives::options::options!(@shown $($default $(=> $shown)?)?),
                    doc: &[$($doc),*],
                },
            )*];
            fn check_field(key: &str, value: &rhai::Dynamic) -> std::result::Result<(), String> {
                $(
                    if key == stringify!($field) $(|| key == $alias)* {
                        return <$ty as $crate::primitives::options::OptionType>::check(value);
                    }
                )*
                Ok(())
            }
        }
    };
    (@default) => { Default::default() };
    (@default $default:expr) => { $default };
    (@shown) => { "" };
    (@shown $default:expr => $shown:literal) => { $shown };
    (@shown $default:expr) => { stringify!($default) };
}
pub(crate) use options;

/// Declares a primitive's result: a `Serialize` struct and its field table. `type` is the name
/// the reference gives the field (the Rust type says little to a script's author). A first
/// `..name: Base` line puts another result's fields in it (flattened: scripts see one map), so
/// results that start alike (every command's `status`, `success`, …) declare those fields once.
macro_rules! result {
    (
        $(#[doc = $sdoc:literal])*
        $vis:vis struct $name:ident {
            $(.. $base_field:ident : $base:ty,)?
            $(
                $(#[doc = $doc:literal])*
                $(#[serde($($attr:tt)*)])*
                $field:ident : $ty:ty as $shown:literal
            ),* $(,)?
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, Default, serde::Serialize)]
        $vis struct $name {
            $(
                #[serde(flatten)]
                pub $base_field: $base,
            )?
            $(
                $(#[doc = $doc])*
                $(#[serde($($attr)*)])*
                pub $field: $ty,
            )*
        }

        impl $crate::primitives::options::Fields for $name {
            const FIELDS: &'static [$crate::primitives::options::Field] =
                &$crate::primitives::options::concat_fields::<
                    { 0 $(+ <$base as $crate::primitives::options::Fields>::FIELDS.len())?
                        + [$(stringify!($field)),*].len() },
                >(
                    &[$(<$base as $crate::primitives::options::Fields>::FIELDS)?],
                    &[$(
                        $crate::primitives::options::Field {
                            name: $crate::primitives::options::unraw(stringify!($field)),
                            aliases: &[],
                            ty: $shown,
                            default: "",
                            doc: &[$($doc),*],
                        },
                    )*],
                );
        }
    };
}
pub(crate) use result;

#[cfg(test)]
mod tests {
    use super::*;

    options! {
        struct Sample for "sample" {
            /// Where to run.
            dir: Option<String>,
            /// Keep going on failure.
            allow_fail: bool = false,
            /// Give up after this long.
            timeout: Option<Duration>,
            /// Which packages.
            #[alias = "package"]
            packages: Strings,
            /// Lints denied.
            deny: Strings = Strings(vec!["warnings".into()]) => "[\"warnings\"]",
        }
    }

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    fn message(err: &EvalAltResult) -> String {
        match err {
            EvalAltResult::ErrorRuntime(m, _) => m.to_string(),
            other => other.to_string(),
        }
    }

    #[test]
    fn reads_values_defaults_and_aliases() {
        let o: Sample = parse(&map(&[
            ("dir", "x".into()),
            ("timeout", "90s".into()),
            ("package", "a".into()),
        ]))
        .unwrap();
        assert_eq!(o.dir.as_deref(), Some("x"));
        assert!(!o.allow_fail);
        assert_eq!(o.timeout.unwrap().0.as_secs(), 90);
        assert_eq!(o.packages.0, vec!["a".to_string()]);
        let o: Sample =
            parse(&map(&[("packages", Dynamic::from_array(vec!["b".into()]))])).unwrap();
        assert_eq!(o.packages.0, vec!["b".to_string()]);
        let o: Sample = parse(&Map::new()).unwrap();
        assert!(o.dir.is_none() && o.packages.0.is_empty());
    }

    #[test]
    fn unknown_keys_suggest_the_name_meant() {
        let err = message(&parse::<Sample>(&map(&[("timout", 1.into())])).unwrap_err());
        assert_eq!(
            err,
            "unknown sample option `timout`; did you mean `timeout`? (known: dir, allow_fail, timeout, packages, deny)"
        );
    }

    #[test]
    fn mistyped_values_name_the_option_the_type_and_what_was_passed() {
        let err = message(&parse::<Sample>(&map(&[("dir", 3.into())])).unwrap_err());
        assert_eq!(err, "sample option `dir` must be a string, not int");
        let err = message(&parse::<Sample>(&map(&[("allow_fail", "yes".into())])).unwrap_err());
        assert_eq!(err, "sample option `allow_fail` must be a bool, not string");
        let err = message(&parse::<Sample>(&map(&[("timeout", "soon".into())])).unwrap_err());
        assert!(
            err.starts_with("sample option `timeout` is not a duration"),
            "{err}"
        );
        let err = message(&parse::<Sample>(&map(&[("package", true.into())])).unwrap_err());
        assert_eq!(
            err,
            "sample option `package` must be a string or an array of strings, not bool"
        );
    }

    #[test]
    fn the_table_carries_names_types_defaults_and_docs() {
        let f = &Sample::FIELDS[1];
        assert_eq!((f.name, f.ty, f.default), ("allow_fail", "bool", "false"));
        assert_eq!(f.text(), "Keep going on failure.");
        assert_eq!(Sample::FIELDS[3].aliases, &["package"]);
        assert_eq!(Sample::FIELDS[4].default, "[\"warnings\"]");
        let o: Sample = parse(&Map::new()).unwrap();
        assert_eq!(o.deny.0, ["warnings"]);
    }

    #[test]
    fn two_spellings_of_one_option_are_refused() {
        let both = map(&[("package", "a".into()), ("packages", "b".into())]);
        let err = message(&parse::<Sample>(&both).unwrap_err());
        assert_eq!(
            err,
            "sample options `packages` and `package` are one option: give one of them"
        );
    }
}
