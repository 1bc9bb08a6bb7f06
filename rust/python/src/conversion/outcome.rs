//! Publish outcomes → the objects `on_ack`/`on_nack` receive: `messages.Ack` (`id`,
//! `committed` as a `timestamps.Timestamp`) and `messages.Nack` (`id`, `code`, `error`).
//!
//! NOTE: the instances are allocated with their type's `tp_alloc` and their slots set
//! directly, instead of calling `Ack(...)` and `Timestamp(...)` from Python (two
//! `__init__` frames, ~0.5 µs): through the probed slot offsets of `slots::SlotTable`
//! when available, else with `setattr`.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyType};

use super::refcount::Ref;
use super::slots::SlotTable;
use super::Alloc;

static ACK: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static NACK: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIMESTAMP: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ACK_SLOTS: PyOnceLock<Option<SlotTable>> = PyOnceLock::new();
static NACK_SLOTS: PyOnceLock<Option<SlotTable>> = PyOnceLock::new();
static TIMESTAMP_SLOTS: PyOnceLock<Option<SlotTable>> = PyOnceLock::new();

/// A class made by `Alloc`, with its slot table when probing succeeded.
struct Made<'py> {
    alloc: Alloc<'py>,
    /// The fields `make` fills, in the order of its values.
    fields: &'static [&'static str],
    slots: Option<&'static SlotTable>,
}

impl<'py> Made<'py> {
    fn new(
        py: Python<'py>,
        cell: &'static PyOnceLock<Py<PyType>>,
        table: &'static PyOnceLock<Option<SlotTable>>,
        module: &str,
        name: &str,
        fields: &'static [&'static str],
    ) -> PyResult<Self> {
        let cls = cell.import(py, module, name)?.clone();
        let slots = table
            .get_or_init(py, || SlotTable::probe(&cls, fields).ok().flatten())
            .as_ref();
        Ok(Made {
            alloc: Alloc::new(cls),
            fields,
            slots,
        })
    }

    /// A new instance with `values` in its fields (in the order of `fields`).
    fn make<const N: usize>(&self, values: [Ref; N]) -> PyResult<Ref> {
        let obj = Ref::from_bound(self.alloc.make()?);
        match self.slots {
            // SAFETY: `obj` was just allocated from the probed class itself.
            Some(t) => unsafe {
                for (i, v) in values.into_iter().enumerate() {
                    t.store(obj.as_ptr(), i, v);
                }
            },
            None => {
                let bound = obj.bind(self.alloc.py());
                for (name, v) in self.fields.iter().zip(values) {
                    bound.setattr(*name, v.bind(self.alloc.py()))?;
                }
            }
        }
        Ok(obj)
    }
}

/// Makes `Ack`/`Nack` objects; create one per drain.
pub struct OutcomeObjects<'py> {
    ack: Made<'py>,
    nack: Made<'py>,
    timestamp: Made<'py>,
}

impl<'py> OutcomeObjects<'py> {
    pub fn new(py: Python<'py>) -> PyResult<Self> {
        let messages = "pyensign_fast.messages";
        Ok(OutcomeObjects {
            ack: Made::new(py, &ACK, &ACK_SLOTS, messages, "Ack", &["id", "committed"])?,
            nack: Made::new(
                py,
                &NACK,
                &NACK_SLOTS,
                messages,
                "Nack",
                &["id", "code", "error"],
            )?,
            timestamp: Made::new(
                py,
                &TIMESTAMP,
                &TIMESTAMP_SLOTS,
                "pyensign_fast.timestamps",
                "Timestamp",
                &["seconds", "nanos"],
            )?,
        })
    }

    /// `messages.Ack(id=local_id, committed=Timestamp(seconds, nanos))`.
    pub fn ack(&self, local_id: &[u8; 16], seconds: i64, nanos: i32) -> PyResult<Ref> {
        let py = self.ack.alloc.py();
        // SAFETY (each call): GIL held; a new reference or NULL with an error set.
        let ts = unsafe {
            self.timestamp.make([
                Ref::owned_or_err(py, ffi::PyLong_FromLongLong(seconds))?,
                Ref::owned_or_err(py, ffi::PyLong_FromLong(nanos.into()))?,
            ])?
        };
        self.ack.make([new_bytes(py, local_id)?, ts])
    }

    /// `messages.Nack(id=local_id, code=code, error=error)`.
    pub fn nack(&self, local_id: &[u8; 16], code: i32, error: &str) -> PyResult<Ref> {
        let py = self.nack.alloc.py();
        self.nack.make([
            new_bytes(py, local_id)?,
            // SAFETY: GIL held; a new reference or NULL with an error set.
            unsafe { Ref::owned_or_err(py, ffi::PyLong_FromLong(code.into()))? },
            Ref::from_bound(PyString::new(py, error).into_any()),
        ])
    }
}

/// A new `bytes` holding `data`.
fn new_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Ref> {
    // SAFETY: a valid buffer of that length; GIL held; a new reference or NULL.
    unsafe {
        Ref::owned_or_err(
            py,
            ffi::PyBytes_FromStringAndSize(data.as_ptr().cast(), data.len() as ffi::Py_ssize_t),
        )
    }
}
