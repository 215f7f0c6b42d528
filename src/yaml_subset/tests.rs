use super::*;
use crate::case::format::CaseFile;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// The Debug text of a value, places reduced to line and column: serde-saphyr's also carry
/// byte spans, which nothing reads.
fn shown(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:#?}");
    let span = regex::Regex::new(r"(?s)span: Span \{.*?\},\s*(source_id: \d+,\s*)?").unwrap();
    span.replace_all(&text, "").into_owned()
}

#[test]
fn every_case_file_reads_as_serde_saphyr_reads_it_places_included() {
    let mut paths = Vec::new();
    files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("cases"),
        &mut paths,
    );
    let mut left = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let exact: CaseFile = crate::yaml::parse("x.yaml", &text).unwrap();
        match read::<CaseFile>(&text) {
            Some(fast) => assert_eq!(shown(&fast), shown(&exact), "{}", path.display()),
            None => left.push(path.display().to_string()),
        }
    }
    // The files with anchors and aliases are the only ones outside the subset.
    assert!(paths.len() > 80, "{}", paths.len());
    assert!(left.len() <= 2, "read by serde-saphyr: {left:#?}");
    assert!(left.iter().all(|f| f.contains("error_object")), "{left:#?}");
}

#[test]
fn places_are_where_serde_saphyr_puts_them() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        steps: Vec<serde_saphyr::Spanned<Value>>,
        name: serde_saphyr::Spanned<String>,
    }
    let text = "steps:\n  - a: 1\n  -   [x, {y: z}]\n  - \"q\"\nname:   |\n  text\n";
    let fast: Doc = read(text).expect("in the subset");
    let place = |at: &serde_saphyr::Location| (at.line(), at.column());
    let mut at: Vec<(u64, u64)> = fast.steps.iter().map(|s| place(&s.referenced)).collect();
    at.push(place(&fast.name.defined));
    let exact: Doc = crate::yaml::parse("x.yaml", text).unwrap();
    assert_eq!(at, [(2, 5), (3, 7), (4, 5), (6, 3)]);
    assert_eq!(shown(&fast), shown(&exact));
}

#[test]
fn the_openapi_documents_and_the_catalogues_read_the_same_where_they_are_read() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    files(&root.join("specs"), &mut paths);
    let mut read_here = 0;
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let exact: Value = crate::yaml::parse("x.yaml", &text).unwrap();
        if let Some(fast) = read::<Value>(&text) {
            assert_eq!(fast, exact, "{}", path.display());
            read_here += 1;
        }
    }
    assert!(read_here > 0, "no spec file in the subset: {paths:?}");

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Catalogue {
        requirements: Vec<crate::spec::Requirement>,
    }
    let text = std::fs::read_to_string(root.join("specs/requirements.yaml")).unwrap();
    let fast: Catalogue = read(&text).expect("the catalogue is in the subset");
    let exact: Catalogue = crate::yaml::parse("requirements.yaml", &text).unwrap();
    assert_eq!(format!("{fast:?}"), format!("{exact:?}"));
}

/// Every form either means here what it means to serde-saphyr, or leaves the subset; the
/// common ones stay in it.
#[test]
fn scalars_mean_what_they_mean_to_serde_saphyr_or_leave() {
    let kept = [
        "1",
        "0",
        "-0",
        "-12",
        "1.0",
        "2.50",
        "1E3",
        "-0.0",
        "0.0",
        "1e-7",
        "18446744073709551615",
        "1.5",
        "-1.5",
        "0.5",
        "1e3",
        "1.5E-3",
        "true",
        "false",
        "null",
        "~",
        "",
        "text",
        "two words",
        "'quoted'",
        "\"1\"",
        "\"\"",
        "'null'",
        "123 apples",
        "-x",
        "|\n  block\n",
        ">\n  folded\n",
        "[1, a]",
        "{a: 1}",
        "\"\\u00e9\"",
        "yes",
        "no",
        "on",
        "off",
        "x.y",
        "21_items",
        "v1.2",
    ];
    let doubtful = [
        "True",
        "FALSE",
        "+1",
        "010",
        "0x1f",
        "0o17",
        "0b11",
        "1_000",
        ".inf",
        "-.inf",
        ".nan",
        ".NaN",
        "1:30",
        "2026-12-03",
        "1.2.3",
        "18446744073709551616",
        "-9223372036854775809",
        "1.",
        ".5",
        "1e999",
        "!!str 1",
        "!!int '1'",
        "&a 1",
        "0.",
        "00.5",
        "1e",
        "e3",
        "-",
        "- a",
        "? a",
        "nan",
        "inf",
        "-inf",
        "1e3x",
        "0xZZ",
    ];
    for form in kept.iter().chain(&doubtful) {
        let text = format!("value: {form}\n");
        let exact: Result<Value, _> = crate::yaml::parse("x.yaml", &text);
        match read::<Value>(&text) {
            Some(fast) => assert_eq!(Some(&fast), exact.as_ref().ok(), "{form:?}"),
            None => assert!(!kept.contains(form), "{form:?} left the subset"),
        }
    }
}

#[test]
fn what_serde_saphyr_refuses_is_not_read_here() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Named {
        name: String,
    }
    for text in [
        "name: a\nname: b\n",
        "name: ~\n",
        "name:\n",
        "name: a\n---\nname: b\n",
        "name: [a\n",
        "name: a\n\tb: c\n",
    ] {
        assert!(read::<Named>(text).is_none(), "{text:?}");
        assert!(
            crate::yaml::parse::<Named>("x.yaml", text).is_err(),
            "{text:?}"
        );
    }
    let twice = "a: 1\nb: {c: 1, c: 2}\n";
    assert!(read::<Value>(twice).is_none());
    let merged = "a: {x: 1}\nb: {<<: {x: 1}, y: 2}\n";
    assert!(read::<Value>(merged).is_none());
}

#[test]
fn errors_are_serde_saphyr_s() {
    let text = "name: a\nnmae: b\n";
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
    }
    let fast = parse::<Doc>("cases/x.yaml", text).unwrap_err();
    let exact = crate::yaml::parse::<Doc>("cases/x.yaml", text).unwrap_err();
    assert_eq!(fast, exact);
}

#[test]
fn deep_nesting_is_left_to_the_budget() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(read::<Value>(&deep).is_none());
    let nested = format!(
        "{}1{}",
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    assert!(read::<Value>(&nested).is_some());
}
