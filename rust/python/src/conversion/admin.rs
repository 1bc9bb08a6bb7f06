//! Topic, project and status replies → plain Python values: dicts keyed by the protobuf
//! field names, tuples and bytes, which the `from_dict`-style classmethods of
//! `topics.py`, `projects.py` and `status.py` accept (no protobuf runtime needed in Python).

use ensign_proto::api::{
    Deduplication, EventTypeInfo, ProjectInfo, Topic, TopicInfo, TopicStatus, Type,
};
use ensign_proto::Timestamp;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

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
pub fn topic_dict(py: Python<'_>, t: Topic) -> PyResult<Py<PyAny>> {
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

pub fn project_dict(py: Python<'_>, p: ProjectInfo) -> PyResult<Py<PyAny>> {
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

pub fn status_tuple(py: Python<'_>, s: TopicStatus) -> PyResult<Py<PyAny>> {
    Ok((s.id, s.state).into_pyobject(py)?.into_any().unbind())
}
