//! Two things the build knows that would otherwise cost every run time:
//! - insta finds the workspace by running `cargo metadata` at the first snapshot, under a lock
//!   every test thread then waits on (tens of milliseconds, and noise where no cargo is
//!   installed). This package is its own workspace: tell insta so at compile time.
//! - Parsing `specs/openapi.yaml` is most of the start-up. The build parses it once, with the
//!   same loader, into `$OUT_DIR/openapi.json`; `Spec::load` uses that only when the file it
//!   reads is byte for byte the one built with, and parses the YAML itself otherwise.

#[allow(dead_code)]
#[path = "yaml.rs"]
mod yaml;

// What the loader's messages use.
#[allow(dead_code)]
#[path = "secret.rs"]
mod secret;
#[allow(dead_code)]
#[path = "untrusted.rs"]
mod untrusted;

use std::path::Path;

fn main() {
    let Ok(root) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    println!("cargo:rustc-env=INSTA_WORKSPACE_ROOT={root}");
    println!("cargo:rerun-if-changed=src/build.rs");
    println!("cargo:rerun-if-changed=src/yaml.rs");
    println!("cargo:rerun-if-changed=src/secret.rs");
    println!("cargo:rerun-if-changed=src/untrusted.rs");
    println!("cargo:rerun-if-changed=specs/openapi.yaml");
    let Ok(out) = std::env::var("OUT_DIR") else {
        return;
    };
    let source = Path::new(&root).join("specs/openapi.yaml");
    // A file that does not parse gets an empty form: the run parses it and reports where.
    let parsed = std::fs::read_to_string(&source)
        .ok()
        .and_then(|text| yaml::parse::<serde_json::Value>("openapi.yaml", &text).ok())
        .map(|value| value.to_string())
        .unwrap_or_default();
    if let Err(e) = std::fs::write(Path::new(&out).join("openapi.json"), parsed) {
        println!("cargo:warning=cannot write the parsed spec: {e}");
    }
}
