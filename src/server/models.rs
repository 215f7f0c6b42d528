//! The Models API of the reference server: list and retrieve the built-in model
//! ([`super::model::NAME`]). Read-only; a query parameter answers `unknown_parameter`, an
//! unknown model 404 with `code: model_not_found` (the live API's code).

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::answer::json_response;
use super::deviation::Deviation;
use super::error::ApiError;
use super::model;
use super::validate::{self, Accepts};
use super::App;

/// When the built-in model was "created": 2025-12-01T00:00:00Z, in unix seconds.
const CREATED: i64 = 1_764_547_200;
const OWNED_BY: &str = "conformance";

/// The operations under `/v1/models`; `None` for a path that is none of them.
pub(crate) enum Operation {
    List,
    Retrieve(String),
}

pub(crate) fn operation(method: &Method, path: &str) -> Option<Operation> {
    if method != Method::GET {
        return None;
    }
    match validate::segments(path, "/v1/models")?.as_slice() {
        [] => Some(Operation::List),
        [id] => Some(Operation::Retrieve(validate::percent_decode(id, false))),
        _ => None,
    }
}

pub(crate) fn handle(app: &App, op: Operation, query: Option<&str>) -> Result<Response, ApiError> {
    validate::query(query, Accepts::Nothing, app.deviations)?;
    let body = match op {
        Operation::List => {
            let mut list = json!({"object": "list", "data": [model_object(app)]});
            if app.deviations.deviates(Deviation::ModelsListWithoutObject) {
                list.as_object_mut().map(|o| o.remove("object"));
            }
            list
        }
        Operation::Retrieve(id) => {
            if id != model::NAME || app.deviations.deviates(Deviation::RetrieveModelMissing) {
                return Err(not_found(&id));
            }
            model_object(app)
        }
    };
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

fn model_object(app: &App) -> Value {
    let created = if app.deviations.deviates(Deviation::ModelsCreatedFloat) {
        json!(CREATED as f64 + 0.5)
    } else {
        json!(CREATED)
    };
    json!({"id": model::NAME, "object": "model", "created": created, "owned_by": OWNED_BY})
}

fn not_found(id: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("The model '{id}' does not exist or you do not have access to it."),
        param: None,
        code: Some("model_not_found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_list_and_retrieve() {
        assert!(matches!(
            operation(&Method::GET, "/v1/models"),
            Some(Operation::List)
        ));
        assert!(matches!(
            operation(&Method::GET, "/v1/models/conformance%2Decho"),
            Some(Operation::Retrieve(id)) if id == "conformance-echo"
        ));
        assert!(operation(&Method::DELETE, "/v1/models/x").is_none());
        assert!(operation(&Method::POST, "/v1/models").is_none());
        assert!(operation(&Method::GET, "/v1/models/").is_none());
        assert!(operation(&Method::GET, "/v1/models/a/b").is_none());
        assert!(operation(&Method::GET, "/v1/modelsx").is_none());
    }
}
