//! The opt-in log of what the harness sent (`--record-requests FILE`,
//! `CONFORMANCE_RECORD_REQUESTS`): one JSON line per request, in the order each case sent
//! them, so that the same traffic can be replayed without the harness (the speed bench does).
//! The key the harness adds is left out (`"auth": true` says it was sent); every other text
//! passes through [`Secrets::redact`]. Without the option nothing is built or written.
//!
//! A line: `{"case", "step", "sent_at_us", "method", "path", "headers", "auth", "body",
//! "status", "answer"}`. `step` counts the case's requests from 0, cleanup included; `path` is
//! relative to the base URL, with the query; `sent_at_us` is microseconds since the Unix
//! epoch; `status` is `null` when no answer came.

use crate::secret::Secrets;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// One request as sent, and what came back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub case: String,
    pub step: usize,
    pub sent_at_us: u128,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The harness added `Authorization: Bearer <key>` (not logged).
    pub auth: bool,
    pub body: Option<String>,
    pub status: Option<u16>,
    pub answer: Option<String>,
}

#[derive(Debug)]
pub struct RequestLog {
    out: Mutex<BufWriter<File>>,
    /// The first write that failed: reported after the run, never failing a case.
    error: OnceLock<String>,
}

impl RequestLog {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = File::create(path)?;
        Ok(Self {
            out: Mutex::new(BufWriter::new(file)),
            error: OnceLock::new(),
        })
    }

    /// Notes a request just before it is sent. `auth_value` is the `Authorization` value the
    /// harness added, left out of the log.
    pub fn begin(
        case: &str,
        step: usize,
        request: &reqwest::Request,
        base_url: &str,
        auth_value: Option<&str>,
        secrets: &Secrets,
    ) -> LoggedRequest {
        let url = request.url().as_str();
        let path = url.strip_prefix(base_url).unwrap_or(url);
        let mut auth = false;
        let headers = request
            .headers()
            .iter()
            .filter(|(name, value)| {
                let added = *name == reqwest::header::AUTHORIZATION
                    && !auth
                    && auth_value.is_some_and(|a| value.as_bytes() == a.as_bytes());
                auth |= added;
                !added
            })
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    secrets.redact(&String::from_utf8_lossy(value.as_bytes())),
                )
            })
            .collect();
        let body = request
            .body()
            .and_then(|b| b.as_bytes())
            .map(|b| secrets.redact(&String::from_utf8_lossy(b)));
        LoggedRequest {
            case: case.to_string(),
            step,
            sent_at_us: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros()),
            method: request.method().as_str().to_string(),
            path: secrets.redact(path),
            headers,
            auth,
            body,
            status: None,
            answer: None,
        }
    }

    /// Writes the line once the answer is in (`None`: no answer came).
    pub fn finish(
        &self,
        mut entry: LoggedRequest,
        answer: Option<(u16, &[u8])>,
        secrets: &Secrets,
    ) {
        if let Some((status, body)) = answer {
            entry.status = Some(status);
            entry.answer = Some(secrets.redact(&String::from_utf8_lossy(body)));
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let written = serde_json::to_writer(&mut *out, &entry)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        self.keep(written);
    }

    /// Writes out what is buffered (at the end of each case, so a killed run keeps most).
    pub fn flush(&self) {
        let flushed = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
        self.keep(flushed);
    }

    /// Why the log is incomplete, if it is.
    pub fn error(&self) -> Option<&str> {
        self.error.get().map(String::as_str)
    }

    fn keep(&self, result: std::io::Result<()>) {
        if let Err(e) = result {
            let _ = self
                .error
                .set(format!("the request log could not be written: {e}"));
        }
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.flush();
    }
}
