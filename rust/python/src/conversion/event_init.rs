//! `Event.__init__` for the common arguments, as a C-level method (`_core._fast_event_init`
//! makes it; `events.py` installs it over the Python `__init__`, which stays the
//! reference and handles everything else).
//!
//! Why: building events is most of a per-batch publisher's CPU on the event-loop thread.
//! The Python `__init__` (checks, two cache lookups, fifteen slot stores) costs ~0.25 µs
//! of the ~0.33 µs an `Event(...)` takes; done here with the same lookups and direct slot
//! stores it costs a small fraction of that.
//!
//! Exactly the same result or the Python path: the fast path only runs for an instance of
//! `Event` itself or of a subclass that resolves every slot below to `Event`'s own
//! descriptor and keeps its attribute access (then the event stays tracked by the GC: a
//! subclass may hold anything in attributes of its own), arguments that bind without
//! error, non-empty `bytes` data, a mimetype
//! found in `mimetypes._PARSED`, a schema found in `schema._TYPE_CACHE`, and `meta` that is
//! `None` or a dict of str to str. Anything else (a subclass that overrides one of these
//! attributes; a value to parse, convert or reject) calls the Python `__init__` with the
//! original arguments, so every error, message and conversion is the Python one.
//!
//! Concurrency: runs with the GIL held, on the calling thread.

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple, PyType};
use pyo3::Borrowed;

use super::gc::{acyclic, new_none, untrack};
use super::memo::Memo;
use super::refcount::Ref;
use super::slots::{CheckedSubclasses, SlotTable};

/// The slots `__init__` stores, in the order of [`Init::values`].
const NAMES: [&str; 15] = [
    "mimetype",
    "_tparts",
    "_type",
    "data",
    "meta",
    "_created",
    "_state",
    "_batch",
    "_id",
    "_committed",
    "_error",
    "_sub",
    "_rlid",
    "_topic_id",
    "_plain",
];

/// `__init__`'s parameters, in order.
const PARAMS: [&str; 5] = ["data", "mimetype", "schema_name", "schema_version", "meta"];

// CPython's calling-convention flags (stable since 3.7; pyo3-ffi exposes the fast-call
// signature only for abi3 builds of 3.10 and later).
const METH_FASTCALL: c_int = 0x0080;

type FastWithKeywords = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    ffi::Py_ssize_t,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

const DOC: &CStr = c"__init__($self, /, data=None, mimetype=50, schema_name='Unknown', schema_version='0.0.0', meta=None)\n--\n\nValidate and build an event, as pyensign does (see the Python Event.__init__).";

/// What the fast path needs, set once by `_fast_event_init`.
struct Init {
    event_cls: Py<PyType>,
    /// The Python `__init__`: everything the fast path does not handle.
    slow: Py<PyAny>,
    mimes: Py<PyDict>,
    type_cache: Py<PyDict>,
    initialized: Py<PyAny>,
    params: [Py<PyAny>; 5],
    defaults: [Py<PyAny>; 5],
    slots: SlotTable,
    /// Subclasses checked for sharing `Event`'s descriptors for [`NAMES`], with the answer.
    checked: CheckedSubclasses,
    /// The last mimetype looked up in `mimes`, and the last (name, version) in
    /// `type_cache` (see `memo`).
    mime_memo: Memo<1>,
    type_memo: Memo<2>,
}

static INIT: OnceLock<Init> = OnceLock::new();

/// `_core._fast_event_init(cls, slow, mimes, type_cache, initialized)`: the method to
/// install as `cls.__init__`, or `None` when direct slot access is not possible or it was
/// already made (a reloaded module keeps its Python `__init__`).
#[pyfunction]
pub fn _fast_event_init<'py>(
    cls: &Bound<'py, PyType>,
    slow: &Bound<'py, PyAny>,
    mimes: &Bound<'py, PyDict>,
    type_cache: &Bound<'py, PyDict>,
    initialized: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = cls.py();
    if INIT.get().is_some() {
        return Ok(None);
    }
    let Some(slots) = SlotTable::probe(cls, &NAMES)? else {
        return Ok(None);
    };
    let defaults = slow.getattr("__defaults__")?;
    let defaults = defaults.cast::<PyTuple>()?;
    if defaults.len() != PARAMS.len() {
        return Ok(None);
    }
    let init = Init {
        event_cls: cls.clone().unbind(),
        slow: slow.clone().unbind(),
        mimes: mimes.clone().unbind(),
        type_cache: type_cache.clone().unbind(),
        initialized: initialized.clone().unbind(),
        params: PARAMS.map(|p| pyo3::types::PyString::intern(py, p).into_any().unbind()),
        defaults: std::array::from_fn(|i| defaults.get_item(i).map(Bound::unbind))
            .map(|d| d.unwrap_or_else(|_| py.None())),
        slots,
        checked: CheckedSubclasses::default(),
        mime_memo: Memo::default(),
        type_memo: Memo::default(),
    };
    if INIT.set(init).is_err() {
        return Ok(None);
    }
    // CPython keeps a pointer to the definition for the descriptor's lifetime (the
    // process's): leaked once.
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"__init__".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            // SAFETY: CPython calls it with the fast-call signature, per `ml_flags`.
            PyCFunction: unsafe {
                std::mem::transmute::<FastWithKeywords, ffi::PyCFunction>(event_init)
            },
        },
        ml_flags: METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: DOC.as_ptr(),
    }));
    // SAFETY: a live heap type and a 'static definition; NULL sets a Python error.
    let descr = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(cls.as_type_ptr(), def))?
    };
    Ok(Some(descr))
}

/// The method itself: `self`, then the call's arguments (positional, then the values of
/// the keywords named in `kwnames`).
unsafe extern "C" fn event_init(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: CPython calls a method with the GIL held and live, borrowed arguments:
        // `nargs` positional ones, then one per name of `kwnames` (a tuple, or NULL).
        let py = unsafe { Python::assume_attached() };
        let Some(init) = INIT.get() else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "Event.__init__ not set up",
            ));
        };
        // The vectorcall flag bit may be set on the count.
        let nargs = (nargsf as usize) & !(1usize << (usize::BITS - 1));
        // SAFETY: borrowed for the call (see above); no new references are needed.
        let kw = unsafe { Borrowed::from_ptr_or_opt(py, kwnames) };
        let kw = kw.map(|k| k.cast::<PyTuple>()).transpose()?;
        let nkw = kw.as_ref().map_or(0, |k| k.len());
        // NOTE: a call without arguments may pass NULL, which `from_raw_parts` forbids.
        let raw: &[*mut ffi::PyObject] = if args.is_null() || nargs + nkw == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(args, nargs + nkw) }
        };
        let slf = unsafe { Borrowed::from_ptr(py, slf) };
        if !init.fast(&slf, raw, nargs, kw.as_deref())? {
            init.call_slow(&slf, raw, nargs, kw.as_deref())?;
        }
        Ok(())
    }));
    match result {
        Ok(Ok(())) => new_none(),
        Ok(Err(err)) => {
            // SAFETY: the GIL is held (see above).
            let py = unsafe { Python::assume_attached() };
            err.restore(py);
            std::ptr::null_mut()
        }
        Err(_) => {
            let py = unsafe { Python::assume_attached() };
            pyo3::exceptions::PySystemError::new_err("Event.__init__ panicked").restore(py);
            std::ptr::null_mut()
        }
    }
}

impl Init {
    /// Builds the event if every argument is a common one; `Ok(false)` to leave it to the
    /// Python `__init__` (nothing was stored then).
    ///
    /// NOTE: this runs for every `Event(...)`, so it works on the call's borrowed
    /// pointers and counts references in place (`refcount`): the arguments stay alive for
    /// the call; what is looked up or made is held as a [`Ref`] until it is stored.
    fn fast(
        &self,
        slf: &Bound<'_, PyAny>,
        args: &[*mut ffi::PyObject],
        nargs: usize,
        kwnames: Option<&Bound<'_, PyTuple>>,
    ) -> PyResult<bool> {
        let py = slf.py();
        let exact = slf.get_type_ptr() == self.event_cls.bind(py).as_type_ptr();
        if nargs > PARAMS.len() || !(exact || self.subclass_ok(slf)) {
            return Ok(false);
        }
        let mut bound = [std::ptr::null_mut::<ffi::PyObject>(); 5];
        bound[..nargs].copy_from_slice(&args[..nargs]);
        if let Some(names) = kwnames {
            for (j, p) in args[nargs..].iter().enumerate() {
                let name = names.get_borrowed_item(j)?;
                // NOTE: keyword names of a call site are interned, so identity finds them;
                // anything else (or a repeat) is left to Python's own argument binding.
                let Some(i) = self.params.iter().position(|p| p.as_ptr() == name.as_ptr()) else {
                    return Ok(false);
                };
                if !std::mem::replace(&mut bound[i], *p).is_null() {
                    return Ok(false);
                }
            }
        }
        let arg = |i: usize| {
            let p = if bound[i].is_null() {
                self.defaults[i].as_ptr()
            } else {
                bound[i]
            };
            // SAFETY: an argument of the current call or a default held by `self`.
            unsafe { Borrowed::from_ptr(py, p) }
        };
        let data = arg(0);
        // SAFETY: `PyBytes_Size` of an exact bytes object cannot fail.
        if !data.is_exact_instance_of::<PyBytes>()
            || unsafe { ffi::PyBytes_Size(data.as_ptr()) } <= 0
        {
            return Ok(false);
        }
        let Some(mimetype) = self.mimetype(&arg(1)) else {
            return Ok(false);
        };
        let Some(parts) = self.type_parts(&arg(2), &arg(3)) else {
            return Ok(false);
        };
        let meta = arg(4);
        if !meta.is_none() && !str_to_str(&meta) {
            return Ok(false);
        }
        let created = super::ints::now_ns();
        // SAFETY: a new reference, or NULL with a Python error set.
        let created = unsafe { Ref::owned_or_err(py, ffi::PyLong_FromLongLong(created))? };
        // SAFETY: `None` and `True` live forever.
        let (none, true_) = unsafe { (ffi::Py_None(), ffi::Py_True()) };
        let values: [*mut ffi::PyObject; 15] = [
            mimetype.as_ptr(),
            parts.as_ptr(),
            none,
            data.as_ptr(),
            meta.as_ptr(),
            created.as_ptr(),
            self.initialized.as_ptr(),
            none,
            none,
            none,
            none,
            none,
            none,
            none,
            true_,
        ];
        for (i, v) in values.iter().enumerate() {
            // SAFETY: `slf` is an instance of the probed class itself, or of a subclass
            // with its layout (`subclass_ok`); every value is live, so not NULL.
            unsafe {
                self.slots
                    .write(slf.as_ptr(), i, NonNull::new_unchecked(*v))
            };
        }
        // As `_event_born`: nothing stored can lead back to the event (see `gc`).
        if exact && acyclic(&meta) {
            untrack(slf);
        }
        Ok(true)
    }

    /// `mimes[mimetype]`, or `None` to leave the event to the Python `__init__`.
    #[inline]
    fn mimetype(&self, mimetype: &Bound<'_, PyAny>) -> Option<Ref> {
        let py = mimetype.py();
        if let Some(v) = self.mime_memo.get(py, [mimetype]) {
            return Some(v);
        }
        let v = lookup(self.mimes.bind(py), mimetype)?;
        self.mime_memo.set([mimetype], &v);
        Some(v)
    }

    /// `type_cache[name][version]` (not `None`), or `None` to leave the event to the
    /// Python `__init__`.
    #[inline]
    fn type_parts(&self, name: &Bound<'_, PyAny>, version: &Bound<'_, PyAny>) -> Option<Ref> {
        let py = name.py();
        if let Some(v) = self.type_memo.get(py, [name, version]) {
            return Some(v);
        }
        let versions = lookup(self.type_cache.bind(py), name)?;
        let versions = versions.bind(py);
        let versions = versions.cast_exact::<PyDict>().ok()?;
        let parts = lookup(&versions, version).filter(|p| !p.bind(py).is_none())?;
        self.type_memo.set([name, version], &parts);
        Some(parts)
    }

    /// Whether `slf`, an instance of a subclass, may be filled through the slot table.
    fn subclass_ok(&self, slf: &Bound<'_, PyAny>) -> bool {
        let event_cls = self.event_cls.bind(slf.py());
        self.checked.check(&slf.get_type(), event_cls, &NAMES)
    }

    /// Calls the Python `__init__` with the original arguments.
    fn call_slow(
        &self,
        slf: &Bound<'_, PyAny>,
        args: &[*mut ffi::PyObject],
        nargs: usize,
        kwnames: Option<&Bound<'_, PyTuple>>,
    ) -> PyResult<()> {
        let py = slf.py();
        // SAFETY (every `from_borrowed_ptr` below): live arguments of the current call.
        let borrow = |p: &*mut ffi::PyObject| unsafe { Bound::from_borrowed_ptr(py, *p) };
        let pos: Vec<_> = std::iter::once(slf.clone())
            .chain(args[..nargs].iter().map(borrow))
            .collect();
        let pos = PyTuple::new(py, pos)?;
        let kwargs = match kwnames {
            Some(names) => {
                let d = PyDict::new(py);
                for (k, v) in names.iter().zip(&args[nargs..]) {
                    d.set_item(k, borrow(v))?;
                }
                Some(d)
            }
            None => None,
        };
        // Python code under our frames: see `exiting`.
        let _calls = crate::exiting::CallsGuard::enter(py);
        self.slow.bind(py).call(pos, kwargs.as_ref())?;
        Ok(())
    }
}

/// `d[key]`, or `None` when it is missing or the lookup raised (an unhashable key): the
/// Python `__init__` then repeats the lookup and raises or converts as it should.
fn lookup(d: &Bound<'_, PyDict>, key: &Bound<'_, PyAny>) -> Option<Ref> {
    // SAFETY: GIL held; the result is borrowed from the dict (referenced at once, before
    // any other code can change the dict), or NULL with or without an error set.
    unsafe {
        let v = ffi::PyDict_GetItemWithError(d.as_ptr(), key.as_ptr());
        match NonNull::new(v) {
            Some(v) => Some(Ref::borrowed(v)),
            None => {
                if !ffi::PyErr_Occurred().is_null() {
                    ffi::PyErr_Clear();
                }
                None
            }
        }
    }
}

/// Whether `meta` is a dict (exactly) of str to str (exactly), as the Python check.
fn str_to_str(meta: &Bound<'_, PyAny>) -> bool {
    let Ok(d) = meta.cast_exact::<PyDict>() else {
        return false;
    };
    d.iter().all(|(k, v)| {
        k.is_exact_instance_of::<pyo3::types::PyString>()
            && v.is_exact_instance_of::<pyo3::types::PyString>()
    })
}
