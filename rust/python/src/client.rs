//! `_core.Client`: the Python handle on a Rust `ensign_client::Client`.
//!
//! Every async operation takes a trailing `waiter`: `(notifier, future)` runs it on the
//! runtime and completes the future through the notifier; `None` runs it blocking with
//! the GIL released (the sync API). `publish` is synchronous: it only admits events.

use std::future::Future;
use std::time::Duration;

use ensign_client::{ClientConfig, Credentials, Secret};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::bridge::{complete, Notifier, Waiter};
use crate::errors::to_py;
use crate::publish::{new_batch, publish_batch, PublishBatch};
use crate::runtime::{block_on, runtime};

/// Runs `fut` for Python: through the notifier when a waiter is given, else blocking.
pub fn run<F, T, C>(py: Python<'_>, waiter: Waiter, fut: F, convert: C) -> PyResult<Py<PyAny>>
where
    F: Future<Output = ensign_client::Result<T>> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    match waiter {
        Some((notifier, future)) => {
            let core = notifier.get().core.clone();
            runtime()?.spawn(async move {
                let r = fut.await;
                complete(
                    &core,
                    future,
                    Box::new(move |py| match r {
                        Ok(v) => convert(py, v),
                        Err(e) => Err(to_py(e)),
                    }),
                );
            });
            Ok(py.None())
        }
        None => match block_on(py, fut)? {
            Ok(v) => convert(py, v),
            Err(e) => Err(to_py(e)),
        },
    }
}

/// Waits on the runtime until `ready` resolves, then builds the result with the GIL held
/// (through the notifier, or on this thread when blocking). With a waiter, `take` runs
/// only if the future is still wanted, so a cancelled `await` never takes (and loses)
/// what `take` would have handed over.
pub fn take_when_ready<W, T>(
    py: Python<'_>,
    waiter: Waiter,
    ready: W,
    take: T,
) -> PyResult<Py<PyAny>>
where
    W: Future<Output = ()> + Send + 'static,
    T: FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send + 'static,
{
    match waiter {
        Some((notifier, future)) => {
            let core = notifier.get().core.clone();
            let wanted = future.clone_ref(py);
            runtime()?.spawn(async move {
                ready.await;
                let make = move |py: Python<'_>| {
                    if wanted.bind(py).call_method0("done")?.is_truthy()? {
                        return Ok(py.None());
                    }
                    take(py)
                };
                complete(&core, future, Box::new(make));
            });
            Ok(py.None())
        }
        None => {
            block_on(py, ready)?;
            take(py)
        }
    }
}

/// A connection to an Ensign server.
#[pyclass(frozen, module = "pyensign_fast._core")]
pub struct Client {
    pub inner: ensign_client::Client,
    pid: u32,
}

impl Client {
    pub(crate) fn check_fork(&self) -> PyResult<()> {
        if self.pid != crate::runtime::pid() {
            return Err(PyRuntimeError::new_err(
                "this Ensign client was created before fork(); create a new client in the child process",
            ));
        }
        Ok(())
    }
}

fn topic_id(b: &[u8]) -> PyResult<[u8; 16]> {
    <[u8; 16]>::try_from(b).map_err(|_| PyValueError::new_err("a topic id is 16 bytes"))
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (endpoint, insecure=false, auth_url=None, client_id=None, client_secret=None,
        reconnect_tick=0.75, reconnect_timeout=300.0, max_inflight_events=8192,
        max_inflight_bytes=67_108_864, user_agent=None, stream_client_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        endpoint: String,
        insecure: bool,
        auth_url: Option<String>,
        client_id: Option<String>,
        client_secret: Option<String>,
        reconnect_tick: f64,
        reconnect_timeout: f64,
        max_inflight_events: usize,
        max_inflight_bytes: usize,
        user_agent: Option<String>,
        stream_client_id: Option<String>,
    ) -> PyResult<Self> {
        let seconds = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    PyValueError::new_err(format!("{name} must be a positive number of seconds"))
                })
        };
        let mut cfg = ClientConfig {
            endpoint,
            insecure,
            reconnect_tick: seconds("reconnect_tick", reconnect_tick)?,
            reconnect_timeout: seconds("reconnect_timeout", reconnect_timeout)?,
            max_inflight_events,
            max_inflight_bytes,
            stream_client_id: stream_client_id.unwrap_or_default(),
            ..Default::default()
        };
        if let Some(ua) = user_agent {
            cfg.user_agent = ua;
        }
        if let Some(url) = auth_url.filter(|u| !u.is_empty()) {
            cfg.credentials = Some(Credentials {
                auth_url: url,
                client_id: client_id.unwrap_or_default(),
                client_secret: Secret::new(client_secret.unwrap_or_default()),
            });
        }
        let rt = runtime()?;
        let _enter = rt.enter();
        let inner = ensign_client::Client::new(cfg).map_err(to_py)?;
        Ok(Client {
            inner,
            pid: crate::runtime::pid(),
        })
    }

    /// Admits `events[start:]` into the publish stream; see `publish.rs`. Returns
    /// `(batch, admitted)`, `admitted == -1` meaning "resolve the topic first". With
    /// `whole`, all of `events[start:]` or none of it is admitted (0: the window is full).
    #[pyo3(signature = (topic_id, events, start, batch, on_ack=None, on_nack=None, notifier=None, whole=false))]
    #[allow(clippy::too_many_arguments)]
    fn publish(
        &self,
        py: Python<'_>,
        topic_id: &[u8],
        events: &Bound<'_, PyAny>,
        start: usize,
        batch: Option<Py<PublishBatch>>,
        on_ack: Option<Py<PyAny>>,
        on_nack: Option<Py<PyAny>>,
        notifier: Option<Py<Notifier>>,
        whole: bool,
    ) -> PyResult<(Py<PublishBatch>, isize)> {
        self.check_fork()?;
        let topic = self::topic_id(topic_id)?;
        let batch = match batch {
            Some(b) => b,
            None => {
                let len = events.len()?;
                let core = notifier.map(|n| n.get().core.clone());
                Py::new(py, new_batch(len, on_ack, on_nack, core))?
            }
        };
        // Reading events may run user Python code (properties of `Event` subclasses, a
        // `Type`'s first encoding) with our frames below it: see `exiting`.
        let _calls = crate::exiting::CallsGuard::enter(py);
        let n = publish_batch(
            self.inner.publisher(),
            &topic,
            events,
            start,
            batch.bind(py),
            whole,
        )?;
        Ok((batch, n))
    }

    /// Resolves a topic name, ULID string or name hash to its 16-byte id, opening (or
    /// renewing) the publish stream as needed.
    fn resolve_topic(&self, py: Python<'_>, topic: String, waiter: Waiter) -> PyResult<Py<PyAny>> {
        self.check_fork()?;
        let p = self.inner.publisher().clone();
        run(
            py,
            waiter,
            async move { p.resolve(&topic).await },
            |py, id| Ok(PyBytes::new(py, &id).into_any().unbind()),
        )
    }

    /// Resolves once the in-flight window has room again.
    fn wait_for_room(&self, py: Python<'_>, waiter: Waiter) -> PyResult<Py<PyAny>> {
        self.check_fork()?;
        let p = self.inner.publisher().clone();
        run(
            py,
            waiter,
            async move { p.wait_for_room().await },
            |py, ()| Ok(py.None()),
        )
    }

    /// Resolves to True once every event admitted before the call has its outcome, or to
    /// False when `timeout` seconds pass first.
    fn flush(&self, py: Python<'_>, timeout: f64, waiter: Waiter) -> PyResult<Py<PyAny>> {
        self.check_fork()?;
        let p = self.inner.publisher().clone();
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|_| PyValueError::new_err("bad timeout"))?;
        run(
            py,
            waiter,
            async move {
                Ok(tokio::time::timeout(timeout, p.flush())
                    .await
                    .map(|r| r.is_ok())
                    .unwrap_or(false))
            },
            |py, ok: bool| {
                Ok(pyo3::types::PyBool::new(py, ok)
                    .to_owned()
                    .into_any()
                    .unbind())
            },
        )
    }

    /// Flushes (up to `timeout`), half-closes the publish stream and waits for the
    /// server's CloseStream. Resolves to True if everything was acknowledged in time.
    fn close(&self, py: Python<'_>, timeout: f64, waiter: Waiter) -> PyResult<Py<PyAny>> {
        // Ends the client's subscriptions too (their iterators end after what was received).
        let c = self.inner.clone();
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|_| PyValueError::new_err("bad timeout"))?;
        run(
            py,
            waiter,
            async move { Ok(c.close(timeout).await.is_ok()) },
            |py, ok: bool| {
                Ok(pyo3::types::PyBool::new(py, ok)
                    .to_owned()
                    .into_any()
                    .unbind())
            },
        )
    }

    /// Events admitted and still without an outcome.
    fn pending(&self) -> usize {
        self.inner.publisher().pending()
    }

    /// The client's statistics as a dict (one short lock; see `ensign_client::stats`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let p = &s.publish;
        let d = PyDict::new(py);
        d.set_item("published", p.published)?;
        d.set_item("acked", p.acked)?;
        d.set_item("nacked", p.nacked)?;
        d.set_item("in_flight", p.in_flight)?;
        d.set_item("in_flight_bytes", p.in_flight_bytes)?;
        d.set_item("bytes_sent", p.bytes_sent)?;
        d.set_item("reconnects", p.reconnects + s.subscribe_reconnects)?;
        d.set_item("publish_reconnects", p.reconnects)?;
        d.set_item("subscribe_reconnects", s.subscribe_reconnects)?;
        d.set_item("ack_latency_count", p.ack_latency_count)?;
        d.set_item("ack_latency_p50_us", p.ack_latency_p50.as_micros() as u64)?;
        d.set_item("ack_latency_p99_us", p.ack_latency_p99.as_micros() as u64)?;
        d.set_item("ack_latency_max_us", p.ack_latency_max.as_micros() as u64)?;
        d.set_item("ack_latency_sum_us", p.ack_latency_sum.as_micros() as u64)?;
        d.set_item("received", s.received)?;
        d.set_item("subscriptions", s.subscriptions)?;
        Ok(d)
    }

    /// The current publish stream's topic map `{name: id_bytes}`.
    fn stream_topics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, id) in self.inner.publisher().topics() {
            d.set_item(name, PyBytes::new(py, &id))?;
        }
        Ok(d)
    }

    /// `Status` → `(status, version, uptime_seconds, uptime_nanos)`.
    fn status(&self, py: Python<'_>, waiter: Waiter) -> PyResult<Py<PyAny>> {
        self.check_fork()?;
        let c = self.inner.clone();
        run(py, waiter, async move { c.status().await }, |py, s| {
            let up = s.uptime.unwrap_or_default();
            Ok((s.status, s.version, up.seconds, up.nanos)
                .into_pyobject(py)?
                .into_any()
                .unbind())
        })
    }

    /// `CreateTopic` → the topic's 16-byte id.
    fn create_topic(&self, py: Python<'_>, name: String, waiter: Waiter) -> PyResult<Py<PyAny>> {
        self.check_fork()?;
        let c = self.inner.clone();
        run(
            py,
            waiter,
            async move { c.create_topic(&name).await },
            |py, t| Ok(PyBytes::new(py, &t.id).into_any().unbind()),
        )
    }
}

/// Registers the client classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    crate::conversion::gc::register(m)?;
    m.add_function(wrap_pyfunction!(
        crate::conversion::event_init::_fast_event_init,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        crate::conversion::slots::_direct_event_slots,
        m
    )?)?;
    m.add_class::<Client>()?;
    m.add_class::<Notifier>()?;
    m.add_class::<PublishBatch>()?;
    Ok(())
}
