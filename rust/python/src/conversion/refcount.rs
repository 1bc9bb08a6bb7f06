//! Reference counting in place, for the per-event paths (`event_init`, `event`, `slots`,
//! `publish`): [`Ref`], an owned reference whose clone and drop touch the count directly.
//!
//! Why: built for the stable ABI, pyo3 changes every reference count through the
//! `Py_IncRef`/`Py_DecRef` functions of libpython. Measured with `perf` on 1,000,000
//! events published without callbacks, those two calls were 6–7 % of the publishing
//! process's CPU. With `Ref` on these paths (and borrowed pointers where nothing can run
//! in between), callgrind counts 6 % fewer instructions per event on the publishing
//! thread (`benches/results/publish_path.md`).
//!
//! Why it is allowed: this is what the C headers of the 3.9 limited API (our `abi3-py39`
//! target) compile `Py_INCREF`/`Py_DECREF` to, so every later CPython must keep it
//! working: the count is the object's first field, a `Py_ssize_t`, changed in place; a
//! decrement that reaches zero calls `_Py_Dealloc`, which the stable ABI exports for that
//! reason. Immortal objects (3.12+) start with a count far from zero and from the 32-bit
//! limit, so a balanced increment and decrement never frees or changes them. The stable
//! ABI has no free-threaded build, where counts are split between threads.
//!
//! Concurrency: the GIL must be held wherever a reference is made, cloned or dropped.
//! [`Ref`] is neither `Send` nor `Sync`, so it cannot move into `Python::detach`.

use std::ptr::NonNull;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::Borrowed;

extern "C" {
    // Part of the stable ABI (the limited API's inline `Py_DECREF` calls it).
    fn _Py_Dealloc(op: *mut ffi::PyObject);
}

/// Adds a reference to `op`.
///
/// # Safety
/// The GIL is held and `op` is a live object.
#[inline(always)]
pub unsafe fn incref(op: *mut ffi::PyObject) {
    // SAFETY: the count is the first field of every object (see the module docs).
    unsafe { *op.cast::<ffi::Py_ssize_t>() += 1 };
}

/// Drops a reference to `op`, freeing it when it was the last one.
///
/// # Safety
/// The GIL is held and the caller owns one reference to `op`, which it gives up.
#[inline(always)]
pub unsafe fn decref(op: *mut ffi::PyObject) {
    // SAFETY: as in `incref`; deallocation may run arbitrary code (as `Py_DECREF` can).
    unsafe {
        let count = op.cast::<ffi::Py_ssize_t>();
        *count -= 1;
        if *count == 0 {
            _Py_Dealloc(op);
        }
    }
}

/// An owned (strong) reference to a Python object, counted in place.
pub struct Ref(NonNull<ffi::PyObject>);

impl Ref {
    /// A new reference to the object `op` borrows.
    ///
    /// # Safety
    /// The GIL is held and `op` is a live object.
    #[inline]
    pub unsafe fn borrowed(op: NonNull<ffi::PyObject>) -> Ref {
        // SAFETY: per the contract.
        unsafe { incref(op.as_ptr()) };
        Ref(op)
    }

    /// Takes over pyo3's owned reference (same count: the reference moves).
    #[inline]
    pub fn from_bound(obj: Bound<'_, PyAny>) -> Ref {
        // SAFETY: a `Bound` is a live, owned, non-NULL reference.
        Ref(unsafe { NonNull::new_unchecked(obj.into_ptr()) })
    }

    /// A new reference to `obj`.
    #[inline]
    pub fn of(obj: &Bound<'_, PyAny>) -> Ref {
        // SAFETY: a `Bound` proves the GIL is held and the object is live.
        unsafe { Ref::borrowed(NonNull::new_unchecked(obj.as_ptr())) }
    }

    /// Hands the reference over to the caller, who must release it.
    #[inline]
    pub fn into_ptr(self) -> *mut ffi::PyObject {
        let op = self.as_ptr();
        std::mem::forget(self);
        op
    }

    /// Takes over the new reference `op` that a CPython call returned, or, for NULL (the
    /// call failed), the Python error it set.
    ///
    /// # Safety
    /// The GIL is held and `op` is NULL or a new reference the caller owns.
    #[inline]
    pub unsafe fn owned_or_err(py: Python<'_>, op: *mut ffi::PyObject) -> PyResult<Ref> {
        NonNull::new(op).map(Ref).ok_or_else(|| PyErr::fetch(py))
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.0.as_ptr()
    }

    /// A view for pyo3's API, without a new reference.
    #[inline]
    pub fn bind<'a, 'py>(&'a self, py: Python<'py>) -> Borrowed<'a, 'py, PyAny> {
        // SAFETY: the reference keeps the object live for `'a`; `py` proves the GIL.
        unsafe { Borrowed::from_ptr(py, self.as_ptr()) }
    }
}

impl Clone for Ref {
    #[inline]
    fn clone(&self) -> Ref {
        // SAFETY: a `Ref` exists only where the GIL is held (it is not `Send`).
        unsafe { Ref::borrowed(self.0) }
    }
}

impl Drop for Ref {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: as in `clone`; this value owns one reference.
        unsafe { decref(self.as_ptr()) }
    }
}
