//! The notifier: how results travel from tokio threads to Python without a tokio thread
//! ever taking the GIL, and where per-event callbacks run.
//!
//! Rust pushes [`Item`]s into a mutex-guarded queue and writes one byte to a socket pair
//! only when the "pending" flag flips from false to true, so a burst of completions costs
//! one wake-up. On asyncio, the read end is registered once with `loop.add_reader` (or
//! watched by a Python thread that calls `call_soon_threadsafe` once per burst, on loops
//! without `add_reader`); without a loop, a Python thread blocks in `wait()` with the
//! GIL released.
//!
//! `drain()` (GIL held, on the consumer's thread) does the per-item work itself
//! (`dispatch.rs`): it resolves futures, builds each `Ack`/`Nack` and calls
//! `on_ack`/`on_nack`, running a coroutine callback eagerly (one step) so that one that
//! finishes without suspending costs no task. It hands back only what Python must finish: `wait_for_ack`
//! wake-ups, coroutines that did suspend, other awaitables, and callback exceptions to
//! log. See docs/architecture.md.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::conversion::outcome::OutcomeObjects;
use crate::dispatch::{call_back, report, resolve};

/// `(kind, batch_id, slot)`: an event someone waits on has its outcome.
pub const KIND_WAITER: u8 = 3;
/// `(kind, coroutine, yielded)`: a coroutine callback suspended; finish it in a task.
pub const KIND_SUSPENDED: u8 = 6;
/// `(kind, exception, None)`: a callback raised; log it.
pub const KIND_CALLBACK_ERROR: u8 = 7;
/// `(kind, awaitable, None)`: a callback returned an awaitable that is not a coroutine.
pub const KIND_AWAITABLE: u8 = 8;

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
    /// Set by `close()`: every `wait()` returns at once from then on.
    closed: AtomicBool,
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
            closed: AtomicBool::new(false),
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
            self.wake();
        }
    }

    fn wake(&self) {
        // A full socket buffer means a wake-up is already on its way.
        let _ = (&self.writer).write(&[1]);
        self.ready.notify_all();
    }

    fn take(&self) -> Vec<Item> {
        // NOTE: one read: a byte is written only when `pending` flips, so there is at
        // most one to consume (a stray extra byte only costs one empty drain).
        let mut buf = [0u8; 64];
        let _ = (&self.reader).read(&mut buf);
        // Clear the flag before taking the queue: a push racing with us then either lands
        // in this batch or triggers a new wake-up, never neither.
        self.pending.store(false, Ordering::Release);
        std::mem::take(&mut *self.queue.lock())
    }

    /// Puts items back in front of the queue (a drain interrupted by a `BaseException`
    /// raised in a callback), so that nothing is lost; the next drain takes them.
    fn requeue_front(&self, mut items: Vec<Item>) {
        if items.is_empty() {
            return;
        }
        let wake = {
            let mut q = self.queue.lock();
            items.append(&mut q);
            *q = items;
            !self.pending.swap(true, Ordering::AcqRel)
        };
        if wake {
            self.wake();
        }
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

    /// Handles every queued item (resolves futures, runs callbacks) and returns what is
    /// left for Python as `(kind, a, b)` tuples (see the module docs).
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        // Callbacks run user code with our frames below it: see `exiting` for why a
        // thread other than the exiting one parks here once the interpreter exits.
        let calls = crate::exiting::CallsGuard::enter(py);
        let mut items = self.core.take().into_iter();
        let objects = OutcomeObjects::new(py)?;
        while let Some(item) = items.next() {
            calls.check(py);
            let done = match item {
                Item::Result { future, make } => resolve(py, future, make),
                Item::Ack {
                    callbacks,
                    local_id,
                    seconds,
                    nanos,
                } => match &callbacks.on_ack {
                    Some(cb) => objects
                        .ack(&local_id, seconds, nanos)
                        .and_then(|ack| call_back(py, cb.bind(py), ack, &out)),
                    None => Ok(()),
                },
                Item::Nack {
                    callbacks,
                    local_id,
                    code,
                    error,
                } => match &callbacks.on_nack {
                    Some(cb) => objects
                        .nack(&local_id, code, &error)
                        .and_then(|nack| call_back(py, cb.bind(py), nack, &out)),
                    None => Ok(()),
                },
                Item::Waiter { batch, slot } => out.append((KIND_WAITER, batch, slot)),
            };
            // Whatever failed is logged by Python, except a `BaseException` such as
            // `KeyboardInterrupt`, which must propagate.
            if let Err(e) = done.or_else(|e| report(py, e, &out)) {
                // Nothing is lost: what was not handled yet waits for the next drain.
                self.core.requeue_front(items.collect());
                return Err(e);
            }
        }
        Ok(out)
    }

    /// Queues `n` synthetic outcomes for `on_ack` (or, with `nack`, `on_nack`), as a
    /// publish would: for benchmarks and tests of the dispatch without a server. The
    /// ids carry the index in their last 8 bytes.
    #[pyo3(signature = (n, on_ack=None, on_nack=None, nack=false))]
    fn _push_outcomes(
        &self,
        n: u64,
        on_ack: Option<Py<PyAny>>,
        on_nack: Option<Py<PyAny>>,
        nack: bool,
    ) {
        let callbacks = Arc::new(Callbacks { on_ack, on_nack });
        for i in 0..n {
            let mut local_id = [0u8; 16];
            local_id[8..].copy_from_slice(&i.to_be_bytes());
            self.core.push(if nack {
                Item::Nack {
                    callbacks: callbacks.clone(),
                    local_id,
                    code: 100,
                    error: "synthetic".into(),
                }
            } else {
                Item::Ack {
                    callbacks: callbacks.clone(),
                    local_id,
                    seconds: 1_700_000_000,
                    nanos: i as i32,
                }
            });
        }
    }

    /// Blocks (GIL released) until items are pending or `timeout` seconds pass; returns
    /// whether items are pending. For consumers without an event loop.
    fn wait(&self, py: Python<'_>, timeout: f64) -> bool {
        let core = self.core.clone();
        let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
        crate::exiting::detach(py, move || {
            let mut q = core.queue.lock();
            if q.is_empty() && !core.closed.load(Ordering::Acquire) {
                core.ready.wait_for(&mut q, timeout);
            }
            !q.is_empty()
        })
    }

    /// Wakes every thread in `wait()`, and makes later waits return at once: how the
    /// thread that drains this notifier is stopped (at interpreter exit, for one).
    fn close(&self) {
        let _q = self.core.queue.lock();
        self.core.closed.store(true, Ordering::Release);
        self.core.ready.notify_all();
    }
}

/// `waiter` argument of async operations: `(notifier, future)`, or `None` to block.
pub type Waiter = Option<(Py<Notifier>, Py<PyAny>)>;

/// Completes `future` through `notifier` with whatever `make` builds.
pub fn complete(notifier: &Arc<NotifierCore>, future: Py<PyAny>, make: MakeResult) {
    notifier.push(Item::Result { future, make });
}
