//! YAML input (cases, spec, overlay, catalogue) with errors that point at `file:line:col`.

use serde::de::DeserializeOwned;
use std::fmt;

/// A place in an input file: `file:line:col` (1-based, columns in characters), or the file
/// alone when the place is the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub file: String,
    pub line_col: Option<(u64, u64)>,
}

impl At {
    /// The whole file.
    pub fn file(file: &str) -> Self {
        At {
            file: file.to_string(),
            line_col: None,
        }
    }

    /// Its line, unless it is the whole file.
    pub fn line(&self) -> Option<u64> {
        self.line_col.map(|(line, _)| line)
    }

    /// The file and line, for annotations; `None` for the whole file.
    pub fn file_line(&self) -> Option<(&str, u64)> {
        Some((&self.file, self.line()?))
    }

    /// Where the parser put a value.
    pub fn of(file: &str, location: &serde_saphyr::Location) -> Self {
        At {
            file: file.to_string(),
            line_col: Some((location.line(), location.column())),
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((line, column)) => write!(f, "{}:{line}:{column}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// In the reports, as the text shows it.
impl serde::Serialize for At {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A file that does not parse: where, the parser's message, and the line at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub at: At,
    message: String,
    excerpt: Option<String>,
}

// By hand, not by thiserror: the build script compiles this file too.
impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)?;
        match &self.excerpt {
            Some(shown) => write!(f, "\n{shown}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for YamlError {}

/// The loaders that still speak in text take the whole message.
impl From<YamlError> for String {
    fn from(error: YamlError) -> String {
        error.to_string()
    }
}

/// Parses YAML (JSON is YAML too). The error starts with `file:line:col:` and carries the
/// parser's excerpt of the offending line with a caret under the column.
///
/// Only `true` and `false` are booleans: YAML 1.1 would read `y`, `no` or `on` as booleans,
/// and the spec has `required: [x, y]`.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, YamlError> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| locate(file, &e, text))
}

/// The most of the line at fault an error shows, in characters.
const EXCERPT_CHARS: usize = 120;

fn locate(file: &str, error: &serde_saphyr::Error, text: &str) -> YamlError {
    let rendered = error.to_string().replace("<input>", file);
    // The parser's own first line repeats the position as "line L column C: ..."; keep the
    // message after it and lead with `file:line:col:` like a compiler.
    let first = rendered.lines().next().unwrap_or_default();
    let message = first
        .trim_start_matches("error: ")
        .split_once(": ")
        .filter(|(head, _)| head.starts_with("line "))
        .map_or(first.trim_start_matches("error: "), |(_, rest)| rest);
    let message = crate::untrusted::excerpt(message, 300);
    match error.location() {
        Some(l) if l.line() > 0 => {
            let at = At::of(file, &l);
            YamlError {
                excerpt: excerpt(text, &at),
                at,
                message,
            }
        }
        _ => YamlError {
            at: At::file(file),
            message,
            excerpt: None,
        },
    }
}

/// The line at `at`, and only it, with a caret under the column, drawn as rustc draws its
/// own: at most [`EXCERPT_CHARS`] of it around the column, escaped (a file may be anything,
/// even a stream of secrets).
pub fn excerpt(text: &str, at: &At) -> Option<String> {
    use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
    let (line, column) = at.line_col?;
    let (line, column) = (usize::try_from(line).ok()?, usize::try_from(column).ok()?);
    let chars: Vec<char> = text.lines().nth(line.checked_sub(1)?)?.chars().collect();
    let start = column.saturating_sub(EXCERPT_CHARS / 2).min(chars.len());
    let end = (start + EXCERPT_CHARS).min(chars.len());
    let mut shown = String::from(if start > 0 { "…" } else { "" });
    let mut caret = shown.len();
    for (i, &c) in chars[start..end].iter().enumerate() {
        shown.push_str(&crate::untrusted::escape(&c.to_string()));
        if start + i + 1 < column {
            caret = shown.len();
        }
    }
    if end < chars.len() {
        shown.push('…');
    }
    let snippet = Snippet::source(&shown)
        .line_start(line)
        .annotation(AnnotationKind::Primary.span(caret..caret));
    let report = [Group::with_level(Level::ERROR).element(snippet)];
    Some(Renderer::plain().render(&report))
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, byte_offset: usize) -> (usize, usize) {
    let before = &text[..byte_offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
    }

    #[test]
    fn errors_lead_with_file_line_and_column() {
        let err = parse::<Doc>("cases/x.yaml", "name: a\nnmae: b\n").unwrap_err();
        insta::assert_snapshot!(err, @r"
        cases/x.yaml:2:1: unknown field `nmae`, expected one of name
          |
        2 | nmae: b
          | ^
        ");
    }

    #[test]
    fn the_excerpt_is_the_line_at_fault_cut_and_escaped() {
        let line = format!("{}\u{1b}[2J: [", "k".repeat(300));
        let err = parse::<Doc>("x.yaml", &format!("name: a\n{line}\nsecret: s\n"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\u{1b}') && !err.contains("secret"), "{err}");
        assert!(err.lines().all(|l| l.chars().count() < 320), "{err}");
    }

    #[test]
    fn the_caret_stands_under_the_column_past_wide_characters_and_a_cut() {
        let wide = parse::<Value>("x.yaml", "{中文: 1, a: [}\n").unwrap_err();
        let cut = format!("{{a: \"{}\", b: [}}\n", "x".repeat(100));
        let cut = parse::<Value>("x.yaml", &cut).unwrap_err();
        insta::assert_snapshot!(format!("{wide}\n{cut}"), @r#"
        x.yaml:1:12: mismatched bracket '[' closed by '}'
          |
        1 | {中文: 1, a: [}
          |              ^
        x.yaml:1:112: mismatched bracket '[' closed by '}'
          |
        1 | …xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", b: [}
          |                                                             ^
        "#);
    }

    #[test]
    fn counts_columns_in_characters() {
        assert_eq!(line_col("é\nab", 4), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
