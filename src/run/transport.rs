//! Sending a request and reading its answer: retries of a dropped connection and of a 429,
//! bounded bodies and streams, and transport trouble told apart from a server's fault.

use super::request::build;
use crate::case::Step;
use crate::check::Response;
use crate::request_log::RequestLog;
use crate::spec::Level;
use crate::target::Target;
use crate::template::Vars;
use crate::verdict::{Finding, FindingKind, StepRecord};
use reqwest::header::HeaderMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The most of a body the harness reads; a larger one fails the step instead of filling memory.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Builds the request of a step, sends it and reads the answer (at most [`MAX_BODY_BYTES`]).
/// `origin` (case id, number of the request in the case) names it in the request log.
pub(super) async fn send(
    step: &Step,
    target: &Target,
    vars: &Vars,
    origin: (&str, usize),
) -> (StepRecord, Result<Response, Finding>) {
    let started = Instant::now();
    let target_failure = |summary: String| Finding {
        requirement: None,
        level: Level::Must,
        kind: FindingKind::Target,
        summary,
        details: Vec::new(),
        step: None,
        cause: None,
    };
    let built = match build(step, target, vars) {
        Ok(built) => built,
        Err(e) => {
            let record = StepRecord {
                label: step.label.clone(),
                at: step.at.clone(),
                request_line: format!("{} {}", step.method, step.path),
                curl: super::Curl::Unbuilt,
                status: None,
                answer: None,
                elapsed: Duration::ZERO,
            };
            return (
                record,
                Err(target_failure(format!("cannot build the request: {e}"))),
            );
        }
    };
    // Redacted where they are written (the failure message, the reports), not for every step.
    let mut record = StepRecord {
        label: step.label.clone(),
        at: step.at.clone(),
        request_line: format!("{} {}", step.method, built.url),
        curl: built.curl,
        status: None,
        answer: None,
        elapsed: Duration::ZERO,
    };
    let idempotent = matches!(step.method.as_str(), "GET" | "HEAD" | "DELETE" | "PUT");
    let expects_429 = step
        .expect
        .status
        .as_ref()
        .is_some_and(|codes| codes.contains(&429));
    let mut status = None;
    let mut fresh_connection = false;
    let mut rate_limited = 0;
    let mut first = Some(built.request);
    let mut result = loop {
        // A request sent again is built again (the same: building is deterministic), rather
        // than every request copied for the rare retry.
        let again = || build(step, target, vars).map(|built| built.request);
        let request = match first.take().map_or_else(again, Ok) {
            Ok(request) => request,
            Err(e) => {
                break Err(Failure {
                    text: format!("cannot build the request again: {e}"),
                    transport: false,
                })
            }
        };
        let once = attempt(step, target, request, origin, fresh_connection, &mut status).await;
        match &once {
            // A reused connection the server had closed, a reset: an idempotent request is
            // sent once more, on a connection of its own.
            Err(failure) if failure.transport && idempotent && !fresh_connection => {
                fresh_connection = true;
            }
            Ok(answer) if answer.status == 429 && !expects_429 => {
                if rate_limited == MAX_RATE_LIMITED_RETRIES {
                    break Err(Failure {
                        text: format!(
                            "rate limited: still 429 after {rate_limited} retries (waiting as Retry-After said, at most {} s each)",
                            MAX_RETRY_AFTER.as_secs()
                        ),
                        transport: true,
                    });
                }
                rate_limited += 1;
                tokio::time::sleep(retry_after(&answer.headers)).await;
            }
            _ => break once,
        }
        target.stats.retries.fetch_add(1, Ordering::Relaxed);
    };
    // A DELETE sent again after its first attempt got no answer: a 404 may say that the first
    // one went through, so the answer cannot be judged.
    let deleted_by_first_attempt = fresh_connection
        && step.method == "DELETE"
        && matches!(&result, Ok(answer) if answer.status == 404)
        && !step
            .expect
            .status
            .as_ref()
            .is_some_and(|codes| codes.contains(&404));
    if deleted_by_first_attempt {
        result = Err(Failure {
            text: "the DELETE got no answer and was sent again, and the second answered 404: \
                   the first may have deleted it"
                .into(),
            transport: true,
        });
    }
    record.elapsed = started.elapsed();
    // The target answered, even when its body then failed: it is reachable.
    record.status = status;
    if let Ok(response) = &result {
        record.answer = Some(response.body.clone());
    }
    match result {
        Ok(response) => (record, Ok(response)),
        Err(failure) => (
            record,
            Err(Finding {
                kind: if failure.transport {
                    FindingKind::Inconclusive
                } else {
                    FindingKind::Target
                },
                ..target_failure(target.secrets.redact(&failure.text))
            }),
        ),
    }
}

/// How often a 429 is waited out before the step is inconclusive, and the longest wait.
const MAX_RATE_LIMITED_RETRIES: usize = 3;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Why a request got no usable answer; `transport`: no answer to judge (inconclusive).
struct Failure {
    text: String,
    transport: bool,
}

/// How long a 429 asks to wait: `retry-after-ms`, else `Retry-After` in seconds (a date counts
/// as one second), bounded by 10 s.
pub fn retry_after(headers: &HeaderMap) -> Duration {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let wait = read("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| read("retry-after"))
        .unwrap_or(1.0);
    Duration::from_secs_f64(wait.min(MAX_RETRY_AFTER.as_secs_f64()))
}

/// The longest pause between two chunks of a streamed answer.
const STREAM_EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one request and reads its answer (at most [`MAX_BODY_BYTES`]).
async fn attempt(
    step: &Step,
    target: &Target,
    request: reqwest::Request,
    origin: (&str, usize),
    fresh_connection: bool,
    status: &mut Option<u16>,
) -> Result<Response, Failure> {
    let timeout = target.config.timeout;
    let transport = |e: reqwest::Error| Failure {
        text: describe_error(e, timeout),
        transport: true,
    };
    let unusable = |text: String| Failure {
        text,
        transport: false,
    };
    let logged = target.request_log.as_ref().map(|_| {
        RequestLog::begin(
            origin.0,
            origin.1,
            &request,
            &target.base_url,
            target.auth_header.as_deref().filter(|_| step.auth),
            &target.secrets,
        )
    });
    let client = if fresh_connection {
        &target.fresh_client
    } else {
        &target.client
    };
    let result = async {
        let mut response = client.execute(request).await.map_err(transport)?;
        *status = Some(response.status().as_u16());
        // The answer's own map: nothing reads the response's headers after this.
        let headers = std::mem::take(response.headers_mut());
        if let Some(coding) = content_coding(&headers) {
            return Err(unusable(format!(
                "unusable answer: its body is encoded with `Content-Encoding: {coding}`, although \
                 the request asked for none (`Accept-Encoding: identity`); the harness does not decode it"
            )));
        }
        // An answer in one chunk (most are) is kept as it came, not copied.
        let (mut chunks, mut length) = (Vec::<bytes::Bytes>::new(), 0);
        // A stream is bounded per event too: a server that stops sending mid-stream fails by
        // the time it was given for one event, not only by the whole request's timeout.
        let per_event = timeout.min(STREAM_EVENT_TIMEOUT);
        loop {
            let chunk = if step.stream {
                tokio::time::timeout(per_event, response.chunk())
                    .await
                    .map_err(|_| Failure {
                        text: format!(
                            "the stream sent nothing for {} s (the bound of one event) after {} bytes",
                            per_event.as_secs_f64(),
                            length
                        ),
                        transport: true,
                    })?
            } else {
                response.chunk().await
            };
            let Some(chunk) = chunk.map_err(transport)? else {
                break;
            };
            if length + chunk.len() > MAX_BODY_BYTES {
                return Err(unusable(format!(
                    "the body is larger than {} MiB; stopped reading (a Conversations answer is small)",
                    MAX_BODY_BYTES / 1024 / 1024
                )));
            }
            length += chunk.len();
            chunks.push(chunk);
        }
        let body = match chunks.len() {
            1 => chunks.pop().unwrap_or_default(),
            _ => chunks.concat().into(),
        };
        // The answer is checked as it came: a secret it echoes is redacted where it is shown
        // (excerpts, messages, reports, snapshots, the request log), never before a check.
        Ok(Response::new(response.status().as_u16(), headers, body))
    }
    .await;
    if let (Some(log), Some(entry)) = (&target.request_log, logged) {
        let answer = result.as_ref().ok().map(|r| (r.status, &r.body[..]));
        log.finish(entry, answer, &target.secrets);
    }
    result
}

/// The content coding of an answer, unless it is none (`identity`).
fn content_coding(headers: &HeaderMap) -> Option<String> {
    let coding = headers.get(reqwest::header::CONTENT_ENCODING)?;
    let coding = String::from_utf8_lossy(coding.as_bytes())
        .trim()
        .to_string();
    (!coding.is_empty() && !coding.eq_ignore_ascii_case("identity")).then_some(coding)
}

/// What lies under a transport error, read from the kinds in its chain of sources (an
/// `io::ErrorKind`, hyper's and rustls' own errors), never from the wording of its message.
#[derive(Debug, PartialEq, Eq)]
enum Underneath {
    Refused,
    Reset,
    Closed,
    Certificate,
    Unknown,
}

fn underneath(error: &(dyn std::error::Error + 'static)) -> Underneath {
    use std::io::ErrorKind;
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => return Underneath::Refused,
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
                    return Underneath::Reset
                }
                ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe => return Underneath::Closed,
                _ => {}
            }
            // An io error's `source` skips the error it wraps (rustls' among them).
            if let Some(wrapped) = io.get_ref() {
                next = Some(wrapped);
                continue;
            }
        }
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            if is_certificate(tls) {
                return Underneath::Certificate;
            }
        }
        if let Some(http) = error.downcast_ref::<hyper::Error>() {
            if http.is_incomplete_message() || http.is_closed() {
                return Underneath::Closed;
            }
        }
        next = error.source();
    }
    Underneath::Unknown
}

/// A TLS error about the certificate, ours or the server's.
fn is_certificate(error: &rustls::Error) -> bool {
    use rustls::AlertDescription as Alert;
    match error {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::InvalidCertRevocationList(_) => true,
        rustls::Error::AlertReceived(alert) => matches!(
            alert,
            Alert::BadCertificate
                | Alert::UnsupportedCertificate
                | Alert::NoCertificate
                | Alert::CertificateRevoked
                | Alert::CertificateExpired
                | Alert::CertificateUnknown
                | Alert::CertificateRequired
                | Alert::BadCertificateStatusResponse
                | Alert::BadCertificateHashValue
                | Alert::CertificateUnobtainable
        ),
        _ => false,
    }
}

/// One line that says why no (complete) answer came.
pub fn describe_error(e: reqwest::Error, timeout: Duration) -> String {
    use std::error::Error as _;
    let mut root = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        root = inner.to_string();
        source = inner.source();
    }
    let underneath = underneath(&e);
    if e.is_timeout() {
        format!(
            "no complete answer within the timeout of {} s (--timeout)",
            timeout.as_secs_f64()
        )
    } else if underneath == Underneath::Certificate {
        format!(
            "TLS: the certificate is not trusted ({root}); --insecure skips the check, for test servers only"
        )
    } else if e.is_connect() && underneath == Underneath::Refused {
        format!("cannot connect to the target: nothing listens there ({root})")
    } else if e.is_connect() {
        format!("cannot connect to the target: {root}")
    } else if underneath == Underneath::Reset {
        format!("the target reset the connection before the answer was complete ({root})")
    } else if e.is_body() || e.is_decode() || underneath == Underneath::Closed {
        format!("the target closed the connection before the answer was complete ({root})")
    } else {
        format!("the request failed: {root}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose source is `inner`, as reqwest and hyper wrap theirs.
    #[derive(Debug)]
    struct Wrapping(Box<dyn std::error::Error + Send + Sync>);

    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }

    fn under(inner: std::io::Error) -> Underneath {
        underneath(&Wrapping(Box::new(inner)))
    }

    #[test]
    fn transport_errors_are_told_apart_by_kind_not_by_wording() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            under(ErrorKind::ConnectionRefused.into()),
            Underneath::Refused
        );
        assert_eq!(under(ErrorKind::ConnectionReset.into()), Underneath::Reset);
        assert_eq!(
            under(ErrorKind::ConnectionAborted.into()),
            Underneath::Reset
        );
        let eof = Error::new(
            ErrorKind::UnexpectedEof,
            "end of file before message length reached",
        );
        assert_eq!(under(eof), Underneath::Closed);
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            under(Error::new(ErrorKind::InvalidData, tls.clone())),
            Underneath::Certificate
        );
        // As tokio-rustls and hyper pass it on: an io error wrapping the io error.
        let nested = Error::other(Error::new(ErrorKind::InvalidData, tls));
        assert_eq!(under(nested), Underneath::Certificate);
        // The words alone decide nothing.
        let worded = Error::other("connection refused, reset and closed; bad certificate");
        assert_eq!(under(worded), Underneath::Unknown);
        let other_tls = Error::new(ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(under(other_tls), Underneath::Unknown);
    }

    #[tokio::test]
    async fn a_port_nothing_listens_on_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = listener.local_addr().expect("its address");
        drop(listener);
        crate::target::install_tls_provider();
        let client = reqwest::Client::new();
        let error = client
            .get(format!("http://{address}/v1/conversations"))
            .send()
            .await
            .expect_err("nothing listens there");
        assert_eq!(underneath(&error), Underneath::Refused);
        let text = describe_error(error, Duration::from_secs(1));
        assert!(
            text.starts_with("cannot connect to the target: nothing listens there ("),
            "{text}"
        );
    }

    #[test]
    fn retry_after_reads_milliseconds_then_seconds_and_is_bounded() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, reqwest::header::HeaderValue::from_static(value));
            }
            map
        };
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250"), ("retry-after", "3")])),
            Duration::from_millis(250)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "9999")])),
            MAX_RETRY_AFTER
        );
        assert_eq!(retry_after(&headers(&[])), Duration::from_secs(1));
    }
}
