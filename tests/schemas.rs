//! The published JSON Schemas (specs/case.schema.json, specs/report.schema.json) are the ones
//! generated from the types that are the formats, every bundled case file validates against
//! its schema, and a whole run's report against its own.

use serde_json::Value;
use std::path::{Path, PathBuf};

fn committed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("specs")
        .join(name)
}

/// The committed schema `name` is `generated`; with `SCHEMAS=overwrite` it is written first.
fn assert_current(name: &str, generated: &str) {
    let path = committed(name);
    if std::env::var("SCHEMAS").as_deref() == Ok("overwrite") {
        std::fs::write(&path, generated).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    if text != generated {
        let diff = similar::TextDiff::from_lines(text.as_str(), generated)
            .unified_diff()
            .header(&format!("specs/{name}"), "generated")
            .to_string();
        panic!(
            "specs/{name} is out of date with the types it is generated from: \
             run `SCHEMAS=overwrite cargo test --test schemas` to update it\n{diff}"
        );
    }
}

fn schema(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(committed(name)).unwrap()).unwrap()
}

#[test]
fn the_case_schema_is_generated_from_the_case_format() {
    assert_current("case.schema.json", &conformance::schema::case());
}

#[test]
fn the_report_schema_is_generated_from_the_report_types() {
    assert_current("report.schema.json", &conformance::schema::report());
}

#[test]
fn every_bundled_case_validates_against_the_schema_and_a_typo_does_not() {
    let validator = jsonschema::validator_for(&schema("case.schema.json")).unwrap();
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
