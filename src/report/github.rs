//! Under GitHub Actions (`GITHUB_ACTIONS=true`): failures and warnings as workflow commands
//! (`::error file=cases/x.yaml,line=12,title=…::…`), which GitHub shows as annotations on the
//! run and on the files. The Markdown matrix goes to `$GITHUB_STEP_SUMMARY` (see the harness).

use super::Report;
use crate::place::Place;
use crate::verdict::Verdict;
use crate::yaml::At;
use std::fmt::Write as _;

pub fn annotations(report: &Report) -> String {
    let mut out = String::new();
    for case in &report.cases {
        if let Some(broken) = &case.error {
            let (file, line) = broken
                .at
                .as_ref()
                .and_then(At::file_line)
                .unwrap_or((case.file.as_str(), 1));
            command(&mut out, "error", file, line, &case.id, &broken.error);
        }
    }
    // One annotation per root cause, where it was first seen, not one per finding.
    for cause in &report.root_causes {
        let kind = match cause.verdict {
            Verdict::Fail => "error",
            Verdict::Warn => "warning",
            _ if cause.tag == "inconclusive" => "warning",
            _ => continue,
        };
        let first_file = cause.files.first().map_or("", String::as_str);
        let (file, line) = cause
            .at
            .as_ref()
            .and_then(Place::file_line)
            .unwrap_or((first_file, 1));
        let mut message = format!("{}: {}", cause.tag, cause.summary);
        if let Some(detail) = &cause.detail {
            let _ = write!(message, "\n  {detail}");
        }
        let shown: Vec<&str> = cause.cases.iter().take(5).map(String::as_str).collect();
        let _ = write!(
            message,
            "\n{} in {}: {}{}",
            super::counted(cause.count, "finding"),
            super::counted(cause.cases.len(), "case"),
            shown.join(", "),
            if cause.cases.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        );
        let requirements = cause.requirements.join(", ");
        let title = if requirements.is_empty() {
            cause.tag.as_str()
        } else {
            &requirements
        };
        command(&mut out, kind, file, line, title, &message);
    }
    for (entry, problem) in report.expectation_problems() {
        let file = report.expectations.as_ref().map_or("", |e| e.file.as_str());
        command(
            &mut out,
            "error",
            file,
            entry.at.line().unwrap_or(1),
            "expectations",
            &problem,
        );
    }
    out
}

fn command(out: &mut String, kind: &str, file: &str, line: u64, title: &str, message: &str) {
    // An annotation on a file the repository does not have (a case embedded in the binary)
    // is shown on no file, not on a wrong one.
    if !std::path::Path::new(file).is_file() {
        let _ = writeln!(
            out,
            "::{kind} title={}::{}",
            property(&format!("{title} ({file}:{line})")),
            data(message)
        );
        return;
    }
    let _ = writeln!(
        out,
        "::{kind} file={},line={line},title={}::{}",
        property(file),
        property(title),
        data(message)
    );
}

/// The escaping of GitHub's toolkit: a message keeps its lines as `%0A`.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_actions_toolkit() {
        assert_eq!(data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
