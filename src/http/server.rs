//! The connection loop: HTTP/1.1 and HTTP/2 on a TCP listener, with a bound on how
//! long a client may take to send a request head, and a drain with a deadline.
//!
//! `axum::serve` has neither: a client that sends half a request head and stops
//! holds its connection (and a shutdown) forever. Here a head must arrive within
//! the request timeout, like a body, and a shutdown closes idle connections at
//! once, lets requests in flight finish, and drops whatever is left at the deadline.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::AtomicI64;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// One open connection on the gauge, for as long as it lives (however its task ends).
struct Held(Gauge<i64, AtomicI64>);

impl Held {
    fn new(gauge: Gauge<i64, AtomicI64>) -> Self {
        gauge.inc();
        Held(gauge)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains: every
/// connection is asked to close after its current request, and any still open
/// after `drain` is dropped. `head_timeout` bounds the arrival of each request head;
/// `open` counts the connections held.
pub async fn run(
    listener: TcpListener,
    router: Router,
    head_timeout: Duration,
    drain: Duration,
    open: Gauge<i64, AtomicI64>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (closing, _) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, or a connection reset before accept: wait
                // a moment instead of spinning.
                tracing::warn!(error = %crate::report::Chain(&e), "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req.map(axum::body::Body::new)
        });
        let mut closing = closing.subscribe();
        let held = Held::new(open.clone());
        connections.spawn(async move {
            let _held = held;
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(head_timeout);
            builder.http2().timer(TokioTimer::new());
            let service = TowerToHyperService::new(service);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %crate::report::Chain(&*e), "connection ended with an error");
                    }
                    return;
                }
                _ = closing.changed() => {}
            }
            // Idle connections close at once; a request in flight finishes first.
            conn.as_mut().graceful_shutdown();
            let _ = conn.as_mut().await;
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let drained =
        tokio::time::timeout(drain, async { while connections.join_next().await.is_some() {} })
            .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open at the drain deadline were closed"
        );
        connections.abort_all();
    }
}
