//! End-to-end self-tests: the built `conformance` binary against wiremock servers that break
//! one check each (the harness must fail, saying why) and servers that honour it (it must pass).
//! Transport faults, cleanup, secrets and broken inputs are in `hostile`.

mod checks;
mod derived;
mod reports;
mod selection;

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};
