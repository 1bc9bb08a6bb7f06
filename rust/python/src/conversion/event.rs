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

use std::ptr::NonNull;

use ensign_client::EventFields;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

use super::gc::{acyclic, is_tracked, track, untrack};
use super::refcount::Ref;
use super::slots::{EventSlots, Slot};

static EVENT_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TYPE_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// One event's fields, with the Python objects that own the borrowed bytes.
///
/// Every object is held as a [`Ref`] (counted in place): this is read for every event
/// published, where pyo3's counting calls were a measurable share of the CPU.
pub struct EventIn<'py> {
    py: Python<'py>,
    obj: Ref,
    /// A `bytes` (checked by `read`).
    data: Ref,
    /// The event's own `Type` (`_type`), or `None` when it uses the shared parts tuple.
    ty: Option<Ref>,
    /// A `bytes` (checked by `read`).
    type_pb: Ref,
    /// The type's encoding was cached (no setter ran since it was made).
    type_cached: bool,
    mimetype: i32,
    meta_obj: Ref,
    meta: Vec<(String, String)>,
    created: (i64, i32),
    /// Slot offsets usable for this event (see `conversion::slots`).
    direct: Option<&'static EventSlots>,
}

/// Reads one attribute of `ev`: from its slot when `direct` covers it and the slot is
/// set, else through `getattr` (which raises the usual errors).
#[inline]
fn attr(
    ev: &Bound<'_, PyAny>,
    direct: Option<&'static EventSlots>,
    slot: Slot,
    name: &Bound<'_, PyString>,
) -> PyResult<Ref> {
    if let Some(d) = direct {
        // SAFETY: `direct` is only `Some` when `d.covers(ev)`.
        if let Some(v) = unsafe { d.read(ev, slot) } {
            return Ok(v);
        }
    }
    ev.getattr(name).map(Ref::from_bound)
}

/// Whether `obj` is a `bytes` (or a subclass); the exact type is checked first because
/// the subclass check is a call into libpython under the stable ABI.
#[inline]
fn is_bytes(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_exact_instance_of::<PyBytes>() || obj.is_instance_of::<PyBytes>()
}

/// The contents of `obj`, a `bytes`, for as long as the reference is held.
///
/// # Safety
/// `obj` must be a `bytes` (checked with [`is_bytes`]) and the GIL held.
unsafe fn bytes_of(obj: &Ref) -> &[u8] {
    // SAFETY: bytes are immutable; their buffer lives as long as the object.
    unsafe {
        let p = ffi::PyBytes_AsString(obj.as_ptr());
        let n = ffi::PyBytes_Size(obj.as_ptr());
        std::slice::from_raw_parts(p.cast::<u8>(), n as usize)
    }
}

impl<'py> EventIn<'py> {
    /// Reads and checks an event (any object with the contract's attributes). `slots`
    /// comes from [`EventSlots::get`], once per batch.
    pub fn read(ev: Ref, py: Python<'py>, slots: Option<&'static EventSlots>) -> PyResult<Self> {
        let evb = ev.bind(py);
        let direct = slots.filter(|s| s.covers(&evb));
        let data = attr(&evb, direct, Slot::Data, intern!(py, "data"))?;
        if !is_bytes(&data.bind(py)) {
            return Err(PyTypeError::new_err(format!(
                "event data must be bytes, got type {}",
                data.bind(py).get_type()
            )));
        }
        // SAFETY: checked just above.
        if unsafe { bytes_of(&data) }.is_empty() {
            return Err(PyValueError::new_err("no data provided"));
        }
        let mimetype: i32 = attr(&evb, direct, Slot::Mimetype, intern!(py, "mimetype"))?
            .bind(py)
            .extract()
            .map_err(|_| {
                PyTypeError::new_err(
                    "event mimetype must be an int (see pyensign_fast.mimetypes.parse)",
                )
            })?;
        let (ty, type_pb, type_cached) = read_type(&evb, direct)?;
        if !is_bytes(&type_pb.bind(py)) {
            return Err(PyTypeError::new_err("event type did not encode to bytes"));
        }
        let meta_obj = attr(&evb, direct, Slot::Meta, intern!(py, "meta"))?;
        let mut meta = Vec::new();
        let meta_b = meta_obj.bind(py);
        if !meta_b.is_none() {
            let dict = meta_b
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
        let created = attr(&evb, direct, Slot::Created, intern!(py, "_created"))?;
        let created = created.bind(py);
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
            py,
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
        // SAFETY: both were checked to be bytes by `read`; the GIL is held (`'py`).
        let (data, type_pb) = unsafe { (bytes_of(&self.data), bytes_of(&self.type_pb)) };
        EventFields {
            data,
            mimetype: self.mimetype,
            type_pb,
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
        let py = self.py;
        let obj = self.obj.bind(py);
        let plain = match self.direct {
            Some(d) => {
                let slot = super::ints::index(py, slot)?;
                // SAFETY: `direct` is only `Some` when `d.covers(self.obj)`.
                unsafe {
                    d.write(&obj, Slot::Batch, batch);
                    d.write(&obj, Slot::Index, &slot.bind(py));
                    d.read(&obj, Slot::Plain)
                }
            }
            None => {
                obj.setattr(intern!(py, "_batch"), batch)?;
                obj.setattr(intern!(py, "_slot"), slot)?;
                obj.getattr_opt(intern!(py, "_plain"))?.map(Ref::from_bound)
            }
        };
        let (data, meta) = (self.data.bind(py), self.meta_obj.bind(py));
        if !is_tracked(&obj) {
            // Untracked at birth (`conversion::gc`) or by an earlier publish: `data` and
            // `meta` are plain slots the user may have reassigned since.
            if !acyclic(&data) || !acyclic(&meta) {
                track(&obj);
            }
            return Ok(());
        }
        match plain {
            Some(plain) if plain.bind(py).is_truthy()? => {}
            _ => return Ok(()),
        }
        if !acyclic(&data) || !acyclic(&meta) {
            return Ok(());
        }
        // Without its own `Type`, the event refers to a shared tuple of str, int and bytes.
        let Some(ty) = &self.ty else {
            untrack(&obj);
            return Ok(());
        };
        let ty = ty.bind(py);
        if is_tracked(&ty) {
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
            untrack(&ty);
        }
        // `mimetype` is an int (checked by `read`); `_state` holds an `EventState`
        // member and `_batch` a `PublishBatch`, neither of which refers to events;
        // `_rlid` and `_topic_id` are bytes or `None`, set only by the SDK; `_sub` is
        // `None` while `_plain` is true.
        untrack(&obj);
        Ok(())
    }
}

/// The event's type and its encoding: `(own Type or None, encoded bytes, cached)`.
/// Without its own `Type` (`_type` is `None`), the encoding is the last item of the shared
/// `_tparts` tuple; a received event's tuple has none, so a `Type` is made (by the `type`
/// property) and encoded.
fn read_type(
    ev: &Bound<'_, PyAny>,
    direct: Option<&'static EventSlots>,
) -> PyResult<(Option<Ref>, Ref, bool)> {
    let py = ev.py();
    let own = attr(ev, direct, Slot::Type, intern!(py, "_type"))?;
    let ty = if own.bind(py).is_none() {
        let parts = attr(ev, direct, Slot::TypeParts, intern!(py, "_tparts"))?;
        let parts = parts.bind(py);
        let pb = match parts.cast::<PyTuple>() {
            Ok(t) => t
                .get_borrowed_item(4)
                .ok()
                .filter(|pb| is_bytes(pb))
                .map(|pb| Ref::of(&pb)),
            Err(_) => None,
        };
        if let Some(pb) = pb {
            return Ok((None, pb, true));
        }
        Ref::from_bound(ev.getattr(intern!(py, "type"))?)
    } else {
        own
    };
    let tyb = ty.bind(py);
    let pb = tyb.getattr(intern!(py, "_pb"))?;
    if pb.is_none() {
        let pb = Ref::from_bound(tyb.call_method0(intern!(py, "_encode"))?);
        return Ok((Some(ty), pb, false));
    }
    Ok((Some(ty), Ref::from_bound(pb), true))
}

/// The events of one `publish()` call, a list or a tuple, read item by item.
pub struct EventSeq<'a, 'py> {
    seq: &'a Bound<'py, PyAny>,
    list: bool,
}

impl<'a, 'py> EventSeq<'a, 'py> {
    pub fn new(events: &'a Bound<'py, PyAny>) -> PyResult<Self> {
        let list = if events.is_instance_of::<PyList>() {
            true
        } else if events.is_instance_of::<PyTuple>() {
            false
        } else {
            return Err(PyTypeError::new_err("events must be a list or a tuple"));
        };
        Ok(EventSeq { seq: events, list })
    }

    /// The current length (user code run while reading events may change a list).
    pub fn len(&self) -> usize {
        // SAFETY: a live list or tuple (checked by `new`); GIL held.
        let n = unsafe {
            if self.list {
                ffi::PyList_Size(self.seq.as_ptr())
            } else {
                ffi::PyTuple_Size(self.seq.as_ptr())
            }
        };
        n.max(0) as usize
    }

    /// A new reference to item `i`; an `IndexError` if the list has shrunk.
    pub fn get(&self, i: usize) -> PyResult<Ref> {
        let py = self.seq.py();
        // SAFETY: as in `len`; both calls return a borrowed item, or NULL with an
        // `IndexError` set, and the item is referenced before any other code runs.
        unsafe {
            let item = if self.list {
                ffi::PyList_GetItem(self.seq.as_ptr(), i as ffi::Py_ssize_t)
            } else {
                ffi::PyTuple_GetItem(self.seq.as_ptr(), i as ffi::Py_ssize_t)
            };
            match NonNull::new(item) {
                Some(item) => Ok(Ref::borrowed(item)),
                None => Err(PyErr::fetch(py)),
            }
        }
    }
}

/// Refuses a batch with anything but `Event`s in it, before any of it is admitted.
pub fn check_all_events(events: &EventSeq<'_, '_>) -> PyResult<()> {
    let py = events.seq.py();
    let event_cls = EVENT_CLASS.import(py, "pyensign_fast.events", "Event")?;
    for i in 0..events.len() {
        let ev = events.get(i)?;
        let ev = ev.bind(py);
        if ev.get_type_ptr() != event_cls.as_type_ptr() && !ev.is_instance(event_cls)? {
            return Err(PyTypeError::new_err(format!(
                "events must be Event objects; item {i} is a {}",
                ev.get_type().name()?
            )));
        }
    }
    Ok(())
}
