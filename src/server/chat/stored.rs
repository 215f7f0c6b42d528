//! The completions created with `store: true`, and how they are listed.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::server::answer::{ok, Answer};
use crate::server::error::ApiError;
use crate::server::validate;
use crate::server::App;

/// Completions kept at most; past it a create with `store` answers 429.
const MAX_COMPLETIONS: usize = 10_000;

/// A completion as stored, with the messages of its request.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) completion: Value,
    pub(super) messages: Vec<Value>,
    /// Order of creation, for listing.
    serial: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Completions(Mutex<(u64, HashMap<String, Stored>)>);

impl Completions {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<String, Stored>)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `completion` and its `messages` under `id`; past [`MAX_COMPLETIONS`] the store
    /// is full.
    pub(super) fn insert(
        &self,
        id: &str,
        completion: Value,
        messages: Vec<Value>,
    ) -> Result<(), ApiError> {
        let mut all = self.lock();
        if all.1.len() >= MAX_COMPLETIONS {
            return Err(ApiError::store_full(
                &format!("{MAX_COMPLETIONS} chat completions, its limit"),
                "chat_completion_limit_reached",
            ));
        }
        all.0 += 1;
        let serial = all.0;
        all.1.insert(
            id.to_owned(),
            Stored {
                completion,
                messages,
                serial,
            },
        );
        Ok(())
    }
}

/// `{"object": "list", "data", "first_id", "last_id", "has_more"}` of `values` after `after`.
pub(super) fn page(values: Vec<Value>, after: Option<&str>, limit: usize) -> Answer {
    let start = match after {
        Some(after) => {
            values
                .iter()
                .position(|v| v["id"] == after)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        format!("No object with id '{after}'."),
                        "after",
                        "invalid_value",
                    )
                })?
                + 1
        }
        None => 0,
    };
    let data: Vec<Value> = values[start..].iter().take(limit).cloned().collect();
    let has_more = values.len() > start + data.len();
    let id_at = |v: Option<&Value>| v.map_or(json!(""), |v| v["id"].clone());
    ok(&json!({
        "object": "list",
        "first_id": id_at(data.first()),
        "last_id": id_at(data.last()),
        "data": data,
        "has_more": has_more,
    }))
}

/// The list of stored completions: `model` and `metadata[KEY]` filters, `after`, `limit`
/// (default 20), `order` (default asc).
pub(super) fn list(app: &App, query: Option<&str>) -> Answer {
    let mut model = None;
    let mut filters: Vec<(String, String)> = Vec::new();
    let mut rest = Vec::new();
    for (name, value) in validate::query_pairs(query) {
        if name == "model" {
            model = Some(value);
        } else if let Some(key) = name
            .strip_prefix("metadata[")
            .and_then(|k| k.strip_suffix(']'))
        {
            filters.push((key.to_owned(), value));
        } else {
            rest.push(format!(
                "{}={}",
                percent_encode(&name),
                percent_encode(&value)
            ));
        }
    }
    let query = validate::query(
        Some(&rest.join("&")),
        validate::Accepts::List,
        app.deviations,
    )?;
    let all = app.chat.lock();
    let mut stored: Vec<&Stored> = all
        .1
        .values()
        .filter(|s| {
            model
                .as_ref()
                .is_none_or(|m| s.completion["model"] == m.as_str())
        })
        .filter(|s| {
            filters
                .iter()
                .all(|(k, v)| s.completion["metadata"][k] == v.as_str())
        })
        .collect();
    stored.sort_by_key(|s| s.serial);
    if query.descending == Some(true) {
        stored.reverse();
    }
    let values = stored.into_iter().map(|s| s.completion.clone()).collect();
    drop(all);
    page(values, query.after.as_deref(), query.limit.unwrap_or(20))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
