//! Fuzzing every parser of user input: case files, YAML, the spec folder, selectors and
//! templates get arbitrary text and mangled versions of real files. None may panic, and an
//! error must say where it is. Each property tries 256 inputs, but the one that loads the whole
//! official document (0.15 s each) only 16; `PROPTEST_CASES=N` sets N for every property.

use conformance::selector::Selector;
use conformance::spec::Spec;
use conformance::{case, template, yaml};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::load(&root().join("specs")).unwrap())
}

/// The texts of this repository's case files: the seeds that get mangled.
fn case_seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&root().join("cases"), &mut files);
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    })
}

/// Pieces YAML, the case format and templates give meaning to, and some they choke on.
const TOKENS: &[&str] = &[
    " ",
    "  ",
    "\n",
    "\t",
    "\r",
    ":",
    ": ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "&a ",
    "*a",
    "!",
    "!!binary ",
    "!!str ",
    "|",
    ">",
    "'",
    "\"",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "@",
    "`",
    "?",
    "<<: ",
    "~",
    "null",
    "true",
    "yes",
    "1e999",
    "-0",
    "0x10",
    "18446744073709551616",
    "$",
    ".",
    "é",
    "\u{0}",
    "\\",
    "\u{feff}",
    "\u{202e}",
    "{{",
    "}}",
    "{{conv.id}}",
    "{{index}}",
    "{{ x[",
    "$string",
    "$array",
    "$object",
    "count",
    "repeat",
    "item",
    "key",
    "value",
    "steps:",
    "operation: createConversation",
    "operation: nope",
    "requirement: UPD-01",
    "capture: {conv: $}",
    "expect:",
    "status: 200",
    "json:",
    "snapshot: true",
    "parameters:",
    "path_params:",
    "method: GET",
    "path: /x",
    "data[*].id",
    "[?(@.a == 1)]",
    "[-1]",
    "[\"k\"]",
];

fn token_soup(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..max).prop_map(|t| t.concat())
}

/// Arbitrary text: random Unicode, or a soup of meaningful tokens.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), token_soup(40)]
}

/// One change to a text.
#[derive(Debug, Clone)]
enum Edit {
    Delete(Index, usize),
    Insert(Index, String),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    Indent(Index, usize),
    Dedent(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1usize..20).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<Index>(), token_soup(4)).prop_map(|(at, t)| Edit::Insert(at, t)),
        any::<Index>().prop_map(Edit::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<Index>(), 1usize..4).prop_map(|(at, n)| Edit::Indent(at, n)),
        any::<Index>().prop_map(Edit::Dedent),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let mut lines: Vec<String> = chars
            .iter()
            .collect::<String>()
            .split('\n')
            .map(String::from)
            .collect();
        match edit {
            Edit::Delete(at, n) if !chars.is_empty() => {
                let start = at.index(chars.len());
                let end = (start + n).min(chars.len());
                chars.drain(start..end);
                continue;
            }
            Edit::Insert(at, inserted) => {
                let at = at.index(chars.len() + 1);
                chars.splice(at..at, inserted.chars());
                continue;
            }
            Edit::DuplicateLine(at) => {
                let at = at.index(lines.len());
                lines.insert(at, lines[at].clone());
            }
            Edit::SwapLines(a, b) => {
                let (a, b) = (a.index(lines.len()), b.index(lines.len()));
                lines.swap(a, b);
            }
            Edit::Indent(at, n) => {
                let at = at.index(lines.len());
                lines[at].insert_str(0, &" ".repeat(*n));
            }
            Edit::Dedent(at) => {
                let at = at.index(lines.len());
                lines[at] = lines[at].trim_start().to_string();
            }
            Edit::Delete(..) => continue,
        }
        chars = lines.join("\n").chars().collect();
    }
    chars.into_iter().collect()
}

/// A real case file with a few edits.
fn mangled_case() -> impl Strategy<Value = String> {
    (any::<Index>(), prop::collection::vec(edit(), 1..6)).prop_map(|(seed, edits)| {
        let seeds = case_seeds();
        apply(&seeds[seed.index(seeds.len())], &edits)
    })
}

/// JSON values as cases hold them: templates, generators (with counts up to past the
/// limit), selectors in keys, and nesting.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..200_000).prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        token_soup(6).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    let key = prop_oneof![
        prop::sample::select(
            &["$string", "$array", "$object", "count", "repeat", "item", "key", "value"][..]
        )
        .prop_map(String::from),
        token_soup(3),
    ];
    leaf.prop_recursive(5, 48, 4, move |inner| {
        let count = prop_oneof![6 => 0u64..4, 1 => 90_000u64..110_000].prop_map(Value::from);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner.clone()), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            // Well-formed generators, nested: the way to ask for a huge value.
            (count.clone(), inner.clone()).prop_map(|(count, item)| json!({"$array": {"count": count, "item": item}})),
            (count.clone(), inner.clone()).prop_map(|(count, repeat)| json!({"$string": {"count": count, "repeat": repeat}})),
            (count, inner.clone(), inner).prop_map(|(count, key, value)| json!({"$object": {"count": count, "key": key, "value": value}})),
        ]
    })
}

fn located_by(file: &str, error: &str) -> bool {
    error.starts_with(file)
}

proptest! {
    #[test]
    fn the_case_loader_never_panics_and_locates_every_error(
        text in prop_oneof![text(), mangled_case()]
    ) {
        let file = "cases/fuzz.yaml";
        let loaded = case::load("fuzz", file, &text, spec());
        prop_assert!(!loaded.is_empty());
        for result in loaded {
            if let Err(broken) = result {
                prop_assert!(located_by(file, &broken.error), "not located: {}", broken.error);
                prop_assert_eq!(&broken.file, file);
            }
        }
    }

    #[test]
    fn yaml_parsing_never_panics_and_locates_every_error(text in prop_oneof![text(), mangled_case()]) {
        if let Err(error) = yaml::parse::<Value>("input.yaml", &text) {
            prop_assert_eq!(&error.at.file, "input.yaml");
            let error = error.to_string();
            prop_assert!(located_by("input.yaml", &error), "not located: {error}");
            // The excerpt is the line at fault only, escaped: no control character is shown.
            prop_assert!(error.lines().count() <= 4, "more than the line at fault: {error}");
            prop_assert!(!error.chars().any(|c| c.is_control() && c != '\n'), "{error:?}");
        }
    }

    #[test]
    fn escaped_target_text_is_one_line_that_starts_no_workflow_command(text in text()) {
        let shown = conformance::untrusted::escape(&text);
        prop_assert!(!shown.chars().any(char::is_control), "{shown:?}");
        prop_assert!(!shown.trim_start().starts_with("::"), "{shown:?}");
        prop_assert_eq!(conformance::untrusted::escape(&shown), shown.clone());
        let cut = conformance::untrusted::excerpt(&text, 50);
        prop_assert!(cut.chars().count() <= 50 * 10 + 40, "{cut:?}");
    }

    #[test]
    fn selectors_parse_or_say_why_and_never_panic_when_used(
        text in prop_oneof![text(), token_soup(12)],
        doc in json_value(),
    ) {
        match Selector::parse(&text) {
            Ok(selector) => {
                prop_assert_eq!(selector.to_string(), text.clone());
                let _ = selector.find_all(&doc);
                let _ = selector.to_insta();
                let mut copy = doc.clone();
                selector.for_each_mut(&mut copy, &mut |v| *v = Value::Null);
            }
            Err(error) => prop_assert!(error.to_string().starts_with("bad selector `"), "{error}"),
        }
    }

    #[test]
    fn templates_check_and_expand_without_panicking_or_exploding(
        value in json_value(),
        vars in prop::collection::btree_map(prop::sample::select(&["conv", "value", "x"][..]), json_value(), 0..3),
    ) {
        let vars: template::Vars = vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let known: BTreeSet<String> = vars.keys().cloned().collect();
        let _ = template::check(&value, &known);
        // Generators may ask for 10^25 elements: the expansion must stay small all the same.
        if let Ok(expanded) = template::expand(&value, &vars) {
            prop_assert!(expanded.to_string().len() <= 64 * 1024 * 1024);
        }
        if let Value::String(text) = &value {
            let _ = template::check_str(text, &known);
            let _ = template::expand_str(text, &vars);
        }
    }
}

// ---------------------------------------------------------------- the spec folder

/// A small spec folder that loads, so mangled versions of it load fast.
const MINI_OPENAPI: &str = r##"openapi: 3.1.0
info: {title: mini, version: '1'}
paths:
  /things:
    post:
      operationId: createThing
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
  /things/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
    get:
      operationId: getThing
      parameters:
        - $ref: '#/components/parameters/Limit'
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
        '404': {$ref: '#/components/responses/NotFound'}
    delete:
      operationId: deleteThing
      responses:
        '200': {description: gone}
components:
  parameters:
    Limit: {name: limit, in: query, schema: {type: integer}}
  schemas:
    Thing:
      type: object
      required: [id]
      properties:
        id: {type: string}
        parts: {type: array, items: {$ref: '#/components/schemas/Thing'}}
  responses:
    NotFound:
      description: nope
      content:
        application/json:
          schema: {type: object, required: [error]}
"##;

const MINI_OVERLAY: &str = r#"overlay: 1.0.0
info: {title: mini, version: '1'}
actions:
  - target: $.paths['/things'].post
    update:
      x-conformance-cleanup: {operation: deleteThing, path_params: {id: id}}
  - target: $.components.schemas.Thing.properties.id
    update: {maxLength: 64}
  - target: $.paths['/things/{id}'].parameters[?(@.name == 'id')]
    update: {description: the id}
  - target: $.components.schemas.Thing.properties.parts
    remove: true
"#;

const MINI_REQUIREMENTS: &str = r#"requirements:
  - {id: T-01, level: MUST, area: things, source: spec, text: a thing is created}
  - {id: T-02, level: SHOULD, area: things, source: spec, text: a thing is found}
"#;

const SPEC_FILES: [&str; 3] = ["openapi.yaml", "overlay.yaml", "requirements.yaml"];

/// One change to one file of a spec folder: to its text, or to the document it holds (a node
/// replaced by an arbitrary value, `$ref`s included).
#[derive(Debug, Clone)]
enum SpecEdit {
    Text(usize, Vec<Edit>),
    Node(usize, Vec<Index>, Value),
}

fn node_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        prop::sample::select(
            &[
                "#/components/schemas/Thing",
                "#/components/responses/NotFound",
                "#/paths",
                "#",
                "#/nowhere",
                "other.yaml#/x",
                "#/components/schemas/ConversationResource",
                "#/components/responses/TooManyRequests",
            ][..]
        )
        .prop_map(|r| json!({"$ref": r})),
    ]
}

fn spec_edit() -> impl Strategy<Value = SpecEdit> {
    prop_oneof![
        (0..3usize, prop::collection::vec(edit(), 1..4)).prop_map(|(f, e)| SpecEdit::Text(f, e)),
        (
            0..3usize,
            prop::collection::vec(any::<Index>(), 1..8),
            node_value()
        )
            .prop_map(|(f, path, v)| SpecEdit::Node(f, path, v)),
    ]
}

/// Replaces the node that `path` leads to (each index picks a child) with `value`.
fn replace_node(node: &mut Value, path: &[Index], value: Value) {
    let Some((step, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    let child = match node {
        Value::Object(map) if !map.is_empty() => {
            let at = step.index(map.len());
            map.values_mut().nth(at)
        }
        Value::Array(items) if !items.is_empty() => {
            let at = step.index(items.len());
            items.get_mut(at)
        }
        _ => None,
    };
    match child {
        Some(child) => replace_node(child, rest, value),
        None => *node = value,
    }
}

/// Writes the spec folder with the edits applied and loads it. Every error names a file of
/// the folder; a spec that loads also validates without panicking.
fn load_edited(texts: [&str; 3], edits: &[SpecEdit]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut texts = texts.map(String::from);
    for edit in edits {
        match edit {
            SpecEdit::Text(file, edits) => texts[*file] = apply(&texts[*file], edits),
            SpecEdit::Node(file, path, value) => {
                if let Ok(mut doc) = yaml::parse::<Value>("x", &texts[*file]) {
                    replace_node(&mut doc, path, value.clone());
                    texts[*file] = doc.to_string();
                }
            }
        }
    }
    for (name, text) in SPEC_FILES.iter().zip(&texts) {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    match Spec::load(dir.path()) {
        Err(error) => prop_assert!(
            error.starts_with(&dir.path().display().to_string()),
            "not located: {error}"
        ),
        Ok(spec) => {
            for op in spec.operations() {
                for pointer in op.responses.values().flatten().chain(&op.request_schema) {
                    let _ = spec.validate(pointer, &json!({"id": "x", "parts": [{}]}));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn a_mangled_small_spec_folder_never_panics_and_locates_errors(
        edits in prop::collection::vec(spec_edit(), 1..4)
    ) {
        load_edited([MINI_OPENAPI, MINI_OVERLAY, MINI_REQUIREMENTS], &edits)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn the_official_document_with_a_node_replaced_never_panics(
        path in prop::collection::vec(any::<Index>(), 1..10),
        value in node_value(),
    ) {
        // Parsed once: the document is large, and only the changed copy is loaded each time.
        static OFFICIAL: OnceLock<(Value, String, String)> = OnceLock::new();
        let (document, overlay, requirements) = OFFICIAL.get_or_init(|| {
            let read = |name: &str| std::fs::read_to_string(root().join("specs").join(name)).unwrap();
            let document = yaml::parse(root().join("specs/openapi.yaml").to_str().unwrap(), &read("openapi.yaml")).unwrap();
            (document, read("overlay.yaml"), read("requirements.yaml"))
        });
        let mut changed = document.clone();
        replace_node(&mut changed, &path, value);
        load_edited([&changed.to_string(), overlay, requirements], &[])?;
    }
}

#[test]
fn the_small_spec_folder_loads_unchanged() {
    // Guard: the mangled versions start from a folder that works.
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in SPEC_FILES
        .iter()
        .zip([MINI_OPENAPI, MINI_OVERLAY, MINI_REQUIREMENTS])
    {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let spec = Spec::load(dir.path()).unwrap();
    assert_eq!(spec.operations().count(), 3);
    assert!(spec.operation("createThing").unwrap().cleanup.is_some());
}

#[test]
fn pathological_yaml_is_refused_with_a_location() {
    let deep = format!(
        "requirement: UPD-01\nsteps:\n- operation: createConversation\n  body: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let loaded = case::load("x", "cases/x.yaml", &deep, spec());
    let error = &loaded[0].as_ref().unwrap_err().error;
    assert!(error.starts_with("cases/x.yaml:4:"), "{error}");
    assert!(error.contains("recursion limit exceeded"), "{error}");

    // A billion laughs: ten aliases of ten aliases of ... expand to 10^10 nodes.
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, previous) in "bcdefghij".chars().zip("abcdefghi".chars()) {
        let aliases = vec![format!("*{previous}"); 10].join(", ");
        laughs.push_str(&format!("{name}: &{name} [{aliases}]\n"));
    }
    let error = yaml::parse::<Value>("laughs.yaml", &laughs)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("laughs.yaml:"), "{error}");
    assert!(error.contains("budget breached"), "{error}");
}
