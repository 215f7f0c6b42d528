//! YAML input (cases, spec, overlay, catalogue) with errors that point at `file:line:col`.

use serde::de::DeserializeOwned;

/// Parses YAML (JSON is YAML too). The error starts with `file:line:col:` and carries the
/// parser's excerpt of the offending line with a caret under the column.
///
/// Only `true` and `false` are booleans: YAML 1.1 would read `y`, `no` or `on` as booleans,
/// and the spec has `required: [x, y]`.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, String> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| locate(file, &e, text))
}

/// The most of the line at fault an error shows, in characters.
const EXCERPT_CHARS: usize = 120;

fn locate(file: &str, error: &serde_saphyr::Error, text: &str) -> String {
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
            let at = format!("{file}:{}:{}", l.line(), l.column());
            let line_no = usize::try_from(l.line()).unwrap_or(usize::MAX);
            let column = usize::try_from(l.column()).unwrap_or(1);
            match excerpt(text, line_no, column) {
                Some(shown) => format!("{at}: {message}\n{shown}"),
                None => format!("{at}: {message}"),
            }
        }
        _ => format!("{file}: {message}"),
    }
}

/// The line at fault, and only it, with a caret under the column: at most [`EXCERPT_CHARS`]
/// of it around the column, escaped (a file may be anything, even a stream of secrets).
fn excerpt(text: &str, line: usize, column: usize) -> Option<String> {
    let chars: Vec<char> = text.lines().nth(line.checked_sub(1)?)?.chars().collect();
    let start = column.saturating_sub(EXCERPT_CHARS / 2).min(chars.len());
    let end = (start + EXCERPT_CHARS).min(chars.len());
    let mut shown = String::new();
    let mut caret = 0;
    for (i, &c) in chars[start..end].iter().enumerate() {
        let escaped = crate::untrusted::escape(&c.to_string());
        if start + i + 1 < column {
            caret += escaped.chars().count();
        }
        shown.push_str(&escaped);
    }
    let gutter = " ".repeat(line.to_string().len());
    Some(format!(
        "{gutter} |\n{line} | {}{shown}{}\n{gutter} | {}^",
        if start > 0 { "…" } else { "" },
        if end < chars.len() { "…" } else { "" },
        " ".repeat(caret + usize::from(start > 0)),
    ))
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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
    }

    #[test]
    fn errors_lead_with_file_line_and_column() {
        let err = parse::<Doc>("cases/x.yaml", "name: a\nnmae: b\n").unwrap_err();
        assert!(
            err.starts_with("cases/x.yaml:2:1: unknown field `nmae`, expected `name`")
                || err.starts_with("cases/x.yaml:2:1: unknown field `nmae`"),
            "{err}"
        );
        assert!(err.ends_with("\n  |\n2 | nmae: b\n  | ^"), "{err}");
        assert!(!err.contains("name: a"), "only the line at fault: {err}");
    }

    #[test]
    fn the_excerpt_is_the_line_at_fault_cut_and_escaped() {
        let line = format!("{}\u{1b}[2J: [", "k".repeat(300));
        let err = parse::<Doc>("x.yaml", &format!("name: a\n{line}\nsecret: s\n")).unwrap_err();
        assert!(!err.contains('\u{1b}') && !err.contains("secret"), "{err}");
        assert!(err.lines().all(|l| l.chars().count() < 320), "{err}");
    }

    #[test]
    fn counts_columns_in_characters() {
        assert_eq!(line_col("é\nab", 4), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
