//! The requirements catalogue: every requirement's ID, level and text.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
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
    pub area: String,
    pub source: String,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    requirements: BTreeMap<String, Requirement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    requirements: Vec<Requirement>,
}

impl Catalogue {
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        let parsed: CatalogueFile = crate::yaml::parse(file, text)?;
        let mut requirements = BTreeMap::new();
        for requirement in parsed.requirements {
            let id = requirement.id.clone();
            if requirements.insert(id.clone(), requirement).is_some() {
                return Err(format!("{file}: requirement {id} is listed twice"));
            }
        }
        Ok(Self { requirements })
    }

    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.requirements.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Requirement> {
        self.requirements.values()
    }
}
