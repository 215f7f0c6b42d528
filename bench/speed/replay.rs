//! The bare replay: the harness's logged requests sent again by a plain reqwest loop, in a
//! process of its own, as the baseline of the overhead ratio.

use crate::{CONCURRENCY, KEY};
use conformance::request_log::LoggedRequest;
use indexmap::IndexMap;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the replay process prints on its last line.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct ReplaySummary {
    pub(crate) sent: usize,
    pub(crate) same_status: usize,
    pub(crate) first_sent_us: u128,
}

/// The bare replay, as a process of its own: a runtime, a fresh reference server, the requests
/// of the `plan` [`by_case`] wrote; prints a [`ReplaySummary`].
pub(crate) fn replay_process(plan: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let text = std::fs::read_to_string(plan).expect("a replay plan");
    let cases: Vec<CaseRequests> = serde_json::from_str(&text).expect("a replay plan");
    let cases = Arc::new(cases);
    let replayed = runtime.block_on(replay(cases));
    let summary = ReplaySummary {
        sent: replayed.sent,
        same_status: replayed.same_status,
        first_sent_us: replayed.first_sent_us,
    };
    println!("{}", serde_json::to_string(&summary).expect("a summary"));
}

pub(crate) struct Replayed {
    /// When the first request went out, in microseconds since the Unix epoch.
    pub(crate) first_sent_us: u128,
    pub(crate) sent: usize,
    pub(crate) same_status: usize,
}

/// One case's requests, in order, and which recorded strings its later requests use.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct CaseRequests {
    pub(crate) requests: Vec<LoggedRequest>,
    /// Per request: whether its recorded answer holds a string a later request sends.
    pub(crate) answer_feeds_later: Vec<bool>,
}

/// The logged requests by case, in the order each case sent them.
pub(crate) fn by_case(logged: &[LoggedRequest]) -> Vec<CaseRequests> {
    let mut by_case: IndexMap<&str, Vec<LoggedRequest>> = IndexMap::new();
    for request in logged {
        by_case
            .entry(request.case.as_str())
            .or_default()
            .push(request.clone());
    }
    by_case
        .into_values()
        .map(|mut requests| {
            requests.sort_by_key(|r| r.step);
            let answer_feeds_later: Vec<bool> = (0..requests.len())
                .map(|i| {
                    let strings = answer_strings(requests[i].answer.as_deref());
                    requests[i + 1..]
                        .iter()
                        .any(|later| strings.iter().any(|s| sends(later, s)))
                })
                .collect();
            for (request, feeds) in requests.iter_mut().zip(&answer_feeds_later) {
                if !feeds {
                    request.answer = None;
                }
            }
            CaseRequests {
                requests,
                answer_feeds_later,
            }
        })
        .collect()
}

/// Sends the logged requests with a bare reqwest client to a fresh reference server: 8 cases
/// at a time, each case's requests in order, no checks.
pub(crate) async fn replay(cases: Arc<Vec<CaseRequests>>) -> Replayed {
    let server = conformance::server::spawn(
        conformance::server::ServerConfig {
            api_key: Some(KEY.into()),
            ..Default::default()
        },
        "127.0.0.1",
        0,
    )
    .await
    .expect("a reference server");
    let base = server.base_url().to_string();
    // Configured like the harness's client for a plain-HTTP target: no system roots to load.
    conformance::target::install_tls_provider();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .tls_certs_only([])
        .build()
        .expect("a client");
    let first_sent_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (cases, next, client, base) =
                (cases.clone(), next.clone(), client.clone(), base.clone());
            tokio::spawn(async move {
                let (mut sent, mut same) = (0, 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let (s, m) = replay_case(case, &client, &base).await;
                    sent += s;
                    same += m;
                }
                (sent, same)
            })
        })
        .collect();
    let (mut sent, mut same_status) = (0, 0);
    for worker in workers {
        let (s, m) = worker.await.expect("a replay worker");
        sent += s;
        same_status += m;
    }
    drop(server);
    Replayed {
        first_sent_us,
        sent,
        same_status,
    }
}

pub(crate) async fn replay_case(
    case: &CaseRequests,
    client: &reqwest::Client,
    base: &str,
) -> (usize, usize) {
    // Recorded string -> the one this replay got in its place.
    let mut substitutes: Vec<(String, String)> = Vec::new();
    let swap = |text: &str, substitutes: &[(String, String)]| {
        substitutes
            .iter()
            .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
    };
    let mut same = 0;
    for (request, feeds_later) in case.requests.iter().zip(&case.answer_feeds_later) {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("a method");
        let url = format!("{base}{}", swap(&request.path, &substitutes));
        let mut builder = client.request(method, url);
        if request.auth {
            builder = builder.header("Authorization", format!("Bearer {KEY}"));
        }
        for (name, value) in &request.headers {
            builder = builder.header(name, swap(value, &substitutes));
        }
        if let Some(body) = &request.body {
            builder = builder.body(swap(body, &substitutes));
        }
        let Ok(response) = builder.send().await else {
            continue;
        };
        let status = response.status().as_u16();
        let Ok(body) = response.bytes().await else {
            continue;
        };
        same += usize::from(Some(status) == request.status);
        if *feeds_later {
            if let (Some(Ok(recorded)), Ok(replayed)) = (
                request.answer.as_deref().map(serde_json::from_str::<Value>),
                serde_json::from_slice::<Value>(&body),
            ) {
                pair_strings(&recorded, &replayed, &mut substitutes);
            }
        }
    }
    (case.requests.len(), same)
}

/// Strings of an answer long enough to be server-assigned values (ids).
pub(crate) fn answer_strings(answer: Option<&str>) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) if s.len() >= 8 => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(Ok(value)) = answer.map(serde_json::from_str::<Value>) {
        walk(&value, &mut out);
    }
    out
}

pub(crate) fn sends(request: &LoggedRequest, text: &str) -> bool {
    request.path.contains(text)
        || request.body.as_deref().is_some_and(|b| b.contains(text))
        || request.headers.iter().any(|(_, v)| v.contains(text))
}

/// Where the recorded and the replayed answer hold different strings at the same place, the
/// replayed one stands in for the recorded one from now on.
pub(crate) fn pair_strings(recorded: &Value, replayed: &Value, out: &mut Vec<(String, String)>) {
    match (recorded, replayed) {
        (Value::String(a), Value::String(b)) if a != b && a.len() >= 8 => {
            out.push((a.clone(), b.clone()))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.iter().zip(b).for_each(|(a, b)| pair_strings(a, b, out))
        }
        (Value::Object(a), Value::Object(b)) => {
            for (key, a) in a {
                if let Some(b) = b.get(key) {
                    pair_strings(a, b, out);
                }
            }
        }
        _ => {}
    }
}
