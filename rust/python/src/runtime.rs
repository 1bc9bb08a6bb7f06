//! The process-wide tokio runtime of the client side, and the two ways Python waits for
//! it: handing a future's result to a notifier (asyncio), or blocking with the GIL
//! released (plain threads).
//!
//! One worker thread: on a 2-core machine the other core belongs to the Python thread
//! (and to a local server). The runtime is built lazily and rebuilt in a forked child,
//! where the parent's worker threads do not exist.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::Runtime;

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);
static PID: AtomicU32 = AtomicU32::new(0);

/// This process's id, without a system call.
///
/// NOTE: `std::process::id()` is a `getpid` system call (glibc caches nothing), and the
/// fork checks ran it twice per `publish()`; the id is read once and refreshed by an
/// `os.register_at_fork` hook in the child (see [`register_fork_hook`]).
pub fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => refresh_pid(),
        p => p,
    }
}

fn refresh_pid() -> u32 {
    let p = std::process::id();
    PID.store(p, Ordering::Relaxed);
    p
}

#[pyfunction]
fn _after_fork_in_child() {
    refresh_pid();
}

/// Refreshes [`pid`] in children forked by Python (`os.fork`, multiprocessing).
pub fn register_fork_hook(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let hook = wrap_pyfunction!(_after_fork_in_child, m)?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("after_in_child", hook)?;
    py.import("os")?
        .call_method("register_at_fork", (), Some(&kwargs))?;
    refresh_pid();
    Ok(())
}

/// The runtime for this process (a new one after `fork()`).
pub fn runtime() -> PyResult<Arc<Runtime>> {
    let pid = pid();
    let mut slot = RUNTIME.lock();
    if let Some((p, rt)) = slot.as_ref() {
        if *p == pid {
            return Ok(rt.clone());
        }
    }
    if let Some((_, stale)) = slot.take() {
        // Dropping it would try to join threads that only exist in the parent.
        std::mem::forget(stale);
    }
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pyensign-fast")
            .enable_all()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))?,
    );
    *slot = Some((pid, rt.clone()));
    Ok(rt)
}

/// Runs `fut` on the runtime and waits for it on this thread with the GIL released,
/// waking every 100 ms to let Python deliver signals (Ctrl-C interrupts the wait, the
/// operation itself keeps running to its end on the runtime).
pub fn block_on<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    let mut rx = rx;
    loop {
        let (got, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(100)), rx));
        rx = back;
        match got {
            Ok(v) => return Ok(v),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "the operation was dropped by the runtime",
                ))
            }
        }
    }
}
