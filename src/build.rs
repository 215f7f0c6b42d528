//! Three things the build knows that would otherwise cost every run time or tie the binary to
//! this checkout:
//! - Every file under `specs/` and `cases/` is embedded (`$OUT_DIR/bundle.rs`, read by
//!   `crate::bundle`), so an installed binary runs the suite from any folder. The folders are
//!   walked, so a file added under them is embedded with no code change.
//! - insta finds the workspace by running `cargo metadata` at the first snapshot, under a lock
//!   every test thread then waits on (tens of milliseconds, and noise where no cargo is
//!   installed). This package is its own workspace: tell insta so at compile time.
//! - Parsing `specs/openapi.yaml` is most of the start-up. The build parses it once, with the
//!   same loader, into `$OUT_DIR/openapi.json`; `Spec::load` uses that only when the file it
//!   reads is byte for byte the one built with, and parses the YAML itself otherwise. The
//!   embedded spec's fingerprint (`$OUT_DIR/spec.hash`) is computed here too.

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

#[path = "spec/hash.rs"]
mod hash;

#[path = "spec/prose.rs"]
mod prose;

use std::path::{Path, PathBuf};

/// The folders embedded in the binary, relative to the package root.
const BUNDLED: &[&str] = &["specs", "cases"];

fn main() {
    let Ok(root) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    println!("cargo:rustc-env=INSTA_WORKSPACE_ROOT={root}");
    println!("cargo:rerun-if-changed=src/build.rs");
    println!("cargo:rerun-if-changed=src/yaml.rs");
    println!("cargo:rerun-if-changed=src/secret.rs");
    println!("cargo:rerun-if-changed=src/untrusted.rs");
    println!("cargo:rerun-if-changed=src/spec/hash.rs");
    println!("cargo:rerun-if-changed=src/spec/prose.rs");
    println!("cargo:rerun-if-changed=specs/openapi.yaml");
    let Ok(out) = std::env::var("OUT_DIR") else {
        return;
    };
    let root = Path::new(&root);
    let mut table = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for folder in BUNDLED {
        // A folder makes cargo rerun the build on any change below it.
        println!("cargo:rerun-if-changed={folder}");
        let mut files = Vec::new();
        walk(&root.join(folder), &mut files);
        files.sort();
        for file in files {
            let relative = file.strip_prefix(root).unwrap_or(&file);
            let name: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            table.push_str(&format!(
                "    ({:?}, include_bytes!({:?})),\n",
                name.join("/"),
                file.display().to_string()
            ));
        }
    }
    table.push_str("];\n");
    write(&Path::new(&out).join("bundle.rs"), &table);

    let source = root.join("specs/openapi.yaml");
    // A file that does not parse gets an empty form: the run parses it and reports where.
    let parsed = std::fs::read_to_string(&source)
        .ok()
        .and_then(|text| yaml::parse::<serde_json::Value>("openapi.yaml", &text).ok())
        .map(|mut value| {
            prose::without_prose(&mut value);
            value.to_string()
        })
        .unwrap_or_default();
    write(&Path::new(&out).join("openapi.json"), &parsed);

    // The embedded spec's fingerprint, as `Spec::load` computes it of any other.
    let text =
        |name: &str| std::fs::read_to_string(root.join("specs").join(name)).unwrap_or_default();
    let fingerprint = hash::fnv1a([
        &text("openapi.yaml"),
        &text("overlay.yaml"),
        &text("requirements.yaml"),
    ]);
    write(&Path::new(&out).join("spec.hash"), &fingerprint);
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        println!("cargo:warning={}: cannot write: {e}", path.display());
    }
}
