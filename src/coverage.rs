//! `conformance coverage`: what the suite exercises, per operation, read statically from the
//! hand-written and the derived cases (nothing is sent): the response statuses the spec
//! declares and which ones some step expects, the request fields (path, query, top-level body)
//! and which ones some step sends, and every constraint of the request schemas with its
//! derived cases, the hand-written cases that cover them, or why none are derived.

use crate::case::derive::{Derived, PREFIX};
use crate::case::{Body, Broken, Case};
use crate::spec::{Operation, Spec};
use crate::template;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Hand-written and derived case ids that exercise one thing.
#[derive(Debug, Default)]
struct Tally {
    handwritten: BTreeSet<String>,
    derived: BTreeSet<String>,
}

impl Tally {
    fn add(&mut self, case: &Case) {
        if case.id.starts_with(PREFIX) {
            self.derived.insert(case.id.clone());
        } else {
            self.handwritten.insert(case.id.clone());
        }
    }

    fn show(&self) -> String {
        if self.handwritten.is_empty() && self.derived.is_empty() {
            return "NOT exercised".into();
        }
        let mut parts = Vec::new();
        if !self.handwritten.is_empty() {
            parts.push(format!("hand-written {}", self.handwritten.len()));
        }
        if !self.derived.is_empty() {
            parts.push(format!("derived {}", self.derived.len()));
        }
        format!("exercised ({})", parts.join(", "))
    }
}

/// The report, one block per operation. `cases` are the suite as it runs (hand-written,
/// derived after `covers`, probes); `derived` is everything the generator made and skipped.
pub fn report(spec: &Spec, cases: &[Result<Case, Broken>], derived: &Derived) -> String {
    // The probes are counted on their own.
    let probe = |id: &str| id.starts_with(crate::probe::PREFIX);
    let (probes, loaded): (Vec<&Case>, Vec<&Case>) = cases
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .partition(|c| probe(&c.id));
    let broken: Vec<&Broken> = cases
        .iter()
        .filter_map(|c| c.as_ref().err())
        .filter(|b| !probe(&b.id))
        .collect();
    let handwritten = loaded.iter().filter(|c| !c.id.starts_with(PREFIX)).count();
    let mut covered_by: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for case in &loaded {
        for (id, _) in &case.covers {
            covered_by.entry(id).or_default().insert(&case.file);
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "coverage of the suite, read from the cases (nothing is sent)\n\
         spec {} ({}): {handwritten} hand-written cases, {} derived cases ({} more covered by \
         hand-written cases)",
        spec.version,
        spec.hash,
        loaded.len() - handwritten,
        covered_by.len(),
    );
    if !broken.is_empty() {
        let _ = writeln!(
            out,
            "{} not counted (does not load; the run says why): {}",
            if broken.len() == 1 {
                "1 case is".to_string()
            } else {
                format!("{} cases are", broken.len())
            },
            broken
                .iter()
                .map(|b| b.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut missing = (0, 0, 0);
    for op in spec.operations() {
        let _ = writeln!(out, "\n{} ({} {})", op.id, op.method, op.path);
        missing.0 += statuses(&mut out, spec, op, &loaded);
        missing.1 += fields(&mut out, spec, op, &loaded);
        missing.2 += constraints(&mut out, op, derived, &covered_by);
        probed(&mut out, op, &probes);
    }
    let unsafe_methods: Vec<String> = crate::probe::methods::undeclared(spec)
        .into_iter()
        .filter(|u| !u.safe)
        .map(|u| format!("{} {}", u.method, u.path))
        .collect();
    if !unsafe_methods.is_empty() {
        let _ = writeln!(
            out,
            "\nundeclared methods not probed (a 2xx could change what no case deletes): {}",
            unsafe_methods.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nnot exercised: {} declared status{}, {} request field{}; not derived: {} constraint{}",
        missing.0,
        if missing.0 == 1 { "" } else { "es" },
        missing.1,
        if missing.1 == 1 { "" } else { "s" },
        missing.2,
        if missing.2 == 1 { "" } else { "s" },
    );
    if !derived.inconsistent.is_empty() {
        let _ = writeln!(
            out,
            "generator self-check: {} derived request(s) disagree with the spec (run the suite \
             for the details)",
            derived.inconsistent.len()
        );
    }
    out
}

/// The obligations the probes check on `op`: each kind with its variants.
fn probed(out: &mut String, op: &Operation, probes: &[&Case]) {
    let prefix = format!("{}{}/", crate::probe::PREFIX, op.id);
    let mut kinds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for case in probes {
        if let Some((kind, variant)) = case
            .id
            .strip_prefix(&prefix)
            .and_then(|r| r.split_once('/'))
        {
            kinds.entry(kind).or_default().push(variant);
        }
    }
    if kinds.is_empty() {
        let _ = writeln!(out, "  probes: none");
        return;
    }
    let _ = writeln!(out, "  probes ({}):", crate::probe::PREFIX);
    for (kind, variants) in kinds {
        let _ = writeln!(out, "    {kind:<24} {}", variants.join(", "));
    }
}

/// The steps of every case that call `op` (by operation id, or by method and path).
fn steps_of<'c>(
    spec: &Spec,
    op: &Operation,
    cases: &[&'c Case],
) -> Vec<(&'c Case, &'c crate::case::Step)> {
    cases
        .iter()
        .flat_map(|case| {
            case.steps
                .iter()
                .chain(case.cleanup.iter())
                .map(move |s| (*case, s))
        })
        .filter(|(_, step)| match &step.operation {
            Some(id) => id == &op.id,
            None => spec
                .match_path(&step.method, &step.path)
                .is_some_and(|m| m.id == op.id),
        })
        .collect()
}

fn statuses(out: &mut String, spec: &Spec, op: &Operation, cases: &[&Case]) -> usize {
    let mut declared: IndexMap<String, Tally> = op
        .responses
        .keys()
        .map(|k| (k.clone(), Tally::default()))
        .collect();
    let mut undeclared: BTreeMap<u16, Tally> = BTreeMap::new();
    for (case, step) in steps_of(spec, op, cases) {
        for status in step.expect.status.iter().flatten() {
            let range = format!("{}XX", status / 100);
            let key = [status.to_string(), range, "DEFAULT".into()]
                .into_iter()
                .find(|k| declared.contains_key(k));
            match key {
                Some(key) => {
                    if let Some(tally) = declared.get_mut(&key) {
                        tally.add(case);
                    }
                }
                None => undeclared.entry(*status).or_default().add(case),
            }
        }
    }
    let _ = writeln!(out, "  statuses (declared by the spec):");
    let mut missing = 0;
    for (status, tally) in &declared {
        missing += usize::from(tally.handwritten.is_empty() && tally.derived.is_empty());
        let _ = writeln!(out, "    {status:<8} {}", tally.show());
    }
    for (status, tally) in &undeclared {
        let _ = writeln!(
            out,
            "    {status:<8} {}, not declared by the spec",
            tally.show()
        );
    }
    missing
}

fn fields(out: &mut String, spec: &Spec, op: &Operation, cases: &[&Case]) -> usize {
    let mut declared: IndexMap<(String, String), Tally> = IndexMap::new();
    for name in &op.path_params {
        declared.insert(("path".into(), name.clone()), Tally::default());
    }
    for name in &op.query_params {
        declared.insert(("query".into(), name.clone()), Tally::default());
    }
    for name in body_fields(spec, op) {
        declared.insert(("body".into(), name), Tally::default());
    }
    for (case, step) in steps_of(spec, op, cases) {
        let mut sent: Vec<(String, String)> = Vec::new();
        match &step.operation {
            Some(_) => sent.extend(
                step.path_params
                    .iter()
                    .map(|(n, _)| ("path".into(), n.clone())),
            ),
            None => sent.extend(op.path_params.iter().map(|n| ("path".into(), n.clone()))),
        }
        for (name, _) in &step.query {
            let name = template::expand_str(name, &case.vars).unwrap_or_else(|_| name.clone());
            let name = name.trim_end_matches("[]").to_string();
            sent.push(("query".into(), name));
        }
        if let Body::Json(body) = &step.body {
            let body =
                template::expand(body, &case.vars).unwrap_or(std::borrow::Cow::Borrowed(body));
            if let Value::Object(map) = body.as_ref() {
                sent.extend(map.keys().map(|k| ("body".into(), k.clone())));
            }
        }
        for field in sent {
            if let Some(tally) = declared.get_mut(&field) {
                tally.add(case);
            }
        }
    }
    if declared.is_empty() {
        let _ = writeln!(out, "  request fields: none declared");
        return 0;
    }
    let _ = writeln!(out, "  request fields:");
    let mut missing = 0;
    for ((place, name), tally) in &declared {
        missing += usize::from(tally.handwritten.is_empty() && tally.derived.is_empty());
        let label = format!("{place} {name}");
        let _ = writeln!(out, "    {label:<24} {}", tally.show());
    }
    missing
}

/// Top-level properties of the request body schema.
fn body_fields(spec: &Spec, op: &Operation) -> Vec<String> {
    let document = spec.document();
    let mut node = op
        .request_schema
        .as_deref()
        .and_then(|p| document.pointer(p.trim_start_matches('#')));
    for _ in 0..16 {
        match node.and_then(|n| n.get("$ref")).and_then(Value::as_str) {
            Some(target) => node = document.pointer(target.trim_start_matches('#')),
            None => break,
        }
    }
    node.and_then(|n| n.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn constraints(
    out: &mut String,
    op: &Operation,
    derived: &Derived,
    covered_by: &BTreeMap<&str, BTreeSet<&str>>,
) -> usize {
    let mut groups: IndexMap<&str, (usize, BTreeSet<&str>)> = IndexMap::new();
    for probe in derived.probes.iter().filter(|p| p.operation == op.id) {
        let entry = groups.entry(probe.constraint.as_str()).or_default();
        match covered_by.get(probe.id.as_str()) {
            Some(files) => entry.1.extend(files),
            None => entry.0 += 1,
        }
    }
    let skipped: Vec<_> = derived
        .skipped
        .iter()
        .filter(|s| s.operation == op.id)
        .collect();
    let inconsistent: Vec<&str> = derived
        .inconsistent
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| id.starts_with(&format!("{PREFIX}{}/", op.id)))
        .collect();
    if groups.is_empty() && skipped.is_empty() && inconsistent.is_empty() {
        let _ = writeln!(
            out,
            "  constraints: none in a request schema or query parameter"
        );
        return 0;
    }
    let _ = writeln!(out, "  constraints:");
    let width = groups
        .keys()
        .copied()
        .chain(skipped.iter().map(|s| s.constraint.as_str()))
        .map(str::len)
        .max()
        .unwrap_or(0);
    for (constraint, (count, files)) in &groups {
        let mut parts = Vec::new();
        if *count > 0 {
            parts.push(format!("derived {count}"));
        }
        if !files.is_empty() {
            parts.push(format!(
                "covered by {}",
                files.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        let _ = writeln!(out, "    {constraint:<width$}  {}", parts.join("; "));
    }
    for skip in &skipped {
        let _ = writeln!(
            out,
            "    {:<width$}  NOT derived: {}",
            skip.constraint, skip.reason
        );
    }
    for id in &inconsistent {
        let _ = writeln!(out, "    {id}  NOT sent: fails the generator self-check");
    }
    skipped.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_probed_obligations_are_listed_under_each_operation() {
        let spec = Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap();
        let derived = Derived {
            probes: Vec::new(),
            skipped: Vec::new(),
            inconsistent: Vec::new(),
        };
        let text = report(&spec, &crate::probe::generate(&spec), &derived);
        let block = |op: &str| -> String {
            let start = text
                .find(&format!("\n{op} ("))
                .unwrap_or_else(|| panic!("no block for {op}:\n{text}"));
            let rest = &text[start + 1..];
            rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
        };
        let expected = [
            (
                "listConversationItems",
                "defaults                 limit, order",
            ),
            (
                "listConversationItems",
                "auth                     no_header, empty_bearer",
            ),
            (
                "createConversation",
                "fidelity                 metadata, metadata-at-limit",
            ),
            ("createConversation", "unknown-field"),
            ("createConversationItems", "structure                items"),
            (
                "createConversationItems",
                "method                   PUT, PATCH, DELETE",
            ),
            (
                "getConversationItem",
                "isolation                other_parent",
            ),
        ];
        for (op, line) in expected {
            let block = block(op);
            assert!(block.contains("  probes (probe/):"), "{block}");
            assert!(
                block.contains(&format!("    {line}")),
                "{op}: {line}\n{block}"
            );
        }
        // A top-level list holds what others make: its defaults are not probed.
        assert!(!block("listChatCompletions").contains("defaults"));
    }
}
