//! The curl command that reproduces a request. Most are never shown (a passing step's, when
//! no HTML report is written), so a step keeps the parts of its request, which it holds
//! anyway, and the command is written only when a message or a report shows it.

use bytes::Bytes;
use std::borrow::Cow;
use std::sync::Arc;

/// The largest body a reproducing curl command shows; a larger one is named as a file.
const MAX_CURL_BODY_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, Default)]
pub enum Curl {
    /// Not kept: nothing shows it.
    #[default]
    Dropped,
    /// The request could not be built: there is nothing to reproduce.
    Unbuilt,
    Request(Box<CurlRequest>),
}

#[derive(Debug, Clone)]
pub struct CurlRequest {
    pub(super) method: reqwest::Method,
    pub(super) url: String,
    /// Whether the request carried the target's key (shown as `$CONFORMANCE_API_KEY`).
    pub(super) auth: bool,
    /// The target's `--header`s as curl shows them, written once for every request.
    pub(super) target_headers: Arc<str>,
    pub(super) headers: Vec<(Cow<'static, str>, String)>,
    pub(super) body: Option<Bytes>,
}

impl Curl {
    /// The command, escaped for a terminal (it holds what earlier answers said); `at` names
    /// the step that builds a body too large to show. Empty when it was dropped.
    pub fn text(&self, at: &crate::place::Place) -> String {
        let text = match self {
            Curl::Dropped => return String::new(),
            Curl::Unbuilt => return "(the request could not be built)".into(),
            Curl::Request(request) => request.command(at),
        };
        crate::untrusted::escape(&text)
    }

    /// A bare `GET` of `url`, for the tests of what shows it.
    #[cfg(test)]
    pub(crate) fn get(url: &str) -> Self {
        Curl::Request(Box::new(CurlRequest {
            method: reqwest::Method::GET,
            url: url.into(),
            auth: false,
            target_headers: "".into(),
            headers: Vec::new(),
            body: None,
        }))
    }
}

impl CurlRequest {
    fn command(&self, at: &crate::place::Place) -> String {
        let mut curl = format!("curl -sS -X {} {}", self.method, shell_quote(&self.url));
        if self.auth {
            curl.push_str(" -H \"Authorization: Bearer $CONFORMANCE_API_KEY\"");
        }
        curl.push_str(&self.target_headers);
        for (name, value) in &self.headers {
            curl.push_str(" -H ");
            curl.push_str(&shell_quote(&format!("{name}: {value}")));
        }
        if let Some(body) = &self.body {
            if body.len() > MAX_CURL_BODY_BYTES {
                // Hundreds of KiB in a message help nobody: the case file says how it is built.
                curl.push_str(&format!(
                    " --data-binary @body.json  # body.json: the {}-byte body {at} builds",
                    body.len(),
                ));
            } else {
                curl.push_str(" --data-raw ");
                curl.push_str(&shell_quote(&String::from_utf8_lossy(body)));
            }
        }
        curl
    }
}

pub(super) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::place::Place;

    fn request(body: Option<&str>) -> Curl {
        Curl::Request(Box::new(CurlRequest {
            method: reqwest::Method::POST,
            url: "http://host/v1/conversations/it's".into(),
            auth: true,
            target_headers: " -H \"OpenAI-Organization: $ORG\"".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.map(|b| Bytes::copy_from_slice(b.as_bytes())),
        }))
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn the_command_sends_what_the_request_sent_with_its_secrets_as_variables() {
        let at = Place::File(crate::yaml::At::file("cases/x.yaml"));
        assert_eq!(
            request(Some("{\"a\":\"\u{1b}[2J\"}")).text(&at),
            "curl -sS -X POST 'http://host/v1/conversations/it'\\''s' \
             -H \"Authorization: Bearer $CONFORMANCE_API_KEY\" -H \"OpenAI-Organization: $ORG\" \
             -H 'Content-Type: application/json' --data-raw '{\"a\":\"\\u{1b}[2J\"}'"
        );
        let large = "x".repeat(MAX_CURL_BODY_BYTES + 1);
        assert!(request(Some(&large)).text(&at).ends_with(
            "--data-binary @body.json  # body.json: the 4097-byte body cases/x.yaml builds"
        ));
        assert_eq!(Curl::Dropped.text(&at), "");
    }
}
