//! A Python `Event` → the encoder's [`EventFields`] (the Event ↔ core contract of
//! docs/architecture.md), and the garbage-collector bookkeeping of published events.
//!
//! Payloads are borrowed (`bytes` buffers), never copied before the encoder.
//!
//! Held events and the cyclic GC: a program that keeps a million published events keeps
//! two GC-tracked objects per event (the `Event` and its schema `Type`), and every full
//! collection walks them all: measured, this doubled the CPU per event. An admitted
//! event whose attributes hold only values that cannot lead back to it (bytes, str, int,
//! `None`, untracked dicts, its `Type` when that holds only str/int/bytes, the batch
//! handle) cannot be part of a reference cycle, so it is untracked, as CPython itself
//! untracks tuples and dicts of atomic values. The Python setters that can store other
//! values (`id`, `committed`, `error`, the `mark_*` methods, the `Type` setters) track
//! it again. Fresh events are untracked at birth: see `conversion::gc`.

use ensign_client::EventFields;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple, PyType};

use super::gc::{acyclic, is_tracked, track, untrack};
use super::slots::{EventSlots, Slot};

static EVENT_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TYPE_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// One event's fields, with the Python objects that own the borrowed bytes.
pub struct EventIn<'py> {
    pub obj: Bound<'py, PyAny>,
    data: Bound<'py, PyBytes>,
    /// The event's own `Type` (`_type`), or `None` when it uses the shared parts tuple.
    ty: Option<Bound<'py, PyAny>>,
    type_pb: Bound<'py, PyBytes>,
    /// The type's encoding was cached (no setter ran since it was made).
    type_cached: bool,
    mimetype: i32,
    meta_obj: Bound<'py, PyAny>,
    meta: Vec<(String, String)>,
    created: (i64, i32),
    /// Slot offsets usable for this event (see `conversion::slots`).
    direct: Option<&'static EventSlots>,
}

/// Reads one attribute of `ev`: from its slot when `direct` covers it and the slot is
/// set, else through `getattr` (which raises the usual errors).
fn attr<'py>(
    ev: &Bound<'py, PyAny>,
    direct: Option<&'static EventSlots>,
    slot: Slot,
    name: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(d) = direct {
        // SAFETY: `direct` is only `Some` when `d.covers(ev)`.
        if let Some(v) = unsafe { d.read(ev, slot) } {
            return Ok(v);
        }
    }
    ev.getattr(name)
}

impl<'py> EventIn<'py> {
    /// Reads and checks an event (any object with the contract's attributes). `slots`
    /// comes from [`EventSlots::get`], once per batch.
    pub fn read(ev: Bound<'py, PyAny>, slots: Option<&'static EventSlots>) -> PyResult<Self> {
        let py = ev.py();
        let direct = slots.filter(|s| s.covers(&ev));
        let data = attr(&ev, direct, Slot::Data, intern!(py, "data"))?;
        let data = data.cast_into::<PyBytes>().map_err(|e| {
            PyTypeError::new_err(format!(
                "event data must be bytes, got type {}",
                e.into_inner().get_type()
            ))
        })?;
        if data.as_bytes().is_empty() {
            return Err(PyValueError::new_err("no data provided"));
        }
        let mimetype: i32 = attr(&ev, direct, Slot::Mimetype, intern!(py, "mimetype"))?
            .extract()
            .map_err(|_| {
                PyTypeError::new_err(
                    "event mimetype must be an int (see pyensign_fast.mimetypes.parse)",
                )
            })?;
        let (ty, type_pb, type_cached) = read_type(&ev, direct)?;
        let type_pb = type_pb
            .cast_into::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("event type did not encode to bytes"))?;
        let meta_obj = attr(&ev, direct, Slot::Meta, intern!(py, "meta"))?;
        let mut meta = Vec::new();
        if !meta_obj.is_none() {
            let dict = meta_obj
                .cast::<PyDict>()
                .map_err(|_| PyTypeError::new_err("event meta must be a dict of str to str"))?;
            for (k, v) in dict.iter() {
                let (Ok(k), Ok(v)) = (k.extract::<String>(), v.extract::<String>()) else {
                    return Err(PyTypeError::new_err(
                        "event meta must be a dict of str to str",
                    ));
                };
                meta.push((k, v));
            }
        }
        let created = attr(&ev, direct, Slot::Created, intern!(py, "_created"))?;
        // NOTE: an i64 holds nanoseconds until 2262; i128 (slow in pyo3) only beyond.
        let created = match created.extract::<i64>() {
            Ok(ns) => (
                ns.div_euclid(1_000_000_000),
                ns.rem_euclid(1_000_000_000) as i32,
            ),
            Err(_) => {
                let ns: i128 = created.extract()?;
                (
                    ns.div_euclid(1_000_000_000) as i64,
                    ns.rem_euclid(1_000_000_000) as i32,
                )
            }
        };
        Ok(EventIn {
            obj: ev,
            data,
            ty,
            type_pb,
            type_cached,
            mimetype,
            meta_obj,
            meta,
            created,
            direct,
        })
    }

    /// The metadata as the encoder borrows it.
    pub fn meta_refs(&self) -> Vec<(&str, &str)> {
        self.meta
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The encoder's view, borrowing this event's buffers.
    pub fn fields<'a>(&'a self, meta: &'a [(&'a str, &'a str)]) -> EventFields<'a> {
        EventFields {
            data: self.data.as_bytes(),
            mimetype: self.mimetype,
            type_pb: self.type_pb.as_bytes(),
            meta,
            created: self.created,
        }
    }

    /// Tags the admitted event with its batch and slot, then untracks it (and its `Type`)
    /// when neither can be part of a reference cycle (see the module docs).
    ///
    /// NOTE: checked with as few attribute reads as possible (each costs ~25 ns, and
    /// reading ten of them cost 0.5 µs per event): `_plain` is true from `Event.__init__`
    /// until a setter stores a user value in an outcome slot (`id`, `committed`, `error`,
    /// `mark_*`), and a `Type` whose encoding was cached holds the values it was encoded
    /// from (every `Type` setter clears the cache), so only other types are read slot by
    /// slot.
    pub fn admitted(&self, batch: &Bound<'py, PyAny>, slot: usize) -> PyResult<()> {
        let py = self.obj.py();
        let plain = match self.direct {
            Some(d) => {
                let slot = slot.into_pyobject(py)?;
                // SAFETY: `direct` is only `Some` when `d.covers(self.obj)`.
                unsafe {
                    d.write(&self.obj, Slot::Batch, batch);
                    d.write(&self.obj, Slot::Index, &slot);
                    d.read(&self.obj, Slot::Plain)
                }
            }
            None => {
                self.obj.setattr(intern!(py, "_batch"), batch)?;
                self.obj.setattr(intern!(py, "_slot"), slot)?;
                self.obj.getattr_opt(intern!(py, "_plain"))?
            }
        };
        if !is_tracked(&self.obj) {
            // Untracked at birth (`conversion::gc`) or by an earlier publish: `data` and
            // `meta` are plain slots the user may have reassigned since.
            if !acyclic(self.data.as_any()) || !acyclic(&self.meta_obj) {
                track(&self.obj);
            }
            return Ok(());
        }
        match plain {
            Some(plain) if plain.is_truthy()? => {}
            _ => return Ok(()),
        }
        if !acyclic(self.data.as_any()) || !acyclic(&self.meta_obj) {
            return Ok(());
        }
        // Without its own `Type`, the event refers to a shared tuple of str, int and bytes.
        let Some(ty) = &self.ty else {
            untrack(&self.obj);
            return Ok(());
        };
        if is_tracked(ty) {
            let type_cls = TYPE_CLASS.import(py, "pyensign_fast.schema", "Type")?;
            let exact = ty.get_type().is(type_cls);
            let mut ok = exact;
            if ok && !self.type_cached {
                for name in [
                    intern!(py, "_name"),
                    intern!(py, "_major"),
                    intern!(py, "_minor"),
                    intern!(py, "_patch"),
                ] {
                    ok = ok && ty.getattr_opt(name)?.is_none_or(|v| acyclic(&v));
                }
            }
            if !ok {
                return Ok(());
            }
            untrack(ty);
        }
        // `mimetype` is an int (checked by `read`); `_state` holds an `EventState`
        // member and `_batch` a `PublishBatch`, neither of which refers to events;
        // `_rlid` and `_topic_id` are bytes or `None`, set only by the SDK; `_sub` is
        // `None` while `_plain` is true.
        untrack(&self.obj);
        Ok(())
    }
}

/// The event's type and its encoding: `(own Type or None, encoded bytes, cached)`.
/// Without its own `Type` (`_type` is `None`), the encoding is the last item of the shared
/// `_tparts` tuple; a received event's tuple has none, so a `Type` is made (by the `type`
/// property) and encoded.
#[allow(clippy::type_complexity)]
fn read_type<'py>(
    ev: &Bound<'py, PyAny>,
    direct: Option<&'static EventSlots>,
) -> PyResult<(Option<Bound<'py, PyAny>>, Bound<'py, PyAny>, bool)> {
    let py = ev.py();
    let own = attr(ev, direct, Slot::Type, intern!(py, "_type"))?;
    let ty = if own.is_none() {
        let parts = attr(ev, direct, Slot::TypeParts, intern!(py, "_tparts"))?;
        let pb = parts
            .cast::<PyTuple>()
            .ok()
            .and_then(|t| t.get_item(4).ok())
            .filter(|pb| pb.is_instance_of::<PyBytes>());
        if let Some(pb) = pb {
            return Ok((None, pb, true));
        }
        ev.getattr(intern!(py, "type"))?
    } else {
        own
    };
    let pb = ty.getattr(intern!(py, "_pb"))?;
    if pb.is_none() {
        let pb = ty.call_method0(intern!(py, "_encode"))?;
        return Ok((Some(ty), pb, false));
    }
    Ok((Some(ty), pb, true))
}

/// Refuses a batch with anything but `Event`s in it, before any of it is admitted.
pub fn check_all_events(events: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = events.py();
    let event_cls = EVENT_CLASS.import(py, "pyensign_fast.events", "Event")?;
    for (i, ev) in events.try_iter()?.enumerate() {
        let ev = ev?;
        if !ev.is_instance(event_cls)? {
            return Err(PyTypeError::new_err(format!(
                "events must be Event objects; item {i} is a {}",
                ev.get_type().name()?
            )));
        }
    }
    Ok(())
}
