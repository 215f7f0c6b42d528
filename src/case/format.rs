//! The case file format, as written. These serde types are the format: unknown fields are
//! errors, and `case.schema.json` (the editor schema) is kept equal to them by a test.
//! [`super::load`] turns a parsed file into validated [`super::Case`]s.

use crate::spec::Level;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The catalogue ID this case checks, e.g. `UPD-03`.
    pub requirement: Spanned<String>,
    /// Optional; when given it must equal the catalogue's level for the requirement.
    #[serde(default)]
    pub level: Option<Spanned<Level>>,
    /// One line saying what the case shows.
    #[serde(default)]
    pub title: Option<String>,
    /// One test per row: each row's fields become variables; `name` names the test.
    #[serde(default)]
    pub parameters: Vec<Spanned<IndexMap<String, Value>>>,
    pub steps: Vec<Spanned<StepFile>>,
    /// Run after the steps whatever happened (resources made by operations with
    /// `x-conformance-cleanup` are deleted without being listed here).
    #[serde(default)]
    pub cleanup: Vec<Spanned<StepFile>>,
    /// Mark the case ignored (runs only with `--include-ignored`), with the reason.
    #[serde(default)]
    pub ignore: Option<String>,
    /// Derived cases (`derived/...` test names) this file checks at least as strictly: they
    /// are not generated.
    #[serde(default)]
    pub covers: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    #[serde(default)]
    pub name: Option<String>,
    /// Attribute this step's checks to another requirement than the case's.
    #[serde(default)]
    pub requirement: Option<Spanned<String>>,
    /// An operationId of the spec...
    #[serde(default)]
    pub operation: Option<Spanned<String>>,
    /// ...or a method and a path relative to the base URL.
    #[serde(default)]
    pub method: Option<Spanned<String>>,
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub path_params: IndexMap<String, Value>,
    /// Values may be lists: the parameter is repeated (`include[]: [a, b]`).
    #[serde(default)]
    pub query: IndexMap<String, Value>,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// `false` sends no `Authorization` header.
    #[serde(default = "yes")]
    pub auth: bool,
    /// The JSON body; `body: null` sends `null`; no `body` sends no body.
    #[serde(default, deserialize_with = "present")]
    pub body: Option<Spanned<Value>>,
    /// A body sent as it is (invalid JSON, for instance).
    #[serde(default)]
    pub raw_body: Option<Spanned<String>>,
    /// Content-Type of the body; `application/json` by default.
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub expect: ExpectFile,
    /// Variable name -> selector into the response body (`$` for all of it).
    #[serde(default)]
    pub capture: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    pub snapshot: Option<Spanned<SnapshotFile>>,
    #[serde(default)]
    pub observe: Option<Spanned<ObserveFile>>,
    /// The answer is an event stream, checked event by event (src/stream.rs).
    #[serde(default)]
    pub stream: bool,
}

fn yes() -> bool {
    true
}

/// Keeps an explicit `null` apart from an absent field.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    /// One status or a list of acceptable ones.
    #[serde(default)]
    pub status: Option<Spanned<OneOrMany<u16>>>,
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<MatcherFile>>,
    /// Selector -> what the value there must be.
    #[serde(default)]
    pub json: IndexMap<String, Spanned<MatcherFile>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatcherFile {
    #[serde(default, deserialize_with = "present")]
    pub equals: Option<Value>,
    #[serde(default)]
    pub one_of: Option<Vec<Value>>,
    #[serde(default, rename = "type")]
    pub type_: Option<OneOrMany<JsonType>>,
    #[serde(default)]
    pub pattern: Option<String>,
    /// `true`: there must be nothing at the selector; `false`: there must be something.
    #[serde(default)]
    pub absent: Option<bool>,
    /// Number of elements, properties or characters.
    #[serde(default)]
    pub length: Option<usize>,
    /// Object: these pairs are present; array: these elements are present (an object: an
    /// element with these pairs); string: substring.
    #[serde(default)]
    pub contains: Option<Value>,
    /// An integer of unix seconds within this many seconds of the harness's clock.
    #[serde(default)]
    pub near_now: Option<u64>,
    /// A vector (an array of numbers, or base64 of little-endian float32s) of the same
    /// length as `to`'s, each value within `tolerance` of `to`'s.
    #[serde(default)]
    pub vector_near: Option<VectorNearFile>,
    /// Attribute this check to another requirement.
    #[serde(default)]
    pub requirement: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorNearFile {
    /// The vector to compare with (usually a variable: `"{{plain.data[0].embedding}}"`).
    pub to: Value,
    /// The largest difference allowed per value; 0.01 by default.
    #[serde(default)]
    pub tolerance: Option<f64>,
}

/// A JSON type name; a bare YAML `null` means the null type too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SnapshotFile {
    Enabled(bool),
    Options(SnapshotOptions),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotOptions {
    /// Selector -> placeholder, on top of the default redactions.
    #[serde(default)]
    pub redact: IndexMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserveFile {
    /// Selector into this step's response.
    pub path: String,
    /// What to report when something is at `path` (default: the value itself).
    #[serde(default)]
    pub present: Option<String>,
    /// What to report when nothing is (default: `absent`).
    #[serde(default)]
    pub absent: Option<String>,
}

impl<'de> Deserialize<'de> for JsonType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Names;
        impl serde::de::Visitor<'_> for Names {
            type Value = JsonType;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("one of string, integer, number, boolean, object, array, null")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<JsonType, E> {
                Ok(JsonType::Null)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<JsonType, E> {
                Ok(JsonType::Null)
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<JsonType, E> {
                Ok(match name {
                    "string" => JsonType::String,
                    "integer" => JsonType::Integer,
                    "number" => JsonType::Number,
                    "boolean" => JsonType::Boolean,
                    "object" => JsonType::Object,
                    "array" => JsonType::Array,
                    "null" => JsonType::Null,
                    other => {
                        return Err(E::invalid_value(serde::de::Unexpected::Str(other), &self))
                    }
                })
            }
        }
        d.deserialize_any(Names)
    }
}
