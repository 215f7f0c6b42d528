//! Why an answer does not match its schema, told so that a developer can act on it: each error
//! with the keyword that failed, a `oneOf` that nothing matched opened up at the branch that
//! came closest, and the object whose schema failed, with the requirement that owns it
//! (`owns: [schema NAME]` in the catalogue).

use super::validators::RawError;
use super::{shorten, Spec};
use serde_json::Value;

/// One way an instance breaks a schema.
#[derive(Debug, Clone)]
pub struct SchemaError {
    /// JSON pointer into the instance (`/data/0/status`; `/` for the whole).
    pub at: String,
    /// The keyword that failed: `type`, `enum`, `required`, `oneOf`...
    pub keyword: String,
    /// Where in the document the keyword is (`#/components/schemas/Message/properties/...`).
    pub location: String,
    pub message: String,
    /// `oneOf` branch that came closest, when this error is inside it: `Message`.
    pub branch: Option<String>,
}

impl SchemaError {
    /// One line, as messages show it.
    pub fn line(&self) -> String {
        let branch = self
            .branch
            .as_ref()
            .map(|b| format!(" [none of the oneOf matched; closest: {b}]"))
            .unwrap_or_default();
        format!(
            "at {}: {} (schema {}){branch}",
            self.at, self.message, self.location
        )
    }
}

/// The owned object an instance path lies in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedObject {
    /// The component: `ConversationItem`.
    pub component: String,
    /// The requirement that owns its shape.
    pub owner: String,
    /// The path inside it, array indices as `*`: `/status`.
    pub path: String,
}

impl Spec {
    /// The errors of `instance` against the schema at `pointer`, `oneOf` failures replaced by
    /// the errors of their closest branch (the one whose `type` constant the instance names,
    /// else the one with fewest errors).
    pub fn schema_errors(
        &self,
        pointer: &str,
        instance: &Value,
    ) -> Result<Vec<SchemaError>, String> {
        let errors = self.when_invalid(pointer, instance)?;
        Ok(self.closest_errors(pointer, instance, errors))
    }

    /// [`Spec::schema_errors`] of an instance the caller owns, checked without a copy.
    pub fn schema_errors_in_place(
        &self,
        pointer: &str,
        instance: &mut Value,
    ) -> Result<Vec<SchemaError>, String> {
        let errors = self.when_invalid_in_place(pointer, instance)?;
        Ok(self.closest_errors(pointer, instance, errors))
    }

    /// [`Spec::schema_errors`] of an invalid `instance`.
    fn closest_errors(
        &self,
        pointer: &str,
        instance: &Value,
        errors: Vec<RawError>,
    ) -> Vec<SchemaError> {
        let mut out = Vec::new();
        for e in errors {
            let at = e.at;
            let keyword = e
                .schema_path
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let location = e
                .location
                .unwrap_or_else(|| format!("{pointer}{}", e.schema_path));
            let message = e.message;
            // A missing property is reported where it is missing: `/first_id`, not `/`.
            let at_missing = match (keyword.as_str(), message.split('"').nth(1)) {
                ("required", Some(name)) if !name.contains('/') => format!("{at}/{name}"),
                _ if at.is_empty() => "/".into(),
                _ => at.clone(),
            };
            let error = SchemaError {
                at: at_missing,
                keyword,
                location,
                message: shorten(&message, 240),
                branch: None,
            };
            if error.keyword == "oneOf" {
                let part = instance.pointer(&at).unwrap_or(instance);
                if let Some(inner) = self.closest_branch(&error, part) {
                    out.extend(inner);
                    continue;
                }
            }
            out.push(error);
        }
        out
    }

    /// The errors of the `oneOf` branch of `error` that comes closest to `part`.
    fn closest_branch(&self, error: &SchemaError, part: &Value) -> Option<Vec<SchemaError>> {
        let branches = self
            .document()
            .pointer(error.location.trim_start_matches('#'))?
            .as_array()?;
        let named = part.get("type").and_then(Value::as_str);
        let mut best: Option<(usize, Vec<SchemaError>)> = None;
        for index in 0..branches.len() {
            let branch = format!("{}/{index}", error.location);
            let names_it = named.is_some_and(|t| self.branch_type(&branch) == Some(t.to_string()));
            let Ok(errors) = self.schema_errors(&branch, part) else {
                continue;
            };
            // A branch whose `type` constant the instance names wins outright.
            let score = if names_it { 0 } else { 1 + errors.len() };
            if best.as_ref().is_none_or(|(s, _)| score < *s) {
                let name = branch_name(self.document(), &branch).unwrap_or(branch.clone());
                let errors = errors
                    .into_iter()
                    .map(|inner| SchemaError {
                        at: join(&error.at, &inner.at),
                        branch: inner.branch.or_else(|| Some(name.clone())),
                        ..inner
                    })
                    .collect();
                best = Some((score, errors));
            }
        }
        best.map(|(_, errors)| errors).filter(|e| !e.is_empty())
    }

    /// The `type` constant (`properties.type.enum[0]`) of the schema at `pointer`.
    fn branch_type(&self, pointer: &str) -> Option<String> {
        let schema = resolve(
            self.document(),
            self.document().pointer(pointer.trim_start_matches('#'))?,
        );
        let kind = schema.get("properties")?.get("type")?;
        let kind = resolve(self.document(), kind);
        kind.get("enum")
            .and_then(|e| e.get(0))
            .or_else(|| kind.get("const"))
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// The deepest object with an owner that the instance path `at` lies in, under the schema
    /// at `pointer`: the owner of an item's shape is the item's, also inside a list.
    pub fn owned_object(&self, pointer: &str, at: &str) -> Option<OwnedObject> {
        let document = self.document();
        let mut node = document.pointer(pointer.trim_start_matches('#'))?;
        let mut found = component_of(pointer).and_then(|name| self.owner_entry(name, 0));
        let segments: Vec<&str> = at.split('/').filter(|s| !s.is_empty()).collect();
        let mut depth = 0;
        loop {
            while let Some(target) = node.get("$ref").and_then(Value::as_str) {
                if let Some(entry) = component_of(target).and_then(|n| self.owner_entry(n, depth)) {
                    found = Some(entry);
                }
                match document.pointer(target.trim_start_matches('#')) {
                    Some(next) => node = next,
                    None => break,
                }
            }
            let Some(segment) = segments.get(depth) else {
                break;
            };
            let next = node
                .get("properties")
                .and_then(|p| p.get(*segment))
                .or_else(|| {
                    segment
                        .parse::<usize>()
                        .ok()
                        .and_then(|_| node.get("items"))
                });
            match next {
                Some(next) => node = next,
                None => break,
            }
            depth += 1;
        }
        found.map(|(component, owner, from)| OwnedObject {
            component,
            owner,
            path: format!(
                "/{}",
                segments
                    .iter()
                    .skip(from)
                    .map(|s| if s.parse::<usize>().is_ok() { "*" } else { s })
                    .collect::<Vec<_>>()
                    .join("/")
            ),
        })
    }

    fn owner_entry(&self, component: &str, depth: usize) -> Option<(String, String, usize)> {
        self.catalogue
            .owner("schema", component)
            .map(|owner| (component.to_string(), owner.to_string(), depth))
    }
}

/// `NAME` of a `#/components/schemas/NAME` pointer.
fn component_of(pointer: &str) -> Option<&str> {
    pointer
        .strip_prefix("#/components/schemas/")
        .filter(|name| !name.contains('/'))
}

/// A schema with its `$ref`s followed.
fn resolve<'v>(document: &'v Value, mut node: &'v Value) -> &'v Value {
    for _ in 0..16 {
        match node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| document.pointer(r.trim_start_matches('#')))
        {
            Some(next) => node = next,
            None => break,
        }
    }
    node
}

/// What a branch is called: the component it refers to, else its title.
fn branch_name(document: &Value, pointer: &str) -> Option<String> {
    let node = document.pointer(pointer.trim_start_matches('#'))?;
    if let Some(name) = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(component_of)
    {
        return Some(name.to_string());
    }
    node.get("title").and_then(Value::as_str).map(String::from)
}

/// An instance path inside the part at `outer`.
fn join(outer: &str, inner: &str) -> String {
    match (outer.trim_end_matches('/'), inner) {
        ("", "/") => "/".into(),
        (o, "/") => o.to_string(),
        (o, i) => format!("{o}{i}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Spec {
        Spec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    #[test]
    fn an_item_in_a_list_is_owned_by_the_item_not_the_list() {
        let spec = spec();
        let list = "#/components/schemas/ConversationItemList";
        let item = spec.owned_object(list, "/data/3/status").unwrap();
        assert_eq!(
            (
                item.component.as_str(),
                item.owner.as_str(),
                item.path.as_str()
            ),
            ("ConversationItem", "ITM-01", "/status")
        );
        let list_field = spec.owned_object(list, "/has_more").unwrap();
        assert_eq!(
            (list_field.owner.as_str(), list_field.path.as_str()),
            ("ITM-04", "/has_more")
        );
    }

    #[test]
    fn a_oneof_that_nothing_matched_names_its_closest_branch_and_keyword() {
        let spec = spec();
        let item = json!({
            "type": "message", "id": "msg_1", "status": null, "role": "user",
            "content": [{"type": "input_text", "text": "hi"}],
        });
        let errors = spec
            .schema_errors("#/components/schemas/ConversationItem", &item)
            .unwrap();
        assert!(!errors.is_empty());
        assert!(
            errors
                .iter()
                .all(|e| e.branch.as_deref() == Some("Message")),
            "{errors:?}"
        );
        assert!(errors.iter().all(|e| e.at == "/status"), "{errors:?}");
        assert!(errors.iter().all(|e| e.keyword != "oneOf"), "{errors:?}");
    }

    #[test]
    fn a_missing_property_is_reported_where_it_is_missing() {
        let spec = spec();
        let list = json!({"object": "list", "has_more": false, "data": [{
            "type": "message", "id": "msg_1", "status": "completed", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}],
        }]});
        let errors = spec
            .schema_errors("#/components/schemas/ConversationItemList", &list)
            .unwrap();
        let at: Vec<&str> = errors.iter().map(|e| e.at.as_str()).collect();
        assert!(
            at.contains(&"/first_id") && at.contains(&"/last_id"),
            "{errors:?}"
        );
    }
}
