//! The composite action users add to their workflows (.github/actions/conformance): its
//! declaration is consistent, and its shell steps, run here as the runner runs them, install
//! the release binary (checking its SHA-256) or build from source when there is no release,
//! and run the suite with the default inputs and with every input set. Offline: the release is
//! a local folder reached by a file:// URL, and `cargo` is a stand-in that records its call.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const ACTION: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.github/actions/conformance");
const TAG: &str = "v0.1.0";

fn action() -> (String, Value) {
    let file = format!("{ACTION}/action.yml");
    let text = std::fs::read_to_string(&file).unwrap();
    let parsed = conformance::yaml::parse(&file, &text).unwrap_or_else(|e| panic!("{e}"));
    (text, parsed)
}

fn references(text: &str, pattern: &str) -> BTreeSet<String> {
    regex::Regex::new(pattern)
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect()
}

#[test]
fn the_action_uses_exactly_the_inputs_and_step_outputs_it_declares() {
    let (text, action) = action();
    let declared: BTreeSet<String> = action["inputs"]
        .as_object()
        .expect("inputs")
        .keys()
        .cloned()
        .collect();
    let used = references(&text, r"\binputs\.([A-Za-z0-9_-]+)");
    assert_eq!(used, declared, "inputs used vs declared");
    for required in [
        "base-url",
        "api-key-secret",
        "strict",
        "expectations",
        "target-name",
        "version",
        "args",
        "snapshots",
    ] {
        assert!(declared.contains(required), "input {required} is missing");
    }

    let steps = action["runs"]["steps"].as_array().expect("runs.steps");
    assert_eq!(action["runs"]["using"], "composite");
    let ids: BTreeSet<String> = steps
        .iter()
        .filter_map(|s| s["id"].as_str().map(String::from))
        .collect();
    let referenced = references(&text, r"\bsteps\.([A-Za-z0-9_-]+)\.outputs");
    assert!(!referenced.is_empty());
    assert!(
        referenced.is_subset(&ids),
        "{referenced:?} not all in {ids:?}"
    );
    for step in steps {
        assert!(
            step["uses"].is_string() || step["shell"] == "bash",
            "a run step needs `shell:` in a composite action: {step}"
        );
    }
    // The key goes through the environment only, never into a command line.
    let run = steps.iter().find(|s| s["id"] == "run").unwrap();
    assert_eq!(
        run["env"]["CONFORMANCE_API_KEY"],
        "${{ inputs.api-key-secret }}"
    );
    assert_eq!(text.matches("inputs.api-key-secret").count(), 1);
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload-artifact step");
    assert_eq!(upload["if"], "always()");
    assert_eq!(upload["with"]["path"], "${{ inputs.reports-dir }}");
}

/// The environment a step of the action gets: each `env:` entry with the inputs substituted
/// (an input not given is its default, as on the runner) and the `${{ github.* }}` values.
fn step_env(
    step_id: &str,
    inputs: &BTreeMap<&str, String>,
    github: &[(&str, &str)],
) -> Vec<(String, String)> {
    let (_, action) = action();
    let step = action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == step_id)
        .unwrap()
        .clone();
    let expression =
        regex::Regex::new(r"^\$\{\{ (inputs|github|steps)\.([A-Za-z0-9_.-]+) \}\}$").unwrap();
    step["env"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| {
            let value = value.as_str().unwrap();
            let captures = expression
                .captures(value)
                .unwrap_or_else(|| panic!("{value}"));
            let resolved = match &captures[1] {
                "inputs" => inputs.get(&captures[2]).cloned().unwrap_or_else(|| {
                    action["inputs"][&captures[2]]["default"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                }),
                "github" => github
                    .iter()
                    .find(|(k, _)| *k == &captures[2])
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default(),
                // Step outputs are passed by the test itself.
                _ => String::new(),
            };
            (name.clone(), resolved)
        })
        .collect()
}

/// This machine as the runner names it.
fn runner() -> (&'static str, &'static str, &'static str) {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => ("Linux", "X64", "x86_64-unknown-linux-musl"),
        ("linux", "aarch64") => ("Linux", "ARM64", "aarch64-unknown-linux-musl"),
        ("macos", "aarch64") => ("macOS", "ARM64", "aarch64-apple-darwin"),
        ("macos", "x86_64") => ("macOS", "X64", "x86_64-apple-darwin"),
        other => panic!("no release platform for {other:?}"),
    }
}

/// A release folder as the release workflow publishes it: the archive of the built binary and
/// its `.sha256`. `corrupt` publishes a checksum that does not match.
fn release(dir: &Path, corrupt: bool) -> String {
    let (_, _, platform) = runner();
    let staging = dir.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_conformance"),
        staging.join("conformance"),
    )
    .unwrap();
    let tagged = dir.join("releases").join(TAG);
    std::fs::create_dir_all(&tagged).unwrap();
    let archive = format!("conformance-{TAG}-{platform}.tar.gz");
    let status = Command::new("tar")
        .args(["-czf"])
        .arg(tagged.join(&archive))
        .arg("-C")
        .arg(&staging)
        .arg("conformance")
        .status()
        .unwrap();
    assert!(status.success());
    let output = Command::new("sha256sum")
        .arg(tagged.join(&archive))
        .output()
        .unwrap();
    let mut sum = String::from_utf8(output.stdout)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    if corrupt {
        sum = "0".repeat(64);
    }
    std::fs::write(
        tagged.join(format!("{archive}.sha256")),
        format!("{sum}  {archive}\n"),
    )
    .unwrap();
    format!("file://{}", dir.join("releases").display())
}

/// What one shell step did.
struct Step {
    code: i32,
    stdout: String,
    outputs: BTreeMap<String, String>,
}

/// Runs `script` of the action as the runner would: in `workspace`, with the step's
/// environment, the runner's variables and `extra`; nothing of this process's `CONFORMANCE_*`.
fn run_step(
    script: &str,
    workspace: &Path,
    env: &[(String, String)],
    extra: &[(&str, String)],
) -> Step {
    let (os, arch, _) = runner();
    let output_file = workspace.join("github_output");
    std::fs::write(&output_file, "").unwrap();
    let mut command = Command::new("bash");
    command
        .arg(format!("{ACTION}/{script}"))
        .current_dir(workspace)
        .env("GITHUB_ACTION_PATH", ACTION)
        .env("GITHUB_OUTPUT", &output_file)
        .env("RUNNER_OS", os)
        .env("RUNNER_ARCH", arch)
        .env("RUNNER_TEMP", workspace.join("runner_temp"))
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("INSTA_FORCE_PASS")
        .env_remove("INSTA_UPDATE");
    for (name, _) in std::env::vars() {
        if name.starts_with("CONFORMANCE_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command.envs(extra.iter().map(|(k, v)| (k, v)));
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let outputs = std::fs::read_to_string(&output_file)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Step {
        code: output.status.code().unwrap_or(-1),
        stdout,
        outputs,
    }
}

fn install(workspace: &Path, inputs: &BTreeMap<&str, String>, releases: &str, ref_: &str) -> Step {
    let env = step_env(
        "tool",
        inputs,
        &[
            ("action_ref", ref_),
            ("action_repository", "owner/openai-conformance"),
        ],
    );
    run_step(
        "install.sh",
        workspace,
        &env,
        &[("CONFORMANCE_RELEASES", releases.to_string())],
    )
}

fn run(workspace: &Path, inputs: &BTreeMap<&str, String>, bin: &str) -> Step {
    let env = step_env("run", inputs, &[]);
    run_step(
        "run.sh",
        workspace,
        &env,
        &[("CONFORMANCE", bin.to_string())],
    )
}

#[test]
fn with_its_default_inputs_the_action_installs_the_release_and_runs_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let releases = release(dir.path(), false);
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    // Only the required input; an empty base URL is unset: the embedded reference server.
    let inputs = BTreeMap::from([("base-url", String::new())]);
    let installed = install(&workspace, &inputs, &releases, TAG);
    assert_eq!(installed.code, 0, "{}", installed.stdout);
    assert!(
        installed
            .stdout
            .contains(&format!("{releases}/{TAG}/conformance-{TAG}-")),
        "{}",
        installed.stdout
    );
    assert!(!installed.stdout.contains("building it from source"));
    let bin = installed.outputs["bin"].clone();
    assert!(
        bin.starts_with(workspace.join("runner_temp").to_str().unwrap()),
        "{bin}"
    );

    let ran = run(&workspace, &inputs, &bin);
    assert_eq!(ran.code, 0, "the step ends 0 whatever the suite says");
    assert_eq!(ran.outputs["exit-code"], "0", "{}", ran.stdout);
    assert!(ran.stdout.contains("test result: ok."), "{}", ran.stdout);
    let reports = workspace.join("conformance-reports");
    for file in ["junit.xml", "report.json", "conformance.md", "badge.json"] {
        assert!(reports.join(file).is_file(), "{file} is not written");
    }
    let badge: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("badge.json")).unwrap())
            .unwrap();
    assert_eq!(badge["color"], "brightgreen", "{badge}");
}

#[tokio::test]
async fn with_every_input_set_the_action_passes_each_to_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let releases = release(dir.path(), false);
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(workspace.join("expectations")).unwrap();
    std::fs::write(
        workspace.join("expectations/acme.yaml"),
        "known_failures:\n  - id: UPD-09\n    reason: no code yet\n",
    )
    .unwrap();
    let (_server, url) = crate::common::serve(&["--api-key", "sk-action-key-5d1e"]).await;
    let inputs = BTreeMap::from([
        ("base-url", url),
        ("api-key-secret", "sk-action-key-5d1e".to_string()),
        ("strict", "true".to_string()),
        ("expectations", "expectations/acme.yaml".to_string()),
        ("target-name", "acme".to_string()),
        ("snapshots", "our-snapshots".to_string()),
        (
            "args",
            r#"--no-derived --skip "general/no_server" conversations/"#.to_string(),
        ),
        ("version", TAG.to_string()),
        ("repository", "someone/openai-conformance".to_string()),
        ("reports-dir", "out/reports".to_string()),
        ("artifact-name", "acme-conformance".to_string()),
    ]);
    // `version` wins over the ref in `uses:`.
    let installed = install(&workspace, &inputs, &releases, "main");
    assert_eq!(installed.code, 0, "{}", installed.stdout);
    let ran = run(&workspace, &inputs, &installed.outputs["bin"]);
    assert_eq!(ran.outputs["exit-code"], "0", "{}", ran.stdout);
    assert!(
        !ran.stdout.contains("sk-action-key-5d1e"),
        "the key is never printed"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace.join("out/reports/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["strict"], true, "strict");
    assert_eq!(report["target"]["name"], "acme", "target-name");
    assert!(
        report["expectations"]["file"]
            .as_str()
            .unwrap()
            .ends_with("acme.yaml"),
        "expectations"
    );
    let ids: Vec<&str> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty());
    assert!(
        ids.iter().all(|id| id.starts_with("conversations/")),
        "args: the filter {ids:?}"
    );
    // `acme` has no set under `snapshots` yet: said, and nothing recorded.
    assert!(
        ran.stdout.contains("our-snapshots/acme does not exist"),
        "snapshots: {}",
        ran.stdout
    );
}

#[test]
fn a_release_whose_checksum_does_not_match_is_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let releases = release(dir.path(), true);
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let installed = install(&workspace, &BTreeMap::new(), &releases, TAG);
    assert_eq!(installed.code, 2, "{}", installed.stdout);
    assert!(
        installed.stdout.contains("does not match the published"),
        "{}",
        installed.stdout
    );
    assert!(!installed.outputs.contains_key("bin"));
}

#[test]
fn without_a_release_the_action_builds_its_own_copy_with_cargo_into_a_fixed_place() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("workspace");
    let fake = dir.path().join("fake-bin");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::create_dir_all(&fake).unwrap();
    // A stand-in for `cargo install`: records its arguments, puts the built binary at --root.
    let calls = dir.path().join("cargo-calls");
    std::fs::write(
        fake.join("cargo"),
        format!(
            "#!/usr/bin/env bash\necho \"$@\" >> '{}'\nwhile [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=\"$2\"; shift; done\nmkdir -p \"$root/bin\" && cp '{}' \"$root/bin/conformance\"\n",
            calls.display(),
            env!("CARGO_BIN_EXE_conformance")
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(fake.join("cargo"))
        .status()
        .unwrap();
    let env = step_env(
        "tool",
        &BTreeMap::new(),
        &[
            ("action_ref", "main"),
            ("action_repository", "owner/openai-conformance"),
        ],
    );
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    let installed = run_step("install.sh", &workspace, &env, &[("PATH", path)]);
    assert_eq!(installed.code, 0, "{}", installed.stdout);
    assert!(
        installed.stdout.contains("building it from source"),
        "{}",
        installed.stdout
    );
    let call = std::fs::read_to_string(&calls).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .unwrap();
    assert!(call.contains("install --locked --root"), "{call}");
    assert!(
        call.trim_end()
            .ends_with(&format!("--path {}", root.display())),
        "{call}"
    );
    assert!(installed.outputs["bin"].ends_with("/bin/conformance"));
}
