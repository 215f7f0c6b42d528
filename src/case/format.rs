//! The case file format, as written. These serde types are the format: unknown fields are
//! errors, and `specs/case.schema.json` (the editor schema) is generated from them
//! ([`crate::schema`]; their doc comments are its descriptions). [`super::load`] turns a
//! parsed file into validated [`super::Case`]s.

use crate::spec::Level;
use indexmap::IndexMap;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_saphyr::Spanned;

/// One test case (or one per parameter row) of the conformance suite. Editors: put
/// `# yaml-language-server: $schema=<path to this file>` on the first line of a case file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "conformance case file",
    extend("$id" = "https://conformance.invalid/case.schema.json")
)]
pub struct CaseFile {
    /// The catalogue ID this case checks (specs/requirements.yaml), e.g. `UPD-03`.
    #[schemars(with = "String", pattern("^[A-Z]{3}-[0-9]{2}$"))]
    pub requirement: Spanned<String>,
    /// Optional; when given it must equal the catalogue's level for the requirement.
    #[serde(default)]
    #[schemars(with = "Option<Level>")]
    pub level: Option<Spanned<Level>>,
    /// One line saying what the case shows.
    #[serde(default)]
    pub title: Option<String>,
    /// One test per row, named `<case>/<row name>`. Each field of a row is a variable
    /// (`{{field}}`); values may use generators.
    #[serde(default)]
    #[schemars(schema_with = "parameter_rows")]
    pub parameters: Vec<Spanned<IndexMap<String, Value>>>,
    #[schemars(with = "Vec<StepFile>", length(min = 1))]
    pub steps: Vec<Spanned<StepFile>>,
    /// Steps run after the others whatever happened. Resources made by operations marked
    /// `x-conformance-cleanup` in the overlay are deleted without being listed here.
    #[serde(default)]
    #[schemars(with = "Vec<StepFile>")]
    pub cleanup: Vec<Spanned<StepFile>>,
    /// Marks the case ignored (it runs with `--include-ignored`); the reason.
    #[serde(default)]
    pub ignore: Option<String>,
    /// Derived cases (test names under `derived/`, see `--list derived/`) this file checks at
    /// least as strictly; they are not generated. A name that is no derived case is an error.
    #[serde(default)]
    #[schemars(with = "Vec<String>", inner(pattern("^derived/")))]
    pub covers: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    #[serde(default)]
    pub name: Option<String>,
    /// Attribute this step's checks to another requirement than the case's.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub requirement: Option<Spanned<String>>,
    /// An operationId of the spec, e.g. `updateConversation`...
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub operation: Option<Spanned<String>>,
    /// ...or a method, with `path`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// Relative to the base URL (which ends in /v1); may use `{{variables}}`.
    #[serde(default)]
    #[schemars(with = "Option<String>", pattern("^/"))]
    pub path: Option<Spanned<String>>,
    /// Values of the operation's path parameters.
    #[serde(default)]
    pub path_params: IndexMap<String, Value>,
    /// Query parameters; a list value repeats the parameter (`include[]: [a, b]`).
    #[serde(default)]
    pub query: IndexMap<String, Value>,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// `false` sends no `Authorization` header.
    #[serde(default = "yes")]
    pub auth: bool,
    /// The JSON body. `body: null` sends `null`; no `body` field sends no body.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Value")]
    pub body: Option<Spanned<Value>>,
    /// A body sent as it is (for invalid JSON).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub raw_body: Option<Spanned<String>>,
    /// Content-Type of the body; `application/json` by default.
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub expect: ExpectFile,
    /// Variable name -> selector into the answer (`$` for all of it). Captures run before the
    /// checks.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub capture: IndexMap<String, Spanned<String>>,
    /// Snapshot the answer (after its checks pass), with ids and `created_at` redacted.
    #[serde(default)]
    #[schemars(with = "Option<SnapshotFile>")]
    pub snapshot: Option<Spanned<SnapshotFile>>,
    #[serde(default)]
    #[schemars(with = "Option<ObserveFile>")]
    pub observe: Option<Spanned<ObserveFile>>,
    /// The answer is an event stream, checked event by event; captures and matchers see the
    /// terminal event's response.
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

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    /// One status or a list of acceptable ones.
    #[serde(default)]
    #[schemars(schema_with = "statuses")]
    pub status: Option<Spanned<OneOrMany<u16>>>,
    /// Header name -> matcher on its value.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, MatcherFile>")]
    pub headers: IndexMap<String, Spanned<MatcherFile>>,
    /// Selector (`metadata.topic`, `data[0].id`, `error["code"]`) -> matcher.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, MatcherFile>")]
    pub json: IndexMap<String, Spanned<MatcherFile>>,
    /// The rule a wrong status breaks here, where the status does not say it (`a value of a
    /// wrong type`, another defect than a limit not enforced): the same cause in other cases and
    /// on other operations is the same root cause.
    #[serde(default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
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

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct MatcherFile {
    /// Equal to this JSON value (variables allowed).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Value")]
    pub equals: Option<Value>,
    /// Equal to one of these.
    #[serde(default)]
    pub one_of: Option<Vec<Value>>,
    #[serde(default, rename = "type")]
    pub type_: Option<OneOrMany<JsonType>>,
    /// A regular expression the string must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// `true`: there must be nothing at the selector; `false`: there must be something.
    #[serde(default)]
    pub absent: Option<bool>,
    /// The number of elements, properties or characters.
    #[serde(default)]
    pub length: Option<usize>,
    /// Object: these pairs are present; array: these elements are present (an object: an
    /// element with these pairs); string: substring.
    #[serde(default)]
    pub contains: Option<Value>,
    /// An integer of Unix seconds within this many seconds of the harness's clock.
    #[serde(default)]
    pub near_now: Option<u64>,
    /// A vector (an array of numbers, or base64 of little-endian float32s) of the same
    /// length as `to`'s, each value within `tolerance` of `to`'s.
    #[serde(default)]
    pub vector_near: Option<VectorNearFile>,
    /// Attribute this check to another requirement.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub requirement: Option<Spanned<String>>,
    /// The rule its failure breaks, where its field and check do not say it (`after continues
    /// after the given item`, for a page's ids and its length): matchers with the same cause,
    /// in this case or another, are one root cause.
    #[serde(default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorNearFile {
    /// The vector to compare with, an array of numbers or base64 (usually a variable:
    /// `"{{plain.data[0].embedding}}"`).
    pub to: Value,
    /// The largest difference allowed per value; 0.01 by default.
    #[serde(default)]
    #[schemars(range(min = 0))]
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

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SnapshotFile {
    Enabled(bool),
    Options(SnapshotOptions),
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotOptions {
    /// Selector -> placeholder, on top of the default redactions. Each must match something.
    #[serde(default)]
    pub redact: IndexMap<String, String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
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

impl JsonSchema for JsonType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JsonType".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "enum": ["string", "integer", "number", "boolean", "object", "array", "null", null]
        })
    }
}

fn parameter_rows(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}}
        }
    })
}

fn statuses(_: &mut SchemaGenerator) -> Schema {
    let status = json_schema!({"type": "integer", "minimum": 100, "maximum": 599});
    json_schema!({"oneOf": [status, {"type": "array", "items": status}]})
}
