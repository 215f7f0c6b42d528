//! The published JSON Schemas (specs/case.schema.json, specs/report.schema.json) are the ones
//! generated from the types that are the formats, every bundled case file validates against
//! its schema, and a whole run's report against its own.

use crate::common;

use conformance::server::Deviation;
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
             run `SCHEMAS=overwrite cargo test --test it schemas::` to update it\n{diff}"
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

/// The errors of `instance` against the committed schema `name`, each with where it is.
fn violations(name: &str, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&schema(name)).unwrap();
    validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[tokio::test]
async fn the_report_of_a_whole_run_validates_against_the_report_schema() {
    // Failures, warnings, an observation, a known failure and an expired expectation: every
    // part of the report has something in it.
    let server = common::reference_server(
        common::KEY,
        vec![
            Deviation::UpdateNotPersisted,
            Deviation::CreatedAtMilliseconds,
            Deviation::ErrorsWithoutParamCode,
            Deviation::UpdateMergesMetadata,
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let expectations = dir.path().join("known.yaml");
    std::fs::write(
        &expectations,
        "known_failures:\n  - id: UPD-03\n    reason: not persisted yet\n  \
         - id: DEL-01\n    reason: long gone\n    expires: 2020-01-01\n",
    )
    .unwrap();
    let report = dir.path().join("report.json");
    let args = [
        "run",
        "--base-url",
        server.base_url(),
        "--expectations",
        expectations.to_str().unwrap(),
        "--report-json",
        report.to_str().unwrap(),
    ];
    let run = common::exec(args.map(String::from).to_vec(), &[]).await;
    run.assert_code(1);
    let report = common::read_report(&report, &run);
    let count = |key: &str| report[key].as_array().map_or(0, Vec::len);
    assert!(count("cases") > 100, "a whole run: {}", count("cases"));
    assert!(count("root_causes") > 0);
    let verdicts: Vec<&str> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["verdict"].as_str())
        .collect();
    for verdict in ["pass", "fail", "warn", "info", "known-failure"] {
        assert!(verdicts.contains(&verdict), "no {verdict} case");
    }
    let errors = violations("report.schema.json", &report);
    assert!(errors.is_empty(), "{errors:#?}");

    // The schema can tell: a verdict it does not know, a missing field, an unknown one.
    let mut broken = report.clone();
    broken["cases"][0]["verdict"] = "maybe".into();
    broken["root_causes"][0]
        .as_object_mut()
        .unwrap()
        .remove("count");
    broken["summary"]["levels"]["MUST"]["extra"] = 1.into();
    let errors = violations("report.schema.json", &broken);
    assert_eq!(errors.len(), 3, "{errors:#?}");
}
