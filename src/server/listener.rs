//! The reference server's connections: HTTP/1.1 over TCP, bounded so that slow or idle
//! clients cannot starve the others.
//!
//! A request's headers must arrive within [`Limits::header_timeout`], which also bounds how long
//! a kept-alive connection may sit idle; its body within [`Limits::body_timeout`] (see the
//! handler). At most [`Limits::max_connections`] connections are served at once: when that
//! many are open, or the process has no descriptor left to accept with, the oldest connection
//! that is not answering a request (idle, or still sending its headers) is closed to make
//! room; with none such, the new one is closed.
//! So a client that sends its request promptly is served even while hundreds of connections
//! trickle their headers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::http::{self, MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_URI_BYTES};
use super::{App, Limits};

/// An open connection, as the accept loop sees it.
struct Open {
    id: u64,
    /// A request of it is being answered.
    busy: Arc<AtomicBool>,
    /// Closes it.
    evict: Arc<Notify>,
}

type OpenConnections = Arc<Mutex<VecDeque<Open>>>;

pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // Above the handler's own limits, so that a client meets those, which answer the
        // error object (the HTTP layer's own 431 has no body).
        .max_headers(4 * MAX_HEADER_COUNT)
        .max_buf_size(4 * (MAX_HEADER_BYTES + MAX_URI_BYTES));
    let open: OpenConnections = Arc::default();
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return Ok(()),
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // Out of descriptors (or another passing failure): make room, then go on.
                evict_idlest(&open);
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        // Small JSON answers: do not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let at_limit = lock(&open).len() >= limits.max_connections.max(1);
        if at_limit && !evict_idlest(&open) {
            // Every connection is answering a request: this one waits for none.
            continue;
        }
        next_id += 1;
        let (id, busy, evict) = (next_id, Arc::default(), Arc::new(Notify::new()));
        lock(&open).push_back(Open {
            id,
            busy: Arc::clone(&busy),
            evict: Arc::clone(&evict),
        });
        let (app, open, builder) = (Arc::clone(&app), Arc::clone(&open), builder.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                let (app, busy) = (Arc::clone(&app), Arc::clone(&busy));
                busy.store(true, Ordering::SeqCst);
                async move {
                    let request = request.map(axum::body::Body::new);
                    let response = http::handle(State(app), request).await;
                    busy.store(false, Ordering::SeqCst);
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = builder.serve_connection(TokioIo::new(tcp), service);
            tokio::select! {
                _ = connection => {}
                () = evict.notified() => {}
            }
            lock(&open).retain(|o| o.id != id);
        });
    }
}

/// Closes the oldest connection that is not answering a request; false when every one is.
fn evict_idlest(open: &OpenConnections) -> bool {
    let mut open = lock(open);
    let Some(at) = open.iter().position(|o| !o.busy.load(Ordering::SeqCst)) else {
        return false;
    };
    if let Some(idlest) = open.remove(at) {
        idlest.evict.notify_one();
    }
    true
}

fn lock(open: &OpenConnections) -> std::sync::MutexGuard<'_, VecDeque<Open>> {
    open.lock().unwrap_or_else(PoisonError::into_inner)
}
