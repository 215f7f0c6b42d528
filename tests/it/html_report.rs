//! The HTML report as a person sees it: rendered by a real headless Chromium (from the Debian
//! package `chromium`; `.ci/run` installs it), read back through the page's rendered text
//! (`innerText`: what is on screen, closed sections left out) and computed styles.

use crate::common;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return path.into();
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!("no Chromium: `apt-get install -y chromium` (or set CHROMIUM to a Chrome binary)");
}

/// Runs `command` to its end, within `limit`; answers stdout.
fn bounded(mut command: Command, limit: Duration) -> (i32, String) {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::finish_within(child, limit)
}

/// What Chromium shows of the page `report`: its rendered text and a few computed facts, read
/// by a script in a page that frames it (the report itself has no script).
fn rendered(dir: &Path, report: &Path) -> Value {
    let probe = dir.join("probe.html");
    std::fs::write(
        &probe,
        format!(
            r#"<!DOCTYPE html><html><body><iframe id="r" src="{}" style="width:1200px;height:900px"></iframe><pre id="out"></pre>
<script>
window.onload = () => {{
  const d = document.getElementById('r').contentDocument;
  const out = {{
    title: d.title,
    text: d.body.innerText,
    verdict: d.getElementById('verdict').innerText,
    verdictBackground: getComputedStyle(d.getElementById('verdict')).backgroundColor,
    firstFailure: d.querySelector('#failures tr:nth-child(2)') ? d.querySelector('#failures tr:nth-child(2)').innerText : null,
    open: [...d.querySelectorAll('details[open]')].map(e => e.id),
    closed: d.querySelectorAll('details:not([open])').length,
    scripts: d.scripts.length,
    external: d.querySelectorAll('[src], link[href]').length,
  }};
  document.getElementById('out').textContent = JSON.stringify(out);
}};
</script></body></html>"#,
            report.file_name().unwrap().to_string_lossy()
        ),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
    ]);
    command.arg(format!("--user-data-dir={}", profile.path().display()));
    command
        .arg("--dump-dom")
        .arg(format!("file://{}", probe.display()));
    let (code, dom) = bounded(command, Duration::from_secs(90));
    assert_eq!(code, 0, "chromium failed: {dom}");
    let start =
        dom.find("<pre id=\"out\">").expect("the probe's output") + "<pre id=\"out\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn conformance(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_conformance"));
    command.current_dir(cwd).args(args).env("CI", "true");
    for (name, _) in std::env::vars() {
        if name.starts_with("CONFORMANCE_")
            || name.starts_with("INSTA_")
            || name.starts_with("GITHUB_")
        {
            command.env_remove(name);
        }
    }
    command
}

#[test]
fn the_html_report_shows_the_verdict_the_failures_first_and_the_failing_cases_open() {
    let _timed = common::timed_blocking();
    let dir = tempfile::tempdir().unwrap();
    let mut server = conformance(
        dir.path(),
        &["serve", "--port", "0", "--deviate", "update-not-persisted"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    // Kept open until the end: the server prints more lines, and a closed pipe would stop it.
    let (url, announced) = common::announced(&mut server);
    let mut run = conformance(
        dir.path(),
        &[
            "--base-url",
            &url,
            "--no-derived",
            "--report-html",
            "report.html",
        ],
    );
    run.env("CONFORMANCE_API_KEY", "sk-html-canary-93f1");
    let (code, out) = bounded(run, Duration::from_secs(120));
    let _ = server.kill();
    let _ = server.wait();
    drop(announced);
    assert_eq!(code, 1, "{out}");

    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        !html.contains("sk-html-canary-93f1"),
        "the key is never in a report"
    );
    let page = rendered(dir.path(), &dir.path().join("report.html"));
    assert_eq!(page["verdict"], "FAILING", "{page}");
    assert_eq!(
        page["verdictBackground"], "rgb(198, 40, 40)",
        "a red verdict"
    );
    assert!(page["title"].as_str().unwrap().contains("FAILING"));
    let text = page["text"].as_str().unwrap();
    assert!(text.contains("MUST"), "the score: {text}");
    let first_failure = page["firstFailure"].as_str().expect("a failures table");
    assert!(
        first_failure.starts_with("fail"),
        "failures before warnings: {first_failure}"
    );
    assert!(
        first_failure.contains("conversations/update/persists_metadata"),
        "{first_failure}"
    );
    // The failing case is open, with its request and what it got; the passing ones are closed.
    let open: Vec<&str> = page["open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        open.contains(&"case-conversations-update-persists_metadata"),
        "{open:?}"
    );
    assert!(page["closed"].as_u64().unwrap() > 10);
    assert!(
        text.contains("PATCH") || text.contains("POST"),
        "the requests are shown: {text}"
    );
    assert!(
        !text.contains("conversations/create/without_body\n"),
        "{text}"
    );
    let answered = regex::Regex::new(r#""object":\s*"conversation""#).unwrap();
    assert!(answered.is_match(text), "the answers are shown: {text}");
    // The requirements, one table per API, what every endpoint owes last.
    let heading = |api: &str| {
        text.find(&format!("\n{api}\n"))
            .unwrap_or_else(|| panic!("no heading {api}: {text}"))
    };
    assert!(heading("Conversations") < heading("Responses"), "{text}");
    assert!(heading("Responses") < heading("General"), "{text}");
    // One file: nothing to fetch, nothing that runs.
    assert_eq!(page["scripts"], 0);
    assert_eq!(page["external"], 0);
}

#[test]
fn a_passing_run_reads_passing_in_green() {
    let _timed = common::timed_blocking();
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = bounded(
        conformance(
            dir.path(),
            &["conversations/update", "--report-html", "report.html"],
        ),
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "{out}");
    let page = rendered(dir.path(), &dir.path().join("report.html"));
    assert_eq!(page["verdict"], "PASSING", "{page}");
    assert_eq!(page["verdictBackground"], "rgb(46, 125, 50)");
    assert_eq!(page["open"].as_array().unwrap().len(), 0);
    assert!(page["text"].as_str().unwrap().contains("a filtered run"));
}
