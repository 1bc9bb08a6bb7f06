//! Direct reads and writes of the `__slots__` of `pyensign_fast.events.Event`, for the
//! publish path.
//!
//! Why: publishing reads six attributes of every event and writes two. Through
//! `PyObject_GetAttr` each costs a type lookup, a descriptor call and (for writes) an
//! interning of the name: measured, attribute handling was about 30% of the client
//! thread's CPU when publishing held events. A slot declared with `__slots__` is a
//! `PyObject *` field at a fixed offset of the instance (a `member_descriptor`), so it can
//! be read with one load.
//!
//! How it stays safe: the extension is built for the stable ABI, which does not expose
//! member descriptors' offsets, so they are found once by probing: each slot of a fresh
//! `Event` is set to a distinct sentinel object and the instance's memory (up to
//! `__basicsize__`) is searched for that pointer. Anything unexpected (a slot that is not a
//! `member_descriptor`, a pointer found twice or not at all) disables direct access and
//! every read goes through `getattr`, as before. A subclass of `Event` is read directly
//! only if its class attributes for these names are the very descriptors of `Event` and it
//! keeps `Event`'s attribute-access functions; other objects always use `getattr`. An unset
//! slot (a NULL field) also falls back to `getattr`, which raises the usual
//! `AttributeError`.
//!
//! Concurrency: the GIL is held for every call (the stable ABI has no free-threaded build).

use std::sync::Mutex;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType};

use super::Alloc;

/// The slots the publish path reads or writes, in the order of [`NAMES`].
#[derive(Clone, Copy)]
pub enum Slot {
    Data = 0,
    Mimetype,
    Type,
    TypeParts,
    Meta,
    Created,
    Batch,
    Index,
    Plain,
}

const NAMES: [&str; 9] = [
    "data", "mimetype", "_type", "_tparts", "meta", "_created", "_batch", "_slot", "_plain",
];

/// Most distinct `Event` subclasses remembered as checked (beyond that, they are checked
/// again on each batch, which is correct, only slower).
const MAX_VERIFIED: usize = 32;

/// The probed offsets of `Event`'s slots.
pub struct EventSlots {
    offsets: [isize; NAMES.len()],
    event_cls: Py<PyType>,
    /// Subclasses found to share `Event`'s descriptors (strong references: a type
    /// object's address is never reused while it is listed here).
    verified: Mutex<Vec<Py<PyType>>>,
}

static SLOTS: PyOnceLock<Option<EventSlots>> = PyOnceLock::new();

impl EventSlots {
    /// The offsets, probed on first use; `None` when direct access is not possible.
    pub fn get(py: Python<'_>) -> Option<&'static EventSlots> {
        SLOTS.get_or_init(py, || probe(py).ok().flatten()).as_ref()
    }

    /// Whether `obj`'s slots may be accessed directly.
    pub fn covers(&self, obj: &Bound<'_, PyAny>) -> bool {
        let py = obj.py();
        let ty = obj.get_type();
        let event_cls = self.event_cls.bind(py);
        if ty.is(event_cls) {
            return true;
        }
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.iter().any(|t| t.bind(py).is(&ty)) {
            return true;
        }
        let ok = same_layout(&ty, event_cls).unwrap_or(false);
        if ok && verified.len() < MAX_VERIFIED {
            verified.push(ty.unbind());
        }
        ok
    }

    /// The value of `slot` in `obj`, or `None` when the slot is unset.
    ///
    /// # Safety
    /// `self.covers(obj)` must be true.
    pub unsafe fn read<'py>(
        &self,
        obj: &Bound<'py, PyAny>,
        slot: Slot,
    ) -> Option<Bound<'py, PyAny>> {
        let field = self.field(obj, slot);
        // SAFETY: `covers` made sure `obj` has `Event`'s layout, so the field is a live
        // `PyObject *` or NULL; the GIL is held.
        unsafe {
            let value = *field;
            (!value.is_null()).then(|| Bound::from_borrowed_ptr(obj.py(), value))
        }
    }

    /// Stores `value` in `slot` of `obj`, as `member_set` does: the new value is
    /// referenced before the old one is released.
    ///
    /// # Safety
    /// `self.covers(obj)` must be true.
    pub unsafe fn write(&self, obj: &Bound<'_, PyAny>, slot: Slot, value: &Bound<'_, PyAny>) {
        let field = self.field(obj, slot);
        // SAFETY: as in `read`; dropping the old value may run arbitrary code, after the
        // field already holds the new one (CPython's own order).
        unsafe {
            ffi::Py_INCREF(value.as_ptr());
            let old = std::ptr::replace(field, value.as_ptr());
            ffi::Py_XDECREF(old);
        }
    }

    fn field(&self, obj: &Bound<'_, PyAny>, slot: Slot) -> *mut *mut ffi::PyObject {
        let base = obj.as_ptr().cast::<u8>();
        base.wrapping_offset(self.offsets[slot as usize]).cast()
    }
}

/// Whether subclass `ty` of `Event` resolves every probed name to `Event`'s own
/// descriptor and keeps its attribute-access functions (so its layout extends `Event`'s
/// and a direct access does what `getattr`/`setattr` would).
fn same_layout(ty: &Bound<'_, PyType>, event_cls: &Bound<'_, PyType>) -> PyResult<bool> {
    if !ty.is_subclass(event_cls)? {
        return Ok(false);
    }
    for slot in [ffi::Py_tp_getattro, ffi::Py_tp_setattro] {
        // SAFETY: both are heap types (Python classes); the slots are readable.
        let (a, b) = unsafe {
            (
                ffi::PyType_GetSlot(ty.as_type_ptr(), slot),
                ffi::PyType_GetSlot(event_cls.as_type_ptr(), slot),
            )
        };
        if a != b {
            return Ok(false);
        }
    }
    for name in NAMES {
        if !ty.getattr(name)?.is(event_cls.getattr(name)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Finds each slot's offset in a fresh `Event` (see the module docs).
fn probe(py: Python<'_>) -> PyResult<Option<EventSlots>> {
    let event_cls = py
        .import("pyensign_fast.events")?
        .getattr("Event")?
        .cast_into::<PyType>()?;
    let basic: isize = event_cls.getattr("__basicsize__")?.extract()?;
    for name in NAMES {
        if event_cls.getattr(name)?.get_type().name()? != "member_descriptor" {
            return Ok(None);
        }
    }
    let instance = Alloc::new(event_cls.clone()).make()?;
    let header = std::mem::size_of::<ffi::PyObject>() as isize;
    let word = std::mem::size_of::<*mut ffi::PyObject>() as isize;
    let mut offsets = [0isize; NAMES.len()];
    for (k, name) in NAMES.iter().enumerate() {
        let sentinel = PyList::empty(py);
        instance.setattr(*name, &sentinel)?;
        let base = instance.as_ptr().cast::<u8>();
        let mut found = None;
        let mut off = header;
        while off + word <= basic {
            // SAFETY: within the instance's `__basicsize__` bytes, at pointer alignment
            // (slots are pointer-aligned fields after the object header).
            let p = unsafe { *base.offset(off).cast::<*mut ffi::PyObject>() };
            if p == sentinel.as_ptr() {
                if found.is_some() {
                    return Ok(None);
                }
                found = Some(off);
            }
            off += word;
        }
        let Some(off) = found else { return Ok(None) };
        if offsets[..k].contains(&off) {
            return Ok(None);
        }
        offsets[k] = off;
    }
    Ok(Some(EventSlots {
        offsets,
        event_cls: event_cls.unbind(),
        verified: Mutex::new(Vec::new()),
    }))
}

/// Whether direct slot access is active (for the tests: `_core._direct_event_slots()`).
#[pyfunction]
pub fn _direct_event_slots(py: Python<'_>) -> bool {
    EventSlots::get(py).is_some()
}
