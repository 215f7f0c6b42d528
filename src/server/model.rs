//! The reference server's built-in model: deterministic, so that every answer can be predicted
//! from the request. It echoes the input text, word by word; when a function tool is given and
//! the input names it, it calls that tool (arguments `{}`) instead. A token is a word
//! (whitespace-separated), on input and output alike.

use serde_json::{json, Value};

/// The model's name, listed by `GET /models`; the harness's default `--model`.
pub(crate) const NAME: &str = "conformance-echo";

/// What the model produces for one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    /// Text as its tokens (each word with the space before it, but the first).
    Text { tokens: Vec<String>, cut: bool },
    /// A call of the named function tool.
    FunctionCall { name: String },
}

/// The model's answer to `input` (the text of the context, previous responses included) and
/// `tools`, at most `max_output_tokens` tokens of text.
pub(crate) fn generate(input: &str, tools: &[Value], max_output_tokens: Option<u64>) -> Output {
    let called = tools.iter().find_map(|tool| {
        let name = tool.get("name")?.as_str()?;
        (tool.get("type")?.as_str()? == "function" && input.split_whitespace().any(|w| w == name))
            .then(|| name.to_owned())
    });
    if let Some(name) = called {
        return Output::FunctionCall { name };
    }
    let mut tokens: Vec<String> = input
        .split_whitespace()
        .enumerate()
        .map(|(i, word)| {
            if i == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect();
    let limit = max_output_tokens.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let cut = tokens.len() > limit;
    tokens.truncate(limit);
    Output::Text { tokens, cut }
}

/// Tokens of a text, as the model counts them.
pub(crate) fn count_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

impl Output {
    pub(crate) fn token_count(&self) -> u64 {
        match self {
            Output::Text { tokens, .. } => tokens.len() as u64,
            // `{}`: one token.
            Output::FunctionCall { .. } => 1,
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Output::Text { tokens, .. } => tokens.concat(),
            Output::FunctionCall { .. } => String::new(),
        }
    }
}

/// `usage` of a response: `total_tokens` is input plus output, with both details.
pub(crate) fn usage(input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_calls_and_cuts() {
        assert_eq!(generate("say  hi there", &[], None).text(), "say hi there");
        let cut = generate("a b c", &[], Some(2));
        assert_eq!(
            cut,
            Output::Text {
                tokens: vec!["a".into(), " b".into()],
                cut: true
            }
        );
        let tools = [json!({"type": "function", "name": "get_weather"})];
        assert_eq!(
            generate("call get_weather now", &tools, None),
            Output::FunctionCall {
                name: "get_weather".into()
            }
        );
        assert_eq!(
            generate("weather please", &tools, None).text(),
            "weather please"
        );
        assert_eq!(usage(3, 4)["total_tokens"], 7);
    }
}
