//! Direct reads and writes of the `__slots__` of the SDK's own classes: `Event` on the
//! publish path, `Ack`/`Nack`/`Timestamp` when outcomes are built.
//!
//! Why: publishing reads six attributes of every event and writes two. Through
//! `PyObject_GetAttr` each costs a type lookup, a descriptor call and (for writes) an
//! interning of the name: measured, attribute handling was about 30% of the client
//! thread's CPU when publishing held events. A slot declared with `__slots__` is a
//! `PyObject *` field at a fixed offset of the instance (a `member_descriptor`), so it can
//! be read with one load. (The same for outcomes: four `setattr`s per ack were 9% of the
//! event-loop thread's CPU.)
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

use std::ptr::NonNull;
use std::sync::Mutex;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType};

use super::refcount::{decref, Ref};
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
/// again on each use, which is correct, only slower).
const MAX_CHECKED: usize = 32;

/// The probed offsets of some slots of one class (see the module docs).
pub struct SlotTable {
    offsets: Vec<isize>,
}

impl SlotTable {
    /// Finds the offsets of `names` in instances of `cls`; `None` if any of them is not a
    /// plain slot or cannot be found exactly once.
    pub fn probe(cls: &Bound<'_, PyType>, names: &[&str]) -> PyResult<Option<SlotTable>> {
        let py = cls.py();
        let basic: isize = cls.getattr("__basicsize__")?.extract()?;
        for name in names {
            if cls.getattr(*name)?.get_type().name()? != "member_descriptor" {
                return Ok(None);
            }
        }
        let instance = Alloc::new(cls.clone()).make()?;
        let header = std::mem::size_of::<ffi::PyObject>() as isize;
        let word = std::mem::size_of::<*mut ffi::PyObject>() as isize;
        let mut offsets = Vec::with_capacity(names.len());
        for name in names {
            let sentinel = PyList::empty(py);
            instance.setattr(*name, &sentinel)?;
            let base = instance.as_ptr().cast::<u8>();
            let mut found = None;
            let mut off = header;
            while off + word <= basic {
                // SAFETY: within the instance's `__basicsize__` bytes, at pointer
                // alignment (slots are pointer-aligned fields after the object header).
                let p = unsafe { *base.offset(off).cast::<*mut ffi::PyObject>() };
                if p == sentinel.as_ptr() {
                    if found.is_some() {
                        return Ok(None);
                    }
                    found = Some(off);
                }
                off += word;
            }
            match found {
                Some(off) if !offsets.contains(&off) => offsets.push(off),
                _ => return Ok(None),
            }
        }
        Ok(Some(SlotTable { offsets }))
    }

    /// The value of slot `i` (in the order of the probed names) in `obj`, or `None` when
    /// the slot is unset.
    ///
    /// # Safety
    /// `obj` must be an instance of the probed class, or of a subclass whose attribute
    /// access for these names is the class's own.
    #[inline]
    pub unsafe fn read(&self, obj: &Bound<'_, PyAny>, i: usize) -> Option<Ref> {
        // SAFETY: per the contract, the field is a live `PyObject *` or NULL; GIL held.
        unsafe { NonNull::new(*self.field(obj.as_ptr(), i)).map(|v| Ref::borrowed(v)) }
    }

    /// Stores `value` in slot `i` of `obj`, as `member_set` does: the new value is
    /// referenced before the old one is released.
    ///
    /// # Safety
    /// As for [`SlotTable::read`], and `value` must be a live object.
    #[inline]
    pub unsafe fn write(&self, obj: *mut ffi::PyObject, i: usize, value: NonNull<ffi::PyObject>) {
        // SAFETY: per the contract; `store` releases the old value after the new is set.
        unsafe { self.store(obj, i, Ref::borrowed(value)) }
    }

    /// Moves `value` into slot `i` of `obj` (its reference becomes the slot's).
    ///
    /// # Safety
    /// As for [`SlotTable::read`].
    #[inline]
    pub unsafe fn store(&self, obj: *mut ffi::PyObject, i: usize, value: Ref) {
        let field = self.field(obj, i);
        // SAFETY: as in `read`; dropping the old value may run arbitrary code, after the
        // field already holds the new one (CPython's own order).
        unsafe {
            let old = std::ptr::replace(field, value.into_ptr());
            if !old.is_null() {
                decref(old);
            }
        }
    }

    #[inline]
    fn field(&self, obj: *mut ffi::PyObject, i: usize) -> *mut *mut ffi::PyObject {
        let base = obj.cast::<u8>();
        base.wrapping_offset(self.offsets[i]).cast()
    }
}

/// The subclasses of `Event` checked for resolving a list of slot names to `Event`'s own
/// descriptors (see [`same_layout`]), with the answer, so that each is checked once: the
/// check costs two attribute lookups per name, and a subclass that fails it would
/// otherwise pay them again for every event it builds.
#[derive(Default)]
pub struct CheckedSubclasses {
    /// Strong references: a type object's address is never reused while it is listed.
    types: Mutex<Vec<(Py<PyType>, bool)>>,
}

impl CheckedSubclasses {
    /// Whether `ty` (a type other than `event_cls`) has `event_cls`'s layout for `names`.
    pub fn check(
        &self,
        ty: &Bound<'_, PyType>,
        event_cls: &Bound<'_, PyType>,
        names: &[&str],
    ) -> bool {
        let py = ty.py();
        let mut types = self.types.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, ok)) = types.iter().find(|(t, _)| t.bind(py).is(ty)) {
            return *ok;
        }
        let ok = same_layout(ty, event_cls, names).unwrap_or(false);
        if types.len() < MAX_CHECKED {
            types.push((ty.clone().unbind(), ok));
        }
        ok
    }
}

/// `Event`'s slot table, and which types it may be used for.
pub struct EventSlots {
    table: SlotTable,
    event_cls: Py<PyType>,
    checked: CheckedSubclasses,
}

static SLOTS: PyOnceLock<Option<EventSlots>> = PyOnceLock::new();

impl EventSlots {
    /// The offsets, probed on first use; `None` when direct access is not possible.
    pub fn get(py: Python<'_>) -> Option<&'static EventSlots> {
        SLOTS.get_or_init(py, || probe(py).ok().flatten()).as_ref()
    }

    /// Whether `obj` is an instance of `Event` itself (not of a subclass).
    pub fn is_exact(&self, obj: &Bound<'_, PyAny>) -> bool {
        obj.get_type_ptr() == self.event_cls.bind(obj.py()).as_type_ptr()
    }

    /// Whether `obj`'s slots may be accessed directly.
    pub fn covers(&self, obj: &Bound<'_, PyAny>) -> bool {
        let event_cls = self.event_cls.bind(obj.py());
        if obj.get_type_ptr() == event_cls.as_type_ptr() {
            return true;
        }
        self.checked.check(&obj.get_type(), event_cls, &NAMES)
    }

    /// The value of `slot` in `obj`, or `None` when the slot is unset.
    ///
    /// # Safety
    /// `self.covers(obj)` must be true.
    #[inline]
    pub unsafe fn read(&self, obj: &Bound<'_, PyAny>, slot: Slot) -> Option<Ref> {
        // SAFETY: `covers` made sure `obj` has `Event`'s layout.
        unsafe { self.table.read(obj, slot as usize) }
    }

    /// Stores `value` in `slot` of `obj`.
    ///
    /// # Safety
    /// `self.covers(obj)` must be true.
    #[inline]
    pub unsafe fn write(&self, obj: &Bound<'_, PyAny>, slot: Slot, value: &Bound<'_, PyAny>) {
        // SAFETY: as in `read`.
        unsafe {
            self.table.write(
                obj.as_ptr(),
                slot as usize,
                NonNull::new_unchecked(value.as_ptr()),
            )
        }
    }
}

/// Whether subclass `ty` of `Event` resolves every name of `names` to `Event`'s own
/// descriptor and keeps its attribute-access functions (so its layout extends `Event`'s
/// and a direct access does what `getattr`/`setattr` would).
fn same_layout(
    ty: &Bound<'_, PyType>,
    event_cls: &Bound<'_, PyType>,
    names: &[&str],
) -> PyResult<bool> {
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
    for name in names {
        if !ty.getattr(*name)?.is(event_cls.getattr(*name)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Probes `Event` (see the module docs).
fn probe(py: Python<'_>) -> PyResult<Option<EventSlots>> {
    let event_cls = py
        .import("pyensign_fast.events")?
        .getattr("Event")?
        .cast_into::<PyType>()?;
    Ok(
        SlotTable::probe(&event_cls, &NAMES)?.map(|table| EventSlots {
            table,
            event_cls: event_cls.unbind(),
            checked: CheckedSubclasses::default(),
        }),
    )
}

/// Whether direct slot access is active (for the tests: `_core._direct_event_slots()`).
#[pyfunction]
pub fn _direct_event_slots(py: Python<'_>) -> bool {
    EventSlots::get(py).is_some()
}
