//! Methods on every path: each of GET, POST, PUT, PATCH and DELETE that the spec does not
//! declare for a path answers 404 or 405, never 2xx (and never 5xx, which GEN-05 reports on
//! every answer): GEN-07. The path's resources are made by the setup of an operation on it, so
//! a server that routes the method anyway acts on what this case created.
//!
//! A method is sent only where a 2xx could not change anything but what the case created and
//! deletes: GET never changes state; another method goes only to a path at or below a
//! resource the suite deletes (the rule of [`Spec::unsafe_allowance`]). `DELETE /conversations`
//! or `PUT /conversations` could empty or change a whole account, or create what nothing
//! deletes: they are not sent, and `conformance coverage` says so.

use super::{status, step, Context, Probes};
use crate::case::Body;
use crate::spec::Spec;
use serde_json::json;
use std::collections::BTreeMap;

/// The requirement every method probe checks.
pub const REQUIREMENT: &str = "GEN-07";
/// The methods probed on every path.
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// One undeclared method of a path, and whether it is safe to send.
pub struct Undeclared {
    pub path: String,
    pub method: &'static str,
    pub safe: bool,
}

/// Every undeclared method of every path in scope.
pub fn undeclared(spec: &Spec) -> Vec<Undeclared> {
    let mut paths: Vec<&str> = spec.operations().map(|o| o.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    let mut out = Vec::new();
    for path in paths {
        for &method in METHODS {
            if spec
                .operations()
                .any(|o| o.path == path && o.method == method)
            {
                continue;
            }
            let safe = spec.unsafe_allowance(method, None, path).is_ok();
            out.push(Undeclared {
                path: path.to_string(),
                method,
                safe,
            });
        }
    }
    out
}

pub fn probes(spec: &Spec, out: &mut Probes) {
    let undeclared = undeclared(spec);
    // Set up once per path: loading the setup steps is most of the work.
    let mut contexts: BTreeMap<&str, Option<Context>> = BTreeMap::new();
    let declared = super::unknown_fields::Declared::default();
    for undeclared in undeclared.iter().filter(|u| u.safe) {
        let path = &undeclared.path;
        let method = undeclared.method;
        // The first operation on the path that can be set up names the probe and makes what
        // the path addresses.
        let context = contexts.entry(path).or_insert_with(|| {
            spec.operations()
                .filter(|o| &o.path == path)
                .find_map(|o| Context::of(spec, o, &declared).ok())
        });
        let Some(context) = context else {
            let id = format!("{}{path} {method}", super::PREFIX);
            out.inconsistent
                .push((id, "no operation on this path can be set up".into()));
            continue;
        };
        let mut call = step(
            spec,
            context.setup.len() + 1,
            &format!("{method} {path}"),
            REQUIREMENT,
            method,
            &context.path(),
            status(&[404, 405]),
        );
        if method != "GET" && method != "DELETE" {
            call.body = Body::Json(json!({}));
        }
        let title =
            format!("{method} {path}, a method the spec does not declare, answers 404 or 405");
        out.cases
            .push(context.case("method", method, REQUIREMENT, title, vec![call]));
    }
}
