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
//! `drain()` (GIL held, on the consumer's thread) does the per-item work itself: it
//! resolves futures, builds each `Ack`/`Nack` and calls `on_ack`/`on_nack`, running a
//! coroutine callback eagerly (`coro.send(None)`) so that one that finishes without
//! suspending costs no task. It hands back only what Python must finish: `wait_for_ack`
//! wake-ups, coroutines that did suspend, other awaitables, and callback exceptions to
//! log. See docs/architecture.md.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use pyo3::exceptions::{PyException, PyStopIteration};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType};

use crate::conversion::outcome::OutcomeObjects;

/// `(kind, batch_id, slot)`: an event someone waits on has its outcome.
pub const KIND_WAITER: u8 = 3;
/// `(kind, coroutine, yielded)`: a coroutine callback suspended; finish it in a task.
pub const KIND_SUSPENDED: u8 = 6;
/// `(kind, exception, None)`: a callback raised; log it.
pub const KIND_CALLBACK_ERROR: u8 = 7;
/// `(kind, awaitable, None)`: a callback returned an awaitable that is not a coroutine.
pub const KIND_AWAITABLE: u8 = 8;

static COROUTINE_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CANCELLED_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

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

/// Runs one callback; what Python must still do goes to `out`. `Err` only for a
/// `BaseException` that is not an `Exception` (e.g. `KeyboardInterrupt`), which the
/// caller lets propagate.
fn call_back(
    py: Python<'_>,
    cb: &Bound<'_, PyAny>,
    arg: Bound<'_, PyAny>,
    out: &Bound<'_, PyList>,
) -> PyResult<()> {
    let result = match cb.call1((arg,)) {
        Ok(r) => r,
        Err(e) => return report(py, e, out),
    };
    if result.is_none() {
        return Ok(());
    }
    let coroutine = COROUTINE_TYPE.import(py, "types", "CoroutineType")?;
    if result.is_exact_instance(coroutine) {
        // NOTE: run the coroutine eagerly: one step instead of a Task per event (a task
        // costs ~8 µs; this ~0.3 µs when the callback does not suspend).
        return match step(&result) {
            Step::Returned => Ok(()),
            Step::Yielded(yielded) => {
                // Like a task's step, take the future's "blocking" flag, so that the next
                // eager coroutine may await the same future; the task that finishes this
                // one sets it again before waiting (`_bridge._Resume`).
                let flag = intern!(py, "_asyncio_future_blocking");
                if let Some(blocking) = yielded.getattr_opt(flag)? {
                    if blocking.is_truthy()? {
                        yielded.setattr(flag, false)?;
                    }
                }
                out.append((KIND_SUSPENDED, result, yielded))
            }
            Step::Raised(e) => report(py, e, out),
        };
    }
    if result.hasattr(intern!(py, "__await__"))? {
        out.append((KIND_AWAITABLE, result, py.None()))?;
    }
    Ok(())
}

/// What one step of a coroutine did.
enum Step<'py> {
    Returned,
    Yielded(Bound<'py, PyAny>),
    Raised(PyErr),
}

/// `PyIter_Send`, part of the stable ABI since Python 3.10 (looked up at run time: the
/// module is built for 3.9's ABI, which lacks it).
type IterSend = unsafe extern "C" fn(
    *mut pyo3::ffi::PyObject,
    *mut pyo3::ffi::PyObject,
    *mut *mut pyo3::ffi::PyObject,
) -> std::os::raw::c_int;

static ITER_SEND: OnceLock<Option<IterSend>> = OnceLock::new();

fn iter_send() -> Option<IterSend> {
    *ITER_SEND.get_or_init(|| {
        // SAFETY: dlsym with a NUL-terminated name; a non-null result is the address of
        // CPython's `PyIter_Send`, whose signature is the one declared above.
        unsafe {
            let f = libc::dlsym(libc::RTLD_DEFAULT, c"PyIter_Send".as_ptr());
            (!f.is_null()).then(|| std::mem::transmute::<*mut libc::c_void, IterSend>(f))
        }
    })
}

/// Sends `None` into a coroutine. NOTE: with `PyIter_Send` (Python ≥ 3.10) a coroutine
/// that returns raises no `StopIteration`: ~0.2 µs less per callback than `coro.send`.
fn step<'py>(coro: &Bound<'py, PyAny>) -> Step<'py> {
    let py = coro.py();
    let Some(send) = iter_send() else {
        return match coro.call_method1(intern!(py, "send"), (py.None(),)) {
            Ok(yielded) => Step::Yielded(yielded),
            Err(e) if e.is_instance_of::<PyStopIteration>(py) => Step::Returned,
            Err(e) => Step::Raised(e),
        };
    };
    let mut out: *mut pyo3::ffi::PyObject = std::ptr::null_mut();
    // SAFETY: a live coroutine and `None` (borrowed); `out` receives a new reference or
    // NULL, per PyIter_Send's contract; the GIL is held.
    let status = unsafe { send(coro.as_ptr(), py.None().as_ptr(), &mut out) };
    match status {
        // PYGEN_RETURN: `out` is the return value (ignored).
        0 => {
            // SAFETY: a new reference (or NULL) handed over by PyIter_Send.
            drop(unsafe { Bound::from_owned_ptr_or_opt(py, out) });
            Step::Returned
        }
        // PYGEN_NEXT: `out` is what the coroutine yielded.
        1 => match unsafe { Bound::from_owned_ptr_or_opt(py, out) } {
            Some(yielded) => Step::Yielded(yielded),
            None => Step::Raised(PyErr::fetch(py)),
        },
        // PYGEN_ERROR: the exception is set.
        _ => Step::Raised(PyErr::fetch(py)),
    }
}

/// An exception raised by a callback: logged by Python, never raised into the loop.
fn report(py: Python<'_>, e: PyErr, out: &Bound<'_, PyList>) -> PyResult<()> {
    if e.is_instance_of::<PyException>(py) {
        return out.append((KIND_CALLBACK_ERROR, e.into_value(py), py.None()));
    }
    let cancelled = CANCELLED_ERROR.import(py, "asyncio", "CancelledError")?;
    if e.is_instance(py, cancelled) {
        return Ok(()); // what a cancelled task would have done: nothing to report
    }
    Err(e)
}

/// Resolves an asyncio future unless it is done (cancelled) already.
fn resolve(py: Python<'_>, future: Py<PyAny>, make: MakeResult) -> PyResult<()> {
    let future = future.into_bound(py);
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    match make(py) {
        Ok(v) => future.call_method1(intern!(py, "set_result"), (v,))?,
        Err(e) => future.call_method1(intern!(py, "set_exception"), (e.into_value(py),))?,
    };
    Ok(())
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
        let mut items = self.core.take().into_iter();
        let objects = OutcomeObjects::new(py)?;
        while let Some(item) = items.next() {
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
