//! The JSON Schemas published under `specs/`, generated from the types that are the formats:
//! the case file ([`crate::case::format::CaseFile`], as read) and the JSON report
//! ([`crate::report::json`], as written). A test keeps the committed files equal to these;
//! `SCHEMAS=overwrite cargo test --test it schemas::` writes them.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// `specs/case.schema.json`.
pub fn case() -> String {
    render::<crate::case::format::CaseFile>(SchemaSettings::draft2020_12())
}

/// `specs/report.schema.json`.
pub fn report() -> String {
    render::<crate::report::json::Document>(SchemaSettings::draft2020_12().for_serialize())
}

fn render<T: JsonSchema>(settings: SchemaSettings) -> String {
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    tidy(&mut schema);
    // What the document is first, as a reader looks for it.
    let head = ["$schema", "$id", "title", "description"];
    let mut ordered = Map::new();
    if let Value::Object(map) = &schema {
        for key in head {
            if let Some(value) = map.get(key) {
                ordered.insert(key.to_owned(), value.clone());
            }
        }
        for (key, value) in map.iter().filter(|(key, _)| !head.contains(&key.as_str())) {
            ordered.insert(key.clone(), value.clone());
        }
    }
    let mut text = serde_json::to_string_pretty(&ordered).unwrap_or_default();
    text.push('\n');
    text
}

/// Doc comments are wrapped at 100 columns, and an absent optional field is `null` in Rust
/// only: a description is one line, and no default is `null`.
fn tidy(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, value| !(key == "default" && value.is_null()));
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(text) if key == "description" => {
                        *text = text.replace('\n', " ");
                    }
                    _ => tidy(value),
                }
            }
        }
        Value::Array(values) => values.iter_mut().for_each(tidy),
        _ => {}
    }
}
