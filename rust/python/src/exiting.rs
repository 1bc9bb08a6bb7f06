//! Waiting with the GIL released, safely even while the interpreter exits.
//!
//! On CPython 3.9–3.13 a thread that takes the GIL back after finalization has started is
//! ended with `pthread_exit`, which unwinds through whatever native frames are on its stack.
//! Unwinding through PyO3's `detach` guard and our waits crashed the process (SIGSEGV at
//! exit, seen with a blocking client's callback thread on 3.13). CPython 3.14 parks such
//! threads instead; this module does the same for ours on every version: once the
//! `atexit` hook of `pyensign_fast._bridge` (or the extension's own, registered when the
//! module is created) has called [`_interpreter_exiting`], a thread
//! that finishes a wait parks forever, with the GIL released, rather than re-entering the
//! interpreter. The thread that runs the exit (normally the main thread) is exempt, so
//! blocking calls made by `atexit` handlers still return. Only daemon threads are left by
//! then (Python joins the others before `atexit` runs), and the process exits around them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::ThreadId;

use pyo3::prelude::*;

static EXITING: AtomicBool = AtomicBool::new(false);
static EXITING_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// Called once by `pyensign_fast._bridge`'s `atexit` hook, on the thread that exits.
#[pyfunction]
fn _interpreter_exiting() {
    let _ = EXITING_THREAD.set(std::thread::current().id());
    EXITING.store(true, Ordering::Release);
}

/// Whether the interpreter has started exiting (the `atexit` hook ran).
#[pyfunction]
fn _is_exiting() -> bool {
    EXITING.load(Ordering::Acquire)
}

/// Runs `f` with the GIL released, like `Python::detach`; but if the interpreter started
/// exiting meanwhile, a thread other than the exiting one never comes back (see the
/// module docs).
pub fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    py.detach(move || {
        let out = f();
        if EXITING.load(Ordering::Acquire)
            && EXITING_THREAD.get() != Some(&std::thread::current().id())
        {
            loop {
                std::thread::park();
            }
        }
        out
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_interpreter_exiting, m)?)?;
    m.add_function(wrap_pyfunction!(_is_exiting, m)?)?;
    // The extension's own `atexit` hook, for threads waiting in the core of a process
    // that never imported `pyensign_fast._bridge` (the extension loaded on its own).
    // Without it those threads re-entered the exiting interpreter and were ended by
    // `pthread_exit`, which crashed the LTO-built wheel at every exit (tests/test_exit.py,
    // "raw-waiters", under `make test-wheel`). `_bridge` imports this module first, so
    // its hook, registered later, runs earlier (atexit is last in, first out): it stops
    // the package's own threads while their waits still return, then sets the flag.
    let hook = m.getattr("_interpreter_exiting")?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}
