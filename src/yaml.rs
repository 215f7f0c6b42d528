//! YAML input (cases, spec, overlay, catalogue) with errors that point at `file:line:col`.

use serde::de::DeserializeOwned;

/// Parses YAML (JSON is YAML too). The error starts with `file:line:col:` and carries the
/// parser's excerpt of the offending line with a caret under the column.
///
/// Only `true` and `false` are booleans: YAML 1.1 would read `y`, `no` or `on` as booleans,
/// and the spec has `required: [x, y]`.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, String> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| locate(file, &e))
}

fn locate(file: &str, error: &serde_saphyr::Error) -> String {
    let rendered = error.to_string().replace("<input>", file);
    // The parser's own first line repeats the position as "line L column C: ..."; keep the
    // message after it and lead with `file:line:col:` like a compiler.
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or_default();
    let message = first
        .trim_start_matches("error: ")
        .split_once(": ")
        .filter(|(head, _)| head.starts_with("line "))
        .map_or(first.trim_start_matches("error: "), |(_, rest)| rest);
    let excerpt: Vec<&str> = lines.collect();
    let at = match error.location() {
        Some(l) if l.line() > 0 => format!("{file}:{}:{}", l.line(), l.column()),
        _ => file.to_string(),
    };
    if excerpt.is_empty() {
        format!("{at}: {message}")
    } else {
        format!("{at}: {message}\n{}", excerpt.join("\n"))
    }
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
        assert!(err.contains("--> cases/x.yaml:2:1"), "{err}");
    }

    #[test]
    fn counts_columns_in_characters() {
        assert_eq!(line_col("é\nab", 4), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
