//! [`Memo`]: the last lookup in one of `Event.__init__`'s two caches (`mimetypes._PARSED`,
//! `schema._TYPE_CACHE`), remembered by the identity of its keys.
//!
//! Why: the fast `Event.__init__` (`event_init`) looks up the mimetype, the schema name and
//! the schema version in those dicts for every event. Counted with callgrind, the three
//! lookups were ~500 instructions per event, about as much as the rest of `__init__`:
//! `_PARSED` mixes str and int keys, so CPython takes its general lookup path, and a
//! mimetype string written in the program is a different object from the dict's key, so
//! each lookup also compares the strings. A program passes the same objects event after
//! event (the constants of its code, or the defaults), which one pointer comparison
//! recognises.
//!
//! Why it gives what the dict would: both caches only gain entries (`mimetypes.parse`,
//! `schema._event_type_parts`), and only keys of exact `str`, `int` or `None` are
//! remembered, whose hash and equality cannot change. Keys and value are held as strong
//! references, so no other object can take their addresses while they are remembered.
//!
//! Concurrency: used with the GIL held only (the stable ABI has no free-threaded build),
//! so relaxed atomics suffice; they exist to make the static `Sync`.

use std::ptr::{null_mut, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering::Relaxed};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};

use super::refcount::{decref, incref, Ref};

/// The keys (`N` of them) and value of the last lookup, or nothing yet.
pub struct Memo<const N: usize> {
    keys: [AtomicPtr<ffi::PyObject>; N],
    value: AtomicPtr<ffi::PyObject>,
}

impl<const N: usize> Default for Memo<N> {
    fn default() -> Self {
        Memo {
            keys: std::array::from_fn(|_| AtomicPtr::new(null_mut())),
            value: AtomicPtr::new(null_mut()),
        }
    }
}

impl<const N: usize> Memo<N> {
    /// The remembered value, if `keys` are the very objects of the last lookup.
    #[inline]
    pub fn get(&self, _py: Python<'_>, keys: [&Bound<'_, PyAny>; N]) -> Option<Ref> {
        let value = NonNull::new(self.value.load(Relaxed))?;
        for (held, key) in self.keys.iter().zip(keys) {
            if held.load(Relaxed) != key.as_ptr() {
                return None;
            }
        }
        // SAFETY: the memo holds a reference to `value`; `_py` proves the GIL.
        Some(unsafe { Ref::borrowed(value) })
    }

    /// Remembers that `keys` found `value`, when every key is a plain one (see the
    /// module docs); otherwise keeps what it had.
    pub fn set(&self, keys: [&Bound<'_, PyAny>; N], value: &Ref) {
        if !keys.iter().all(|k| plain_key(k)) {
            return;
        }
        // SAFETY: the GIL is held (a `Bound` proves it) and every object is live. The new
        // objects are referenced before the old ones are released; releasing a str, an
        // int, `None` or a tuple of those runs no Python code.
        unsafe {
            let mut old = [null_mut(); N];
            for (i, key) in keys.iter().enumerate() {
                incref(key.as_ptr());
                old[i] = self.keys[i].swap(key.as_ptr(), Relaxed);
            }
            incref(value.as_ptr());
            let old_value = self.value.swap(value.as_ptr(), Relaxed);
            for p in old.into_iter().chain([old_value]) {
                if !p.is_null() {
                    decref(p);
                }
            }
        }
    }
}

/// Whether `key`'s hash and equality are fixed: an exact `str`, `int` or `None`.
fn plain_key(key: &Bound<'_, PyAny>) -> bool {
    key.is_none() || key.is_exact_instance_of::<PyString>() || key.is_exact_instance_of::<PyInt>()
}
