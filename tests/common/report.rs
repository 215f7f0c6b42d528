//! The JSON report of a run (`--report-json`), read back.

use super::{Fixture, Run};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The JSON report `run` wrote to `file`; a missing or broken one fails with the run's output.
pub fn read_report(file: &Path, run: &Run) -> Value {
    std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| {
            panic!(
                "no readable JSON report at {file:?}; output:\n{}",
                run.all()
            )
        })
}

/// Per case id, the requirements its failing findings name (none: the case did not fail) and
/// their root-cause keys.
pub fn failing_by_case(report: &Value) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    for case in report["cases"].as_array().expect("the report's cases") {
        let mut failing = BTreeSet::new();
        let mut causes = BTreeSet::new();
        for finding in case["findings"].as_array().into_iter().flatten() {
            if finding["verdict"] == "fail" {
                failing.insert(finding["requirement"].as_str().unwrap_or("-").to_owned());
                causes.insert(finding["root_cause"].to_string());
            }
        }
        let id = case["id"].as_str().expect("a case id").to_owned();
        out.insert(id, (failing, causes));
    }
    out
}

impl Fixture {
    /// [`Fixture::run`] writing a JSON report: the run and the report.
    pub async fn run_reporting(&self, base_url: &str, extra: &[&str]) -> (Run, Value) {
        let file = self.path().join("report.json");
        let mut args = extra.to_vec();
        args.extend(["--report-json", file.to_str().unwrap()]);
        let run = self.run(base_url, &args).await;
        let report = read_report(&file, &run);
        (run, report)
    }
}
