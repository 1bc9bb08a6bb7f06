//! Serving the auth endpoints (an axum `Router`) over HTTP/1.1 on an `Acceptor`, with
//! the same accept back-off and connection limit as the gRPC listener, and with
//! deadlines that bound a slow client:
//!
//! * each request head must arrive within `handshake_timeout` from the moment the
//!   server waits for it: this closes a connection that sends nothing, one that sends
//!   its head byte by byte, and a keep-alive connection idle for that long;
//! * each whole request (body included) must be read and answered within the same
//!   time, or the connection is closed.
//!
//! Header names go out in the canonical case Go servers use (`Content-Type`), as some
//! strict clients compare them byte for byte.
//!
//! Concurrency: one accept task; one task per connection, tracked so that shutdown
//! closes the listening socket at once and then waits for open requests to end.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::{Acceptor, Conn};

/// The peer of an HTTP request (a request extension).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `router` until `stop` is cancelled, then lets open requests finish.
pub async fn serve(
    mut acceptor: Acceptor,
    router: Router,
    timeout: Duration,
    stop: CancellationToken,
) {
    let tasks = TaskTracker::new();
    loop {
        let conn = tokio::select! {
            _ = stop.cancelled() => break,
            conn = acceptor.next_conn() => conn,
        };
        tasks.spawn(serve_conn(conn, router.clone(), timeout, stop.clone()));
    }
    drop(acceptor);
    tasks.close();
    tasks.wait().await;
}

async fn serve_conn(conn: Conn, router: Router, timeout: Duration, stop: CancellationToken) {
    let peer = conn.remote_addr();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(PeerAddr(peer));
        let mut router = router.clone();
        async move {
            match tokio::time::timeout(timeout, router.call(req)).await {
                Ok(Ok(resp)) => Ok(resp),
                Ok(Err(never)) => match never {},
                Err(_) => {
                    tracing::debug!(%peer, "closing an HTTP connection whose request took too long");
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "request timed out",
                    ))
                }
            }
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .title_case_headers(true)
        .serve_connection(TokioIo::new(conn), svc);
    tokio::pin!(http);
    let res = tokio::select! {
        res = http.as_mut() => res,
        _ = stop.cancelled() => {
            http.as_mut().graceful_shutdown();
            http.await
        }
    };
    if let Err(e) = res {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}
