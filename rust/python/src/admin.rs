//! Topic and project administration for Python: the unary RPCs behind
//! `pyensign_fast._topics_api.TopicsAPI` and the blocking `pyensign_fast.sync.Ensign`.
//!
//! Each function takes the `_core.Client` first and, like every async core op, a trailing
//! `waiter` (see `client::run`): `(notifier, future)` completes the future on the event
//! loop, `None` blocks with the GIL released. Replies become plain Python values (dicts
//! keyed by the protobuf field names, tuples, bytes) that the `from_dict`-style
//! classmethods of `topics.py`, `projects.py` and `status.py` accept, so no protobuf
//! runtime is needed on the Python side.

use ensign_proto::api::{
    deduplication, topic_mod, Deduplication, EventTypeInfo, ProjectInfo, Topic, TopicInfo,
    TopicPolicy, TopicStatus, Type,
};
use ensign_proto::Timestamp;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::bridge::Waiter;
use crate::client::{run, Client};

/// `(seconds, nanos)` of a timestamp, or `None`.
fn timestamp(py: Python<'_>, t: Option<Timestamp>) -> PyResult<Py<PyAny>> {
    Ok(match t {
        Some(t) => (t.seconds, t.nanos).into_pyobject(py)?.into_any().unbind(),
        None => py.None(),
    })
}

fn schema_type(py: Python<'_>, t: Option<Type>) -> PyResult<Py<PyAny>> {
    Ok(match t {
        Some(t) => (t.name, t.major_version, t.minor_version, t.patch_version)
            .into_pyobject(py)?
            .into_any()
            .unbind(),
        None => py.None(),
    })
}

fn dedup_dict<'py>(py: Python<'py>, d: Deduplication) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("strategy", d.strategy)?;
    out.set_item("offset", d.offset)?;
    out.set_item("keys", d.keys)?;
    out.set_item("fields", d.fields)?;
    out.set_item("overwrite_duplicate", d.overwrite_duplicate)?;
    Ok(out)
}

/// A `Topic` as a dict with its protobuf field names (placements are left out).
fn topic_dict(py: Python<'_>, t: Topic) -> PyResult<Py<PyAny>> {
    let out = PyDict::new(py);
    out.set_item("id", PyBytes::new(py, &t.id))?;
    out.set_item("project_id", PyBytes::new(py, &t.project_id))?;
    out.set_item("name", t.name)?;
    out.set_item("readonly", t.readonly)?;
    out.set_item("offset", t.offset)?;
    out.set_item("shards", t.shards)?;
    out.set_item("status", t.status)?;
    match t.deduplication {
        Some(d) => out.set_item("deduplication", dedup_dict(py, d)?)?,
        None => out.set_item("deduplication", py.None())?,
    }
    let types = PyList::empty(py);
    for ty in t.types {
        types.append(schema_type(py, Some(ty))?)?;
    }
    out.set_item("types", types)?;
    out.set_item("created", timestamp(py, t.created)?)?;
    out.set_item("modified", timestamp(py, t.modified)?)?;
    Ok(out.into_any().unbind())
}

fn event_type_dict(py: Python<'_>, e: EventTypeInfo) -> PyResult<Py<PyAny>> {
    let out = PyDict::new(py);
    out.set_item("type", schema_type(py, e.r#type)?)?;
    out.set_item("mimetype", e.mimetype)?;
    out.set_item("events", e.events)?;
    out.set_item("duplicates", e.duplicates)?;
    out.set_item("data_size_bytes", e.data_size_bytes)?;
    out.set_item("modified", timestamp(py, e.modified)?)?;
    Ok(out.into_any().unbind())
}

fn topic_info_dict(py: Python<'_>, t: TopicInfo) -> PyResult<Py<PyAny>> {
    let out = PyDict::new(py);
    out.set_item("topic_id", PyBytes::new(py, &t.topic_id))?;
    out.set_item("project_id", PyBytes::new(py, &t.project_id))?;
    out.set_item("event_offset_id", PyBytes::new(py, &t.event_offset_id))?;
    out.set_item("events", t.events)?;
    out.set_item("duplicates", t.duplicates)?;
    out.set_item("data_size_bytes", t.data_size_bytes)?;
    let types = PyList::empty(py);
    for e in t.types {
        types.append(event_type_dict(py, e)?)?;
    }
    out.set_item("types", types)?;
    out.set_item("modified", timestamp(py, t.modified)?)?;
    Ok(out.into_any().unbind())
}

fn project_dict(py: Python<'_>, p: ProjectInfo) -> PyResult<Py<PyAny>> {
    let out = PyDict::new(py);
    out.set_item("project_id", PyBytes::new(py, &p.project_id))?;
    out.set_item("num_topics", p.num_topics)?;
    out.set_item("num_readonly_topics", p.num_readonly_topics)?;
    out.set_item("events", p.events)?;
    out.set_item("duplicates", p.duplicates)?;
    out.set_item("data_size_bytes", p.data_size_bytes)?;
    let topics = PyList::empty(py);
    for t in p.topics {
        topics.append(topic_info_dict(py, t)?)?;
    }
    out.set_item("topics", topics)?;
    Ok(out.into_any().unbind())
}

fn status_tuple(py: Python<'_>, s: TopicStatus) -> PyResult<Py<PyAny>> {
    Ok((s.id, s.state).into_pyobject(py)?.into_any().unbind())
}

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
