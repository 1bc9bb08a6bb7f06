//! The two ints that every published event gets: its index in its batch (`_slot`), from a
//! table of shared int objects, and its creation time in nanoseconds (`_created`).
//!
//! NOTE: both are on the per-event paths. An int of 257 or more is a new object (an
//! allocation when the event is admitted, a free when it dies: ~140 instructions), so
//! the indexes of the first slots are made once and shared by every batch, the way
//! CPython shares its small ints; an index beyond the table is a new int as before.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;

use super::refcount::Ref;

/// Indexes below this are shared; beyond it each is a new int. A batch is rarely larger
/// than the in-flight window (8,192 events by default), and only indexes in use are
/// made, so the table holds at most 8,192 ints (~256 KiB), which live as long as the
/// process.
const SHARED: usize = 8192;

/// `SHARED` null-or-int pointers; each non-null entry owns one reference, never released.
static TABLE: [AtomicPtr<ffi::PyObject>; SHARED] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SHARED];

/// `i` as a Python int: a shared one below [`SHARED`], else a new one.
pub fn index(py: Python<'_>, i: usize) -> PyResult<Ref> {
    let Some(entry) = TABLE.get(i) else {
        // SAFETY: a new reference, or NULL with a Python error set.
        return unsafe { Ref::owned_or_err(py, ffi::PyLong_FromSize_t(i)) };
    };
    // NOTE: Relaxed is enough: entries are only read and written with the GIL held, and
    // taking the GIL orders them.
    if let Some(p) = NonNull::new(entry.load(Ordering::Relaxed)) {
        // SAFETY: the table's reference keeps it alive.
        return Ok(unsafe { Ref::borrowed(p) });
    }
    // SAFETY: a new reference, or NULL with a Python error set.
    let made = unsafe { Ref::owned_or_err(py, ffi::PyLong_FromSize_t(i))? };
    entry.store(made.clone().into_ptr(), Ordering::Relaxed);
    Ok(made)
}

/// Nanoseconds since the Unix epoch (what `time.time_ns()` returns), or 0 before it.
pub fn now_ns() -> i64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // NOTE: one vDSO call; `SystemTime::now().duration_since(UNIX_EPOCH)` costs twice
        // the instructions for the same value. CLOCK_REALTIME is what both read.
        // SAFETY: `ts` is a valid timespec to write into.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } == 0 && ts.tv_sec >= 0 {
            // The fields are i64 here, i32 on 32-bit targets.
            #[allow(clippy::useless_conversion)]
            return i64::from(ts.tv_sec) * 1_000_000_000 + i64::from(ts.tv_nsec);
        }
        0
    }
    #[cfg(not(unix))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_the_system_clock_in_nanoseconds() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let now = now_ns();
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }
}
