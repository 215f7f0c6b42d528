//! The probes of list defaults and of strings at the length limit: each catches the reference
//! server's deviation that breaks it, by the probe's own name and under the requirement that
//! owns it, while the reference server passes every probe, also in strict mode; and a list
//! parameter given a default gets its probe with no code change.

use crate::common;

use common::{exec, Fixture, CREATE_CASE, KEY};
use conformance::server::Deviation;
use std::collections::{BTreeMap, BTreeSet};

/// Runs the probes against the reference server with `deviations`: each case's failing
/// requirements (empty for a case that passed), and the exit code.
async fn probes_on(deviations: Vec<Deviation>) -> (i32, BTreeMap<String, BTreeSet<String>>) {
    let server = common::reference_server(KEY, deviations).await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let args = [
        "run",
        "--strict",
        "--timeout",
        "10",
        "--base-url",
        server.base_url(),
        "--report-json",
        &report.display().to_string(),
        "probe/",
    ];
    let run = exec(args.iter().map(|a| a.to_string()).collect(), &[]).await;
    let cases = common::failing_by_case(&common::read_report(&report, &run));
    let cases = cases.into_iter().map(|(id, (failing, _))| (id, failing));
    (run.code, cases.collect())
}

fn failing(cases: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<&str, Vec<&str>> {
    cases
        .iter()
        .filter(|(_, f)| !f.is_empty())
        .map(|(id, f)| (id.as_str(), f.iter().map(String::as_str).collect()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_deviation_is_caught_by_exactly_the_probes_it_breaks() {
    let (code, cases) = probes_on(Vec::new()).await;
    assert_eq!(code, 0, "{:?}", failing(&cases));
    for kind in ["/defaults/", "/fidelity/metadata-at-limit"] {
        assert!(cases.keys().any(|id| id.contains(kind)), "{kind} ran");
    }

    let expected: [(Deviation, &[(&str, &str)]); 4] = [
        (
            Deviation::ItemsDefaultOrderAsc,
            &[("probe/listConversationItems/defaults/order", "ITM-03")],
        ),
        (
            Deviation::ItemsDefaultLimit100,
            &[("probe/listConversationItems/defaults/limit", "ITM-03")],
        ),
        (
            Deviation::InputItemsDefaultOrderAsc,
            &[("probe/listInputItems/defaults/order", "RSP-06")],
        ),
        (
            Deviation::LongValuesTruncated,
            &[
                (
                    "probe/createChatCompletion/fidelity/metadata-at-limit",
                    "GEN-09",
                ),
                (
                    "probe/createConversation/fidelity/metadata-at-limit",
                    "GEN-09",
                ),
                ("probe/createResponse/fidelity/metadata-at-limit", "GEN-09"),
                (
                    "probe/updateChatCompletion/fidelity/metadata-at-limit",
                    "GEN-09",
                ),
                (
                    "probe/updateConversation/fidelity/metadata-at-limit",
                    "GEN-09",
                ),
            ],
        ),
    ];
    for (deviation, probes) in expected {
        let (code, cases) = probes_on(vec![deviation]).await;
        let want: BTreeMap<&str, Vec<&str>> =
            probes.iter().map(|(id, req)| (*id, vec![*req])).collect();
        assert_eq!(failing(&cases), want, "--deviate {deviation}");
        assert_eq!(code, 1, "--deviate {deviation}");
    }
}

#[tokio::test]
async fn a_list_parameter_given_a_default_gets_its_probe_with_no_code_change() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let specs = fixture.copy_specs();
    let list = |specs: &std::path::Path| {
        let specs = specs.display().to_string();
        exec(
            ["run", "--list", "--spec-dir", &specs, "probe/"]
                .iter()
                .map(|a| a.to_string())
                .collect(),
            &[],
        )
    };
    let before = list(&specs).await;
    before.assert_code(0);
    before.assert_lacks("defaults/sort_by");
    // The list gains a query parameter with a declared default.
    let overlay = specs.join("overlay.yaml");
    let mut text = std::fs::read_to_string(&overlay).unwrap();
    text.push_str(
        "  - target: $.paths['/conversations/{conversation_id}/items'].get\n    \
         description: a sort parameter with a default\n    update:\n      \
         parameters:\n        \
         - {name: conversation_id, in: path, required: true, schema: {type: string}}\n        \
         - {name: sort_by, in: query, schema: {type: string, enum: [created_at, id], default: created_at}}\n",
    );
    std::fs::write(&overlay, text).unwrap();
    let after = list(&specs).await;
    after.assert_code(0);
    after.assert_contains("probe/listConversationItems/defaults/sort_by: test");
    after.assert_lacks("probe/listConversationItems/defaults/order");
}
