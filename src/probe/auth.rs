//! Authorization on every operation: without an `Authorization` header, and with an empty
//! bearer (`Authorization: Bearer `), each operation answers 401 (GEN-04), on a resource that
//! exists and with a valid body, so that nothing but the key can explain another answer.

use super::{status, Context, Probes};

/// The requirement every authorization probe checks.
pub const REQUIREMENT: &str = "GEN-04";

pub fn probes(context: &Context, out: &mut Probes) {
    let op = &context.op.id;
    let variants: [(&str, &str, Option<&str>); 2] = [
        ("no_header", "without an Authorization header", None),
        ("empty_bearer", "with an empty bearer", Some("Bearer ")),
    ];
    for (variant, what, header) in variants {
        let mut call = context.call(1, what, REQUIREMENT, status(&[401]));
        call.auth = false;
        if let Some(value) = header {
            call.headers.push(("Authorization".into(), value.into()));
        }
        let title = format!("{op} {what} answers 401");
        out.cases
            .push(context.case("auth", variant, REQUIREMENT, title, vec![call]));
    }
}
