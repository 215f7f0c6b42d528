//! `--api NAME`: a run limited to the APIs a target serves. A server that implements Chat
//! Completions and Models but no Conversations is judged on what it claims, not failed for a
//! whole API it never offered. The selection is made of the catalogue's `api` names; what
//! every endpoint owes (`General`) comes with any of them.

use crate::case::{Broken, Case};
use crate::check::step_operation;
use crate::spec::{Spec, GENERAL_API};

/// The catalogue's API names that `given` means, in the catalogue's order. A name matches
/// case-insensitively, with `-` or `_` for spaces, or by its first word (`chat`).
pub fn resolve(spec: &Spec, given: &[String]) -> Result<Vec<String>, String> {
    let known: Vec<&str> = spec
        .catalogue
        .apis()
        .into_iter()
        .filter(|api| *api != GENERAL_API)
        .collect();
    let fold = |name: &str| name.trim().to_lowercase().replace(['-', '_'], " ");
    let mut selected = Vec::new();
    for name in given.iter().filter(|n| !n.trim().is_empty()) {
        let wanted = fold(name);
        if wanted == fold(GENERAL_API) {
            return Err(format!(
                "--api `{name}`: `{GENERAL_API}` (what every endpoint owes) comes with every API; \
                 name one of: {}",
                known.join(", ")
            ));
        }
        let found = known.iter().find(|api| {
            let api = fold(api);
            api == wanted || api.split(' ').next() == Some(wanted.as_str())
        });
        match found {
            Some(api) => {
                if !selected.iter().any(|s: &String| s == api) {
                    selected.push((*api).to_owned());
                }
            }
            None => {
                return Err(format!(
                    "--api `{name}`: no such API in the catalogue; name one of: {}",
                    known.join(", ")
                ))
            }
        }
    }
    Ok(known
        .into_iter()
        .filter(|api| selected.iter().any(|s| s == api))
        .map(str::to_owned)
        .collect())
}

/// Whether a case belongs to the APIs selected in the catalogue
/// ([`crate::spec::Catalogue::select_apis`]): its requirement is theirs, and so is the owner of
/// every operation it calls, set-up and cleanup included. A step calling a method that its
/// path does not declare (the method probes) counts under the path's operations. A case file
/// that does not load stays: its error is reported whatever the selection.
pub fn keeps(loaded: &Result<Case, Broken>, spec: &Spec) -> bool {
    let Ok(case) = loaded else {
        return true;
    };
    let catalogue = &spec.catalogue;
    let selected = |id: &str| catalogue.get(id).is_none_or(|r| catalogue.is_selected(r));
    let operation_selected =
        |operation: &str| catalogue.owner("operation", operation).is_none_or(selected);
    selected(&case.requirement)
        && case.steps.iter().chain(case.cleanup.iter()).all(|step| {
            match step_operation(step, spec) {
                Some(op) => operation_selected(&op.id),
                None => spec
                    .operations()
                    .filter(|op| {
                        spec.match_path(&op.method, &step.path)
                            .is_some_and(|found| found.id == op.id)
                    })
                    .all(|op| operation_selected(&op.id)),
            }
        })
}
