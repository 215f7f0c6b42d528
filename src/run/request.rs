//! The request of a step, built from its case and variables, with the parts of the curl
//! command that reproduces it.

use super::curl::{shell_quote, Curl, CurlRequest};
use crate::case::{Body, Step};
use crate::target::{HeaderConfig, Target};
use crate::template::{self, TemplateError, Vars};
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::Url;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// Why a step's request cannot be built from its variables.
#[derive(Debug, thiserror::Error)]
pub(super) enum RequestError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("query `{name}` cannot be an object")]
    ObjectInQuery { name: String },
    #[error("`{method}` is not an HTTP method")]
    Method { method: String },
    #[error("`{url}` is not a URL: {error}")]
    Url { url: String, error: String },
    #[error("header `{name}`: {error}")]
    Header { name: String, error: String },
}

pub(super) struct Built {
    pub(super) request: reqwest::Request,
    pub(super) url: String,
    pub(super) curl: Curl,
}

pub(super) fn build(step: &Step, target: &Target, vars: &Vars) -> Result<Built, RequestError> {
    let mut path = if step.operation.is_some() {
        step.path.clone()
    } else {
        template::expand_str(&step.path, vars)?
    };
    for (name, value) in &step.path_params {
        let value = match template::expand(value, vars)?.as_ref() {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        path = path.replace(&format!("{{{name}}}"), &encode(&value, false));
    }
    let mut url = format!("{}{path}", target.base_url);
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (name, value) in &step.query {
        let name = template::expand_str(name, vars)?;
        let values = match template::expand(value, vars)?.into_owned() {
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
            url.push(separator);
            url.push_str(&encode(&name, true));
            url.push('=');
            url.push_str(&encode(&text, true));
            separator = '&';
        }
    }
    let method =
        reqwest::Method::from_bytes(step.method.as_bytes()).map_err(|_| RequestError::Method {
            method: step.method.clone(),
        })?;
    let parsed = target.fixed.url(&url).map_err(|error| RequestError::Url {
        url: url.clone(),
        error: error.to_string(),
    })?;
    let mut request = reqwest::Request::new(method.clone(), parsed);
    let mut shown_headers = Vec::new();
    let headers = request.headers_mut();
    let authorization = target.fixed.authorization.as_ref().filter(|_| step.auth);
    if let Some(authorization) = authorization {
        headers.append(AUTHORIZATION, authorization.clone());
    }
    for (name, value) in &target.fixed.headers {
        headers.append(name.clone(), value.clone());
    }
    let mut header = |name: Cow<'static, str>, value: String| -> Result<(), RequestError> {
        let invalid = |error: String| RequestError::Header {
            name: name.to_string(),
            error,
        };
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid("not a header name".into()))?;
        let header_value = HeaderValue::from_str(&value)
            .map_err(|_| invalid("its value has a character a header cannot carry".into()))?;
        headers.append(header_name, header_value);
        shown_headers.push((name, value));
        Ok(())
    };
    for (name, value) in &step.headers {
        header(name.clone().into(), template::expand_str(value, vars)?)?;
    }
    let body: Option<Bytes> = match &step.body {
        Body::None => None,
        Body::Json(value) => Some(template::expand(value, vars)?.to_string().into()),
        Body::Raw(text) => Some(template::expand_str(text, vars)?.into()),
    };
    let content_type = (step.content_type.clone())
        .or_else(|| body.as_ref().map(|_| "application/json".to_string()));
    if let Some(content_type) = content_type {
        header(Cow::Borrowed("Content-Type"), content_type)?;
    }
    if let Some(body) = &body {
        *request.body_mut() = Some(body.clone().into());
    }
    let curl = Curl::Request(Box::new(CurlRequest {
        method,
        url: url.clone(),
        auth: authorization.is_some(),
        target_headers: Arc::clone(&target.fixed.curl_headers),
        headers: shown_headers,
        body,
    }));
    Ok(Built { request, url, curl })
}

/// What every request to a target starts from, prepared once: its base URL parsed, its
/// `Authorization` and `--header`s as header values, and those headers as curl shows them.
pub(crate) struct Fixed {
    base: Url,
    /// The base URL's text up to its path: a URL that starts so is parsed against `base`.
    origin: String,
    authorization: Option<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
    curl_headers: Arc<str>,
}

impl Fixed {
    pub(crate) fn new(
        base_url: &str,
        authorization: Option<&str>,
        headers: &[HeaderConfig],
    ) -> Result<Self, String> {
        let base = Url::parse(base_url).map_err(|e| format!("`{base_url}` is not a URL: {e}"))?;
        let origin = base_url
            .find("://")
            .and_then(|scheme| {
                let authority = scheme + 3;
                base_url[authority..]
                    .find('/')
                    .map(|path| &base_url[..authority + path])
            })
            .unwrap_or(base_url)
            .to_string();
        let value = |name: &str, value: &str| {
            HeaderValue::from_str(value).map_err(|_| {
                format!("header `{name}`: its value has a character a header cannot carry")
            })
        };
        let authorization = authorization
            .map(|auth| {
                let mut auth = value("Authorization", auth)?;
                auth.set_sensitive(true);
                Ok::<_, String>(auth)
            })
            .transpose()?;
        let mut curl_headers = String::new();
        let mut parsed = Vec::new();
        for h in headers {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| format!("`{}` is not a header name", h.name))?;
            parsed.push((name, value(&h.name, &h.value)?));
            curl_headers.push_str(" -H ");
            match &h.from_env {
                Some(var) => curl_headers.push_str(&format!("\"{}: ${var}\"", h.name)),
                None => curl_headers.push_str(&shell_quote(&format!("{}: {}", h.name, h.value))),
            }
        }
        Ok(Self {
            base,
            origin,
            authorization,
            headers: parsed,
            curl_headers: curl_headers.into(),
        })
    }

    /// `url` parsed. One that starts with the base URL's origin and goes on with its path is
    /// parsed against the parsed base, which reads it as the whole text would be read
    /// without reading the host again; anything else is parsed whole.
    fn url(&self, url: &str) -> Result<Url, impl std::fmt::Display + std::fmt::Debug> {
        match url.strip_prefix(&self.origin) {
            Some(rest) if rest.starts_with('/') && rest[1..].starts_with(char::is_alphanumeric) => {
                self.base.join(rest)
            }
            _ => Url::parse(url),
        }
    }
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
    fn a_url_parsed_against_the_base_reads_as_the_whole_text() {
        for base in [
            "http://127.0.0.1:8080/v1",
            "https://Api.Example.com/openai/v1",
        ] {
            let fixed = Fixed::new(base, None, &[]).unwrap();
            for path in [
                "/conversations/conv_1?limit=2&order=asc",
                "/conversations/%2E%2E/x",
                "/conversations/../models",
                "/conversations/a b/é#frag",
                "/conversations\\x/./y",
                "/conversations//x?q=%zz",
                "/\t/evil.example/x",
                "//evil.example/x",
                "",
                "?x=1",
            ] {
                let url = format!("{base}{path}");
                let whole = Url::parse(&url).unwrap();
                assert_eq!(fixed.url(&url).unwrap(), whole, "{url}");
            }
            let elsewhere = "http://other.example/v1/x";
            assert_eq!(
                fixed.url(elsewhere).unwrap(),
                Url::parse(elsewhere).unwrap()
            );
        }
    }
}
