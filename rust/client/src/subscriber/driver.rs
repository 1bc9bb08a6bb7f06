//! The task behind one subscription: open, read, reconnect, close.
//!
//! Reconnects follow the publisher's rules (`ClientConfig::reconnect_tick` and
//! `reconnect_timeout`): after a stream breaks the first attempt is immediate, later
//! ones come every tick, and when the outage has lasted `reconnect_timeout` the
//! subscription ends with a timeout error. Errors that retrying cannot fix (unknown
//! topics, permissions, bad requests) end it at once. A server that ends the stream
//! cleanly is reconnected to as well (pyensign does the same).
//!
//! Closing: the request body sends the acks still queued and half-closes; then the
//! response is dropped, which resets (cancels) the HTTP/2 stream, the only thing that
//! makes the server stop sending (semantics.md §5).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::stream::{self, Opened};
use super::{Closing, Shared};
use crate::error::{Error, Result};

/// How long a closing stream may take to hand its last acks to the transport.
const ACK_FLUSH_GRACE: Duration = Duration::from_secs(1);

/// Resolves when the subscription is asked to close; says how.
async fn closed(own: &mut watch::Receiver<Closing>, client: &mut watch::Receiver<bool>) -> Closing {
    let own_closed = async {
        own.wait_for(|c| *c != Closing::Open)
            .await
            .map(|c| *c)
            .unwrap_or(Closing::Discard)
    };
    let client_closed = async {
        if client.wait_for(|c| *c).await.is_err() {
            // The client handle is gone but this subscription lives on.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        how = own_closed => how,
        () = client_closed => Closing::Drain,
    }
}

/// Ends the subscription if its task stops without doing so (a panic, or the runtime
/// shutting down), so that consumers get an error instead of waiting forever.
struct EndGuard(Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.counters.active.fetch_sub(1, Ordering::Relaxed);
        // A no-op after a normal end (the first end wins).
        self.0.inbox.finish(Err(Error::Protocol(
            "the subscription stopped unexpectedly".into(),
        )));
        self.0.done.send_replace(true);
        self.0.changed.notify_waiters();
    }
}

/// Runs the subscription until it is closed or fails for good.
pub async fn run(shared: Arc<Shared>, mut client_closed: watch::Receiver<bool>) {
    shared.counters.active.fetch_add(1, Ordering::Relaxed);
    let _guard = EndGuard(shared.clone());
    let mut own = shared.closing.subscribe();
    let cfg = shared.cfg.clone();
    let mut gen = 0u32;
    let mut outage: Option<Instant> = None;
    let end: Result<()> = 'life: loop {
        gen += 1;
        shared.out.lock().gen = gen;
        let attempt = tokio::select! {
            r = stream::open(&shared, gen) => r,
            how = closed(&mut own, &mut client_closed) => break 'life close_end(&shared, how),
        };
        let err = match attempt {
            Ok(Opened { mut replies, ready }) => {
                shared.set_ready(&ready);
                let opened_at = Instant::now();
                let read = tokio::select! {
                    r = stream::read(&shared, &mut replies) => r,
                    how = closed(&mut own, &mut client_closed) => {
                        finish_stream(&shared, gen).await;
                        drop(replies);
                        break 'life close_end(&shared, how);
                    }
                };
                if shared.inbox.is_finished() {
                    // The consumer discarded the buffer; the close request follows.
                    let how = closed(&mut own, &mut client_closed).await;
                    finish_stream(&shared, gen).await;
                    drop(replies);
                    break 'life close_end(&shared, how);
                }
                drop(replies);
                match read {
                    Ok(()) => {
                        tracing::warn!("the server ended the subscribe stream; reconnecting");
                        outage = Some(Instant::now());
                        // A server that keeps ending streams at once is not hammered.
                        if opened_at.elapsed() < cfg.reconnect_tick {
                            if let Some(how) = pause(&shared, &mut own, &mut client_closed).await {
                                break 'life close_end(&shared, how);
                            }
                        }
                        continue;
                    }
                    Err(e) if e.is_transient() => {
                        tracing::warn!("subscribe stream broke ({e}); reconnecting");
                        outage = Some(Instant::now());
                        continue;
                    }
                    Err(e) => break 'life Err(e),
                }
            }
            Err(e) => e,
        };
        // Opening failed.
        let since = *outage.get_or_insert_with(Instant::now);
        if !err.is_transient() {
            break Err(err);
        }
        if since.elapsed() >= cfg.reconnect_timeout {
            break Err(Error::Timeout(format!(
                "could not reconnect to Ensign before the reconnect timeout ({:?}): {err}",
                cfg.reconnect_timeout
            )));
        }
        tracing::info!(
            "subscribe stream not available ({err}); retrying in {:?}",
            cfg.reconnect_tick
        );
        if let Some(how) = pause(&shared, &mut own, &mut client_closed).await {
            break close_end(&shared, how);
        }
    };
    if let Err(e) = &end {
        tracing::warn!("subscription to {} ended: {e}", shared.label);
    }
    shared.inbox.finish(end);
    {
        let mut out = shared.out.lock();
        out.ending = true;
        out.frames.clear();
        out.gen = u32::MAX;
    }
    shared.done.send_replace(true);
    shared.changed.notify_waiters();
}

/// Sleeps one reconnect tick, unless the subscription is closed first.
async fn pause(
    shared: &Shared,
    own: &mut watch::Receiver<Closing>,
    client: &mut watch::Receiver<bool>,
) -> Option<Closing> {
    tokio::select! {
        _ = tokio::time::sleep(shared.cfg.reconnect_tick) => None,
        how = closed(own, client) => Some(how),
    }
}

/// How a closed subscription ends for its consumer.
fn close_end(shared: &Shared, how: Closing) -> Result<()> {
    if how == Closing::Discard {
        shared.inbox.discard();
    }
    Ok(())
}

/// Lets the outbound stream of `gen` send its queued acks and half-close (bounded),
/// so that dropping the response afterwards cancels the stream.
async fn finish_stream(shared: &Shared, gen: u32) {
    let waker = {
        let mut out = shared.out.lock();
        out.ending = true;
        out.take_waker()
    };
    if let Some(w) = waker {
        w.wake();
    }
    let flushed = async {
        loop {
            let changed = shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if shared.out.lock().ended_gen >= gen {
                return;
            }
            changed.await;
        }
    };
    let _ = tokio::time::timeout(ACK_FLUSH_GRACE, flushed).await;
}
