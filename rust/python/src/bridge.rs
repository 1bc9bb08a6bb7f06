//! The notifier: how results travel from tokio threads to Python without a tokio thread
//! ever taking the GIL.
//!
//! Rust pushes [`Item`]s into a mutex-guarded queue and writes one byte to a socket pair
//! only when the "pending" flag flips from false to true, so a burst of completions costs
//! one wake-up. On asyncio, the read end is registered once with `loop.add_reader`; the
//! callback makes one `drain()` call that converts every item (GIL held, loop thread)
//! into `(kind, a, b)` tuples that `_bridge.py` dispatches. Without a loop, a Python
//! thread blocks in `wait()` with the GIL released. See docs/architecture.md.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// `(kind, future, value)`: resolve the future.
pub const KIND_RESULT: u8 = 0;
/// `(kind, future, exception)`: fail the future.
pub const KIND_ERROR: u8 = 1;
/// `(kind, batch_id, slot)`: an event someone waits on has its outcome.
pub const KIND_WAITER: u8 = 3;
/// `(kind, on_ack, (local_id, seconds, nanos))`.
pub const KIND_ACK_CALLBACK: u8 = 4;
/// `(kind, on_nack, (local_id, code, error))`.
pub const KIND_NACK_CALLBACK: u8 = 5;

/// Converts an operation's result once the GIL is held.
pub type MakeResult = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// The `on_ack` / `on_nack` callables of one `publish` call.
pub struct Callbacks {
    pub on_ack: Option<Py<PyAny>>,
    pub on_nack: Option<Py<PyAny>>,
}

/// Something for Python to do.
pub enum Item {
    Result {
        future: Py<PyAny>,
        make: MakeResult,
    },
    Ack {
        callbacks: Arc<Callbacks>,
        local_id: [u8; 16],
        seconds: i64,
        nanos: i32,
    },
    Nack {
        callbacks: Arc<Callbacks>,
        local_id: [u8; 16],
        code: i32,
        error: Box<str>,
    },
    Waiter {
        batch: u64,
        slot: u32,
    },
}

/// The Rust side of a notifier, shared with the tasks that complete things.
pub struct NotifierCore {
    queue: Mutex<Vec<Item>>,
    ready: Condvar,
    pending: AtomicBool,
    reader: UnixStream,
    writer: UnixStream,
}

impl NotifierCore {
    fn new() -> std::io::Result<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(NotifierCore {
            queue: Mutex::new(Vec::new()),
            ready: Condvar::new(),
            pending: AtomicBool::new(false),
            reader,
            writer,
        })
    }

    /// Queues an item; wakes the consumer only if nothing was pending.
    pub fn push(&self, item: Item) {
        let wake = {
            let mut q = self.queue.lock();
            q.push(item);
            !self.pending.swap(true, Ordering::AcqRel)
        };
        if wake {
            // A full socket buffer means a wake-up is already on its way.
            let _ = (&self.writer).write(&[1]);
            self.ready.notify_all();
        }
    }

    fn take(&self) -> Vec<Item> {
        let mut buf = [0u8; 256];
        while matches!((&self.reader).read(&mut buf), Ok(n) if n > 0) {}
        // Clear the flag before taking the queue: a push racing with us then either lands
        // in this batch or triggers a new wake-up, never neither.
        self.pending.store(false, Ordering::Release);
        std::mem::take(&mut *self.queue.lock())
    }
}

/// A per-event-loop (or per-thread) completion queue with a pollable file descriptor.
#[pyclass(frozen, module = "pyensign_fast._core")]
pub struct Notifier {
    pub core: Arc<NotifierCore>,
}

#[pymethods]
impl Notifier {
    #[new]
    fn new() -> PyResult<Self> {
        Ok(Notifier {
            core: Arc::new(NotifierCore::new()?),
        })
    }

    /// The descriptor to register with `loop.add_reader`.
    fn fileno(&self) -> i32 {
        self.core.reader.as_raw_fd()
    }

    /// Takes every queued item as a list of `(kind, a, b)` tuples.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self.core.take();
        let out = PyList::empty(py);
        for item in items {
            let t = match item {
                Item::Result { future, make } => match make(py) {
                    Ok(v) => (KIND_RESULT, future, v).into_pyobject(py)?,
                    Err(e) => (KIND_ERROR, future, e.into_value(py)).into_pyobject(py)?,
                },
                Item::Ack {
                    callbacks,
                    local_id,
                    seconds,
                    nanos,
                } => {
                    let Some(cb) = &callbacks.on_ack else {
                        continue;
                    };
                    let arg = (PyBytes::new(py, &local_id), seconds, nanos);
                    (KIND_ACK_CALLBACK, cb.clone_ref(py), arg).into_pyobject(py)?
                }
                Item::Nack {
                    callbacks,
                    local_id,
                    code,
                    error,
                } => {
                    let Some(cb) = &callbacks.on_nack else {
                        continue;
                    };
                    let arg = (PyBytes::new(py, &local_id), code, &*error);
                    (KIND_NACK_CALLBACK, cb.clone_ref(py), arg).into_pyobject(py)?
                }
                Item::Waiter { batch, slot } => (KIND_WAITER, batch, slot).into_pyobject(py)?,
            };
            out.append(t)?;
        }
        Ok(out)
    }

    /// Blocks (GIL released) until items are pending or `timeout` seconds pass; returns
    /// whether items are pending. For consumers without an event loop.
    fn wait(&self, py: Python<'_>, timeout: f64) -> bool {
        let core = self.core.clone();
        let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
        py.detach(move || {
            let mut q = core.queue.lock();
            if q.is_empty() {
                core.ready.wait_for(&mut q, timeout);
            }
            !q.is_empty()
        })
    }
}

/// `waiter` argument of async operations: `(notifier, future)`, or `None` to block.
pub type Waiter = Option<(Py<Notifier>, Py<PyAny>)>;

/// Completes `future` through `notifier` with whatever `make` builds.
pub fn complete(notifier: &Arc<NotifierCore>, future: Py<PyAny>, make: MakeResult) {
    notifier.push(Item::Result { future, make });
}
