//! What the build leaves out of the embedded document's parsed form (see `build.rs`).

/// Drops the document's prose, which nothing reads and which is more than half its text:
/// every `description` and `summary` that is a string, and the `x-oaiMeta` blocks. Values that
/// are data (examples, defaults, enums, constants) are kept whole, as are the names in a map
/// of names (a property called `description` is an object, a discriminator's mapping is kept).
pub fn without_prose(value: &mut serde_json::Value) {
    use serde_json::Value;
    const DATA: &[&str] = &["example", "examples", "default", "enum", "const", "mapping"];
    match value {
        Value::Object(map) => {
            map.retain(|key, value| {
                let prose = (key == "description" || key == "summary") && value.is_string();
                !(prose || key == "x-oaiMeta")
            });
            for (key, value) in map.iter_mut() {
                if !DATA.contains(&key.as_str()) {
                    without_prose(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(without_prose),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn prose_goes_and_names_and_data_stay() {
        let mut document = json!({
            "description": "prose",
            "x-oaiMeta": {"name": "prose"},
            "properties": {
                "description": {"type": "string", "description": "prose"},
                "summary": {"$ref": "#/components/schemas/Summary"}
            },
            "example": {"description": "data"},
            "enum": [{"summary": "data"}],
            "discriminator": {"mapping": {"description": "#/components/schemas/D"}}
        });
        super::without_prose(&mut document);
        assert_eq!(
            document,
            json!({
                "properties": {
                    "description": {"type": "string"},
                    "summary": {"$ref": "#/components/schemas/Summary"}
                },
                "example": {"description": "data"},
                "enum": [{"summary": "data"}],
                "discriminator": {"mapping": {"description": "#/components/schemas/D"}}
            })
        );
    }
}
