//! What a handler answers: a JSON body, an event stream, or the error object.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::deviation::Deviations;
use super::error::ApiError;

/// The answer to a request, or the error object it gets instead.
pub(crate) type Answer = Result<Response, ApiError>;

pub(crate) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 200 with `value` as the body.
pub(crate) fn ok(value: &Value) -> Answer {
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(value).unwrap_or_default(),
    ))
}

/// 200 with `frames` (`data: ...` lines) as a `text/event-stream` body.
pub(crate) fn event_stream(frames: String) -> Response {
    let mut response = Response::new(Body::from(frames));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
}

impl ApiError {
    /// The error object as the deviations shape it, with its status.
    pub(crate) fn into_response(self, deviations: Deviations) -> Response {
        let body = self.body(deviations);
        json_response(self.status, body)
    }
}
