//! The harness's integration tests, one module per subject, in one binary (one link, one
//! process): `cargo test --test it MODULE::` runs one subject, e.g. `hostile::`.
//! The reference server's black-box tests are `tests/reference_server/`; the bundled suite
//! under libtest is `tests/conformance.rs`.

#[path = "../common/mod.rs"]
mod common;

mod action;
mod cleanup;
mod command_line;
mod deviations;
mod fuzz;
mod hostile;
mod html_report;
mod insta;
mod install;
mod many_defects;
mod probes;
mod schemas;
mod selftest;
mod spec;
mod stream_checks;
