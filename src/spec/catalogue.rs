//! The requirements catalogue: every requirement's ID, level and text.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "INFO")]
    Info,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Info => "INFO",
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub level: Level,
    /// The API the requirement belongs to (`Conversations`, `Models`, ...; `General` for what
    /// every endpoint owes): the reports group by it. A catalogue without it is all `General`.
    #[serde(default = "general", skip_serializing_if = "String::is_empty")]
    pub api: String,
    pub area: String,
    pub source: String,
    pub text: String,
    /// The checks this requirement owns, wherever they run (see [`Catalogue::owner`]):
    /// `schema NAME` (a component's shape, in any answer), `operation ID` (the status and
    /// captures of a set-up step calling it), `check NAME` (an implicit check of every answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owns: Vec<String>,
    /// The rule this row states, where other rows state the same rule on other operations
    /// (`unknown-conversation-404`: RET-02, UPD-14, DEL-02, ITM-09): one defect breaking it
    /// is one root cause listing every row it breaks, each of which still fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

fn general() -> String {
    GENERAL_API.to_owned()
}

/// The API of requirements that every endpoint owes, and of a catalogue that names none.
pub const GENERAL_API: &str = "General";

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    requirements: BTreeMap<String, Requirement>,
    /// `schema` / `operation` / `check` -> NAME -> the requirement that owns it (looked up
    /// for every check: by kind, then name, so that no key is written out per lookup).
    owners: BTreeMap<String, BTreeMap<String, String>>,
    /// `--api`: the APIs a run is limited to; `None` for all.
    selected: Option<Vec<String>>,
}

/// What a requirement can own.
const OWNED_KINDS: &[&str] = &["schema", "operation", "check"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    requirements: Vec<Requirement>,
}

/// Why the catalogue does not load.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    #[error("{file}: {id} owns `{owned}`: write `schema NAME`, `operation ID` or `check NAME`")]
    BadOwned {
        file: String,
        id: String,
        owned: String,
    },
    #[error("{file}: `{owned}` is owned by both {other} and {id}: a check has one owner")]
    TwoOwners {
        file: String,
        owned: String,
        other: String,
        id: String,
    },
    #[error("{file}: requirement {id} is listed twice")]
    Twice { file: String, id: String },
    #[error("{file}: rule `{rule}` is a requirement ID: name the rule, not a row")]
    RuleIsAnId { file: String, rule: String },
    #[error("{file}: {id} is the only row of rule `{rule}`: a rule names what several rows state")]
    RuleOfOneRow {
        file: String,
        id: String,
        rule: String,
    },
}

impl Catalogue {
    pub fn parse(file: &str, text: &str) -> Result<Self, CatalogueError> {
        let parsed: CatalogueFile = crate::yaml_subset::parse(file, text)?;
        let mut requirements = BTreeMap::new();
        let mut owners: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for requirement in parsed.requirements {
            let id = requirement.id.clone();
            for owned in &requirement.owns {
                let Some((kind, name)) = owned
                    .split_once(' ')
                    .filter(|(kind, name)| OWNED_KINDS.contains(kind) && !name.is_empty())
                else {
                    return Err(CatalogueError::BadOwned {
                        file: file.to_string(),
                        id,
                        owned: owned.clone(),
                    });
                };
                let of_kind = owners.entry(kind.to_string()).or_default();
                if let Some(other) = of_kind.insert(name.to_string(), id.clone()) {
                    return Err(CatalogueError::TwoOwners {
                        file: file.to_string(),
                        owned: owned.clone(),
                        other,
                        id,
                    });
                }
            }
            if requirements.insert(id.clone(), requirement).is_some() {
                return Err(CatalogueError::Twice {
                    file: file.to_string(),
                    id,
                });
            }
        }
        let mut rules: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for requirement in requirements.values() {
            if let Some(rule) = &requirement.rule {
                rules.entry(rule).or_default().push(&requirement.id);
            }
        }
        for (rule, ids) in &rules {
            if requirements.contains_key(*rule) {
                return Err(CatalogueError::RuleIsAnId {
                    file: file.to_string(),
                    rule: rule.to_string(),
                });
            }
            if let [id] = ids[..] {
                return Err(CatalogueError::RuleOfOneRow {
                    file: file.to_string(),
                    id: id.to_string(),
                    rule: rule.to_string(),
                });
            }
        }
        Ok(Self {
            requirements,
            owners,
            selected: None,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.requirements.get(id)
    }

    /// The rule a requirement states, as root causes group it: its `rule`, else its ID.
    pub fn rule_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.get(id).and_then(|r| r.rule.as_deref()).unwrap_or(id)
    }

    /// The requirement that owns a check: `owner("schema", "Message")`.
    pub fn owner(&self, kind: &str, name: &str) -> Option<&str> {
        self.owners.get(kind)?.get(name).map(String::as_str)
    }

    /// The requirements of the selected APIs ([`Catalogue::select_apis`]), by ID.
    pub fn iter(&self) -> impl Iterator<Item = &Requirement> {
        self.requirements.values().filter(|r| self.is_selected(r))
    }

    /// The APIs the catalogue names, by the first ID of each.
    pub fn apis(&self) -> Vec<&str> {
        let mut apis: Vec<&str> = Vec::new();
        for requirement in self.iter() {
            if !apis.contains(&requirement.api.as_str()) {
                apis.push(&requirement.api);
            }
        }
        apis
    }

    /// Narrows what the catalogue lists ([`Catalogue::iter`]) to these APIs and
    /// [`GENERAL_API`]; every requirement stays known by ID ([`Catalogue::get`]).
    pub fn select_apis(&mut self, apis: Vec<String>) {
        self.selected = (!apis.is_empty()).then_some(apis);
    }

    /// Whether a requirement is in the APIs selected (all are when none was).
    pub fn is_selected(&self, requirement: &Requirement) -> bool {
        self.selected
            .as_ref()
            .is_none_or(|apis| requirement.api == GENERAL_API || apis.contains(&requirement.api))
    }
}
