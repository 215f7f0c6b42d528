//! The Embeddings API of the reference server: `POST /embeddings` with the built-in
//! [`super::model`]. Nothing is stored.
//!
//! Where the documents are silent, the server decides as follows:
//! - `model` is required (any string); `input` is required: a non-empty string, or 1 to 2048
//!   non-empty strings, a non-empty array of integers (tokens), or 1 to 2048 such arrays. An
//!   empty string anywhere answers `invalid_value`, an empty array `empty_array`.
//! - The vector of an input is a deterministic function of it: a unit vector of
//!   [`DIMENSIONS`] float32s drawn from a generator seeded by a hash of the text (or of the
//!   tokens). `dimensions` (1..=256) keeps its first values, normalised again, as the
//!   shortened vectors of the live API are.
//! - `encoding_format: base64` answers each vector as the base64 of its little-endian
//!   float32s; `float` (the default) as an array of numbers.
//! - `usage.prompt_tokens` counts the tokens as the model does (words of a text, elements of
//!   a token array); `total_tokens` is the same number.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::answer::json_response;
use super::deviation::Deviation;
use super::error::{self, ApiError};
use super::model;
use super::validate::{self, Accepts};
use super::App;

/// The length of a vector when the request does not ask for `dimensions`.
pub(crate) const DIMENSIONS: usize = 256;
/// The most inputs in one request (the spec's `maxItems`).
const MAX_INPUTS: usize = 2048;

const FIELDS: &[&str] = &["model", "input", "encoding_format", "dimensions", "user"];

/// One input: its text or its tokens.
enum Input {
    Text(String),
    Tokens(Vec<i64>),
}

pub(crate) fn is_path(path: &str) -> bool {
    path == "/v1/embeddings"
}

pub(crate) fn create(app: &App, query: Option<&str>, body: &[u8]) -> Result<Response, ApiError> {
    let deviations = app.deviations;
    validate::query(query, Accepts::Nothing, deviations)?;
    let body = validate::object_body(body, deviations)?.unwrap_or_default();
    validate::known_fields(&body, FIELDS, deviations)?;
    let model = match body.get("model") {
        Some(Value::String(model)) => model.clone(),
        None => return Err(ApiError::missing_parameter("model")),
        Some(other) => return Err(ApiError::invalid_type("model", "a string", other)),
    };
    let inputs = inputs(
        body.get("input"),
        deviations.deviates(Deviation::EmbeddingsEmptyInputAccepted),
    )?;
    // `null` is no absent field: the schema makes none of them nullable.
    let base64 = match body.get("encoding_format") {
        None => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => {
            if deviations.deviates(Deviation::EmbeddingsBase64Unsupported) {
                return Err(ApiError::invalid_value("encoding_format", f, "'float'"));
            }
            true
        }
        Some(Value::String(f)) => {
            return Err(ApiError::invalid_value(
                "encoding_format",
                f,
                &error::one_of(&["float", "base64"]),
            ))
        }
        Some(other) => return Err(ApiError::invalid_type("encoding_format", "a string", other)),
    };
    let dimensions = dimensions(&body)?;
    let dimensions = if deviations.deviates(Deviation::EmbeddingsDimensionsIgnored) {
        DIMENSIONS
    } else {
        dimensions
    };
    if let Some(user) = body.get("user").filter(|u| !u.is_string()) {
        return Err(ApiError::invalid_type("user", "a string", user));
    }
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = embed(input, dimensions);
            let embedding = if !base64 {
                json!(vector)
            } else if deviations.deviates(Deviation::EmbeddingsBase64OtherDimension) {
                // float64s where the format says float32s: twice the values, none of them right.
                let wide: Vec<f64> = vector.iter().map(|&x| f64::from(x)).collect();
                json!(encode(wide.iter().flat_map(|x| x.to_le_bytes())))
            } else {
                json!(encode(vector.iter().flat_map(|x| x.to_le_bytes())))
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    if deviations.deviates(Deviation::EmbeddingsOrderShuffled) {
        data.reverse();
    }
    let tokens: u64 = inputs
        .iter()
        .map(|input| match input {
            Input::Text(text) => model::count_tokens(text),
            Input::Tokens(tokens) => tokens.len() as u64,
        })
        .sum();
    let answer = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&answer).unwrap_or_default(),
    ))
}

/// The inputs of `input`, in order; `accept_empty` lets empty strings and arrays through.
fn inputs(input: Option<&Value>, accept_empty: bool) -> Result<Vec<Input>, ApiError> {
    let expected =
        "a string, an array of strings, an array of integers or an array of arrays of integers";
    let empty_string = |param: &str| {
        ApiError::invalid_value_message(
            param,
            format!(
                "Invalid '{param}': empty string. Expected a string with at least 1 character."
            ),
        )
    };
    let tokens = |param: &str, items: &[Value]| -> Result<Vec<i64>, ApiError> {
        if items.is_empty() && !accept_empty {
            return Err(ApiError::empty_array(param));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.as_i64().ok_or_else(|| {
                    ApiError::invalid_type(&format!("{param}[{i}]"), "an integer", t)
                })
            })
            .collect()
    };
    let items = match input {
        None => return Err(ApiError::missing_parameter("input")),
        Some(Value::String(text)) if text.is_empty() && !accept_empty => {
            return Err(empty_string("input"))
        }
        Some(Value::String(text)) => return Ok(vec![Input::Text(text.clone())]),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(ApiError::invalid_type("input", expected, other)),
    };
    if items.is_empty() && !accept_empty {
        return Err(ApiError::empty_array("input"));
    }
    if items.len() > MAX_INPUTS {
        return Err(ApiError::array_too_long("input", MAX_INPUTS, items.len()));
    }
    match items.first() {
        None => Ok(Vec::new()),
        Some(Value::Number(_)) => Ok(vec![Input::Tokens(tokens("input", items)?)]),
        Some(Value::String(_)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(text) if text.is_empty() && !accept_empty => {
                    Err(empty_string(&format!("input[{i}]")))
                }
                Value::String(text) => Ok(Input::Text(text.clone())),
                other => Err(ApiError::invalid_type(
                    &format!("input[{i}]"),
                    "a string",
                    other,
                )),
            })
            .collect(),
        Some(Value::Array(_)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Array(inner) => Ok(Input::Tokens(tokens(&format!("input[{i}]"), inner)?)),
                other => Err(ApiError::invalid_type(
                    &format!("input[{i}]"),
                    "an array of integers",
                    other,
                )),
            })
            .collect(),
        Some(other) => Err(ApiError::invalid_type("input[0]", expected, other)),
    }
}

/// `dimensions`: an integer in 1..=[`DIMENSIONS`], [`DIMENSIONS`] when absent.
fn dimensions(body: &Map<String, Value>) -> Result<usize, ApiError> {
    let Some(value) = body.get("dimensions") else {
        return Ok(DIMENSIONS);
    };
    let n = value
        .as_i64()
        .ok_or_else(|| ApiError::invalid_type("dimensions", "an integer", value))?;
    if n < 1 {
        return Err(ApiError::integer_below_min("dimensions", 1, &n.to_string()));
    }
    if n > DIMENSIONS as i64 {
        return Err(ApiError::integer_above_max(
            "dimensions",
            DIMENSIONS as i64,
            &n.to_string(),
        ));
    }
    Ok(n as usize)
}

/// The unit vector of an input: the first `dimensions` of [`DIMENSIONS`] values drawn from
/// a generator seeded by the input's hash, normalised.
fn embed(input: &Input, dimensions: usize) -> Vec<f32> {
    // FNV-1a over a tag and the input, so that a text and tokens never share a seed.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    match input {
        Input::Text(text) => {
            feed(b"t");
            feed(text.as_bytes());
        }
        Input::Tokens(tokens) => {
            feed(b"n");
            tokens.iter().for_each(|t| feed(&t.to_le_bytes()));
        }
    }
    // SplitMix64: a small, well-mixed generator, the same on every platform.
    let mut state = hash;
    let mut values: Vec<f64> = (0..DIMENSIONS)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .take(dimensions)
        .collect();
    let norm = values
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    values.iter_mut().for_each(|x| *x /= norm);
    values.into_iter().map(|x| x as f32).collect()
}

fn encode(bytes: impl Iterator<Item = u8>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes.collect::<Vec<u8>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_stable_unit_vectors_of_their_input() {
        let hello = embed(&Input::Text("hello".into()), DIMENSIONS);
        assert_eq!(hello.len(), DIMENSIONS);
        assert_eq!(hello, embed(&Input::Text("hello".into()), DIMENSIONS));
        assert_ne!(hello, embed(&Input::Text("hello!".into()), DIMENSIONS));
        assert_ne!(hello, embed(&Input::Tokens(vec![1, 2]), DIMENSIONS));
        let norm: f32 = hello.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        let short = embed(&Input::Text("hello".into()), 8);
        assert_eq!(short.len(), 8);
        // The shortened vector points the same way as the start of the full one.
        let scale = hello[0] / short[0];
        assert!(short
            .iter()
            .zip(&hello)
            .all(|(s, h)| (s * scale - h).abs() < 1e-5));
    }
}
