//! The components of the pinned spec that the answers must validate against.

use super::*;

/// Where the pinned spec extract may be, relative to the crate: the project's copy first, then
/// the shared reference folder beside the checkout.
const SPEC_CANDIDATES: &[&str] = &[
    "specs/openapi.yaml",
    "../shared/reference/openai-conversations.openapi.yaml",
];
const SPEC_URI: &str = "https://spec.test/openapi.json";

/// The spec document, registered whole, and validators for its component schemas.
fn registry() -> &'static jsonschema::Registry<'static> {
    static REGISTRY: OnceLock<jsonschema::Registry<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = SPEC_CANDIDATES
            .iter()
            .find_map(|path| std::fs::read_to_string(root.join(path)).ok())
            .expect("the OpenAPI extract is in specs/ or ../shared/reference/");
        // YAML 1.2 booleans only: the spec has `required: [x, y]`, and `y` is a string.
        let options = serde_saphyr::options! { strict_booleans: true };
        let spec: Value =
            serde_saphyr::from_str_with_options(&text, options).expect("spec is YAML");
        jsonschema::Registry::new()
            .add(SPEC_URI, spec)
            .expect("spec registers")
            .prepare()
            .expect("registry prepares")
    })
}

fn validator(component: &str) -> jsonschema::Validator {
    let schema = json!({"$ref": format!("{SPEC_URI}#/components/schemas/{component}")});
    jsonschema::options()
        .with_registry(registry())
        .build(&schema)
        .expect("schema builds")
}

#[track_caller]
pub(crate) fn assert_valid(component: &str, instance: &Value) {
    let validator = validator(component);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{instance} is not a valid {component}: {errors:?}"
    );
}

#[track_caller]
pub(crate) fn assert_invalid(component: &str, instance: &Value) {
    assert!(
        !validator(component).is_valid(instance),
        "{instance} should not be a valid {component}"
    );
}
