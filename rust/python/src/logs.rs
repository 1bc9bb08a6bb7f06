//! Rust `tracing` → Python `logging`: one process-wide subscriber, installed lazily by
//! `pyensign_fast.logs`, whose layer queues every record that passes the filter.
//!
//! Concurrency: a record is formatted on the thread that emits it (a tokio worker, the
//! server's runtime, a Python thread inside a binding) and pushed into a bounded queue
//! under a short `parking_lot` lock; **no Rust thread ever takes the GIL for a record**.
//! A Python daemon thread blocks in [`_logs_wait`] with the GIL released, then takes the
//! whole queue with one call ([`_logs_take`]) and hands the batch to `logging`: one GIL
//! acquisition per batch. A full queue drops the record and counts it
//! ([`_logs_dropped`]); Python reports the count as a WARNING.
//!
//! Filtering happens before anything is formatted: an `EnvFilter` (from `PYENSIGN_FAST_LOG`,
//! or derived from the Python loggers' levels) behind a `reload` layer, so Python can
//! change it when the loggers change. Disabled call sites are cached by `tracing` as
//! never-enabled, so a filtered-out `debug!` on the hot path costs one relaxed load.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

/// NOTE: 2048 records, as temporalio's bridge (`FORWARD_LOG_BUFFER_SIZE`): at ~200 bytes a
/// record that is ~400 KiB at most, and far more than a healthy client logs between two
/// drains (the drain thread wakes within 10 ms of the first record).
const CAPACITY: usize = 2048;
/// How long the drain thread lets a burst accumulate after the first record.
const LINGER: Duration = Duration::from_millis(10);

/// One forwarded record: (created, Python level, target, message, file, line, thread).
type Record = (
    f64,
    u8,
    &'static str,
    String,
    Option<&'static str>,
    u32,
    String,
);

struct Queue {
    records: Mutex<VecDeque<Record>>,
    ready: Condvar,
    dropped: AtomicU64,
}

static QUEUE: Queue = Queue {
    records: Mutex::new(VecDeque::new()),
    ready: Condvar::new(),
    dropped: AtomicU64::new(0),
};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Python's level numbers; TRACE is 5 (below DEBUG, as `logging.DEBUG - 5`).
fn py_level(level: &Level) -> u8 {
    match *level {
        Level::TRACE => 5,
        Level::DEBUG => 10,
        Level::INFO => 20,
        Level::WARN => 30,
        Level::ERROR => 40,
    }
}

/// Writes the `message` field first, then the others as ` key=value`.
#[derive(Default)]
struct Message {
    text: String,
    fields: String,
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

/// The layer that queues records for Python.
struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut msg = Message::default();
        event.record(&mut msg);
        msg.text.push_str(&msg.fields);
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let thread = std::thread::current().name().unwrap_or("").to_string();
        let record = (
            created,
            py_level(meta.level()),
            meta.target(),
            msg.text,
            meta.file(),
            meta.line().unwrap_or(0),
            thread,
        );
        let mut q = QUEUE.records.lock();
        if q.len() >= CAPACITY {
            drop(q);
            QUEUE.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.push_back(record);
        let wake = q.len() == 1 || q.len() == CAPACITY / 2;
        drop(q);
        if wake {
            QUEUE.ready.notify_all();
        }
    }
}

fn parse_filter(spec: &str) -> PyResult<EnvFilter> {
    EnvFilter::builder()
        .parse(spec)
        .map_err(|e| PyValueError::new_err(format!("invalid log filter {spec:?}: {e}")))
}

/// Installs the subscriber with `filter` (EnvFilter syntax) once per process; later calls
/// replace the filter. Returns True if this call installed it. Raises `ValueError` for a
/// malformed filter and `RuntimeError` if another `tracing` subscriber was set first.
#[pyfunction]
fn _logs_install(filter: &str) -> PyResult<bool> {
    let parsed = parse_filter(filter)?;
    if let Some(handle) = FILTER.get() {
        handle
            .reload(parsed)
            .map_err(|e| PyRuntimeError::new_err(format!("could not set the log filter: {e}")))?;
        return Ok(false);
    }
    let (layer, handle) = reload::Layer::new(parsed);
    let subscriber = Registry::default().with(layer).with(Forward);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| PyRuntimeError::new_err(format!("could not install logging: {e}")))?;
    let _ = FILTER.set(handle);
    Ok(true)
}

/// Waits, with the GIL released, until records are queued (then up to 10 ms more, or
/// until the queue is half full, so that a burst crosses in one batch) or `timeout`
/// seconds pass. Returns whether records are queued.
#[pyfunction]
fn _logs_wait(py: Python<'_>, timeout: f64) -> bool {
    let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
    crate::exiting::detach(py, move || {
        let mut q = QUEUE.records.lock();
        let deadline = Instant::now() + timeout;
        while q.is_empty() {
            if QUEUE.ready.wait_until(&mut q, deadline).timed_out() {
                return !q.is_empty();
            }
        }
        let linger = Instant::now() + LINGER;
        while q.len() < CAPACITY / 2 {
            if QUEUE.ready.wait_until(&mut q, linger).timed_out() {
                break;
            }
        }
        true
    })
}

/// Takes every queued record: a list of `(created, levelno, target, message, file, line,
/// thread)` tuples, oldest first. Never waits.
#[pyfunction]
fn _logs_take(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyList>> {
    let records = std::mem::take(&mut *QUEUE.records.lock());
    pyo3::types::PyList::new(py, records)
}

/// How many records were dropped because the queue was full, since the process started.
#[pyfunction]
fn _logs_dropped() -> u64 {
    QUEUE.dropped.load(Ordering::Relaxed)
}

/// Emits `n` WARN records with target `_core::logs` from this thread, holding the GIL
/// (so the drain thread cannot take any meanwhile): tests use it to fill the queue.
#[pyfunction]
fn _logs_emit(n: usize, message: &str) {
    for i in 0..n {
        tracing::warn!(i, "{message}");
    }
}

/// In a forked child only the forking thread exists: a queue lock held by another
/// thread of the parent at fork time would never be released.
#[pyfunction]
fn _logs_after_fork() {
    if QUEUE.records.is_locked() {
        // SAFETY: the thread that held the lock does not exist in this process.
        unsafe { QUEUE.records.force_unlock() };
    }
    QUEUE.records.lock().clear();
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_logs_install, m)?)?;
    m.add_function(wrap_pyfunction!(_logs_wait, m)?)?;
    m.add_function(wrap_pyfunction!(_logs_take, m)?)?;
    m.add_function(wrap_pyfunction!(_logs_dropped, m)?)?;
    m.add_function(wrap_pyfunction!(_logs_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(_logs_emit, m)?)?;
    m.add("_LOGS_CAPACITY", CAPACITY)?;
    Ok(())
}
