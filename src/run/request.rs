//! The request of a step, built from its case and variables, with the curl command that
//! reproduces it.

use crate::case::{Body, Step};
use crate::target::Target;
use crate::template::{self, TemplateError, Vars};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

/// Why a step's request cannot be built from its variables.
#[derive(Debug, thiserror::Error)]
pub(super) enum RequestError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("query `{name}` cannot be an object")]
    ObjectInQuery { name: String },
    #[error("`{method}` is not an HTTP method")]
    Method { method: String },
}

/// The largest body a reproducing curl command shows; a larger one is named as a file.
const MAX_CURL_BODY_BYTES: usize = 4 * 1024;

pub(super) struct Built {
    pub(super) request: reqwest::RequestBuilder,
    pub(super) url: String,
    pub(super) curl: String,
}

pub(super) fn build(step: &Step, target: &Target, vars: &Vars) -> Result<Built, RequestError> {
    let mut path = if step.operation.is_some() {
        step.path.clone()
    } else {
        template::expand_str(&step.path, vars)?
    };
    for (name, value) in &step.path_params {
        let value = match template::expand(value, vars)? {
            Value::String(s) => s,
            other => other.to_string(),
        };
        path = path.replace(&format!("{{{name}}}"), &encode(&value, false));
    }
    let mut query = Vec::new();
    for (name, value) in &step.query {
        let name = template::expand_str(name, vars)?;
        let values = match template::expand(value, vars)? {
            Value::Array(items) => items,
            other => vec![other],
        };
        for value in values {
            let text = match value {
                Value::String(s) => s,
                Value::Null => String::new(),
                Value::Object(_) => return Err(RequestError::ObjectInQuery { name }),
                other => other.to_string(),
            };
            query.push(format!("{}={}", encode(&name, true), encode(&text, true)));
        }
    }
    let mut url = format!("{}{path}", target.base_url);
    if !query.is_empty() {
        url = format!(
            "{url}{}{}",
            if url.contains('?') { '&' } else { '?' },
            query.join("&")
        );
    }
    let method =
        reqwest::Method::from_bytes(step.method.as_bytes()).map_err(|_| RequestError::Method {
            method: step.method.clone(),
        })?;
    let mut request = target.client.request(method, &url);
    let mut curl = vec![
        "curl -sS".to_string(),
        format!("-X {}", step.method),
        shell_quote(&url),
    ];
    let mut header = |request: reqwest::RequestBuilder, name: &str, value: &str, shown: String| {
        curl.push(format!("-H {shown}"));
        request.header(name, value)
    };
    if step.auth {
        if let Some(auth) = &target.auth_header {
            request = header(
                request,
                "Authorization",
                auth,
                "\"Authorization: Bearer $CONFORMANCE_API_KEY\"".into(),
            );
        }
    }
    for h in &target.config.headers {
        let shown = match &h.from_env {
            Some(var) => format!("\"{}: ${var}\"", h.name),
            None => shell_quote(&format!("{}: {}", h.name, h.value)),
        };
        request = header(request, &h.name, &h.value, shown);
    }
    for (name, value) in &step.headers {
        let value = template::expand_str(value, vars)?;
        request = header(
            request,
            name,
            &value,
            shell_quote(&format!("{name}: {value}")),
        );
    }
    let body = match &step.body {
        Body::None => None,
        Body::Json(value) => Some(template::expand(value, vars)?.to_string()),
        Body::Raw(text) => Some(template::expand_str(text, vars)?),
    };
    if let Some(body) = body {
        let content_type = step.content_type.as_deref().unwrap_or("application/json");
        request = header(
            request,
            "Content-Type",
            content_type,
            shell_quote(&format!("Content-Type: {content_type}")),
        );
        if body.len() > MAX_CURL_BODY_BYTES {
            // Hundreds of KiB in a message help nobody: the case file says how it is built.
            curl.push(format!(
                "--data-binary @body.json  # body.json: the {}-byte body {} builds",
                body.len(),
                step.at
            ));
        } else {
            curl.push(format!("--data-raw {}", shell_quote(&body)));
        }
        request = request.body(body);
    } else if let Some(content_type) = &step.content_type {
        request = header(
            request,
            "Content-Type",
            content_type,
            shell_quote(&format!("Content-Type: {content_type}")),
        );
    }
    Ok(Built {
        request,
        url,
        curl: curl.join(" "),
    })
}

/// RFC 3986 unreserved characters stay as they are in a path segment or a query component.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// `[]` stay readable in query keys like `include[]`.
const QUERY: &AsciiSet = &COMPONENT.remove(b'[').remove(b']');

/// Percent-encodes a path segment or a query component.
fn encode(text: &str, query: bool) -> String {
    utf8_percent_encode(text, if query { QUERY } else { COMPONENT }).to_string()
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments_and_query_components() {
        assert_eq!(encode("conv_1", false), "conv_1");
        assert_eq!(encode("a b/c", false), "a%20b%2Fc");
        assert_eq!(encode("include[]", true), "include[]");
        assert_eq!(encode("é", true), "%C3%A9");
        assert_eq!(encode("a~b-c.d_e", false), "a~b-c.d_e");
        assert_eq!(encode("[x]", false), "%5Bx%5D");
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
