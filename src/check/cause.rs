//! What makes two findings the same defect: their cause. A status, a matcher or a cause the
//! case names each has its own; [`crate::report`] keys root causes by them.

use serde_json::Value;

/// What makes a wrong status the same defect in another case (with its requirement): the
/// status answered and the classes of those expected (`status expected 4xx got 200`: an
/// unknown id and a malformed one both answered 200 is one defect of the requirement, a
/// success refused is another). A 5xx, and a 404 or 405 where neither is owed, keep their
/// operation, as GEN-05's do: the operation fails, or is not served, whatever the request was,
/// and one on two operations can be two bugs ([`operation_status`]). The cause the step names
/// stands for itself where the request was taken, as a matcher's does ([`declared_cause`]): a
/// wrong type accepted is another defect than a limit not enforced.
pub(super) fn status_cause(
    expected: &[u16],
    got: u16,
    operation: &str,
    declared: Option<&str>,
) -> String {
    if got >= 500 || matches!(got, 404 | 405) {
        return format!("status {operation} got {got}");
    }
    let mut classes: Vec<u16> = expected.iter().map(|s| s / 100).collect();
    classes.sort_unstable();
    classes.dedup();
    let classes: Vec<String> = classes.iter().map(|c| format!("{c}xx")).collect();
    let status = format!("status expected {} got {got}", classes.join(" or "));
    match declared {
        Some(declared) if (200..300).contains(&got) => declared_cause(declared),
        Some(declared) => format!("{}: {status}", declared_cause(declared)),
        None => status,
    }
}

/// The cause a case names for a check (`cause:` on a step's `expect` or on a matcher): the
/// checks that name it test one thing, and a server that breaks them all has one defect (a
/// `previous_response_id` ignored is neither echoed nor checked).
pub(super) fn declared_cause(declared: &str) -> String {
    format!("cause {declared}")
}

/// The cause of a status finding under a rule several rows state, each on its operations
/// ([`crate::spec::Requirement::rule`]): a 5xx answered where the rule owes a status is one
/// defect on any of them (a malformed id answered 500 by retrieve and by update), as any other
/// wrong status is. Every other cause is its own.
pub(crate) fn rule_cause(cause: &str) -> std::borrow::Cow<'_, str> {
    if let Some((_, got)) = operation_status(cause) {
        return format!("status got {got}").into();
    }
    // A schema error is its path and keyword, in whichever object the rows of the rule answer
    // (a chat completion's `created` and a chunk's).
    match cause.strip_prefix("schema ") {
        Some(keys) => {
            let keys: Vec<&str> = keys
                .split(", ")
                .map(|key| key.split_once(' ').map_or(key, |(_, at)| at))
                .collect();
            format!("schema {}", keys.join(", ")).into()
        }
        None => cause.into(),
    }
}

/// The operation and the status of a 5xx, 404 or 405 answered where another status is owed
/// (`status getResponse got 500`), or of a 5xx seen by GEN-05 (`no-5xx getResponse 500`): one
/// defect of that operation, whichever requirement's step met it.
pub(crate) fn operation_status(cause: &str) -> Option<(&str, &str)> {
    let (operation, got) = match cause.strip_prefix("no-5xx ") {
        Some(rest) => rest.rsplit_once(' ')?,
        None => cause.strip_prefix("status ")?.split_once(" got ")?,
    };
    let failed = got.starts_with('5') || got == "404" || got == "405";
    (!operation.starts_with('(') && !operation.starts_with("expected ") && failed)
        .then_some((operation, got))
}

/// What makes a failed matcher the same defect in another case (with its requirement, see
/// [`crate::verdict`]): the field, array positions and a list's `data[*]` wrapper left out,
/// what the matcher asks and the kind of value found. Not the operation: the value a create
/// stored broken is broken in the create's answer, the list and the retrieve alike.
pub(super) fn matcher_cause(
    selector: &str,
    in_list: bool,
    matcher: &crate::case::Matcher,
    found: Option<&Value>,
) -> String {
    if let Some(cause) = &matcher.cause {
        return declared_cause(cause);
    }
    let field = field(selector, in_list);
    let asks: Vec<&str> = [
        ("equals", matcher.equals.is_some()),
        ("one_of", matcher.one_of.is_some()),
        ("type", matcher.types.is_some()),
        ("pattern", matcher.pattern.is_some()),
        ("absent", matcher.absent.is_some()),
        ("length", matcher.length.is_some()),
        ("contains", matcher.contains.is_some()),
        ("near_now", matcher.near_now.is_some()),
        ("vector_near", matcher.vector_near.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, asked)| asked.then_some(name))
    .collect();
    let kind = match found {
        None => "nothing",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    };
    format!("match {field} {} {kind}", asks.join("+"))
}

/// A matcher's field as the same field wherever it is answered: array positions and a list's
/// `data[*]` wrapper left out (`content[*].text`).
pub(super) fn field(selector: &str, in_list: bool) -> String {
    let selector = if in_list {
        let unwrapped = selector.trim_start_matches("$.");
        unwrapped
            .strip_prefix("data[")
            .and_then(|rest| rest.split_once("]."))
            .map_or(selector, |(_, field)| field)
    } else {
        selector
    };
    let mut field = String::with_capacity(selector.len());
    let mut in_index = false;
    for c in selector.chars() {
        match c {
            '[' => {
                in_index = true;
                field.push_str("[*]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            c => field.push(c),
        }
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn equals(value: Value) -> crate::case::Matcher {
        crate::case::Matcher::equals("ITM-12".into(), crate::spec::Level::Must, value)
    }

    #[test]
    fn a_stored_value_broken_alike_in_a_list_and_a_single_answer_has_one_cause() {
        let matcher = equals(json!("system"));
        let seen = json!("developer");
        let retrieved = matcher_cause("role", false, &matcher, Some(&seen));
        assert_eq!(retrieved, "match role equals string");
        assert_eq!(
            matcher_cause("data[0].role", true, &matcher, Some(&seen)),
            retrieved
        );
        assert_eq!(
            matcher_cause("$.data[*].role", true, &matcher, Some(&seen)),
            retrieved
        );
        assert_eq!(
            matcher_cause("data[2].content[1].text", true, &matcher, Some(&seen)),
            matcher_cause("content[0].text", false, &matcher, Some(&seen)),
        );
    }

    #[test]
    fn distinct_fields_asks_and_kinds_seen_stay_distinct_causes() {
        let matcher = equals(json!("system"));
        let string = json!("developer");
        let key = |selector: &str, in_list: bool, found: Option<&Value>| {
            matcher_cause(selector, in_list, &matcher, found)
        };
        let role = key("data[0].role", true, Some(&string));
        assert_ne!(role, key("data[0].type", true, Some(&string)));
        assert_ne!(role, key("data[0].role", true, Some(&Value::Null)));
        assert_ne!(role, key("data[0].role", true, None));
        // Not a list answer: its `data` is a field of its own.
        assert_eq!(
            key("data[0].role", false, Some(&string)),
            "match data[*].role equals string"
        );
        let mut typed = equals(json!("system"));
        typed.equals = None;
        typed.types = Some(Vec::new());
        assert_ne!(
            role,
            matcher_cause("data[0].role", true, &typed, Some(&string))
        );
    }

    #[test]
    fn a_wrong_status_is_one_cause_whatever_error_was_owed_and_a_5xx_keeps_its_operation() {
        assert_eq!(
            status_cause(&[404], 200, "getConversation", None),
            status_cause(&[400, 404], 200, "getConversation", None)
        );
        assert_eq!(
            status_cause(&[404], 200, "x", None),
            "status expected 4xx got 200"
        );
        // A success refused and an error answered with another error stay apart.
        assert_ne!(
            status_cause(&[200], 400, "x", None),
            status_cause(&[404], 400, "x", None)
        );
        assert_ne!(
            status_cause(&[400], 200, "x", None),
            status_cause(&[400], 201, "x", None)
        );
        assert_ne!(
            status_cause(&[400], 500, "getConversation", None),
            status_cause(&[400], 500, "updateConversation", None)
        );
        // The rule a step names: another defect than the same status of another rule; a 5xx
        // is its operation's whatever the request.
        let wrong_type = Some("a value of a wrong type");
        assert_eq!(
            status_cause(&[400], 500, "createResponse", wrong_type),
            status_cause(&[400], 500, "createResponse", None)
        );
        assert_ne!(
            status_cause(&[400], 200, "x", Some("a value of a wrong type")),
            status_cause(&[400], 200, "x", None)
        );
        // Taken where a refusal was owed is the named cause, statuses apart; refused with
        // another status is another defect, and an operation not served is the operation's.
        assert_eq!(
            status_cause(&[400], 200, "x", wrong_type),
            status_cause(&[400], 201, "y", wrong_type)
        );
        assert_eq!(
            status_cause(&[400], 422, "x", wrong_type),
            "cause a value of a wrong type: status expected 4xx got 422"
        );
        for got in [404, 405] {
            assert_eq!(
                status_cause(&[200], got, "getResponse", None),
                format!("status getResponse got {got}")
            );
            assert_eq!(
                status_cause(&[400], got, "getResponse", wrong_type),
                format!("status getResponse got {got}")
            );
        }
    }
}
