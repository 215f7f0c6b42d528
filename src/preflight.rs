//! The first request of a run, sent alone before any case: a GET the scope declares
//! (`x-conformance-scope.preflight`; for Conversations, a retrieve of a conversation that does
//! not exist), else its first GET that takes no path parameter. A target that does not answer
//! it ends the run in seconds (exit 3) instead of failing every case by timeout, and a fresh
//! server is warmed up by one request rather than hit by a burst. Its answer is not judged; if
//! it is a 2xx and the scope deletes at that path, the path is deleted, so nothing the target
//! made up for it is left behind. A scope without a GET gets no preflight.

use crate::spec::Preflight;
use crate::target::Target;
use std::time::Duration;

/// The longest the preflight waits for its answer: a dead target is reported this fast.
pub const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(10);

/// `Err`: the target did not answer at all, said in one line.
pub async fn check(target: &Target, preflight: Option<&Preflight>) -> Result<(), String> {
    let Some(preflight) = preflight else {
        return Ok(());
    };
    let url = format!("{}{}", target.base_url, preflight.path);
    let timeout = target.config.timeout.min(PREFLIGHT_TIMEOUT);
    let send = |method: reqwest::Method| {
        let mut request = target.fresh_client.request(method, &url).timeout(timeout);
        if let Some(auth) = &target.auth_header {
            request = request.header("Authorization", auth);
        }
        for h in &target.config.headers {
            request = request.header(&h.name, &h.value);
        }
        request.send()
    };
    let mut last = String::new();
    // Twice: a server still starting may refuse the very first connection.
    for attempt in 0..2 {
        match send(reqwest::Method::GET).await {
            Ok(answer) => {
                if answer.status().is_success() && preflight.delete_on_success {
                    let _ = send(reqwest::Method::DELETE).await;
                }
                return Ok(());
            }
            Err(e) => {
                last = crate::run::describe_error(e, timeout);
                if attempt == 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
    }
    Err(target.secrets.redact(&format!(
        "the target does not answer (a first request, GET {}{}, failed): {last}",
        target.config.display_url(),
        preflight.path
    )))
}
