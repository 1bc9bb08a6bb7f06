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
//!
//! A thread whose wait ended just *before* the hook ran is already on its way back into
//! the interpreter, blocked taking the GIL. If the exiting thread kept the GIL until
//! finalization began, that thread would be ended inside PyO3's restore, with our frames
//! on its stack (the LTO wheel crashed so, now and then: tests/test_exit.py,
//! "server-log-thread"). So such threads are counted from the end of their wait until they
//! hold the GIL, and the hook releases the GIL until the count is zero: they get back into
//! Python before finalization, and park at their next wait.
//!
//! The same holds for a thread running *user* Python code called from our frames (the
//! `on_ack` callbacks `Notifier.drain` runs, an asyncio loop in a daemon thread for one):
//! if that code gives up the GIL (any I/O) after finalization began, CPython ends the
//! thread through `drain` (SIGSEGV with the wheel, "Rust cannot catch foreign exceptions"
//! with other builds). So such callers hold a [`CallsGuard`]: the hook also waits, with
//! the GIL released, until every thread inside one has finished its current callback, and
//! the guard parks the thread before its next one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

static EXITING: AtomicBool = AtomicBool::new(false);
static EXITING_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Threads between the end of a GIL-free wait and holding the GIL again.
static RETURNING: AtomicUsize = AtomicUsize::new(0);
/// Threads inside a [`CallsGuard`] (running, or about to run, user callbacks).
static CALLING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's share of `CALLING`: the exiting thread does not wait for itself (an
    /// `atexit` run from inside a callback, `atexit._run_exitfuncs()` for one).
    static MY_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}
/// NOTE: a returning thread needs only the GIL, which the hook gives up while it waits, and
/// a calling thread one callback's time. The bound is for a callback that blocks (it
/// then only crashes if it returns while the interpreter finalizes) or a thread the OS does
/// not schedule; exit must not hang on either.
const HOOK_WAIT: Duration = Duration::from_secs(2);

fn is_other_thread_at_exit() -> bool {
    EXITING.load(Ordering::SeqCst) && EXITING_THREAD.get() != Some(&std::thread::current().id())
}

/// Parks the calling thread forever (call it with the GIL released).
fn park() -> ! {
    loop {
        std::thread::park();
    }
}

/// Called by the `atexit` hooks (`pyensign_fast._bridge`'s, the extension's own), on the
/// thread that exits: from now on threads park at the end of their waits; threads already
/// returning are let back into the interpreter first.
///
/// Returns how many other threads were still returning or inside a [`CallsGuard`] when
/// the wait ended (0 unless it timed out): `_bridge` logs them, as they may still crash
/// the exit.
#[pyfunction]
fn _interpreter_exiting(py: Python<'_>) -> usize {
    let _ = EXITING_THREAD.set(std::thread::current().id());
    // SeqCst pairs with `detach`: either a returning thread sees the flag, or this
    // thread sees it counted (and waits for it).
    if EXITING.swap(true, Ordering::SeqCst) {
        // The second hook (`_bridge`'s, then the extension's own): the first one waited.
        return 0;
    }
    let mine = MY_CALLS.with(|c| c.get());
    let busy =
        || (RETURNING.load(Ordering::SeqCst) + CALLING.load(Ordering::SeqCst)).saturating_sub(mine);
    let deadline = Instant::now() + HOOK_WAIT;
    while busy() != 0 && Instant::now() < deadline {
        py.detach(|| std::thread::sleep(Duration::from_micros(200)));
    }
    busy()
}

/// Held by code that calls user Python code from Rust (see the module docs). Costs two
/// atomic updates per guard and one load per [`CallsGuard::check`].
/// Not `Send`: it counts in a thread-local (`MY_CALLS`) too.
pub struct CallsGuard(std::marker::PhantomData<*const ()>);

impl CallsGuard {
    pub fn enter(py: Python<'_>) -> CallsGuard {
        // SeqCst pairs with the hook, as in `detach`.
        CALLING.fetch_add(1, Ordering::SeqCst);
        MY_CALLS.with(|c| c.set(c.get() + 1));
        let guard = CallsGuard(std::marker::PhantomData);
        guard.check(py);
        guard
    }

    /// Call before each user callback: once the interpreter exits, a thread other than
    /// the exiting one parks here for good instead of running it.
    pub fn check(&self, py: Python<'_>) {
        if is_other_thread_at_exit() {
            Self::leave();
            py.detach(|| park());
        }
    }

    fn leave() {
        MY_CALLS.with(|c| c.set(c.get() - 1));
        CALLING.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for CallsGuard {
    fn drop(&mut self) {
        Self::leave();
    }
}

/// Whether the interpreter has started exiting (the `atexit` hook ran).
#[pyfunction]
fn _is_exiting() -> bool {
    EXITING.load(Ordering::Acquire)
}

/// How many threads have ended a GIL-free wait and not yet taken the GIL back (tests).
#[pyfunction]
fn _returning_threads() -> usize {
    RETURNING.load(Ordering::SeqCst)
}

/// How many threads are inside a [`CallsGuard`] (tests).
#[pyfunction]
fn _calling_threads() -> usize {
    CALLING.load(Ordering::SeqCst)
}

/// Runs `f` with the GIL released, like `Python::detach`; but if the interpreter started
/// exiting meanwhile, a thread other than the exiting one never comes back (see the
/// module docs).
pub fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    let out = py.detach(move || {
        let out = f();
        RETURNING.fetch_add(1, Ordering::SeqCst);
        if is_other_thread_at_exit() {
            RETURNING.fetch_sub(1, Ordering::SeqCst);
            park();
        }
        out
    });
    // The GIL is held again: the exiting thread may go on to finalization.
    RETURNING.fetch_sub(1, Ordering::SeqCst);
    out
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_interpreter_exiting, m)?)?;
    m.add_function(wrap_pyfunction!(_is_exiting, m)?)?;
    m.add_function(wrap_pyfunction!(_returning_threads, m)?)?;
    m.add_function(wrap_pyfunction!(_calling_threads, m)?)?;
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
