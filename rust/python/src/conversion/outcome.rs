//! Publish outcomes → the objects `on_ack`/`on_nack` receive: `messages.Ack` (`id`,
//! `committed` as a `timestamps.Timestamp`) and `messages.Nack` (`id`, `code`, `error`).
//!
//! NOTE: the instances are allocated with their type's `tp_alloc` and their slots set
//! directly (~0.2 µs per ack), instead of calling `Ack(...)` and `Timestamp(...)` from
//! Python (two `__init__` frames, ~0.5 µs).

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyType};

use super::Alloc;

static ACK: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static NACK: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIMESTAMP: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Makes `Ack`/`Nack` objects; create one per drain.
pub struct OutcomeObjects<'py> {
    ack: Alloc<'py>,
    nack: Alloc<'py>,
    timestamp: Alloc<'py>,
}

impl<'py> OutcomeObjects<'py> {
    pub fn new(py: Python<'py>) -> PyResult<Self> {
        let messages = "pyensign_fast.messages";
        Ok(OutcomeObjects {
            ack: Alloc::new(ACK.import(py, messages, "Ack")?.clone()),
            nack: Alloc::new(NACK.import(py, messages, "Nack")?.clone()),
            timestamp: Alloc::new(
                TIMESTAMP
                    .import(py, "pyensign_fast.timestamps", "Timestamp")?
                    .clone(),
            ),
        })
    }

    /// `messages.Ack(id=local_id, committed=Timestamp(seconds, nanos))`.
    pub fn ack(
        &self,
        local_id: &[u8; 16],
        seconds: i64,
        nanos: i32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = self.ack.py();
        let ts = self.timestamp.make()?;
        ts.setattr(intern!(py, "seconds"), seconds)?;
        ts.setattr(intern!(py, "nanos"), nanos)?;
        let ack = self.ack.make()?;
        ack.setattr(intern!(py, "id"), PyBytes::new(py, local_id))?;
        ack.setattr(intern!(py, "committed"), ts)?;
        Ok(ack)
    }

    /// `messages.Nack(id=local_id, code=code, error=error)`.
    pub fn nack(&self, local_id: &[u8; 16], code: i32, error: &str) -> PyResult<Bound<'py, PyAny>> {
        let py = self.nack.py();
        let nack = self.nack.make()?;
        nack.setattr(intern!(py, "id"), PyBytes::new(py, local_id))?;
        nack.setattr(intern!(py, "code"), code)?;
        nack.setattr(intern!(py, "error"), error)?;
        Ok(nack)
    }
}
