//! `_core.Subscription`: the Python handle on one Rust subscription.
//!
//! One FFI call per page: `poll` (non-blocking) and `next_batch` (awaitable, or blocking
//! with `waiter=None`) hand back up to `max` ready events as a list of `Event`s, built
//! by `received.rs`.
//! Acks queued by Python since the last call ride along in the same call (`acks`), so
//! the per-event cost of `event.ack()` is a `list.append`.
//!
//! Concurrency: every method runs on the calling thread with the GIL held and never
//! waits, except `next_batch`/`ready`/`close`/`wait_connected`, which wait on the
//! runtime (through the notifier, or blocking with the GIL released). The subscription's
//! own task runs on the runtime and never touches Python.

use ensign_client::subscriber::{Pop, Reply};
use ensign_client::SubscribeOptions;
use ensign_proto::api;
use prost::Message;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::bridge::Waiter;
use crate::client::{run, take_when_ready, Client};
use crate::conversion::received::{build_events, log_warnings, MAX_PAGE};
use crate::errors::to_py;
use crate::query::build_query;
use crate::runtime::runtime;

/// Turns the Python ack queue (`bytes` for an ack, `(bytes, code)` for a nack) into
/// replies, sends them in one go and empties the list.
fn flush_acks(sub: &ensign_client::Subscription, acks: &Bound<'_, PyList>) -> PyResult<()> {
    let n = acks.len();
    if n == 0 {
        return Ok(());
    }
    let items: Vec<Bound<'_, PyAny>> = acks.iter().collect();
    let mut replies = Vec::with_capacity(n);
    let mut nacks = Vec::new();
    for item in &items {
        if let Ok(b) = item.cast::<PyBytes>() {
            replies.push(Reply::Ack(b.as_bytes()));
        } else {
            let t = item.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err("acks are bytes (ack) or (bytes, code) tuples (nack)")
            })?;
            let (id, code): (Vec<u8>, i32) = t.extract()?;
            nacks.push((id, code));
        }
    }
    for (id, code) in &nacks {
        replies.push(Reply::Nack {
            id,
            code: *code,
            error: "",
        });
    }
    sub.send(&replies);
    acks.del_slice(0, n)?;
    Ok(())
}

/// A live subscription (see `pyensign_fast.subscription`).
#[pyclass(frozen, module = "pyensign_fast._core", name = "Subscription")]
pub struct Subscription {
    inner: ensign_client::Subscription,
}

/// Pops up to `max` events as `Event`s: a list (maybe empty), or `None` at the end.
fn pop_events<'py>(
    py: Python<'py>,
    inner: &ensign_client::Subscription,
    max: usize,
    sub: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    // Builds `Event`s in Python and logs: Python code under our frames (see `exiting`).
    let _calls = crate::exiting::CallsGuard::enter(py);
    let mut out = Vec::new();
    let popped = inner.pop(max.clamp(1, MAX_PAGE), &mut out);
    log_warnings(py, inner.take_warnings())?;
    match popped.map_err(to_py)? {
        Pop::Ended => Ok(None),
        Pop::Empty => Ok(Some(PyList::empty(py).into_any())),
        Pop::Events(_) => build_events(py, out, sub).map(Some),
    }
}

#[pymethods]
impl Subscription {
    /// Starts a subscription on `client` (the stream opens in the background).
    /// `topics`: names, ULID strings or name hashes; `query`/`params`: an EnSQL filter
    /// with `(name, kind, value)` parameters, kind one of `i d b y s`; `group`: an
    /// encoded `ConsumerGroup`; buffer sizes of 0 mean the defaults.
    #[new]
    #[pyo3(signature = (client, topics, query=None, params=None, group=None,
        buffer_events=0, buffer_bytes=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        client: &Bound<'_, Client>,
        topics: Vec<String>,
        query: Option<String>,
        params: Option<&Bound<'_, PyAny>>,
        group: Option<&[u8]>,
        buffer_events: usize,
        buffer_bytes: usize,
    ) -> PyResult<Self> {
        let client = client.get();
        client.check_fork()?;
        let query = match query.filter(|q| !q.trim().is_empty()) {
            Some(q) => Some(build_query(&q, params, false)?),
            None => None,
        };
        let group = group
            .map(api::ConsumerGroup::decode)
            .transpose()
            .map_err(|e| PyValueError::new_err(format!("invalid consumer group: {e}")))?;
        let opts = SubscribeOptions {
            topics,
            query,
            group,
            buffer_events,
            buffer_bytes,
        };
        let rt = runtime()?;
        let _enter = rt.enter();
        let inner = client.inner.subscribe(opts).map_err(to_py)?;
        Ok(Subscription { inner })
    }

    /// Resolves to the stream's topic map `{name: id}` once the server is ready, or
    /// raises the error that ended the subscription.
    fn ready(&self, py: Python<'_>, waiter: Waiter) -> PyResult<Py<PyAny>> {
        let s = self.inner.detached();
        run(py, waiter, async move { s.ready().await }, |py, topics| {
            let d = PyDict::new(py);
            for (name, id) in topics.iter() {
                d.set_item(name, PyBytes::new(py, id))?;
            }
            Ok(d.into_any().unbind())
        })
    }

    /// Resolves once `n` streams have completed their handshake (2: the first
    /// reconnect succeeded).
    fn wait_connected(&self, py: Python<'_>, n: u64, waiter: Waiter) -> PyResult<Py<PyAny>> {
        let s = self.inner.detached();
        run(
            py,
            waiter,
            async move { s.wait_connected(n).await },
            |py, ()| Ok(py.None()),
        )
    }

    /// Sends the queued `acks` (emptying the list), then returns up to `max` buffered
    /// events without waiting: a list (empty if none yet), or `None` once the
    /// subscription has ended. Raises the error that ended it, after its events.
    #[pyo3(signature = (max, sub, acks=None))]
    fn poll<'py>(
        &self,
        py: Python<'py>,
        max: usize,
        sub: &Bound<'py, PyAny>,
        acks: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        if let Some(acks) = acks {
            flush_acks(&self.inner, acks)?;
        }
        pop_events(py, &self.inner, max, sub)
    }

    /// Waits for events and returns up to `max` of them as `Event`s acking through
    /// `sub` (a list, possibly empty if another consumer took them first), or `None` once
    /// the subscription has ended. `waiter=None` blocks with the GIL released.
    fn next_batch(
        &self,
        py: Python<'_>,
        max: usize,
        sub: Py<PyAny>,
        waiter: Waiter,
    ) -> PyResult<Py<PyAny>> {
        let s = self.inner.detached();
        let w = s.clone();
        take_when_ready(py, waiter, async move { w.wait().await }, move |py| {
            let got = pop_events(py, &s, max, sub.bind(py))?;
            Ok(got.map_or_else(|| py.None(), |l| l.unbind()))
        })
    }

    /// Resolves (to `None`) once events are buffered or the stream has ended; pair
    /// with `poll`, which then finds them. Nothing is taken, so cancelling the `await`
    /// loses nothing.
    fn wait(&self, py: Python<'_>, waiter: Waiter) -> PyResult<Py<PyAny>> {
        let w = self.inner.detached();
        take_when_ready(
            py,
            waiter,
            async move { w.wait().await },
            |py| Ok(py.None()),
        )
    }

    /// Queues an ack for the event with this RLID (non-blocking).
    fn ack(&self, rlid: &[u8]) {
        self.inner.ack(rlid);
    }

    /// Queues a nack for the event with this RLID (non-blocking).
    fn nack(&self, rlid: &[u8], code: i32) {
        self.inner.nack(rlid, code);
    }

    /// Sends a list of queued acks (`bytes`) and nacks (`(bytes, code)`) and empties it.
    fn send(&self, acks: &Bound<'_, PyList>) -> PyResult<()> {
        flush_acks(&self.inner, acks)
    }

    /// Asks the stream to close (non-blocking): buffered events are dropped, queued acks
    /// are sent, the stream is cancelled.
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// Cancels the stream and resolves once its task has ended (bounded).
    fn close(&self, py: Python<'_>, waiter: Waiter) -> PyResult<Py<PyAny>> {
        let s = self.inner.detached();
        run(
            py,
            waiter,
            async move {
                s.close().await;
                Ok(())
            },
            |py, ()| Ok(py.None()),
        )
    }

    /// The current stream's topic map `{name: id}`, or `None` before it is ready.
    #[getter]
    fn topics<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(topics) = self.inner.topics() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        for (name, id) in topics.iter() {
            d.set_item(name, PyBytes::new(py, id))?;
        }
        Ok(Some(d))
    }

    /// Streams that completed their handshake so far (1 + successful reconnects).
    #[getter]
    fn connections(&self) -> u64 {
        self.inner.connections()
    }

    /// Events skipped because their payload was not a valid `Event`.
    #[getter]
    fn skipped(&self) -> u64 {
        self.inner.skipped()
    }

    /// Whether the subscription has ended (buffered events may remain).
    #[getter]
    fn finished(&self) -> bool {
        self.inner.is_finished()
    }
}

/// Registers the subscription class.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Subscription>()
}
