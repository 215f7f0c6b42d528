//! Why a case file, or one row of it, does not load: the place in the file and the problem,
//! each typed, rendered `file:line:col: [step N: ]problem` as a compiler would.

use crate::selector::SelectorError;
use crate::spec::Level;
use crate::template::TemplateError;
use crate::yaml::{At, YamlError};

/// Boxed: a load error is rare, and the results that carry one stay small.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct LoadError(Box<Located>);

#[derive(Debug, thiserror::Error)]
enum Located {
    /// The file does not parse; the parser's error says where.
    #[error(transparent)]
    Yaml(YamlError),
    #[error("{at}: {problem}")]
    At { at: At, problem: Problem },
    /// A problem of one step, named by its label (`step 2 (update)`).
    #[error("{at}: {step}: {problem}")]
    Step {
        at: At,
        step: String,
        problem: Problem,
    },
}

impl LoadError {
    pub(crate) fn at(at: At, problem: Problem) -> Self {
        LoadError(Box::new(Located::At { at, problem }))
    }

    /// Where the problem is.
    pub(crate) fn place(&self) -> &At {
        match &*self.0 {
            Located::Yaml(error) => &error.at,
            Located::At { at, .. } | Located::Step { at, .. } => at,
        }
    }

    /// The message and, under it, the line of `text` (the file's) at fault; the parser's
    /// errors show theirs already.
    pub(crate) fn render(&self, text: Option<&str>) -> String {
        let excerpt = match (&*self.0, text) {
            (Located::Yaml(_), _) | (_, None) => None,
            (_, Some(text)) => crate::yaml::excerpt(text, self.place()),
        };
        match excerpt {
            Some(excerpt) => format!("{self}\n{excerpt}"),
            None => self.to_string(),
        }
    }

    pub(crate) fn in_step(at: At, step: String, problem: Problem) -> Self {
        LoadError(Box::new(Located::Step { at, step, problem }))
    }
}

impl From<YamlError> for LoadError {
    fn from(error: YamlError) -> Self {
        LoadError(Box::new(Located::Yaml(error)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    #[error("larger than {kib} KiB: a case file is small; split it")]
    TooLarge { kib: u64 },
    #[error("not UTF-8: save the file as UTF-8")]
    NotUtf8,
    /// Discovery would not read the file (a link, a device).
    #[error("{0}")]
    Refused(&'static str),
    #[error("a parameter row needs a `name` (it names the test)")]
    RowWithoutName,
    #[error("row name `{0}` must be letters, digits, `_`, `-` or `.`")]
    RowName(String),
    #[error("two rows are named `{0}`")]
    RowTwice(String),
    #[error("parameter `{name}`: {source}")]
    Parameter { name: String, source: TemplateError },
    #[error("unknown requirement `{0}`: use an ID of specs/requirements.yaml")]
    UnknownRequirement(String),
    #[error("level {stated} does not match the catalogue, which says {requirement} is {level}")]
    Level {
        stated: Level,
        requirement: String,
        level: Level,
    },
    #[error("a case needs at least one step")]
    NoSteps,
    #[error(
        "covers `{0}`: name a derived case (`{prefix}<operation>/...`, listed by `--list {prefix}`)",
        prefix = super::derive::PREFIX
    )]
    CoversNotDerived(String),
    #[error(
        "operation `{id}` ({method} {path}) is outside the suite's scope: add it to \
         x-conformance-scope in {overlay}, or leave it to a suite of its own"
    )]
    OperationOutsideScope {
        id: String,
        method: String,
        path: String,
        overlay: String,
    },
    #[error("unknown operation `{id}` (the spec has: {known})")]
    UnknownOperation { id: String, known: String },
    #[error("{id} takes path_params {wanted}, the step gives {given}")]
    PathParams {
        id: String,
        wanted: String,
        given: String,
    },
    #[error("path_params go with `operation`; write the values into `path`")]
    PathParamsWithPath,
    #[error("`{0}` is not an HTTP method")]
    Method(String),
    #[error("a path starts with `/` and is relative to the base URL")]
    RelativePath,
    #[error(
        "{method} {path} is operation `{id}`, outside the suite's scope \
         (x-conformance-scope in {overlay})"
    )]
    PathOutsideScope {
        method: String,
        path: String,
        id: String,
        overlay: String,
    },
    #[error("give either `operation` or both `method` and `path`")]
    OperationOrPath,
    /// A state-changing request the suite may not send; the text says how to allow it.
    #[error(transparent)]
    Unsafe(crate::spec::unsafe_guard::Refused),
    #[error("give `body` or `raw_body`, not both")]
    BodyAndRawBody,
    /// A template of the step, under the field it is in (`path_params.id`, `body`).
    #[error("{field}: {source}")]
    Template {
        field: String,
        source: TemplateError,
    },
    /// A template of an expectation, which the place names already.
    #[error(transparent)]
    ExpectedValue(TemplateError),
    /// A selector, under what it selects for (`capture `conv``, `snapshot`), if anything.
    #[error("{}{source}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Selector {
        field: Option<String>,
        source: SelectorError,
    },
    #[error("`index` is reserved for generators")]
    ReservedIndex,
    #[error("{0} is not an HTTP status")]
    Status(u16),
    #[error("bad pattern `{pattern}`: {source}")]
    Pattern {
        pattern: String,
        source: regex::Error,
    },
    #[error("vector_near.tolerance must be a number of at least 0, got {0}")]
    Tolerance(f64),
    #[error(
        "this expectation checks nothing: give equals, one_of, type, pattern, absent, length, \
         contains, near_now or vector_near"
    )]
    ChecksNothing,
}
