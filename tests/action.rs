//! The composite action users add to their workflows (.github/actions/conformance/action.yml)
//! parses, uses only the inputs and step outputs it declares, declares none it does not use,
//! and asks the harness for every report it uploads.

use serde_json::Value;
use std::collections::BTreeSet;

fn action() -> (String, Value) {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.github/actions/conformance/action.yml"
    );
    let text = std::fs::read_to_string(file).unwrap();
    let parsed = conformance::yaml::parse(file, &text).unwrap_or_else(|e| panic!("{e}"));
    (text, parsed)
}

fn references(text: &str, pattern: &str) -> BTreeSet<String> {
    regex::Regex::new(pattern)
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect()
}

#[test]
fn the_action_uses_exactly_the_inputs_and_step_outputs_it_declares() {
    let (text, action) = action();
    let declared: BTreeSet<String> = action["inputs"]
        .as_object()
        .expect("inputs")
        .keys()
        .cloned()
        .collect();
    let used = references(&text, r"\binputs\.([A-Za-z0-9_-]+)");
    assert_eq!(used, declared, "inputs used vs declared");
    for required in [
        "base-url",
        "api-key-secret",
        "strict",
        "expectations",
        "target-name",
        "version",
    ] {
        assert!(declared.contains(required), "input {required} is missing");
    }

    let steps = action["runs"]["steps"].as_array().expect("runs.steps");
    assert_eq!(action["runs"]["using"], "composite");
    let ids: BTreeSet<String> = steps
        .iter()
        .filter_map(|s| s["id"].as_str().map(String::from))
        .collect();
    let referenced = references(&text, r"\bsteps\.([A-Za-z0-9_-]+)\.outputs");
    assert!(!referenced.is_empty());
    assert!(
        referenced.is_subset(&ids),
        "{referenced:?} not all in {ids:?}"
    );
    for step in steps {
        assert!(
            step["uses"].is_string() || step["shell"] == "bash",
            "a run step needs `shell:` in a composite action: {step}"
        );
    }
}

#[test]
fn the_action_writes_and_uploads_every_report_and_keeps_the_key_in_the_environment() {
    let (text, action) = action();
    for flag in ["--junit", "--report-json", "--report-md"] {
        assert!(text.contains(flag), "{flag} is not passed");
    }
    let steps = action["runs"]["steps"].as_array().unwrap();
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload-artifact step");
    assert_eq!(upload["if"], "always()");
    assert_eq!(upload["with"]["path"], "${{ inputs.reports-dir }}");
    // The key goes through the environment only, never into a command line.
    let run = steps.iter().find(|s| s["id"] == "run").unwrap();
    assert_eq!(
        run["env"]["CONFORMANCE_API_KEY"],
        "${{ inputs.api-key-secret }}"
    );
    let mentions = text.matches("inputs.api-key-secret").count();
    assert_eq!(mentions, 1, "the key is used once, in `env:`");
}
