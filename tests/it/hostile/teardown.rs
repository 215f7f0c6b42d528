//! Cleanup that must happen whatever happens: failing and timed-out cases, Ctrl-C and SIGTERM.

use super::*;

// ---------------------------------------------------------------- cleanup

/// What the counting server saw.
#[derive(Debug, Default)]
struct Counts {
    /// Conversations created and not deleted, with their metadata.
    live: BTreeMap<String, Value>,
    created: usize,
    deleted: usize,
    updates: usize,
    gets: usize,
}

/// A conversations server that counts live conversations; it can answer every other update
/// with a wrong status and delay its retrieves and deletes.
#[derive(Clone, Default)]
struct Counting {
    counts: Arc<Mutex<Counts>>,
    fail_every_other_update: bool,
    get_delay: Duration,
    delete_delay: Duration,
}

impl Counting {
    async fn start(self) -> (MockServer, Arc<Mutex<Counts>>) {
        let server = MockServer::start().await;
        let counts = Arc::clone(&self.counts);
        Mock::given(any()).respond_with(self).mount(&server).await;
        (server, counts)
    }
}

impl Respond for Counting {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut counts = self.counts.lock().unwrap();
        let id = request
            .url
            .path()
            .strip_prefix("/v1/conversations/")
            .map(str::to_string);
        let body = |id: &str, metadata: &Value| json!({"id": id, "object": "conversation", "created_at": now(), "metadata": metadata});
        match (request.method.as_str(), id) {
            ("POST", None) => {
                counts.created += 1;
                let id = format!("conv_{:048x}", counts.created);
                counts.live.insert(id.clone(), json!({}));
                json_response(200, body(&id, &json!({})))
            }
            ("POST", Some(id)) => {
                counts.updates += 1;
                if self.fail_every_other_update && counts.updates.is_multiple_of(2) {
                    return error(409, "not now");
                }
                let sent: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                match counts.live.get_mut(&id) {
                    Some(metadata) => {
                        *metadata = sent["metadata"].clone();
                        json_response(200, body(&id, metadata))
                    }
                    None => error(404, "no such conversation"),
                }
            }
            ("GET", Some(id)) => match counts.live.get(&id) {
                // Slow on what it holds; an unknown id (the harness's first request) is quick.
                Some(metadata) => {
                    let answer = json_response(200, body(&id, metadata));
                    counts.gets += 1;
                    answer.set_delay(self.get_delay)
                }
                None => error(404, "no such conversation"),
            },
            ("DELETE", Some(id)) => match counts.live.remove(&id) {
                Some(_) => {
                    counts.deleted += 1;
                    json_response(200, deleted(&id)).set_delay(self.delete_delay)
                }
                None => error(404, "no such conversation"),
            },
            _ => error(404, "no such path"),
        }
    }
}

const PERSISTS_METADATA: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/cases/conversations/update/persists_metadata.yaml"
));

#[tokio::test]
async fn what_failing_cases_created_is_deleted_all_the_same() {
    let names: Vec<String> = (0..6).map(|i| format!("update_{i}.yaml")).collect();
    let cases: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), PERSISTS_METADATA))
        .collect();
    let fixture = Fixture::new(&cases);
    let (server, counts) = Counting {
        fail_every_other_update: true,
        ..Default::default()
    }
    .start()
    .await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(1);
    run.assert_contains("expected status 200, got 409");
    run.assert_contains("test result: FAILED. 3 passed; 3 failed");
    let counts = counts.lock().unwrap();
    assert_eq!(counts.created, 6);
    assert_eq!(counts.deleted, 6);
    assert!(counts.live.is_empty(), "left behind: {:?}", counts.live);
}

#[tokio::test]
async fn what_a_timed_out_case_created_is_deleted() {
    let case = "requirement: RET-01\nsteps:\n- operation: createConversation\n  capture: {conv: $}\n\
                - operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n  expect: {status: 200}\n";
    let fixture = Fixture::new(&[("slow.yaml", case)]);
    let (server, counts) = Counting {
        get_delay: Duration::from_secs(30),
        ..Default::default()
    }
    .start()
    .await;
    let run = fixture.run(&base(&server), &["--timeout", "1"]).await;
    run.assert_code(4);
    run.assert_contains("inconclusive: no complete answer within the timeout of 1 s (--timeout)");
    run.assert_within(Duration::from_secs(15));
    let counts = counts.lock().unwrap();
    // Caught in trouble, the case ran once more before it was called inconclusive.
    assert_eq!((counts.created, counts.deleted), (2, 2));
    assert!(counts.live.is_empty());
}

#[tokio::test]
async fn ctrl_c_stops_new_cases_cleans_up_the_running_ones_and_exits_130() {
    // Interrupted while three cases wait on their slow retrieve.
    let (run, counts, _) = signalled_run(&[libc::SIGINT], Duration::ZERO).await;
    run.assert_code(130);
    run.assert_contains("interrupted: no new case starts");
    run.assert_contains("interrupted (Ctrl-C) before step 3; the rest of the case did not run");
    run.assert_contains("not run: interrupted (Ctrl-C)");
    run.assert_contains(
        "interrupted (Ctrl-C): 3 cases ran and deleted the 3 resources they had created \
         (failed deletes are in the notes); 6 cases did not run",
    );
    assert_eq!(counts.gets, 3, "no step may start after Ctrl-C");
    assert_eq!((counts.created, counts.deleted), (3, 3));
    assert!(counts.live.is_empty(), "left behind: {:?}", counts.live);
}

/// Starts 9 slow cases 3 at a time against a counting server, and once three wait on their
/// slow retrieve sends `signals` (one after the other); answers the run, the counts and the
/// JSON report's text (`None`: not written). The server takes `delete_delay` to delete.
async fn signalled_run(
    signals: &[libc::c_int],
    delete_delay: Duration,
) -> (Run, Counts, Option<String>) {
    let case =
        "requirement: RET-01\nsteps:\n- operation: createConversation\n  capture: {conv: $}\n\
                - operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n\
                - operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n";
    let names: Vec<String> = (0..9).map(|i| format!("slow_{i}.yaml")).collect();
    let cases: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), case)).collect();
    let fixture = Fixture::new(&cases);
    let (server, counts) = Counting {
        get_delay: Duration::from_secs(2),
        delete_delay,
        ..Default::default()
    }
    .start()
    .await;
    let json = fixture.path().join("reports/report.json");
    let json_flag = json.display().to_string();
    let mut command = fixture.command(
        &base(&server),
        &["--test-threads", "3", "--report-json", &json_flag],
        &[],
    );
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let _timed = timed().await;
    let started = std::time::Instant::now();
    let child = command.spawn().unwrap();
    while counts.lock().unwrap().gets < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no case started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().expect("running") as libc::pid_t;
    for &signal in signals {
        // SAFETY: kill only sends a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the harness ends after the signal")
        .unwrap();
    let run = Run::new(output, started.elapsed());
    let counts = std::mem::take(&mut *counts.lock().unwrap());
    (run, counts, std::fs::read_to_string(&json).ok())
}

#[tokio::test]
async fn sigterm_stops_like_ctrl_c_cleans_up_writes_the_reports_and_exits_143() {
    let (run, counts, report) = signalled_run(&[libc::SIGTERM], Duration::ZERO).await;
    run.assert_code(143);
    run.assert_contains("interrupted: no new case starts");
    run.assert_contains("terminated (SIGTERM): 3 cases ran and deleted the 3 resources");
    assert_eq!((counts.created, counts.deleted), (3, 3));
    assert!(counts.live.is_empty(), "left behind: {:?}", counts.live);
    let report: Value = serde_json::from_str(&report.expect("the report is written")).unwrap();
    assert!(
        report["notes"].to_string().contains("terminated (SIGTERM)"),
        "{report}"
    );
}

#[tokio::test]
async fn a_second_signal_quits_at_once_and_leaves_no_cut_report() {
    // The cleanup takes seconds: the second signal comes while it runs, however late this test
    // gets to send it on a busy machine.
    let (run, _, report) =
        signalled_run(&[libc::SIGINT, libc::SIGINT], Duration::from_secs(3)).await;
    run.assert_code(130);
    run.assert_contains("interrupted again: quitting without cleanup");
    // Written whole or not at all: never an empty or cut file.
    if let Some(report) = report {
        serde_json::from_str::<Value>(&report).expect("a whole report");
    }
}
