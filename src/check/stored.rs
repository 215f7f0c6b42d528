//! A map of strings that comes back unlike the one sent (metadata) is one storage defect,
//! whichever requirement's check saw it: the create that drops the pairs, the store that cuts
//! long values, the one that trims them. What makes two such findings the same defect is how
//! the map changed, not the values, the requirement or the operation.

use serde_json::{Map, Value};

/// The start of the cause of a map that came back changed: [`crate::report`] keys these
/// across requirements.
pub const STORED: &str = "stored ";

/// The cause of an `equals` (`exact`) or `contains` matcher of a map whose answer holds
/// another map: the field and how it changed, `None` when `found` is no map or nothing of
/// what was sent changed (an `equals` that only found pairs not sent is such a change too).
/// `read` marks an answer to a read (a retrieve, a list): a store that answers the write
/// right and reads back another map is another defect than a write answered wrong.
pub fn cause(
    field: &str,
    sent: &Map<String, Value>,
    found: &Value,
    exact: bool,
    read: bool,
) -> Option<String> {
    let found = found.as_object()?;
    let mut changes: Vec<&str> = Vec::new();
    let mut note = |change| {
        if !changes.contains(&change) {
            changes.push(change);
        }
    };
    for (key, value) in sent {
        match (value, found.get(key)) {
            (_, None) => note("without pairs sent"),
            (sent, Some(got)) if sent == got => {}
            (Value::String(sent), Some(Value::String(got))) => {
                // Trimmed first: a value whose trailing spaces went is a prefix too.
                note(if sent.trim() == got {
                    "with values trimmed"
                } else if sent.starts_with(got.as_str()) {
                    "with values cut short"
                } else {
                    "with values changed"
                })
            }
            _ => note("with values of another type"),
        }
    }
    if exact && found.keys().any(|key| !sent.contains_key(key)) {
        note("with pairs not sent");
    }
    if changes.is_empty() {
        return None;
    }
    changes.sort_unstable();
    let on = if read { "read back" } else { "answered" };
    Some(format!("{STORED}{field} {on} {}", changes.join(", ")))
}

/// The cause a read's finding takes from an earlier answer of its case that was changed alike
/// (the retrieve after a create that dropped the pairs shows that drop again).
pub fn as_answered(read_cause: &str) -> Option<String> {
    let (field, changes) = read_cause.strip_prefix(STORED)?.split_once(" read back ")?;
    Some(format!("{STORED}{field} answered {changes}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(sent: Value, found: Value, exact: bool) -> Option<String> {
        cause("metadata", sent.as_object().unwrap(), &found, exact, false)
    }

    #[test]
    fn how_the_map_changed_is_the_cause_not_its_values() {
        assert_eq!(
            of(json!({"a": "1", "b": "2"}), json!({}), true).as_deref(),
            Some("stored metadata answered without pairs sent")
        );
        assert_eq!(
            of(
                json!({"k": "x".repeat(512)}),
                json!({"k": "x".repeat(256)}),
                true
            ),
            of(
                json!({"j": "é".repeat(512)}),
                json!({"j": "é".repeat(256)}),
                true
            )
        );
        assert_eq!(
            of(json!({"k": "  v "}), json!({"k": "v"}), false).as_deref(),
            Some("stored metadata answered with values trimmed")
        );
        assert_eq!(
            of(json!({"k": "v"}), json!({"k": "w", "x": "y"}), true).as_deref(),
            Some("stored metadata answered with pairs not sent, with values changed")
        );
        // `contains` does not mind pairs not sent; nothing changed is no cause.
        assert_eq!(
            of(json!({"k": "v"}), json!({"k": "v", "x": "y"}), false),
            None
        );
        assert_eq!(of(json!({"k": "v"}), json!("v"), true), None);
    }

    #[test]
    fn a_read_is_its_own_cause_unless_its_case_answered_the_change_first() {
        let read = cause(
            "metadata",
            json!({"a": "1"}).as_object().unwrap(),
            &json!({}),
            true,
            true,
        )
        .unwrap();
        assert_eq!(read, "stored metadata read back without pairs sent");
        assert_eq!(as_answered(&read), of(json!({"a": "1"}), json!({}), true));
        assert_eq!(
            as_answered("stored metadata answered with values trimmed"),
            None
        );
    }
}
