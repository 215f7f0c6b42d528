//! Where a step comes from, typed from the loader to the reports, which alone render it: a
//! place in a case file, or, for the steps the suite builds itself, the place in the spec.

use crate::yaml::At;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `file:line:col` in a case file.
    File(At),
    /// The schema a derived case probes: `#/components/schemas/Metadata/anyOf/0/maxProperties`.
    Schema(String),
    /// The operation a probe sends: `#/paths/~1conversations/post (POST /conversations)`.
    Operation {
        pointer: String,
        method: String,
        path: String,
    },
    /// A request no operation of the spec declares (a probe of undeclared methods):
    /// `PATCH /conversations/{id}`.
    Request { method: String, path: String },
    /// The overlay's `x-conformance-derive` setup steps of an operation.
    DeriveSetup { operation: String },
}

impl Place {
    /// Where a step the suite builds for `operation` comes from.
    pub fn operation(operation: &crate::spec::Operation) -> Self {
        Place::Operation {
            pointer: operation.pointer.clone(),
            method: operation.method.clone(),
            path: operation.path.clone(),
        }
    }

    /// The file and line a place is in, for annotations; `None` for a place in the spec.
    pub fn file_line(&self) -> Option<(&str, u64)> {
        match self {
            Place::File(at) => at.file_line(),
            _ => None,
        }
    }
}

impl From<At> for Place {
    fn from(at: At) -> Self {
        Place::File(at)
    }
}

/// In the JSON report, as the text shows it.
impl serde::Serialize for Place {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File(at) => at.fmt(f),
            Place::Schema(pointer) => f.write_str(pointer),
            Place::Operation {
                pointer,
                method,
                path,
            } => write!(f, "{pointer} ({method} {path})"),
            Place::Request { method, path } => write!(f, "{method} {path}"),
            Place::DeriveSetup { operation } => {
                write!(f, "x-conformance-derive of {operation} (setup)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_in_a_file_has_a_line_and_a_place_in_the_spec_has_none() {
        let at = Place::File(At {
            file: "cases/a:b.yaml".into(),
            line_col: Some((12, 5)),
        });
        assert_eq!(at.to_string(), "cases/a:b.yaml:12:5");
        assert_eq!(at.file_line(), Some(("cases/a:b.yaml", 12)));
        assert_eq!(Place::File(At::file("cases/a.yaml")).file_line(), None);
        let built = [
            Place::Schema("#/components/schemas/Metadata/maxProperties".into()),
            Place::Operation {
                pointer: "#/paths/~1conversations/post".into(),
                method: "POST".into(),
                path: "/conversations".into(),
            },
            Place::Request {
                method: "PATCH".into(),
                path: "/conversations".into(),
            },
            Place::DeriveSetup {
                operation: "createConversation".into(),
            },
        ];
        let shown: Vec<String> = built.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "#/components/schemas/Metadata/maxProperties",
                "#/paths/~1conversations/post (POST /conversations)",
                "PATCH /conversations",
                "x-conformance-derive of createConversation (setup)",
            ]
        );
        assert!(built.iter().all(|p| p.file_line().is_none()));
    }
}
