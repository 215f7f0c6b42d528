//! No state-changing request by accident. A method other than GET, HEAD and OPTIONS is sent
//! only where the suite can undo what it does:
//!
//! - to an operation with `x-conformance-cleanup` (it creates; the overlay says what deletes
//!   it, and the case deletes it when it ends), or
//! - at or below the path of such a cleanup operation (`/conversations/{conversation_id}`,
//!   `/conversations/{conversation_id}/items`, ...): it changes or deletes a resource of the
//!   kind the suite creates and deletes, and what it changed goes with that resource. A case
//!   gives it the id of a conversation it created itself (or one that does not exist);
//!   loading cannot tell an id the case created from a literal one, so a case file must not
//!   name a real, pre-existing resource;
//! - to an operation declared `x-conformance-changes-nothing` (it computes an answer and
//!   stores nothing: embeddings), or
//! - to an operation opted in: `--allow-unsafe OPERATION` for one run, or
//!   `x-conformance-scope.allow_unsafe` for every run of the suite. What such a request
//!   changed is not undone, and the run lists it in its notes.
//!
//! Anything else is a located load error of the case (derived cases included), before any
//! request is sent.

use super::{template_prefix_of, Operation, Spec};

/// Whether a request with this method is read-only by HTTP's definition.
pub fn is_safe_method(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// Why a request may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowance {
    /// GET, HEAD, OPTIONS.
    ReadOnly,
    /// The operation creates, and declares what deletes it.
    Creates,
    /// The operation declares it stores nothing (`x-conformance-changes-nothing`).
    ChangesNothing,
    /// At or below the path of this cleanup operation.
    Inside(String),
    /// Opted in: what it changes stays.
    OptedIn(String),
}

impl Spec {
    /// Whether a request with `method` to `operation` (or, without one, to the path template
    /// `path`) may be sent, and why; the error says how to allow it.
    pub fn unsafe_allowance(
        &self,
        method: &str,
        operation: Option<&Operation>,
        path: &str,
    ) -> Result<Allowance, Refused> {
        if is_safe_method(method) {
            return Ok(Allowance::ReadOnly);
        }
        if operation.is_some_and(|op| op.cleanup.is_some()) {
            return Ok(Allowance::Creates);
        }
        if operation.is_some_and(|op| op.changes_nothing) {
            return Ok(Allowance::ChangesNothing);
        }
        let path = operation.map_or(path, |op| op.path.as_str());
        let deleted_by = self
            .operations()
            .filter_map(|op| op.cleanup.as_ref())
            .filter_map(|cleanup| self.operation(&cleanup.operation))
            .find(|delete| template_prefix_of(&delete.path, path).is_some());
        if let Some(delete) = deleted_by {
            return Ok(Allowance::Inside(delete.id.clone()));
        }
        if let Some(op) = operation.filter(|op| self.unsafe_allowed(&op.id)) {
            return Ok(Allowance::OptedIn(op.id.clone()));
        }
        Err(match operation {
            Some(op) => Refused::Operation {
                id: op.id.clone(),
                method: method.to_string(),
                path: op.path.clone(),
                overlay: self.overlay_file().to_string(),
            },
            None => Refused::Path {
                method: method.to_string(),
                path: path.to_string(),
            },
        })
    }
}

/// A state-changing request the suite may not send, and how to allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "{id} ({method} {path}) may change state and declares no cleanup: declare one in \
         {overlay} (x-conformance-cleanup), or opt in with --allow-unsafe {id} \
         (x-conformance-scope.allow_unsafe for the suite)"
    )]
    Operation {
        id: String,
        method: String,
        path: String,
        overlay: String,
    },
    #[error(
        "{method} {path} may change state and is no operation whose cleanup is declared: send \
         it through an operation, or below a resource the suite creates and deletes"
    )]
    Path { method: String, path: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The declaration covers the operation only: another method on its path is not sent.
    fn raw_put_embeddings_refused(spec: &Spec) -> bool {
        spec.unsafe_allowance("PUT", None, "/embeddings").is_err()
    }

    #[test]
    fn state_changes_go_only_where_a_cleanup_is_declared() {
        let spec = Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap();
        let allowance = |id: &str| {
            let op = spec.operation(id).unwrap();
            spec.unsafe_allowance(&op.method, Some(op), &op.path)
        };
        assert_eq!(allowance("getConversation"), Ok(Allowance::ReadOnly));
        assert_eq!(allowance("createConversation"), Ok(Allowance::Creates));
        assert_eq!(allowance("createEmbedding"), Ok(Allowance::ChangesNothing));
        assert!(raw_put_embeddings_refused(&spec));
        for id in [
            "updateConversation",
            "deleteConversation",
            "createConversationItems",
            "deleteConversationItem",
        ] {
            assert_eq!(
                allowance(id),
                Ok(Allowance::Inside("deleteConversation".into())),
                "{id}"
            );
        }
        let raw = |method: &str, path: &str| spec.unsafe_allowance(method, None, path);
        assert!(raw("POST", "/conversations/{{conv.id}}/x").is_ok());
        let err = raw("POST", "/organization/admin_api_keys").unwrap_err();
        insta::assert_snapshot!(err, @"POST /organization/admin_api_keys may change state and is no operation whose cleanup is declared: send it through an operation, or below a resource the suite creates and deletes");
        let op = Operation {
            id: "dropAll".into(),
            method: "DELETE".into(),
            path: "/all".into(),
            ..spec.operation("deleteConversation").unwrap().clone()
        };
        let err = spec
            .unsafe_allowance("DELETE", Some(&op), "/all")
            .unwrap_err();
        let err = err.to_string().replace(spec.overlay_file(), "OVERLAY");
        insta::assert_snapshot!(err, @"dropAll (DELETE /all) may change state and declares no cleanup: declare one in OVERLAY (x-conformance-cleanup), or opt in with --allow-unsafe dropAll (x-conformance-scope.allow_unsafe for the suite)");
        assert!(raw("DELETE", "/conversations").is_err());
    }
}
