//! What every completion owes beyond its schema, streamed or not.

use super::Findings;
use crate::spec::Spec;
use crate::verdict::Finding;
use serde_json::Value;

/// What every completion owes beyond its schema. `streamed`: put together from chunks, whose
/// choice indexes the invariants of the stream have checked already.
pub fn check_completion(spec: &Spec, completion: &Value, streamed: bool) -> Vec<Finding> {
    let mut findings = Findings {
        spec,
        out: Vec::new(),
    };
    let choices = completion
        .get("choices")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !streamed {
        if let Some((i, choice)) = choices
            .iter()
            .enumerate()
            .find(|(i, c)| c.get("index").and_then(Value::as_u64) != Some(*i as u64))
        {
            findings.push(
                "chat-choice-index",
                format!(
                    "`choices[{i}].index` is {}, expected {i} (its position)",
                    choice.get("index").unwrap_or(&Value::Null)
                ),
                Vec::new(),
            );
        }
    }
    if let Some(usage) = completion.get("usage").filter(|u| u.is_object()) {
        let n = |key: &str| usage.get(key).and_then(Value::as_u64);
        if let (Some(prompt), Some(completion), Some(total)) = (
            n("prompt_tokens"),
            n("completion_tokens"),
            n("total_tokens"),
        ) {
            if prompt + completion != total {
                findings.push(
                    "chat-usage-arithmetic",
                    format!("`usage.total_tokens` is {total}, expected prompt_tokens + completion_tokens = {prompt} + {completion} = {}", prompt + completion),
                    Vec::new(),
                );
            }
        }
    }
    for (i, choice) in choices.iter().enumerate() {
        let calls = choice
            .pointer("/message/tool_calls")
            .and_then(Value::as_array);
        for (j, call) in calls.into_iter().flatten().enumerate() {
            let Some(arguments) = call.pointer("/function/arguments").and_then(Value::as_str)
            else {
                continue;
            };
            if serde_json::from_str::<Value>(arguments).is_err() {
                findings.push(
                    "chat-tool-arguments",
                    format!(
                        "`choices[{i}].message.tool_calls[{j}].function.arguments` is not JSON: {}",
                        crate::untrusted::excerpt(arguments, 120)
                    ),
                    Vec::new(),
                );
            }
        }
    }
    findings.out
}
