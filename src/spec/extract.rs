//! `conformance spec extract FULL.yaml`: the extract of the official document that the suite
//! pins as `specs/openapi.yaml`. It holds the operations of the scope (`x-conformance-scope`
//! in the overlay) and every component they reference, transitively, content unmodified, in
//! the document's order; the header and `x-extraction` keep the upstream commit and the
//! licence attribution. The same input gives the same bytes.

use super::overlay::Overlay;
use serde_json::{json, Map, Value};
use std::path::Path;

pub const SOURCE_REPOSITORY: &str = "https://github.com/openai/openai-openapi";

/// Where the whole document comes from.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The commit of the source repository the file is from.
    pub commit: String,
    /// Its date, as the repository gives it (`2026-08-21T20:48:10Z`).
    pub date: Option<String>,
}

/// What was extracted.
#[derive(Debug)]
pub struct Extract {
    /// The file to write.
    pub text: String,
    pub operations: usize,
    pub components: usize,
}

/// The extract of the document in `full` for the scope of the overlay in `overlay_file`.
pub fn extract(full: &Path, overlay_file: &Path, upstream: &Upstream) -> Result<Extract, String> {
    let read = |path: &Path| {
        crate::bundle::read_to_string(path)
            .map(|text| (path.display().to_string(), text))
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))
    };
    if !upstream.commit.chars().all(|c| c.is_ascii_hexdigit()) || upstream.commit.len() < 7 {
        return Err(format!(
            "--commit {}: give the upstream commit, in hexadecimal (at least 7 digits)",
            upstream.commit
        ));
    }
    if let Some(date) = &upstream.date {
        if date.is_empty()
            || !date
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":+-.".contains(c))
        {
            return Err(format!(
                "--commit-date {date}: give the commit's date, e.g. 2026-08-21T20:48:10Z"
            ));
        }
    }
    let (full_file, full_text) = read(full)?;
    let (overlay_name, overlay_text) = read(overlay_file)?;
    let document: Value = crate::yaml::parse(&full_file, &full_text)?;
    let overlay: Overlay = crate::yaml::parse(&overlay_name, &overlay_text)?;
    let scope = overlay.scope.ok_or_else(|| {
        format!(
            "{overlay_name}: no x-conformance-scope: list the operations the suite covers \
             (x-conformance-scope: {{operations: [...]}}) to extract them"
        )
    })?;
    let (kept, _) = super::in_scope(&document, &scope, &overlay_name, &full_file)?;
    let keep = kept.iter().map(String::as_str).collect();
    let cut = super::scope::restrict(&document, &keep);
    let ids: Vec<String> = super::scope::operations_of(&cut)
        .into_iter()
        .map(|op| op.id)
        .collect();
    let components = cut
        .get("components")
        .and_then(Value::as_object)
        .map_or(0, |c| {
            c.values().filter_map(Value::as_object).map(Map::len).sum()
        });
    let mut provenance = Map::new();
    provenance.insert("source_repository".into(), json!(SOURCE_REPOSITORY));
    provenance.insert("source_path".into(), json!("openapi.yaml"));
    provenance.insert("source_commit".into(), json!(upstream.commit));
    if let Some(date) = &upstream.date {
        provenance.insert("source_commit_date".into(), json!(date));
    }
    provenance.insert(
        "license".into(),
        json!("MIT (Copyright (c) OpenAI) - see LICENSE in the source repository"),
    );
    provenance.insert(
        "selection".into(),
        json!(format!(
            "the operations {} and every component they reference, transitively; content unmodified",
            ids.join(", ")
        )),
    );
    // `x-extraction` goes before `tags`, as the reader meets the provenance first.
    let mut out = Map::new();
    let mut placed = false;
    for (key, value) in cut.as_object().into_iter().flatten() {
        if (key == "tags" || key == "paths") && !placed {
            out.insert("x-extraction".into(), Value::Object(provenance.clone()));
            placed = true;
        }
        out.insert(key.clone(), value.clone());
    }
    if !placed {
        out.insert("x-extraction".into(), Value::Object(provenance));
    }
    let body = serde_saphyr::to_string(&Value::Object(out))
        .map_err(|e| format!("cannot write the extract as YAML: {e}"))?;
    let dated = upstream
        .date
        .as_deref()
        .map(|d| format!(" ({})", d.split('T').next().unwrap_or(d)))
        .unwrap_or_default();
    let text = format!(
        "# Extract of the official OpenAI OpenAPI 3.1 specification: the operations in the\n\
         # suite's scope (x-conformance-scope in the overlay) and every component they reference\n\
         # (transitively), content unmodified. Made by `conformance spec extract`: do not edit.\n\
         # Source: {SOURCE_REPOSITORY}  (file openapi.yaml)\n\
         # Commit: {}{dated}\n\
         # License: MIT, Copyright (c) OpenAI (see LICENSE in the source repository).\n\
         {body}",
        upstream.commit
    );
    Ok(Extract {
        text,
        operations: ids.len(),
        components,
    })
}
