//! `conformance spec diff OLD NEW`.
use std::path::Path;
pub struct Diff;
impl Diff {
    pub fn to_json(&self) -> String {
        String::new()
    }
    pub fn to_text(&self) -> String {
        String::new()
    }
}
pub fn diff(_old: &Path, _new: &Path, _spec_dir: &Path, _cases_dir: &Path) -> Result<Diff, String> {
    Err("todo".into())
}
