//! The reference server: a strict, stateful, in-memory implementation of the OpenAI
//! Conversations API that follows the requirements catalogue
//! (`conversations-contract.md`) to the letter. The suite runs against it by default.
//!
//! All routes live under `/v1` and need `Authorization: Bearer <key>`. Every answer, errors
//! included, is JSON with `Content-Type: application/json`; every 4xx carries
//! `{"error": {"message", "type", "param", "code"}}`.
//!
//! Where the catalogue is silent, the server decides as follows:
//! - Auth is checked first, on every path (so an unknown path without a key answers 401).
//!   A header with another scheme than `Bearer`, or an empty key, counts as no key. A wrong key
//!   is shown masked: first 3 and last 4 characters (`sk-...abcd`) for keys of 20 characters or
//!   more, `***` otherwise.
//! - Unknown paths, and known paths with another method, answer 404 `Invalid URL (METHOD path)`.
//! - `Content-Type` is not looked at: a body that parses as JSON is accepted. An empty body is
//!   the same as `{}` (so an empty update answers "missing metadata"); a body that is not a JSON
//!   object (including `null`, arrays, invalid UTF-8, nesting deeper than 128) answers the
//!   "could not parse the JSON body" error. Bodies over 1 MiB answer 413 with
//!   `code: "request_too_large"`.
//! - Requests are validated (query, then body) before the conversation is looked up, so an
//!   invalid body sent to an unknown conversation answers 400, a valid one 404.
//! - Unknown body fields and unknown query parameters answer 400 `unknown_parameter`.
//!   `include` is accepted on list, create items and retrieve item, as `include=v` or
//!   `include[]=v`, repeatable; valid values change nothing (message items carry no optional
//!   data). For `limit`, `order` and `after` the last occurrence counts; `after=` (empty) is
//!   ignored.
//! - `limit` that is not an integer answers `invalid_type` ("expected an integer, but got a
//!   string/decimal instead"); integers outside 1..=100 answer `integer_below_min_value` /
//!   `integer_above_max_value`.
//! - `after` naming no item of the conversation answers 404 `Item with id '<id>' not found in
//!   conversation.` with `param: "after"`.
//! - An empty item list has `first_id` and `last_id` equal to `""` (the spec requires strings).
//! - Metadata checks run in this order, each over all pairs in the order sent: type of
//!   `metadata`, number of pairs, key lengths, value types, value lengths. A too-long key is
//!   shown in the message as its first 12 and last 4 characters around `...`; `param` carries
//!   the whole key. Lengths count characters, not bytes. A value's JSON type is named
//!   `an integer`, `a decimal`, `a boolean`, `an object`, `an array` or `null`.
//! - Update replaces the metadata; `null` empties it.
//! - Items: create accepts `items: []` or `null`; adding items needs 1 to 20 (`[]` answers
//!   `empty_array`). Only message items are stored (`EasyInputMessage` or a message `Item`);
//!   any other `type` answers `invalid_value` on `items[N].type`. Parts: `input_text`,
//!   `input_image`, `input_file` for user/system/developer, `output_text` and `refusal` for
//!   assistant. A given `id` or `status` is checked and then ignored: the server assigns
//!   `msg_` + 48 hex and stores `status: "completed"`. `phase` is kept.
//! - Item delete answers the parent conversation. Deleting a conversation drops its items.
//! - Limits ([`Limits`], flags of `conformance serve`): a request target over 8 KiB answers 414,
//!   headers over 16 KiB or 64 fields 431, a body over 1 MiB 413, a body not in within the
//!   body timeout 408, each with the error object. Headers not in within the header timeout
//!   (also the idle limit of a kept-alive connection) close the connection. Past
//!   `max_connections`, or out of descriptors, the oldest connection not answering a request
//!   is closed ([`listener`]). The store holds at most `max_conversations` conversations,
//!   `max_items_per_conversation` items each and `max_stored_bytes` of JSON; past a limit new
//!   data answers 429 (`conversation_limit_reached`, `item_limit_reached`,
//!   `storage_limit_reached`), nothing stored is dropped. A request the HTTP layer cannot
//!   parse at all (or a head over 4 times those limits) gets its bare 400 or 431.
//!
//! [`ServerConfig::deviations`] switches on known deviations of real servers ([`Deviation`]),
//! each changing the server in one way; with none, nothing above changes.
//!
//! Errors invented here (the live texts are unknown): `request_too_large` (413),
//! `empty_array`, the `input_image`/`input_file` source checks, and the non-message item text.

mod answer;
mod chat;
mod deviation;
mod embeddings;
mod error;
mod http;
mod items;
mod listener;
mod model;
mod models;
mod responses;
mod store;
mod stream;
mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use deviation::Deviations;
use store::Store;

pub use deviation::{Deviation, UnknownDeviation};
pub(crate) use model::NAME as MODEL;
pub use store::StoreLimits;

/// How the reference server behaves.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// The one accepted bearer key; `None` accepts any non-empty key.
    pub api_key: Option<String>,
    /// Known deviations of real servers to imitate; none for the reference behaviour.
    pub deviations: Vec<Deviation>,
    /// Added before every answer, to see how a run fares against a remote server.
    pub latency: std::time::Duration,
    pub limits: Limits,
}

/// What one client can take of the server: time, connections and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub store: StoreLimits,
    /// To receive a request's headers; also how long a kept-alive connection may sit idle.
    pub header_timeout: Duration,
    /// To receive a request's body, once its headers are in; past it the answer is 408.
    pub body_timeout: Duration,
    /// Connections served at once. A new one past it takes the place of the connection idle
    /// (or still sending its headers) the longest; with none idle it is closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            store: StoreLimits::default(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

/// The server's state, shared by every handler.
pub(crate) struct App {
    pub(crate) config: ServerConfig,
    pub(crate) deviations: Deviations,
    pub(crate) store: Store,
    pub(crate) responses: responses::Responses,
    pub(crate) chat: chat::Completions,
    /// For the load deviations: how the server has been asked so far.
    pub(crate) load: http::Load,
}

impl App {
    fn deviates(&self, d: Deviation) -> bool {
        self.deviations.deviates(d)
    }
}

fn app(config: ServerConfig) -> Arc<App> {
    let deviations = Deviations::new(&config.deviations);
    let store = Store::new(deviations, config.limits.store);
    Arc::new(App {
        config,
        deviations,
        store,
        responses: responses::Responses::default(),
        chat: chat::Completions::default(),
        load: http::Load::default(),
    })
}

/// A server started by [`spawn`]. Dropping it shuts the server down gracefully (open requests
/// finish; the listener closes).
#[derive(Debug)]
pub struct RunningServer {
    base_url: String,
    local_addr: SocketAddr,
    _shutdown: oneshot::Sender<()>,
}

impl RunningServer {
    /// `http://<addr>/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

async fn bind(host: &str, port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((host, port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = config.limits;
    listener::serve(listener, app(config), limits, shutdown).await
}

/// Binds `host:port` (port 0 picks a free one) and serves in a task on the current tokio
/// runtime until the returned [`RunningServer`] is dropped.
pub async fn spawn(config: ServerConfig, host: &str, port: u16) -> std::io::Result<RunningServer> {
    let (listener, local_addr) = bind(host, port).await?;
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, config, async move {
        // Resolves when the sender is dropped.
        let _ = rx.await;
    }));
    Ok(RunningServer {
        base_url: format!("http://{local_addr}/v1"),
        local_addr,
        _shutdown: tx,
    })
}

/// Binds `host:port`, calls `on_ready` with the bound address, and serves until Ctrl-C, then
/// shuts down gracefully. Prints nothing.
pub async fn serve_until_ctrl_c(
    config: ServerConfig,
    host: &str,
    port: u16,
    on_ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let (listener, addr) = bind(host, port).await?;
    on_ready(addr);
    serve(listener, config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
