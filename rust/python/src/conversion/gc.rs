//! The cyclic garbage collector's view of `Event`s: which events it needs to walk, and
//! `_core._event_born`, which `Event.__init__` calls to untrack a fresh event.
//!
//! Why untrack at birth: a program that builds its events per batch keeps every new
//! `Event` tracked from `__init__` until publishing untracks it (`conversion::event`), so
//! each young-generation collection walks the batch being built. Measured on the
//! publish benchmark's build loop (`Event(payload, "application/json")` × 1,000 per
//! batch): 0.42 µs per event with the collector on, 0.33 with it off. A fresh `Event`
//! of the exact class holds only bytes, an int, the shared schema tuple (str, int and
//! bytes), `None`, its creation time and perhaps a dict of str to str that the collector
//! does not track: nothing that can lead back to it, so it cannot be in a reference
//! cycle, and CPython untracks tuples and dicts of such values for the same reason.
//!
//! What tracks it again: the setters that may store any object (`type`, `id`,
//! `committed`, `error`, `mark_*`, and the `type` getter, which stores a `Type` that the
//! user may mutate), and publishing, which re-checks `data` and `meta` of an untracked
//! event (plain slots the user may have reassigned) before keeping it untracked.
//! What does not: storing an object that refers back to the event in `data`, `meta` or
//! `mimetype` of an event that is never published. Those values violate the event's
//! types (bytes, dict of str to str, int); such a cycle would be kept alive, not freed.
//!
//! Why `_event_born` is a bare `METH_O` function and not a `#[pyfunction]`: pyo3's
//! wrapper costs ~90 ns per call here (argument parsing, the panic guard), as much as
//! the collector's work it saves; CPython calls a `METH_O` function directly (~20 ns).
//!
//! Concurrency: every function runs with the GIL held (the stable ABI has no
//! free-threaded build).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::slots::{EventSlots, Slot};

/// Whether the collector tracks `obj`.
pub fn is_tracked(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: a live object; the call only reads its GC header (GIL held).
    unsafe { ffi::PyObject_GC_IsTracked(obj.as_ptr()) == 1 }
}

/// Whether `obj` cannot lead to a reference cycle: not a GC type (bytes, str, int,
/// `None`, a pyclass without `__traverse__`) or an object the collector does not track
/// (a dict of str to str, an untracked `Type`).
pub fn acyclic(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: reads the flags of a live type object.
    let gc_type = unsafe { ffi::PyType_IS_GC(obj.get_type_ptr()) != 0 };
    !gc_type || !is_tracked(obj)
}

/// Stops the collector from walking `obj`.
pub fn untrack(obj: &Bound<'_, PyAny>) {
    // SAFETY: a live GC object whose referents cannot lead back to it (checked by the
    // callers); untracking an untracked object is a no-op (CPython checks it).
    unsafe {
        if is_tracked(obj) {
            ffi::PyObject_GC_UnTrack(obj.as_ptr().cast());
        }
    }
}

/// Tracks `obj` again (after a setter stored a value that might form a cycle).
pub fn track(obj: &Bound<'_, PyAny>) {
    // SAFETY: `PyObject_GC_Track` requires a GC object that is not tracked: both checked.
    unsafe {
        if ffi::PyType_IS_GC(obj.get_type_ptr()) != 0 && !is_tracked(obj) {
            ffi::PyObject_GC_Track(obj.as_ptr().cast());
        }
    }
}

/// Untracks `ev` if it is a freshly initialised `Event` of the exact class whose `data`
/// is bytes and whose `meta` is `None` or an untracked dict (see the module docs).
/// Returns whether it did.
pub fn untrack_fresh_event(ev: &Bound<'_, PyAny>) -> bool {
    let Some(slots) = EventSlots::get(ev.py()) else {
        return false;
    };
    // NOTE: only the exact class: a subclass may have slots or a `__dict__` of its own.
    if !slots.is_exact(ev) {
        return false;
    }
    // SAFETY: `ev` is an instance of `Event` itself, whose layout the slots were probed on.
    let (data, meta) = unsafe { (slots.read(ev, Slot::Data), slots.read(ev, Slot::Meta)) };
    let py = ev.py();
    let data_ok = data.is_some_and(|d| d.bind(py).is_exact_instance_of::<PyBytes>());
    let meta_ok = match meta {
        None => true,
        Some(m) => {
            let m = m.bind(py);
            m.is_none() || (m.is_exact_instance_of::<PyDict>() && !is_tracked(&m))
        }
    };
    if data_ok && meta_ok {
        untrack(ev);
    }
    data_ok && meta_ok
}

/// Runs `f` on the borrowed argument of a `METH_O` function and returns `None`.
///
/// # Safety
/// Only from a `METH_O` function called by CPython (GIL held, `arg` live and borrowed).
unsafe fn meth_o(arg: *mut ffi::PyObject, f: fn(&Bound<'_, PyAny>)) -> *mut ffi::PyObject {
    // No panic may cross into CPython: nothing here panics, but a bug must not abort.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per this function's contract.
        let py = unsafe { Python::assume_attached() };
        f(unsafe { &Bound::from_borrowed_ptr(py, arg) });
    }));
    new_none()
}

/// A new reference to `None`: what a C-level function returns when it has no result.
pub fn new_none() -> *mut ffi::PyObject {
    // SAFETY: only called with the GIL held (from functions CPython calls); `None` lives
    // forever.
    unsafe {
        let none = ffi::Py_None();
        ffi::Py_IncRef(none);
        none
    }
}

/// `_core._event_born(event)`: called at the end of `Event.__init__`.
unsafe extern "C" fn event_born(
    _module: *mut ffi::PyObject,
    ev: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls it as METH_O.
    unsafe {
        meth_o(ev, |ev| {
            untrack_fresh_event(ev);
        })
    }
}

/// `_core.gc_track(obj)`: the setters of `Event`/`Type` call it after storing a value
/// that could lead back to an untracked event.
unsafe extern "C" fn gc_track(
    _module: *mut ffi::PyObject,
    obj: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls it as METH_O.
    unsafe { meth_o(obj, track) }
}

type MethO = unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject) -> *mut ffi::PyObject;

/// Adds one `METH_O` function to the module.
fn add_meth_o(
    m: &Bound<'_, PyModule>,
    name: &'static std::ffi::CStr,
    doc: &'static std::ffi::CStr,
    meth: MethO,
) -> PyResult<()> {
    // CPython keeps a pointer to the definition for the function's lifetime, which is
    // the process's: leaked once per module initialisation.
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: meth },
        ml_flags: ffi::METH_O,
        ml_doc: doc.as_ptr(),
    }));
    // SAFETY: a valid, 'static method definition; a NULL result sets a Python error.
    let func = unsafe {
        let f = ffi::PyCFunction_NewEx(def, ptr::null_mut(), ptr::null_mut());
        Bound::from_owned_ptr_or_err(m.py(), f)?
    };
    m.add(name.to_str().unwrap_or("?"), func)
}

/// Adds `_event_born` and `gc_track` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_meth_o(
        m,
        c"_event_born",
        c"Untracks a freshly initialised Event from the cyclic GC when it cannot be in a reference cycle (called by Event.__init__).",
        event_born,
    )?;
    add_meth_o(
        m,
        c"gc_track",
        c"Tracks an object with the cyclic GC again (no-op if tracked or not a GC type).",
        gc_track,
    )
}
