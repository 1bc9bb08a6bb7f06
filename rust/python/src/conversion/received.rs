//! Received events into Python: one page of decoded events becomes a list of
//! `pyensign_fast.events.Event`s in one call (for subscriptions and EnSQL cursors).
//!
//! Rust allocates each `Event` instance (its type's `tp_alloc`, as `object.__new__`
//! would) and turns the event's fields into a row tuple (payload copied into a `bytes`,
//! ids, ints, and the schema as a `(name, major, minor, patch, None)` tuple shared by
//! consecutive events of one schema: no `Type` object is made unless `event.type` is
//! read); one call to `_receive.received_batch(rows, sub)` fills the instances' slots with
//! plain slot stores, the fastest way CPython has to do it.
//!
//! Concurrency: runs on the calling thread with the GIL held; never waits.

use ensign_client::subscriber::{Id, Received};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

use super::Alloc;

/// Largest page handed to Python in one call.
pub const MAX_PAGE: usize = 4096;

static BUILDER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static EVENT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A schema as the stream carries it: name bytes and (major, minor, patch).
type SchemaKey = (bytes::Bytes, (u32, u32, u32));

/// Builds `Event`s for `items` in one call to `_receive.received_batch(rows, sub)`.
/// `sub` is the ack target of received events, or `None` for query results.
pub fn build_events<'py>(
    py: Python<'py>,
    items: Vec<Received>,
    sub: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let builder = BUILDER.import(py, "pyensign_fast._receive", "received_batch")?;
    // NOTE: the instances are allocated here (no `object.__new__` call per object from
    // Python: ~80 ns saved per event) and filled by `received_batch`'s slot stores.
    let event_cls = match sub.getattr_opt(intern!(py, "event_class"))? {
        Some(c) if !sub.is_none() => c.cast_into::<PyType>()?,
        _ => EVENT.import(py, "pyensign_fast.events", "Event")?.clone(),
    };
    let events = Alloc::new(event_cls);
    let mut rows = Vec::with_capacity(items.len());
    // NOTE: most pages come from one topic, one schema and one commit: share the topic id
    // `bytes`, the schema name `str` and the commit time `int` (all immutable) instead of
    // making one per event.
    let mut topic: Option<(Id, Bound<'py, PyBytes>)> = None;
    let mut schema: Option<(SchemaKey, Bound<'py, PyTuple>)> = None;
    let mut commit: Option<(i64, Bound<'py, PyAny>)> = None;
    for r in items {
        let topic_obj = match &topic {
            Some((raw, obj)) if *raw == r.topic_id => obj.clone(),
            _ => {
                let obj = PyBytes::new(py, &r.topic_id);
                topic = Some((r.topic_id.clone(), obj.clone()));
                obj
            }
        };
        let parts = match &schema {
            Some(((raw, version), obj)) if *raw == r.type_name && *version == r.type_version => {
                obj.clone()
            }
            _ => {
                let (major, minor, patch) = r.type_version;
                let obj = PyTuple::new(
                    py,
                    [
                        PyString::new(py, &r.type_name()).into_any(),
                        major.into_pyobject(py)?.into_any(),
                        minor.into_pyobject(py)?.into_any(),
                        patch.into_pyobject(py)?.into_any(),
                        py.None().into_bound(py),
                    ],
                )?;
                schema = Some(((r.type_name.clone(), r.type_version), obj.clone()));
                obj
            }
        };
        let committed = match r.committed_ns() {
            None => None,
            Some(ns) => Some(match &commit {
                Some((v, obj)) if *v == ns => obj.clone(),
                _ => {
                    let obj = ns.into_pyobject(py)?.into_any();
                    commit = Some((ns, obj.clone()));
                    obj
                }
            }),
        };
        let meta = match &r.metadata {
            None => None,
            Some(m) => {
                let d = PyDict::new(py);
                for (k, v) in m.iter() {
                    d.set_item(k, v)?;
                }
                Some(d)
            }
        };
        let none = || py.None().into_bound(py);
        let row: [Bound<'py, PyAny>; 9] = [
            events.make()?,
            PyBytes::new(py, &r.data).into_any(),
            r.mimetype.into_pyobject(py)?.into_any(),
            meta.map_or_else(none, Bound::into_any),
            parts.into_any(),
            r.created_ns().into_pyobject(py)?.into_any(),
            PyBytes::new(py, &r.id).into_any(),
            topic_obj.into_any(),
            committed.unwrap_or_else(none),
        ];
        rows.push(PyTuple::new(py, row)?);
    }
    let rows = PyList::new(py, rows)?;
    builder.call1((rows, sub))
}

/// Logs warnings about skipped events on the `pyensign_fast` logger.
pub fn log_warnings(py: Python<'_>, warnings: Vec<String>) -> PyResult<()> {
    if warnings.is_empty() {
        return Ok(());
    }
    let logger = py
        .import("logging")?
        .call_method1("getLogger", ("pyensign_fast",))?;
    for w in warnings {
        logger.call_method1("warning", (w,))?;
    }
    Ok(())
}
