//! The order in which the selected cases start: the longest chain of dependent requests first,
//! so that against a slow target the run ends close to latency x max(longest chain, requests /
//! cases in flight) instead of waiting on one long case started last. The order of the results
//! (libtest's, the reports') stays the order of the trials.

use crate::case::Case;
use crate::spec::Spec;
use std::sync::Arc;

/// Sorts `cases` by [`chain_length`], longest first; cases of the same length keep their order.
pub fn longest_chain_first(cases: &mut [Arc<Case>], spec: &Spec) {
    cases.sort_by_cached_key(|case| std::cmp::Reverse(chain_length(case, spec)));
}

/// How many requests a case sends one after the other when all goes well: its steps (a
/// derived case's setup included), its cleanup steps, and one delete per resource an
/// operation with `x-conformance-cleanup` creates.
pub fn chain_length(case: &Case, spec: &Spec) -> usize {
    let created = case
        .steps
        .iter()
        .filter_map(|step| step.operation.as_deref())
        .filter(|op| spec.operation(op).is_some_and(|op| op.cleanup.is_some()))
        .count();
    case.steps.len() + case.cleanup.len() + created
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_longest_chain_starts_first_and_equal_chains_keep_their_order() {
        let spec = Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap();
        let load = |id: &str, text: &str| {
            let mut cases = crate::case::load(id, &format!("cases/{id}.yaml"), text, &spec);
            Arc::new(cases.remove(0).unwrap())
        };
        let create = "- operation: createConversation\n  capture: {conv: $}\n";
        let retrieve =
            "- operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n";
        let short = load(
            "short",
            "requirement: GEN-05\nsteps:\n- method: GET\n  path: /x\n",
        );
        let created = load("created", &format!("requirement: GEN-05\nsteps:\n{create}"));
        let long = load(
            "long",
            &format!("requirement: GEN-05\nsteps:\n{create}{retrieve}{retrieve}"),
        );
        let also_short = load(
            "also_short",
            "requirement: GEN-05\nsteps:\n- method: GET\n  path: /y\n",
        );
        // A created conversation is deleted at the end: one request more.
        assert_eq!(chain_length(&created, &spec), 2);
        assert_eq!(chain_length(&long, &spec), 4);
        let mut cases = vec![short, created, also_short, long];
        longest_chain_first(&mut cases, &spec);
        let order: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(order, ["long", "created", "short", "also_short"]);
    }
}
