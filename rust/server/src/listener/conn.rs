//! One accepted connection: it holds a slot of its listener until dropped, and closes
//! itself when the peer is too slow to start (handshake deadline) or, on the gRPC
//! listener, when it has had no open request for `idle_timeout`.
//!
//! Both checks live in `poll_read`: the server polls a connection's read side whenever
//! it waits for the peer, so a timer registered there wakes the connection task, and a
//! read error (handshake) or end of stream (idle) makes the server drop it.
//!
//! Concurrency: a `Conn` is owned by its connection task. `Activity` is shared with the
//! request tasks (through `ConnInfo`), which count open requests in an atomic and wake
//! the connection through an `AtomicWaker` when the last one ends.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::{bump, ListenerStats};

/// The client connection preface of HTTP/2 (RFC 9113 §3.4) plus a frame header.
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;

/// Open requests of one connection and since when it has had none.
#[derive(Debug)]
pub struct Activity {
    open: AtomicUsize,
    idle_since: Mutex<Instant>,
    waker: AtomicWaker,
}

impl Activity {
    fn new() -> Self {
        Activity {
            open: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            waker: AtomicWaker::new(),
        }
    }

    /// Marks a request open until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> ActivityGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        ActivityGuard(self.clone())
    }

    /// When the connection becomes idle-closable, or `None` while a request is open.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        (self.open.load(Ordering::Acquire) == 0).then(|| *self.idle_since.lock() + idle)
    }
}

/// Keeps its connection's request count up while alive.
#[derive(Debug)]
pub struct ActivityGuard(Arc<Activity>);

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        // The idle clock restarts before the count reaches zero, so a reader that sees
        // zero never sees an old `idle_since`.
        *self.0.idle_since.lock() = Instant::now();
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.waker.wake();
        }
    }
}

/// What the request handlers learn about their connection (a request extension).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub remote_addr: SocketAddr,
    pub local_addr: Option<SocketAddr>,
    pub activity: Arc<Activity>,
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

/// The HTTP/2 preface and the client's first SETTINGS frame, not yet fully received.
struct Handshake {
    deadline: Pin<Box<Sleep>>,
    received: usize,
    /// Bytes the handshake needs: the preface and a frame header, then the SETTINGS
    /// payload whose length the header gives.
    needed: usize,
    length: [u8; 3],
}

impl Handshake {
    fn feed(&mut self, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            let at = self.received + i;
            if (PREFACE_LEN..PREFACE_LEN + 3).contains(&at) {
                self.length[at - PREFACE_LEN] = *b;
            }
        }
        let before = self.received;
        self.received += bytes.len();
        let header_end = PREFACE_LEN + FRAME_HEADER_LEN;
        if before < header_end && self.received >= header_end {
            let [a, b, c] = self.length;
            self.needed = header_end + u32::from_be_bytes([0, a, b, c]) as usize;
        }
    }

    fn done(&self) -> bool {
        self.received >= self.needed
    }
}

/// An accepted TCP connection with its limits.
pub struct Conn {
    io: TcpStream,
    info: ConnInfo,
    handshake: Option<Handshake>,
    idle_timeout: Option<Duration>,
    idle_timer: Pin<Box<Sleep>>,
    closed: bool,
    stats: Arc<ListenerStats>,
    _slot: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.info.remote_addr)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// `handshake`: deadline for the HTTP/2 preface and first SETTINGS frame (gRPC
    /// listener only); `idle_timeout`: close after this long without an open request.
    pub(crate) fn new(
        io: TcpStream,
        remote_addr: SocketAddr,
        slot: OwnedSemaphorePermit,
        stats: Arc<ListenerStats>,
        handshake: Option<Duration>,
        idle_timeout: Option<Duration>,
    ) -> Self {
        stats.open.fetch_add(1, Ordering::Relaxed);
        let info = ConnInfo {
            remote_addr,
            local_addr: io.local_addr().ok(),
            activity: Arc::new(Activity::new()),
        };
        Conn {
            io,
            info,
            handshake: handshake.map(|t| Handshake {
                deadline: Box::pin(tokio::time::sleep(t)),
                received: 0,
                needed: PREFACE_LEN + FRAME_HEADER_LEN,
                length: [0; 3],
            }),
            idle_timeout,
            idle_timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            closed: false,
            stats,
            _slot: slot,
        }
    }

    pub fn remote_addr(&self) -> SocketAddr {
        self.info.remote_addr
    }

    fn handshake_timed_out(&mut self) -> Poll<io::Result<()>> {
        bump(&self.stats.handshake_timeouts);
        tracing::debug!(peer = %self.info.remote_addr, "closing a connection that did not complete its handshake in time");
        self.closed = true;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "handshake timed out",
        )))
    }

    /// Polls the idle timer; `true` when the connection has been idle long enough.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(idle) = self.idle_timeout else {
            return false;
        };
        let activity = &self.info.activity;
        activity.waker.register(cx.waker());
        let Some(deadline) = activity.idle_deadline(idle) else {
            return false;
        };
        if self.idle_timer.deadline() != deadline {
            self.idle_timer.as_mut().reset(deadline);
        }
        self.idle_timer.as_mut().poll(cx).is_ready()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.closed {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut me.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Some(h) = &mut me.handshake {
                    h.feed(&buf.filled()[before..]);
                    if h.done() {
                        me.handshake = None;
                    } else if h.deadline.is_elapsed() {
                        return me.handshake_timed_out();
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some(h) = &mut me.handshake {
                    if h.deadline.as_mut().poll(cx).is_ready() {
                        return me.handshake_timed_out();
                    }
                }
                if me.idle_expired(cx) {
                    bump(&me.stats.idle_closed);
                    tracing::debug!(peer = %me.info.remote_addr, "closing an idle connection");
                    me.closed = true;
                    // End of stream: the server drops the connection as if the peer left.
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
