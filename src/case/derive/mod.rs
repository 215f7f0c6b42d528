//! Cases derived from the contract: every constraint an operation's request schema (official
//! spec plus overlay) and its query parameters declare is probed at its boundary, so that a
//! constraint added to the spec is tested without anyone writing a case.
//!
//! For each constraint the generator builds the value just inside (must answer 2xx) and just
//! outside (must answer 400 with the error object, `param` naming the field and `code` the
//! constraint at SHOULD level): `maxLength`/`minLength` (also in multibyte and 4-byte
//! characters: lengths count characters), `maxItems`/`minItems`, `maxProperties`/
//! `minProperties`, `propertyNames.maxLength`, `minimum`/`maximum` (and the exclusive forms),
//! every `enum` value and one outside it, every wrong JSON type of a typed field, and the
//! absence of every required field. Nested schemas are followed through `properties`,
//! `additionalProperties`, array `items`, `$ref` and choices (`anyOf`/`oneOf`) of at most
//! [`MAX_CHOICE`] non-null schemas of different types; a bigger choice (the message item
//! tree of `items`) and keywords the generator does not understand (`pattern`, `allOf`, ...)
//! are skipped and reported by `conformance coverage`, never guessed.
//!
//! Derived cases are ordinary [`Case`]s, built directly (the overlay's setup steps are loaded
//! by [`super::load`], with the same validation): the same runner, verdicts and cleanup. They
//! are named `derived/<operation>/<field>/<constraint>/<variant>`, e.g.
//! `derived/updateConversation/metadata/maxProperties/over`. The overlay supplies what a
//! schema cannot: `x-conformance-derive` on an operation (setup steps, path parameters, and
//! which requirement each case checks, by the longest prefix of `<field>/<constraint>/<variant>`;
//! DER-01/02/03 otherwise), `x-conformance-example` on a schema the generator cannot build a
//! value for, and `x-conformance-error-codes` (the `code` per constraint).
//!
//! Before anything is sent, every request is checked against the spec ([`Spec::validate`]):
//! an accepted one must validate, a rejected one must not. A request that disagrees is a bug of
//! the generator (or a wrong example): it is not sent, and the failing case
//! `derived/generator-self-check` lists it. For the spec embedded in the binary that check is
//! made by this crate's tests instead of every run ([`derive_embedded`]).
//!
//! Here: the probes of every operation, in parallel, and their merge with the case files. The
//! schema walker is `walker`, the probes of each constraint `constraints`, the valid values
//! they start from `sample`, a probe made a case `to_case`, and the check against the spec
//! `self_check`.

mod constraints;
mod sample;
mod self_check;
mod to_case;
mod walker;

pub use sample::sample;

use self_check::self_check;
use to_case::Builder;
use walker::Generator;

use super::{Broken, Case};
use crate::spec::{Operation, Spec};
use serde_json::Value;
use std::collections::BTreeSet;

/// Test names of derived cases begin with this.
pub const PREFIX: &str = "derived/";
/// The failing case that reports requests the spec disagrees with.
pub const SELF_CHECK_ID: &str = "derived/generator-self-check";
/// Choices (`anyOf`/`oneOf`) of more non-null schemas than this are not entered.
pub const MAX_CHOICE: usize = 2;
/// Schemas nested deeper than this below a field are not followed.
const MAX_DEPTH: usize = 6;

/// The size and range keywords: bounds a value must keep, probed on each side.
pub(crate) const BOUNDS: [&str; 10] = [
    "maxLength",
    "minLength",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "maxItems",
    "minItems",
    "maxProperties",
    "minProperties",
];
/// With [`BOUNDS`], the keywords the generator understands; any other assertion keyword
/// stops it at that schema.
const UNDERSTOOD: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "propertyNames",
];

/// Whether the generator understands `keyword`.
fn understood(keyword: &str) -> bool {
    UNDERSTOOD.contains(&keyword) || BOUNDS.contains(&keyword)
}
/// Keywords that constrain nothing.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "default",
    "example",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "discriminator",
    "$comment",
    "externalDocs",
    "xml",
    "nullable",
];
const EXAMPLE: &str = "x-conformance-example";

/// One derived request and what it must answer.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `derived/updateConversation/metadata/maxProperties/over`.
    pub id: String,
    pub operation: String,
    /// `metadata/maxProperties`: the field and the constraint, as in the id.
    pub constraint: String,
    /// Must be accepted (2xx); otherwise rejected with 400.
    pub accept: bool,
    /// JSON pointer of the keyword probed (where a failure points).
    pub schema_at: String,
    /// What is sent, e.g. `17 properties (maxProperties 16)`.
    pub what: String,
    pub body: Option<Value>,
    pub query: Vec<(String, Value)>,
    /// The query parameter probed; `None` when the body is.
    probed_query: Option<String>,
    /// The `param` a rejection should name.
    pub param: Option<String>,
}

/// A constraint (or a whole field) the generator does not derive cases for, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub operation: String,
    /// `items/items`, `body`, or `metadata/maxProperties`.
    pub constraint: String,
    pub reason: String,
}

/// Everything derived from a spec.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    /// Every probe that passed the self-check, in a stable order.
    pub probes: Vec<Probe>,
    pub skipped: Vec<Skipped>,
    /// Probes whose request disagrees with the spec: id and why. Never sent.
    pub inconsistent: Vec<(String, String)>,
}

/// Derives the probes of every operation and self-checks them against the spec, operation by
/// operation on every core (the self-check compiles each request schema: milliseconds each).
pub fn derive(spec: &Spec) -> Derived {
    derive_with(spec, true)
}

/// [`derive`] for the spec embedded in this binary, without the self-check: the generator and
/// the spec were both fixed when the binary was built, so the self-check's answer was too, and
/// a test of this crate proves it clean. Any other spec folder is self-checked.
pub fn derive_embedded(spec: &Spec) -> Derived {
    derive_with(spec, false)
}

fn derive_with(spec: &Spec, checked: bool) -> Derived {
    let operations: Vec<&Operation> = spec.operations().collect();
    let per_operation =
        crate::parallel::map(&operations, 1, |op| derive_operation(spec, op, checked));
    let mut derived = Derived::default();
    for mut one in per_operation {
        derived.probes.append(&mut one.probes);
        derived.skipped.append(&mut one.skipped);
        for (id, why) in one.inconsistent {
            if !derived.inconsistent.iter().any(|(known, _)| known == &id) {
                derived.inconsistent.push((id, why));
            }
        }
    }
    derived
}

fn derive_operation(spec: &Spec, op: &Operation, checked: bool) -> Derived {
    let mut derived = Derived::default();
    let mut generator = Generator::new(spec, op);
    generator.operation();
    derived.skipped.append(&mut generator.skipped);
    for (pointer, why) in generator.bad_examples.take() {
        let id = format!("{EXAMPLE} at {pointer}");
        if !derived.inconsistent.iter().any(|(known, _)| known == &id) {
            derived.inconsistent.push((id, why));
        }
    }
    for probe in generator.probes {
        if !checked {
            derived.probes.push(probe);
            continue;
        }
        match self_check(spec, op, &probe) {
            Ok(()) => derived.probes.push(probe),
            Err(why) => derived.inconsistent.push((probe.id, why)),
        }
    }
    derived
}

/// The hand-written cases with the derived ones no hand-written case `covers`, each loaded as
/// a case document; a `covers` naming no derived case breaks its case, and a failed self-check
/// becomes the failing case [`SELF_CHECK_ID`].
pub fn merge(
    spec: &Spec,
    handwritten: Vec<Result<Case, Broken>>,
    derived: &Derived,
) -> Vec<Result<Case, Broken>> {
    merge_built(handwritten, derived, build(spec, derived))
}

/// The case of every probe, in the order of [`Derived::probes`], whether a hand-written case
/// covers it or not: built while the case files are still being read, before their `covers`
/// are known (a covered one is then dropped by [`merge_built`]).
pub fn build(spec: &Spec, derived: &Derived) -> Vec<Result<Case, Broken>> {
    let mut builder = Builder::new(spec);
    derived
        .probes
        .iter()
        .map(|probe| builder.case(probe))
        .collect()
}

/// [`merge`] with the cases [`build`] made of `derived`.
pub fn merge_built(
    handwritten: Vec<Result<Case, Broken>>,
    derived: &Derived,
    built: Vec<Result<Case, Broken>>,
) -> Vec<Result<Case, Broken>> {
    let known: BTreeSet<&str> = derived
        .probes
        .iter()
        .map(|p| p.id.as_str())
        .chain(derived.inconsistent.iter().map(|(id, _)| id.as_str()))
        .collect();
    let mut covered = BTreeSet::new();
    let mut out: Vec<Result<Case, Broken>> = handwritten
        .into_iter()
        .map(|loaded| {
            let case = loaded?;
            if let Some((id, at)) = case
                .covers
                .iter()
                .find(|(id, _)| !known.contains(id.as_str()))
            {
                return Err(Broken {
                    error: format!(
                        "{at}: covers `{id}`, which is not a derived case of this spec \
                         (list them with `--list {PREFIX}`)"
                    ),
                    at: Some(at.clone()),
                    id: case.id,
                    file: case.file,
                });
            }
            covered.extend(case.covers.iter().map(|(id, _)| id.clone()));
            Ok(case)
        })
        .collect();
    out.reserve(built.len());
    for (probe, case) in derived.probes.iter().zip(built) {
        if !covered.contains(&probe.id) {
            out.push(case);
        }
    }
    if !derived.inconsistent.is_empty() {
        let mut error = format!(
            "generator self-check: what follows disagrees with the spec and is not sent; this is \
             a bug in the generator or a wrong `{EXAMPLE}` in the overlay, not a finding against \
             the server:"
        );
        for (id, why) in &derived.inconsistent {
            error.push_str(&format!("\n  {id}: {why}"));
        }
        out.push(Err(Broken {
            id: SELF_CHECK_ID.to_string(),
            file: "derived from the spec (openapi.yaml and overlay.yaml)".to_string(),
            error,
            at: None,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_case::{error_code, requirement, success_statuses, Kind};
    use super::*;
    use crate::spec::DeriveConfig;
    use serde_json::{json, Map};
    use std::path::Path;

    fn bundled() -> Spec {
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    /// The bundled spec with `actions` (overlay YAML, indented as list items) appended.
    fn with_overlay(actions: &str) -> Spec {
        let dir = tempfile::tempdir().unwrap();
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        for name in ["openapi.yaml", "overlay.yaml", "requirements.yaml"] {
            std::fs::copy(specs.join(name), dir.path().join(name)).unwrap();
        }
        let overlay = dir.path().join("overlay.yaml");
        let text = std::fs::read_to_string(&overlay).unwrap();
        std::fs::write(&overlay, format!("{text}\n{actions}")).unwrap();
        Spec::load(dir.path()).unwrap()
    }

    fn probe<'d>(derived: &'d Derived, id: &str) -> &'d Probe {
        derived
            .probes
            .iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("no probe {id}"))
    }

    #[test]
    fn the_metadata_limits_are_probed_on_both_sides_in_characters() {
        let derived = derive(&bundled());
        assert!(
            derived.inconsistent.is_empty(),
            "{:?}",
            derived.inconsistent
        );
        let over = probe(
            &derived,
            "derived/updateConversation/metadata/maxProperties/over",
        );
        assert!(!over.accept);
        assert_eq!(
            over.body.as_ref().unwrap()["metadata"]
                .as_object()
                .unwrap()
                .len(),
            17
        );
        assert_eq!(over.param.as_deref(), Some("metadata"));
        let key = probe(
            &derived,
            "derived/updateConversation/metadata/propertyNames.maxLength/over_multibyte",
        );
        let long = "é".repeat(65);
        assert_eq!(key.body, Some(json!({"metadata": {long.clone(): "x"}})));
        assert_eq!(key.param, Some(format!("metadata.{long}")));
        let emoji = probe(
            &derived,
            "derived/updateConversation/metadata/additionalProperties.maxLength/at_limit_emoji",
        );
        assert!(emoji.accept);
        assert_eq!(
            emoji.body,
            Some(json!({"metadata": {"k0": "🙂".repeat(512)}}))
        );
        let absent = probe(
            &derived,
            "derived/updateConversation/metadata/required/absent",
        );
        assert_eq!(absent.body, Some(json!({})));
        let limit = probe(
            &derived,
            "derived/listConversationItems/query.limit/maximum/over",
        );
        assert_eq!(limit.query, vec![("limit".to_string(), json!(101))]);
        assert_eq!(limit.body, None);
        let include = probe(
            &derived,
            "derived/createConversationItems/query.include/items.enum/other",
        );
        assert_eq!(
            include.query,
            vec![("include".to_string(), json!(["not-a-listed-value"]))]
        );
        assert_eq!(
            include.body,
            Some(json!({"items": [{"type": "message", "role": "user", "content": "hello"}]}))
        );
    }

    #[test]
    fn the_message_item_choice_is_skipped_and_said_why() {
        let derived = derive(&bundled());
        let skipped = derived
            .skipped
            .iter()
            .find(|s| s.operation == "createConversationItems" && s.constraint == "items/items.*")
            .unwrap();
        assert!(
            skipped.reason.starts_with("a choice of 6 schemas (`oneOf`"),
            "{skipped:?}"
        );
        assert!(derived
            .probes
            .iter()
            .all(|p| !p.constraint.contains("items.items")));
    }

    #[test]
    fn cases_check_the_requirement_of_the_overlay_table_or_the_generic_one() {
        let spec = bundled();
        let derived = derive(&spec);
        let cases = merge(&spec, Vec::new(), &derived);
        let case = |id: &str| {
            cases
                .iter()
                .filter_map(|c| c.as_ref().ok())
                .find(|c| c.id == id)
                .unwrap_or_else(|| panic!("no case {id}"))
        };
        let over = case("derived/updateConversation/metadata/maxProperties/over");
        assert_eq!(over.requirement, "UPD-06");
        let probe_step = over.steps.last().unwrap();
        assert_eq!(
            probe_step.at.to_string(),
            "#/components/schemas/Metadata/anyOf/0/maxProperties"
        );
        assert_eq!(probe_step.expect.status, Some(vec![400]));
        let checks: Vec<(String, String)> = probe_step
            .expect
            .json
            .iter()
            .map(|(s, m)| (s.to_string(), m.requirement.clone()))
            .collect();
        assert_eq!(
            checks,
            [
                ("error.param".into(), "UPD-09".into()),
                ("error.code".into(), "UPD-09".into())
            ]
        );
        assert_eq!(
            over.steps[0].operation.as_deref(),
            Some("createConversation")
        );
        let not_object = case("derived/updateConversation/metadata/type/string");
        assert_eq!(not_object.requirement, "DER-01");
        assert_eq!(not_object.steps[1].expect.json[0].1.requirement, "UPD-18");
        let order = case("derived/listConversationItems/query.order/enum/asc");
        assert_eq!(
            (order.requirement.as_str(), order.level),
            ("DER-02", crate::spec::Level::Must)
        );
        let other = case("derived/listConversationItems/query.order/enum/other");
        assert_eq!(
            other.steps[1].expect.json[1].1.equals,
            Some(json!("invalid_value"))
        );
        assert_eq!(other.steps[1].expect.json[1].1.requirement, "DER-03");
    }

    #[test]
    fn a_list_is_filtered_as_the_overlay_says_and_a_map_in_the_query_is_not_derived() {
        let spec = bundled();
        let derived = derive(&spec);
        let cases = merge(&spec, Vec::new(), &derived);
        let order = cases
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .find(|c| c.id == "derived/listChatCompletions/query.order/enum/desc")
            .expect("the list's order is derived");
        let query = &order.steps.last().unwrap().query;
        assert!(
            query.contains(&("model".to_string(), json!("conformance-no-such-model")))
                && query.contains(&("order".to_string(), json!("desc"))),
            "{query:?}"
        );
        assert!(derived
            .probes
            .iter()
            .all(|p| !p.constraint.starts_with("query.metadata")));
        assert!(derived
            .skipped
            .iter()
            .any(|s| s.operation == "listChatCompletions" && s.constraint == "query.metadata"));
    }

    #[test]
    fn a_constraint_added_to_the_overlay_is_probed_without_code() {
        let spec = with_overlay(
            "  - target: $.paths['/conversations/{conversation_id}/items'].get.parameters[?(@.name == 'after')].schema\n    update: {maxLength: 8, minLength: 2}\n",
        );
        let derived = derive(&spec);
        let ids: Vec<&str> = derived
            .probes
            .iter()
            .filter(|p| p.constraint.starts_with("query.after/"))
            .map(|p| p.id.as_str())
            .collect();
        let base = "derived/listConversationItems/query.after";
        let expected: Vec<String> = [
            "maxLength/at_limit",
            "maxLength/at_limit_multibyte",
            "maxLength/at_limit_emoji",
            "maxLength/over",
            "maxLength/over_multibyte",
            "minLength/at_limit",
            "minLength/under",
            "minLength/under_multibyte",
        ]
        .iter()
        .map(|v| format!("{base}/{v}"))
        .collect();
        assert_eq!(ids, expected);
        assert!(
            derived.inconsistent.is_empty(),
            "{:?}",
            derived.inconsistent
        );
    }

    #[test]
    fn keywords_the_generator_does_not_handle_are_skipped_not_guessed() {
        let spec = with_overlay(
            "  - target: $.components.schemas.Metadata.anyOf[?(@.type == 'object')].additionalProperties\n    update: {pattern: '^[a-z]*$'}\n",
        );
        let derived = derive(&spec);
        assert!(derived
            .skipped
            .iter()
            .any(|s| s.constraint == "metadata/additionalProperties.*"
                && s.reason.starts_with("uses `pattern`")));
        assert!(!derived
            .probes
            .iter()
            .any(|p| p.id.contains("additionalProperties.maxLength")));
        // The map itself cannot be filled with valid values any more: its size is not probed.
        assert!(!derived
            .probes
            .iter()
            .any(|p| p.id.contains("maxProperties")));
        assert!(
            derived.inconsistent.is_empty(),
            "{:?}",
            derived.inconsistent
        );
    }

    #[test]
    fn a_request_the_spec_disagrees_with_fails_the_self_check_and_is_not_sent() {
        // A wrong example in the overlay: nothing is built on it, and the self-check says so.
        let spec = with_overlay(
            "  - target: $.components.schemas.InputItem\n    update: {x-conformance-example: {type: message, role: robot, content: hi}}\n",
        );
        let derived = derive(&spec);
        let (_, why) = derived
            .inconsistent
            .iter()
            .find(|(id, _)| id == "x-conformance-example at #/components/schemas/InputItem")
            .unwrap();
        assert!(
            why.starts_with("does not validate against its schema: "),
            "{why}"
        );
        assert!(!derived
            .probes
            .iter()
            .any(|p| p.id.contains("items/maxItems")));
        assert!(derived
            .skipped
            .iter()
            .any(|s| s.operation == "createConversationItems"
                && s.constraint == "items/maxItems"
                && s.reason.starts_with("no valid element")));
        let cases = merge(&spec, Vec::new(), &derived);
        let broken = cases
            .iter()
            .filter_map(|c| c.as_ref().err())
            .find(|b| b.id == SELF_CHECK_ID)
            .unwrap();
        assert!(
            broken.error.starts_with("generator self-check: "),
            "{}",
            broken.error
        );
        assert!(broken
            .error
            .contains("\n  x-conformance-example at #/components/schemas/InputItem: does not"));

        // A wrong claim of the generator is caught before anything is sent.
        let spec = bundled();
        let derived = derive(&spec);
        let op = spec.operation("updateConversation").unwrap();
        let mut wrong = probe(
            &derived,
            "derived/updateConversation/metadata/maxProperties/over",
        )
        .clone();
        wrong.accept = true;
        let err = self_check(&spec, op, &wrong).unwrap_err();
        assert!(
            err.starts_with("the body should validate against #/"),
            "{err}"
        );
        wrong.accept = false;
        wrong.body = Some(json!({"metadata": {}}));
        let err = self_check(&spec, op, &wrong).unwrap_err();
        assert!(err.starts_with("should break the schema at #/"), "{err}");
        let mut derived = derived;
        derived.inconsistent.push((wrong.id.clone(), err));
        let cases = merge(&spec, Vec::new(), &derived);
        let broken = cases
            .iter()
            .filter_map(|c| c.as_ref().err())
            .next()
            .unwrap();
        assert_eq!(broken.id, SELF_CHECK_ID);
        assert!(broken
            .error
            .contains(&format!("\n  {}: should break", wrong.id)));
    }

    #[test]
    fn covers_replace_derived_cases_and_must_name_one() {
        let spec = bundled();
        let derived = derive(&spec);
        let text = "requirement: UPD-05\ncovers: [derived/updateConversation/metadata/maxProperties/at_limit]\nsteps:\n- operation: createConversation\n";
        let handwritten = super::super::load("mine", "cases/mine.yaml", text, &spec);
        let cases = merge(&spec, handwritten, &derived);
        let ids: BTreeSet<&str> = cases
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .map(|c| c.id.as_str())
            .collect();
        assert!(ids.contains("mine"));
        assert!(!ids.contains("derived/updateConversation/metadata/maxProperties/at_limit"));
        assert!(ids.contains("derived/updateConversation/metadata/maxProperties/over"));

        let typo = text.replace("at_limit", "at_limt");
        let handwritten = super::super::load("mine", "cases/mine.yaml", &typo, &spec);
        let broken = merge(&spec, handwritten, &derived).remove(0).unwrap_err();
        assert!(
            broken.error.starts_with(
                "cases/mine.yaml:2:10: covers `derived/updateConversation/metadata/maxProperties/at_limt`, which is not a derived case"
            ),
            "{}",
            broken.error
        );
        let not_derived = text.replace("derived/", "conversations/");
        let err = super::super::load("mine", "cases/mine.yaml", &not_derived, &spec)
            .remove(0)
            .unwrap_err();
        assert!(err.error.contains("name a derived case"), "{}", err.error);
    }

    /// The case document a probe stands for, in the case format: what a derived case used to be
    /// loaded from, and what the case built directly must equal.
    fn case_document(spec: &Spec, op: &Operation, probe: &Probe) -> Value {
        let config = op.derive.as_ref();
        let (tail, kind) = super::to_case::tail_and_kind(probe);
        let checked = requirement(config, tail, kind);
        let mut step = Map::new();
        step.insert("name".into(), Value::from(probe.what.clone()));
        step.insert("operation".into(), Value::from(op.id.clone()));
        if let Some(config) = config.filter(|_| !op.path_params.is_empty()) {
            step.insert("path_params".into(), json!(config.path_params));
        }
        if !probe.query.is_empty() {
            let query: Map<String, Value> = probe.query.iter().cloned().collect();
            step.insert("query".into(), Value::Object(query));
        }
        if let Some(body) = &probe.body {
            step.insert("body".into(), body.clone());
        }
        let mut expect = Map::new();
        if probe.accept {
            expect.insert("status".into(), json!(success_statuses(op)));
        } else {
            expect.insert("status".into(), json!(400));
            let param_requirement = requirement(config, tail, Kind::Param);
            let mut checks = Map::new();
            if let Some(param) = &probe.param {
                checks.insert(
                    "error.param".into(),
                    json!({"equals": param, "requirement": param_requirement}),
                );
            }
            let constraint = probe.constraint.split_once('/').map_or("", |(_, c)| c);
            if constraint == "type" || constraint.ends_with(".type") {
                expect.insert("cause".into(), json!(to_case::WRONG_TYPE));
            }
            if let Some(code) = error_code(spec, constraint) {
                checks.insert(
                    "error.code".into(),
                    json!({"equals": code, "requirement": param_requirement}),
                );
            }
            if !checks.is_empty() {
                expect.insert("json".into(), Value::Object(checks));
            }
        }
        step.insert("expect".into(), Value::Object(expect));
        let mut steps: Vec<Value> = config.map(|c| c.setup.clone()).unwrap_or_default();
        steps.push(Value::Object(step));
        let verdict = if probe.accept {
            "is accepted"
        } else {
            "is rejected with 400"
        };
        json!({
            "requirement": checked,
            "title": format!("{} {}: {} {verdict}", op.id, probe.constraint, probe.what),
            "steps": steps,
        })
    }

    #[test]
    fn the_embedded_spec_derives_the_same_without_the_self_check() {
        let embedded = || Spec::load(&crate::bundle::root().join("specs")).unwrap();
        // The overlay's examples are checked too.
        let checked = derive(&embedded().checked_at_run_time());
        assert_eq!(checked.inconsistent, Vec::<(String, String)>::new());
        let unchecked = derive_embedded(&embedded());
        assert_eq!(format!("{:?}", checked), format!("{:?}", unchecked));
        assert!(checked.probes.len() > 50, "{}", checked.probes.len());
    }

    #[test]
    fn every_derived_case_is_the_case_its_document_loads_as() {
        let spec = bundled();
        let derived = derive(&spec);
        assert!(derived.probes.len() > 50, "{}", derived.probes.len());
        let mut builder = Builder::new(&spec);
        for probe in &derived.probes {
            let op = spec.operation(&probe.operation).unwrap();
            let text = serde_json::to_string_pretty(&case_document(&spec, op, probe)).unwrap();
            let file = format!("derived from {}", probe.schema_at);
            let mut loaded = super::super::load(&probe.id, &file, &text, &spec)
                .pop()
                .unwrap()
                .unwrap();
            let mut steps = loaded.steps.to_vec();
            let last = steps.len() - 1;
            for (i, step) in steps.iter_mut().enumerate() {
                step.at = if i == last {
                    crate::place::Place::Schema(probe.schema_at.clone())
                } else {
                    crate::place::Place::DeriveSetup {
                        operation: op.id.clone(),
                    }
                };
            }
            loaded.steps = steps.into();
            let built = builder.case(probe).unwrap();
            assert_eq!(format!("{built:?}"), format!("{loaded:?}"), "{}", probe.id);
        }
    }

    #[test]
    fn a_derived_case_whose_setup_does_not_load_says_where() {
        let spec = with_overlay(
            "  - target: $.paths['/conversations/{conversation_id}'].post\n    update:\n      x-conformance-derive:\n        setup: [{operation: createConversation, capture: {conv: '$['}}]\n        path_params: {conversation_id: '{{conv.id}}'}\n",
        );
        let derived = derive(&spec);
        let probe = derived
            .probes
            .iter()
            .find(|p| p.operation == "updateConversation")
            .unwrap();
        let err = Builder::new(&spec).case(probe).unwrap_err().error;
        assert!(
            err.starts_with(
                "the derived case does not load (check x-conformance-derive of updateConversation in the overlay): x-conformance-derive of updateConversation:"
            ),
            "{err}"
        );
        assert!(err.contains("capture `conv`"), "{err}");
    }

    #[test]
    fn the_longest_matching_prefix_names_the_requirement() {
        let config: DeriveConfig = serde_json::from_value(json!({"requirements": {
            "metadata": {"accept": "UPD-05", "reject": "UPD-06", "param": "UPD-09"},
            "metadata/type": {"reject": "DER-01", "param": "UPD-18"},
        }}))
        .unwrap();
        let find = |tail: &str, kind| requirement(Some(&config), tail, kind);
        assert_eq!(find("metadata/maxProperties/over", Kind::Reject), "UPD-06");
        assert_eq!(find("metadata/type/string", Kind::Param), "UPD-18");
        assert_eq!(
            find("metadata/additionalProperties.type/null", Kind::Param),
            "UPD-09"
        );
        assert_eq!(find("metadata/type/string", Kind::Accept), "UPD-05");
        assert_eq!(find("items/maxItems/over", Kind::Reject), "DER-01");
        assert_eq!(find("metadatax/type/string", Kind::Param), "DER-03");
        assert_eq!(requirement(None, "x/enum/a", Kind::Accept), "DER-02");
    }
}
