//! Running Python work handed over by the notifier (`bridge::Notifier::drain`): calling
//! `on_ack`/`on_nack` callbacks, stepping coroutine callbacks eagerly, resolving asyncio
//! futures, and sorting what a callback raised into "log it" or "let it propagate".
//!
//! Concurrency: GIL held, on the consumer's thread (the event loop's, or the blocking
//! client's callback thread); never waits.

use std::sync::OnceLock;

use pyo3::exceptions::{PyException, PyStopIteration};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType};

use crate::bridge::{MakeResult, KIND_AWAITABLE, KIND_CALLBACK_ERROR, KIND_SUSPENDED};
use crate::conversion::refcount::Ref;

static COROUTINE_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CANCELLED_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Runs one callback; what Python must still do goes to `out`. `Err` only for a
/// `BaseException` that is not an `Exception` (e.g. `KeyboardInterrupt`), which the
/// caller lets propagate.
pub fn call_back(
    py: Python<'_>,
    cb: &Bound<'_, PyAny>,
    arg: Ref,
    out: &Bound<'_, PyList>,
) -> PyResult<()> {
    // NOTE: not `cb.call1((arg,))`: under the stable ABI that builds and frees an
    // argument tuple per call; `PyObject_CallFunctionObjArgs` passes the argument on the
    // C stack (vectorcall), ~200 instructions less per callback (callgrind).
    // SAFETY: live objects and a NULL-terminated argument list; the GIL is held; the
    // result is a new reference, or NULL with an exception set.
    let result = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyObject_CallFunctionObjArgs(
                cb.as_ptr(),
                arg.as_ptr(),
                std::ptr::null_mut::<pyo3::ffi::PyObject>(),
            ),
        )
    };
    let result = match result {
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
pub fn report(py: Python<'_>, e: PyErr, out: &Bound<'_, PyList>) -> PyResult<()> {
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
pub fn resolve(py: Python<'_>, future: Py<PyAny>, make: MakeResult) -> PyResult<()> {
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
