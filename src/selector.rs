//! JSON selectors: the small path language used by captures, expectations, observations,
//! snapshot redactions and template variables (overlay targets are JSONPath instead, see
//! [`crate::spec`]).
//!
//! Grammar: an optional `$`, then segments `.name`, `[N]` (negative counts from the end),
//! `["any key"]` / `['any key']` and `[*]` (every element or value). A leading name needs no
//! dot: `data[0].id` == `$.data[0].id`.

use serde_json::Value;
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    Key(String),
    Index(i64),
    Wildcard,
}

/// A selector that does not parse: the text, and what is wrong where (columns count from 1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad selector `{text}`: {problem}")]
pub struct SelectorError {
    text: String,
    problem: Problem,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum Problem {
    #[error("unexpected `{found}` at column {column}")]
    Unexpected { found: char, column: usize },
    #[error("expected a field name at column {column} (quote unusual keys: [\"a.b\"])")]
    FieldName { column: usize },
    #[error("expected an index, a quoted key or * after `[` at column {column}")]
    Index { column: usize },
    #[error("expected `]` at column {column}")]
    Close { column: usize },
    #[error("unterminated quoted key")]
    Unterminated,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    source: String,
    segments: Vec<Segment>,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let segments = Parser {
            chars: text.chars().collect(),
            pos: 0,
        }
        .parse()
        .map_err(|problem| SelectorError {
            text: text.to_string(),
            problem,
        })?;
        Ok(Self {
            source: text.to_string(),
            segments,
        })
    }

    pub fn root() -> Self {
        Self {
            source: "$".into(),
            segments: Vec::new(),
        }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True when the selector can match at most one node (no wildcard).
    pub fn is_single(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Key(_) | Segment::Index(_)))
    }

    /// The single node this selector points at, if it exists.
    pub fn find<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.find_all(value).into_iter().next()
    }

    /// Every node the selector matches, in document order.
    pub fn find_all<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![value];
        for segment in &self.segments {
            let mut next = Vec::new();
            for node in current {
                match (segment, node) {
                    (Segment::Key(k), Value::Object(map)) => next.extend(map.get(k)),
                    (Segment::Index(i), Value::Array(items)) => {
                        next.extend(resolve_index(*i, items.len()).map(|i| &items[i]))
                    }
                    (Segment::Wildcard, Value::Array(items)) => next.extend(items.iter()),
                    (Segment::Wildcard, Value::Object(map)) => next.extend(map.values()),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }

    /// The shortest leading part of a single-node selector that finds nothing in `value`, when
    /// it is shorter than the whole: `choices[0].message.tool_calls` for
    /// `choices[0].message.tool_calls[0].id` in an answer without `tool_calls`.
    pub fn missing_ancestor(&self, value: &Value) -> Option<Selector> {
        if !self.is_single() {
            return None;
        }
        (1..self.segments.len()).find_map(|len| {
            let prefix = self.prefix(len);
            prefix.find(value).is_none().then_some(prefix)
        })
    }

    /// The first `len` segments, written as a selector.
    fn prefix(&self, len: usize) -> Selector {
        let segments = self.segments[..len].to_vec();
        let mut source = String::new();
        for segment in &segments {
            match segment {
                Segment::Key(k) if is_plain_key(k) => {
                    if !source.is_empty() {
                        source.push('.');
                    }
                    source.push_str(k);
                }
                Segment::Key(k) => source.push_str(&format!("[{}]", Value::String(k.clone()))),
                Segment::Index(i) => source.push_str(&format!("[{i}]")),
                Segment::Wildcard => source.push_str("[*]"),
            }
        }
        Selector { source, segments }
    }

    /// Mutable access to every matched node (used to redact snapshots).
    pub fn for_each_mut(&self, value: &mut Value, f: &mut dyn FnMut(&mut Value)) -> usize {
        fn walk(segments: &[Segment], node: &mut Value, f: &mut dyn FnMut(&mut Value)) -> usize {
            let Some((first, rest)) = segments.split_first() else {
                f(node);
                return 1;
            };
            match (first, node) {
                (Segment::Key(k), Value::Object(map)) => {
                    map.get_mut(k).map_or(0, |child| walk(rest, child, f))
                }
                (Segment::Index(i), Value::Array(items)) => {
                    resolve_index(*i, items.len()).map_or(0, |i| walk(rest, &mut items[i], f))
                }
                (Segment::Wildcard, Value::Array(items)) => {
                    items.iter_mut().map(|c| walk(rest, c, f)).sum()
                }
                (Segment::Wildcard, Value::Object(map)) => {
                    map.values_mut().map(|c| walk(rest, c, f)).sum()
                }
                _ => 0,
            }
        }
        walk(&self.segments, value, f)
    }

    /// The selector in insta's redaction syntax (`.a.b[0]`, `.a[]`), if it has one.
    pub fn to_insta(&self) -> Option<String> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Key(k) if is_plain_key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Segment::Key(k) => out.push_str(&format!("[{}]", Value::String(k.clone()))),
                Segment::Index(i) if *i >= 0 => out.push_str(&format!("[{i}]")),
                Segment::Wildcard => out.push_str("[]"),
                _ => return None,
            }
        }
        if out.is_empty() {
            out.push('.');
        }
        Some(out)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if index < 0 { len + index } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn parse(mut self) -> Result<Vec<Segment>, Problem> {
        let mut segments = Vec::new();
        self.eat('$');
        if self.peek().is_some_and(is_name_char) {
            segments.push(Segment::Key(self.name()?));
        }
        while let Some(c) = self.peek() {
            match c {
                '.' => {
                    self.pos += 1;
                    if self.eat('*') {
                        segments.push(Segment::Wildcard);
                    } else {
                        segments.push(Segment::Key(self.name()?));
                    }
                }
                '[' => {
                    self.pos += 1;
                    segments.push(self.bracket()?);
                }
                found => {
                    return Err(Problem::Unexpected {
                        found,
                        column: self.pos + 1,
                    })
                }
            }
        }
        Ok(segments)
    }

    fn name(&mut self) -> Result<String, Problem> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(Problem::FieldName {
                column: self.pos + 1,
            });
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    fn bracket(&mut self) -> Result<Segment, Problem> {
        let segment = match self.peek() {
            Some('*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some('"' | '\'') => Segment::Key(self.quoted()?),
            _ => {
                let start = self.pos;
                self.eat('-');
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let raw: String = self.chars[start..self.pos].iter().collect();
                Segment::Index(
                    raw.parse()
                        .map_err(|_| Problem::Index { column: start + 1 })?,
                )
            }
        };
        if !self.eat(']') {
            return Err(Problem::Close {
                column: self.pos + 1,
            });
        }
        Ok(segment)
    }

    fn quoted(&mut self) -> Result<String, Problem> {
        let quote = self.chars[self.pos];
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(Problem::Unterminated),
                Some('\\') => {
                    self.pos += 1;
                    out.extend(self.peek());
                    self.pos += 1;
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_shortest_missing_part_of_a_path() {
        let doc = json!({"choices": [{"message": {"content": "hi"}}], "odd key": {}});
        let missing = |s: &str| {
            Selector::parse(s)
                .unwrap()
                .missing_ancestor(&doc)
                .map(|p| p.to_string())
        };
        assert_eq!(
            missing("choices[0].message.tool_calls[0].function.name").as_deref(),
            Some("choices[0].message.tool_calls")
        );
        assert_eq!(missing("choices[1].index").as_deref(), Some("choices[1]"));
        assert_eq!(
            missing("[\"odd key\"].a.b").as_deref(),
            Some("[\"odd key\"].a")
        );
        // Only the last part is missing, or the path is all there: no missing ancestor.
        assert_eq!(missing("choices[0].message.refusal"), None);
        assert_eq!(missing("choices[0].message.content"), None);
        assert_eq!(missing("choices[*].message.x.y"), None);
        // The part named is a selector that finds what the whole one needed.
        let part = Selector::parse("usage.prompt_tokens")
            .unwrap()
            .missing_ancestor(&json!({}))
            .unwrap();
        assert_eq!(part, Selector::parse("usage").unwrap());
    }

    #[test]
    fn finds_nested_values_by_key_index_and_quoted_key() {
        let doc = json!({"data": [{"id": "a"}, {"id": "b"}], "metadata": {"a.b": "x"}});
        let at = |s: &str| Selector::parse(s).unwrap().find(&doc).cloned();
        assert_eq!(at("data[0].id"), Some(json!("a")));
        assert_eq!(at("$.data[-1].id"), Some(json!("b")));
        assert_eq!(at("metadata[\"a.b\"]"), Some(json!("x")));
        assert_eq!(at("metadata['a.b']"), Some(json!("x")));
        assert_eq!(at("data[2]"), None);
        assert_eq!(at("$"), Some(doc.clone()));
    }

    #[test]
    fn wildcards_match_many() {
        let doc = json!({"p": [{"name": "limit", "v": 1}, {"name": "order", "v": 2}]});
        let all = Selector::parse("p[*].v").unwrap();
        assert_eq!(all.find_all(&doc), vec![&json!(1), &json!(2)]);
        assert!(!all.is_single());
    }

    #[test]
    fn rejects_malformed_selectors_with_a_reason() {
        let errors: Vec<String> = ["data[", "data[x]", "a..b", "a b", "m['x", "p[?(@.n = 1)]"]
            .into_iter()
            .map(|bad| Selector::parse(bad).unwrap_err().to_string())
            .collect();
        insta::assert_snapshot!(errors.join("\n"), @r#"
        bad selector `data[`: expected an index, a quoted key or * after `[` at column 6
        bad selector `data[x]`: expected an index, a quoted key or * after `[` at column 6
        bad selector `a..b`: expected a field name at column 3 (quote unusual keys: ["a.b"])
        bad selector `a b`: unexpected ` ` at column 2
        bad selector `m['x`: unterminated quoted key
        bad selector `p[?(@.n = 1)]`: expected an index, a quoted key or * after `[` at column 3
        "#);
    }

    #[test]
    fn mutates_matched_nodes() {
        let mut doc = json!({"a": {"c": 2}, "l": [1, 2]});
        let n = Selector::parse("l[*]")
            .unwrap()
            .for_each_mut(&mut doc, &mut |v| *v = json!(0));
        assert_eq!((n, &doc["l"]), (2, &json!([0, 0])));
    }

    #[test]
    fn converts_to_insta_redaction_syntax() {
        let insta = |s: &str| Selector::parse(s).unwrap().to_insta();
        assert_eq!(insta("data[*].id").as_deref(), Some(".data[].id"));
        assert_eq!(insta("created_at").as_deref(), Some(".created_at"));
        assert_eq!(insta("m[\"a.b\"]").as_deref(), Some(".m[\"a.b\"]"));
        assert_eq!(insta("data[-1]"), None);
    }
}
