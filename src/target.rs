//! The server under test: a base URL, one shared HTTP client, the credentials to send, and,
//! when no base URL is given, the embedded reference server started on a loopback port.

use crate::request_log::RequestLog;
use crate::secret::Secrets;
use std::path::PathBuf;
use std::time::Duration;

/// What is wrong with the target as configured, or why it cannot be reached for a start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetError {
    #[error("--header `{0}`: write it as 'Name: value'")]
    HeaderShape(String),
    #[error("--header `{spec}`: `{name}` is not a header name")]
    HeaderName { spec: String, name: String },
    #[error("--header {name}: the harness sets {owned} itself; leave it out")]
    HarnessHeader { name: String, owned: &'static str },
    #[error("--header {name}: environment variable `{var}` is not set")]
    HeaderVariableUnset { name: String, var: String },
    /// CR or LF would end the header and start another (or the body): refused, not sent.
    #[error(
        "--header {name}: the value{from} holds a control character (CR, LF, ...): give it on \
         one line"
    )]
    HeaderControlCharacter { name: String, from: String },
    #[error("base URL `{url}` is not a URL: {error}")]
    NotUrl { url: String, error: String },
    /// They would travel as Basic auth next to the key, and show in every message.
    #[error(
        "base URL `{host}` holds a user or password: give the key in CONFORMANCE_API_KEY, or a \
         header with --header 'Authorization: env:VAR'"
    )]
    Credentials { host: String },
    /// Every request path would be appended after it (`/v1?key=…/conversations`).
    #[error(
        "base URL `{0}…` has a query or a fragment: give the URL ending in /v1 alone, the key \
         in CONFORMANCE_API_KEY and other credentials with --header 'Name: env:VAR'"
    )]
    QueryOrFragment(String),
    #[error("base URL `{0}` must start with http:// or https://")]
    Scheme(String),
    #[error("base URL `{0}` must end in /v1 (for example http://localhost:8000/v1)")]
    NotV1(String),
    #[error(
        "--header {0}: CONFORMANCE_API_KEY is set, and the harness sends it as `Authorization: \
         Bearer …`; give one or the other"
    )]
    AuthorizationTwice(String),
    #[error("--timeout must be more than 0 seconds")]
    ZeroTimeout,
    /// What every request carries could not be made a request (the checks above let it by).
    #[error("{0}")]
    Unsendable(String),
    #[error("--record-requests {}: give a file in an existing folder", .0.display())]
    RecordRequestsFolder(PathBuf),
    #[error("--record-requests {}: cannot create the file: {error}", .path.display())]
    RecordRequestsFile {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot start the reference server: {0}")]
    ReferenceServer(std::io::Error),
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
}

/// Where to send requests and what to send with them, as the user configured it.
#[derive(Debug, Clone)]
pub(crate) struct TargetConfig {
    /// Ends in `/v1`; `None` starts the embedded reference server.
    pub base_url: Option<String>,
    /// Sent as `Authorization: Bearer <key>`; only ever read from `CONFORMANCE_API_KEY`.
    pub api_key: Option<String>,
    /// Extra headers; values given as `env:VAR` are read from the environment and secret.
    pub headers: Vec<HeaderConfig>,
    pub timeout: Duration,
    /// Names the target's snapshot set (`snapshots/<name>/`).
    pub name: Option<String>,
    /// Accept invalid TLS certificates (explicit, and printed with the results).
    pub insecure: bool,
    /// Log every request sent to this file, one JSON line each ([`crate::request_log`]).
    pub record_requests: Option<PathBuf>,
    /// The model the cases send (`{{model}}`), `--model`.
    pub model: String,
    /// The model the embeddings cases send (`{{embedding_model}}`), `--embedding-model`;
    /// `model` when not given.
    pub embedding_model: Option<String>,
}

/// The model the cases send when none is named: the reference server's built-in one.
pub(crate) const DEFAULT_MODEL: &str = crate::server::MODEL;

#[derive(Debug, Clone)]
pub(crate) struct HeaderConfig {
    pub name: String,
    pub value: String,
    /// `Some(VAR)` when the value came from `env:VAR`: it is redacted and curl shows `$VAR`.
    pub from_env: Option<String>,
}

impl Default for TargetConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            name: None,
            insecure: false,
            record_requests: None,
            model: DEFAULT_MODEL.to_owned(),
            embedding_model: None,
        }
    }
}

/// Headers the harness writes itself: one given with `--header` would contradict it.
/// `Authorization` is the harness's too when a key is set (see [`TargetConfig::validate`]).
const HARNESS_HEADERS: &[&str] = &[
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Content-Type",
    "Accept-Encoding",
];

impl HeaderConfig {
    /// Parses `Name: value`; a value `env:VAR` is read from the environment now.
    pub fn parse(spec: &str) -> Result<Self, TargetError> {
        let (name, value) = spec
            .split_once(':')
            .ok_or_else(|| TargetError::HeaderShape(spec.to_owned()))?;
        let name = name.trim();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            return Err(TargetError::HeaderName {
                spec: spec.to_owned(),
                name: name.to_owned(),
            });
        }
        if let Some(owned) = HARNESS_HEADERS
            .iter()
            .find(|owned| owned.eq_ignore_ascii_case(name))
        {
            return Err(TargetError::HarnessHeader {
                name: name.to_owned(),
                owned,
            });
        }
        let value = value.trim();
        let (value, from_env) = match value.strip_prefix("env:") {
            Some(var) => {
                let read = std::env::var(var).map_err(|_| TargetError::HeaderVariableUnset {
                    name: name.to_owned(),
                    var: var.to_owned(),
                })?;
                (read, Some(var.to_string()))
            }
            None => (value.to_string(), None),
        };
        if value.chars().any(|c| c.is_control() && c != '\t') {
            let from = from_env
                .as_ref()
                .map_or_else(String::new, |var| format!(" (from `{var}`)"));
            return Err(TargetError::HeaderControlCharacter {
                name: name.to_owned(),
                from,
            });
        }
        Ok(Self {
            name: name.to_string(),
            value,
            from_env,
        })
    }
}

/// A base URL as messages show it: without a query or fragment, and without a user or
/// password, which may hold credentials (even when the URL does not parse).
fn shown_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if scheme.is_empty() => format!("…{}", &rest[at..]),
        Some(at) => format!("{scheme}://…{}", &rest[at..]),
        None => url.to_string(),
    }
}

impl TargetConfig {
    /// The base URL as reports show it: without a query, which may hold credentials.
    pub fn display_url(&self) -> String {
        let url = self.base_url.as_deref().unwrap_or_default();
        match reqwest::Url::parse(url) {
            Ok(mut parsed) => {
                parsed.set_query(None);
                parsed.set_fragment(None);
                parsed.to_string().trim_end_matches('/').to_string()
            }
            Err(_) => url.to_string(),
        }
    }

    /// Checks the base URL before anything runs.
    pub fn validate(&self) -> Result<(), TargetError> {
        if let Some(given) = &self.base_url {
            let url = shown_url(given);
            let parsed = match reqwest::Url::parse(given) {
                Ok(parsed) => parsed,
                Err(error) => {
                    let error = error.to_string();
                    return Err(TargetError::NotUrl { url, error });
                }
            };
            if !parsed.username().is_empty() || parsed.password().is_some() {
                let host = parsed.host_str().unwrap_or_default().to_owned();
                return Err(TargetError::Credentials { host });
            }
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(TargetError::QueryOrFragment(url));
            }
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(TargetError::Scheme(url));
            }
            if !parsed.path().trim_end_matches('/').ends_with("/v1") {
                return Err(TargetError::NotV1(url));
            }
        }
        if self.api_key.is_some() {
            if let Some(header) = self
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("authorization"))
            {
                return Err(TargetError::AuthorizationTwice(header.name.clone()));
            }
        }
        if self.timeout.is_zero() {
            return Err(TargetError::ZeroTimeout);
        }
        if let Some(file) = &self.record_requests {
            let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
            if file.is_dir() || folder.is_some_and(|f| !f.is_dir()) {
                return Err(TargetError::RecordRequestsFolder(file.clone()));
            }
        }
        Ok(())
    }

    pub fn secrets(&self) -> Secrets {
        let mut secrets = Secrets::default();
        if let Some(key) = &self.api_key {
            secrets.add(key);
        }

        for header in self.headers.iter().filter(|h| h.from_env.is_some()) {
            secrets.add(&header.value);
        }
        secrets
    }
}

/// A connected target: ready to send.
/// Counters of a degraded run.
#[derive(Debug, Default)]
pub(crate) struct RunStats {
    /// Requests sent again (a 429 waited out, a failed request on a fresh connection).
    pub retries: std::sync::atomic::AtomicUsize,
    /// Times the target stopped answering and the run waited for it.
    pub stalls: std::sync::atomic::AtomicUsize,
    /// The fewest cases run at a time because the target struggled (0: never lowered).
    pub lowest_concurrency: std::sync::atomic::AtomicUsize,
}

pub(crate) struct Target {
    pub base_url: String,
    pub client: reqwest::Client,
    /// The same client without connection reuse, for retries.
    pub fresh_client: reqwest::Client,
    /// How the run went for the target: retries and stalls, for the report.
    pub stats: RunStats,
    pub config: TargetConfig,
    pub secrets: Secrets,
    /// `Authorization: Bearer <key>` as sent, built once.
    pub auth_header: Option<String>,
    /// What every request starts from: the base URL parsed, the headers as header values.
    pub fixed: crate::run::Fixed,
    pub request_log: Option<RequestLog>,
    /// Keeps the embedded server alive as long as the target.
    pub reference: Option<crate::server::RunningServer>,
}

/// Makes ring the process's TLS crypto provider, which reqwest takes: call it before building
/// any `reqwest::Client` (the build has no other provider, so without it reqwest panics).
pub fn install_tls_provider() {
    // Another caller may have installed it already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Target {
    /// Builds the one client of the process and, without a base URL, starts the reference
    /// server on an ephemeral loopback port. Must run inside the tokio runtime.
    pub async fn connect(config: TargetConfig) -> Result<Self, TargetError> {
        install_tls_provider();
        let client = Self::client(&config, reqwest::Client::builder())?;
        // Retries of a request that failed on a reused connection go out on a new one.
        let fresh_client = Self::client(
            &config,
            reqwest::Client::builder().pool_max_idle_per_host(0),
        )?;
        let (base_url, reference) = match &config.base_url {
            Some(url) => (url.trim_end_matches('/').to_string(), None),
            None => {
                let server = crate::server::spawn(
                    crate::server::ServerConfig {
                        api_key: config.api_key.clone(),
                        ..Default::default()
                    },
                    "127.0.0.1",
                    0,
                )
                .await
                .map_err(TargetError::ReferenceServer)?;
                (server.base_url().to_string(), Some(server))
            }
        };
        let mut config = config;
        if config.base_url.is_none() && config.api_key.is_none() {
            // The reference server wants a key; any will do, and it is a secret like any other.
            config.api_key = Some(format!("sk-conformance-{:016x}", rand::random::<u64>()));
        }
        let secrets = config.secrets();
        crate::untrusted::install_secrets(&secrets);
        let request_log = config
            .record_requests
            .as_deref()
            .map(|path| {
                RequestLog::create(path).map_err(|error| TargetError::RecordRequestsFile {
                    path: path.to_owned(),
                    error,
                })
            })
            .transpose()?;
        let auth_header = config.api_key.as_ref().map(|key| format!("Bearer {key}"));
        let fixed = crate::run::Fixed::new(&base_url, auth_header.as_deref(), &config.headers)
            .map_err(TargetError::Unsendable)?;
        Ok(Self {
            base_url,
            client,
            fresh_client,
            stats: RunStats::default(),
            auth_header,
            fixed,
            config,
            secrets,
            request_log,
            reference,
        })
    }

    fn client(
        config: &TargetConfig,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::Client, TargetError> {
        let plain_http = config
            .base_url
            .as_deref()
            .is_none_or(|url| url.to_ascii_lowercase().starts_with("http://"));
        if plain_http {
            // Every request goes to the base URL (redirects are not followed), so a plain-HTTP
            // target never needs certificates; loading the system's roots takes milliseconds.
            builder = builder.tls_certs_only([]);
        }
        builder
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            // A conformant API never redirects; following one could carry the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(config.insecure)
            // The harness does not decompress: a compressed answer is then the server's fault.
            .default_headers(reqwest::header::HeaderMap::from_iter([(
                reqwest::header::ACCEPT_ENCODING,
                reqwest::header::HeaderValue::from_static("identity"),
            )]))
            .user_agent(concat!("conformance/", env!("CARGO_PKG_VERSION")))
            // Small JSON requests: without this, Nagle's algorithm and delayed ACKs can hold
            // a POST body back for tens of milliseconds.
            .tcp_nodelay(true)
            .build()
            .map_err(TargetError::Client)
    }

    pub fn is_reference(&self) -> bool {
        self.reference.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_from_the_environment_are_secret() {
        std::env::set_var("CONFORMANCE_TEST_HEADER_VALUE", "tenant-secret-9");
        let header = HeaderConfig::parse("X-Tenant: env:CONFORMANCE_TEST_HEADER_VALUE").unwrap();
        assert_eq!(header.value, "tenant-secret-9");
        let config = TargetConfig {
            headers: vec![header, HeaderConfig::parse("X-Plain: visible").unwrap()],
            ..Default::default()
        };
        assert_eq!(
            config.secrets().redact("tenant-secret-9 visible"),
            "[redacted] visible"
        );
    }

    #[test]
    fn bad_headers_and_urls_say_how_to_fix_them() {
        assert!(HeaderConfig::parse("NoColon")
            .unwrap_err()
            .to_string()
            .contains("'Name: value'"));
        assert!(HeaderConfig::parse("X: env:CONFORMANCE_SURELY_UNSET")
            .unwrap_err()
            .to_string()
            .contains("`CONFORMANCE_SURELY_UNSET` is not set"));
        let config = TargetConfig {
            base_url: Some("http://localhost:8000".into()),
            ..Default::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("must end in /v1"));
    }

    #[test]
    fn credentials_stay_out_of_the_base_url_and_the_reports() {
        let config = TargetConfig {
            base_url: Some("https://api.example.com/v1/?api-key=k".into()),
            ..Default::default()
        };
        assert_eq!(config.display_url(), "https://api.example.com/v1");
        let config = TargetConfig {
            base_url: Some("https://user:pa55word@api.example.com/v1".into()),
            ..Default::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("holds a user or password"), "{err}");
        assert!(!err.contains("pa55word"), "{err}");
        for given in [
            "http://host/v1?api-key=s3cret",
            "http://host/v1#s3cret",
            "http://u:s3cret@host/v1?x=1",
            "http://u:s3cret@[nope/v1",
            "nope?s3cret",
        ] {
            let config = TargetConfig {
                base_url: Some(given.into()),
                ..Default::default()
            };
            let err = config.validate().unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{given}: {err}");
        }
        assert_eq!(shown_url("http://u:p@h:1/v1?k=v"), "http://…@h:1/v1");
    }
}
