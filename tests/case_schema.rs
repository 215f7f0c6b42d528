//! The published JSON Schema of the case format (specs/case.schema.json) stays equal to the
//! serde types that are the format, and every bundled case file validates against it.

use conformance::case::format::{
    CaseFile, ExpectFile, MatcherFile, ObserveFile, SnapshotOptions, StepFile, VectorNearFile,
};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::Value;
use std::path::Path;

/// A deserializer that only records the field names a struct asks for.
struct FieldProbe<'a>(&'a mut Vec<&'static str>);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.extend(fields);
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

fn fields_of<T: DeserializeOwned>() -> Vec<String> {
    let mut fields = Vec::new();
    let _ = T::deserialize(FieldProbe(&mut fields));
    let mut fields: Vec<String> = fields.into_iter().map(String::from).collect();
    fields.sort();
    fields
}

fn schema() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/case.schema.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_schema_lists_exactly_the_fields_of_the_format() {
    let schema = schema();
    let checks = [
        ("CaseFile", fields_of::<CaseFile>()),
        ("StepFile", fields_of::<StepFile>()),
        ("ExpectFile", fields_of::<ExpectFile>()),
        ("MatcherFile", fields_of::<MatcherFile>()),
        ("SnapshotOptions", fields_of::<SnapshotOptions>()),
        ("ObserveFile", fields_of::<ObserveFile>()),
        ("VectorNearFile", fields_of::<VectorNearFile>()),
    ];
    for (name, fields) in checks {
        assert!(!fields.is_empty(), "{name}: no fields recorded");
        let mut documented: Vec<String> = schema["$defs"][name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("specs/case.schema.json has no $defs/{name}"))
            .keys()
            .cloned()
            .collect();
        documented.sort();
        assert_eq!(
            documented, fields,
            "specs/case.schema.json $defs/{name} is out of date with src/case/format.rs"
        );
    }
}

#[test]
fn every_bundled_case_validates_against_the_schema_and_a_typo_does_not() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let mut files = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 30, "found only {} case files", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let value: Value = conformance::yaml::parse(&file.display().to_string(), &text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
    let typo: Value =
        serde_json::json!({"requirement": "UPD-01", "steps": [{"operation": "x", "expct": {}}]});
    assert!(!validator.is_valid(&typo));
}
