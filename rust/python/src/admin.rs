//! Topic and project administration for Python: the unary RPCs behind
//! `pyensign_fast._topics_api.TopicsAPI` and the blocking `pyensign_fast.sync.Ensign`.
//!
//! Each function takes the `_core.Client` first and, like every async core op, a trailing
//! `waiter` (see `client::run`): `(notifier, future)` completes the future on the event
//! loop, `None` blocks with the GIL released. Replies become plain Python values (dicts
//! keyed by the protobuf field names, tuples, bytes) that the `from_dict`-style
//! classmethods of `topics.py`, `projects.py` and `status.py` accept, so no protobuf
//! runtime is needed on the Python side.

use ensign_proto::api::{deduplication, topic_mod, Deduplication, TopicPolicy};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::bridge::Waiter;
use crate::client::{run, Client};
use crate::conversion::admin::{project_dict, status_tuple, topic_dict};

/// The Rust client behind a `_core.Client`, refusing clients inherited through `fork()`.
fn inner(client: &Bound<'_, Client>) -> PyResult<ensign_client::Client> {
    let c = client.get();
    c.check_fork()?;
    Ok(c.inner.clone())
}

/// `ListTopics`, every page → `[topic dict]`.
#[pyfunction]
fn list_topics(py: Python<'_>, client: &Bound<'_, Client>, waiter: Waiter) -> PyResult<Py<PyAny>> {
    let c = inner(client)?;
    run(
        py,
        waiter,
        async move { c.all_topics().await },
        |py, topics| {
            let out = PyList::empty(py);
            for t in topics {
                out.append(topic_dict(py, t)?)?;
            }
            Ok(out.into_any().unbind())
        },
    )
}

/// `TopicNames`, every page → `[(name_hash, topic_id, project_id)]` (ULID strings).
#[pyfunction]
fn topic_names(py: Python<'_>, client: &Bound<'_, Client>, waiter: Waiter) -> PyResult<Py<PyAny>> {
    let c = inner(client)?;
    run(
        py,
        waiter,
        async move { c.all_topic_names().await },
        |py, names| {
            let rows: Vec<(String, String, String)> = names
                .into_iter()
                .map(|n| (n.name, n.topic_id, n.project_id))
                .collect();
            Ok(rows.into_pyobject(py)?.into_any().unbind())
        },
    )
}

/// The ULID string of the topic called `name` (TopicNames + local name hashing), or
/// `None`.
#[pyfunction]
fn find_topic_id(
    py: Python<'_>,
    client: &Bound<'_, Client>,
    name: String,
    waiter: Waiter,
) -> PyResult<Py<PyAny>> {
    let c = inner(client)?;
    run(
        py,
        waiter,
        async move { c.topic_id(&name).await },
        |py, id| Ok(id.into_pyobject(py)?.into_any().unbind()),
    )
}

/// `TopicExists` by name and/or ULID string → bool.
#[pyfunction]
#[pyo3(signature = (client, name, topic_id, waiter))]
fn topic_exists(
    py: Python<'_>,
    client: &Bound<'_, Client>,
    name: String,
    topic_id: String,
    waiter: Waiter,
) -> PyResult<Py<PyAny>> {
    let c = inner(client)?;
    run(
        py,
        waiter,
        async move { c.topic_exists(&name, &topic_id).await },
        |py, info| {
            Ok(pyo3::types::PyBool::new(py, info.exists)
                .to_owned()
                .into_any()
                .unbind())
        },
    )
}

/// `RetrieveTopic` by 16-byte id → topic dict.
#[pyfunction]
fn retrieve_topic(
    py: Python<'_>,
    client: &Bound<'_, Client>,
    topic_id: &[u8],
    waiter: Waiter,
) -> PyResult<Py<PyAny>> {
    let c = inner(client)?;
    let id = <[u8; 16]>::try_from(topic_id)
        .map_err(|_| PyValueError::new_err("a topic id is 16 bytes"))?;
    run(
        py,
        waiter,
        async move { c.retrieve_topic(&id).await },
        topic_dict,
    )
}

/// `DeleteTopic` (`operation` 1 = archive, 2 = destroy) by ULID string →
/// `(id, state)`.
#[pyfunction]
fn delete_topic(
    py: Python<'_>,
    client: &Bound<'_, Client>,
    topic_id: String,
    operation: i32,
    waiter: Waiter,
) -> PyResult<Py<PyAny>> {
    let c = inner(client)?;
    let op = match topic_mod::Operation::try_from(operation) {
        Ok(op) if op != topic_mod::Operation::Noop => op,
        _ => {
            return Err(PyValueError::new_err(
                "operation must be 1 (archive) or 2 (destroy)",
            ))
        }
    };
    run(
        py,
        waiter,
        async move { c.delete_topic(&topic_id, op).await },
        status_tuple,
    )
}

/// `SetTopicPolicy` → `(id, state)`. `dedup` is `(strategy, offset, keys, fields,
/// overwrite_duplicate)`; without it an UNKNOWN deduplication policy is sent, never a
/// missing one, on which the hosted server fails with INTERNAL (pyensign-api.md K1).
#[pyfunction]
#[pyo3(signature = (client, topic_id, dedup, sharding, waiter))]
#[allow(clippy::type_complexity)]
fn set_topic_policy(
    py: Python<'_>,
    client: &Bound<'_, Client>,
    topic_id: String,
    dedup: Option<(i32, i32, Vec<String>, Vec<String>, bool)>,
    sharding: i32,
    waiter: Waiter,
) -> PyResult<Py<PyAny>> {
    let c = inner(client)?;
    let deduplication_policy = Some(match dedup {
        Some((strategy, offset, keys, fields, overwrite_duplicate)) => Deduplication {
            strategy,
            offset,
            keys,
            fields,
            overwrite_duplicate,
        },
        None => Deduplication {
            strategy: deduplication::Strategy::Unknown as i32,
            ..Default::default()
        },
    });
    let policy = TopicPolicy {
        id: topic_id,
        deduplication_policy,
        sharding_strategy: sharding,
    };
    run(
        py,
        waiter,
        async move { c.set_topic_policy(policy).await },
        status_tuple,
    )
}

/// `Info` for the given 16-byte topic ids (all topics when empty) → project dict.
#[pyfunction]
fn project_info(
    py: Python<'_>,
    client: &Bound<'_, Client>,
    topic_ids: Vec<Vec<u8>>,
    waiter: Waiter,
) -> PyResult<Py<PyAny>> {
    let c = inner(client)?;
    let ids = topic_ids.into_iter().map(bytes::Bytes::from).collect();
    run(py, waiter, async move { c.info(ids).await }, project_dict)
}

/// The wire form of a topic name's hash (22 characters of base64url), as `TopicNames`
/// reports names.
#[pyfunction]
fn topic_name_hash(name: &str) -> String {
    ensign_proto::topic_hash::topic_name_hash_str(name)
}

/// Registers the administration functions on `_core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(list_topics, m)?)?;
    m.add_function(wrap_pyfunction!(topic_names, m)?)?;
    m.add_function(wrap_pyfunction!(find_topic_id, m)?)?;
    m.add_function(wrap_pyfunction!(topic_exists, m)?)?;
    m.add_function(wrap_pyfunction!(retrieve_topic, m)?)?;
    m.add_function(wrap_pyfunction!(delete_topic, m)?)?;
    m.add_function(wrap_pyfunction!(set_topic_policy, m)?)?;
    m.add_function(wrap_pyfunction!(project_info, m)?)?;
    m.add_function(wrap_pyfunction!(topic_name_hash, m)?)?;
    Ok(())
}
