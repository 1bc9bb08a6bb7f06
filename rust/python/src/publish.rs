//! Publishing from Python: one FFI call per `publish()` batch.
//!
//! `publish_batch` reads each `Event` (`conversion::event`: GIL held, payloads borrowed,
//! no copies before the encoder), hands the batch to the Rust publisher and tags each
//! admitted event with the batch and its slot. Outcomes land in a [`BatchState`] shared by the whole batch —
//! one allocation per `publish()` call, one atomic per event — and reach Python only when
//! someone asked: an `on_ack`/`on_nack` callback or a `wait_for_ack()` waiter.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use ensign_client::{Admit, EventFields, Outcome, OutcomeSink};
use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bridge::{Callbacks, Item, NotifierCore};
use crate::conversion::event::{check_all_events, EventIn, EventSeq};
use crate::conversion::slots::EventSlots;
use crate::errors::to_py;

const PENDING: u8 = 0;
const ACKED: u8 = 1;
const NACKED: u8 = 2;
const OUTCOME_MASK: u8 = 3;
const WAITER: u8 = 0x80;

static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);

#[derive(Default, Clone)]
struct SlotResult {
    local_id: [u8; 16],
    seconds: i64,
    nanos: i32,
    code: i32,
    error: Option<Box<str>>,
}

/// Outcomes of the events of one `publish()` call.
pub struct BatchState {
    id: u64,
    states: Box<[AtomicU8]>,
    results: Mutex<Box<[SlotResult]>>,
    callbacks: Option<Arc<Callbacks>>,
    notifier: Option<Arc<NotifierCore>>,
}

impl OutcomeSink for BatchState {
    fn outcome(&self, index: u32, local_id: &[u8; 16], outcome: Outcome<'_>) {
        let i = index as usize;
        let (bit, error) = match outcome {
            Outcome::Acked { seconds, nanos } => {
                self.results.lock()[i] = SlotResult {
                    local_id: *local_id,
                    seconds,
                    nanos,
                    ..Default::default()
                };
                (ACKED, None)
            }
            Outcome::Nacked { code, error } => {
                self.results.lock()[i] = SlotResult {
                    local_id: *local_id,
                    code,
                    error: Some(error.into()),
                    ..Default::default()
                };
                (NACKED, Some((code, error)))
            }
        };
        let prev = self.states[i].fetch_or(bit, Ordering::AcqRel);
        let Some(notifier) = &self.notifier else {
            return;
        };
        if let Some(cbs) = &self.callbacks {
            match (outcome, error) {
                (Outcome::Acked { seconds, nanos }, _) if cbs.on_ack.is_some() => {
                    notifier.push(Item::Ack {
                        callbacks: cbs.clone(),
                        local_id: *local_id,
                        seconds,
                        nanos,
                    })
                }
                (_, Some((code, error))) if cbs.on_nack.is_some() => notifier.push(Item::Nack {
                    callbacks: cbs.clone(),
                    local_id: *local_id,
                    code,
                    error: error.into(),
                }),
                _ => {}
            }
        }
        if prev & WAITER != 0 {
            notifier.push(Item::Waiter {
                batch: self.id,
                slot: index,
            });
        }
    }
}

/// The Python handle on a [`BatchState`] (see the contract in docs/architecture.md).
#[pyclass(frozen, module = "pyensign_fast._core")]
pub struct PublishBatch {
    pub state: Arc<BatchState>,
}

impl PublishBatch {
    fn slot(&self, i: usize) -> PyResult<u8> {
        self.state
            .states
            .get(i)
            .map(|s| s.load(Ordering::Acquire))
            .ok_or_else(|| PyValueError::new_err(format!("slot {i} is out of range")))
    }
}

#[pymethods]
impl PublishBatch {
    /// A process-unique id.
    #[getter]
    fn id(&self) -> u64 {
        self.state.id
    }

    fn __len__(&self) -> usize {
        self.state.states.len()
    }

    /// EventState value: 2 in flight, 4 acked, 5 nacked.
    fn state(&self, i: usize) -> PyResult<u8> {
        Ok(match self.slot(i)? & OUTCOME_MASK {
            ACKED => 4,
            NACKED => 5,
            _ => 2,
        })
    }

    /// The event's 16-byte `local_id` once it has an outcome, else `None`.
    fn local_id<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if self.slot(i)? & OUTCOME_MASK == PENDING {
            return Ok(None);
        }
        Ok(Some(PyBytes::new(
            py,
            &self.state.results.lock()[i].local_id,
        )))
    }

    /// `(seconds, nanos)` of the commit once acked, else `None`.
    fn committed(&self, i: usize) -> PyResult<Option<(i64, i32)>> {
        if self.slot(i)? & OUTCOME_MASK != ACKED {
            return Ok(None);
        }
        let r = &self.state.results.lock()[i];
        Ok(Some((r.seconds, r.nanos)))
    }

    /// `(code, error)` once nacked, else `None`.
    fn nack(&self, i: usize) -> PyResult<Option<(i32, String)>> {
        if self.slot(i)? & OUTCOME_MASK != NACKED {
            return Ok(None);
        }
        let r = &self.state.results.lock()[i];
        Ok(Some((
            r.code,
            r.error.as_deref().unwrap_or_default().to_string(),
        )))
    }

    /// Asks for a `WAITER` item when slot `i` gets its outcome; `False` if it already has
    /// one (or no notifier was given to `publish`).
    fn add_waiter(&self, i: usize) -> PyResult<bool> {
        self.slot(i)?;
        if self.state.notifier.is_none() {
            return Ok(false);
        }
        let prev = self.state.states[i].fetch_or(WAITER, Ordering::AcqRel);
        Ok(prev & OUTCOME_MASK == PENDING)
    }
}

/// Builds the batch for a list of `len` events.
pub fn new_batch(
    len: usize,
    on_ack: Option<Py<PyAny>>,
    on_nack: Option<Py<PyAny>>,
    notifier: Option<Arc<NotifierCore>>,
) -> PublishBatch {
    let callbacks =
        (on_ack.is_some() || on_nack.is_some()).then(|| Arc::new(Callbacks { on_ack, on_nack }));
    PublishBatch {
        state: Arc::new(BatchState {
            id: NEXT_BATCH.fetch_add(1, Ordering::Relaxed),
            states: (0..len).map(|_| AtomicU8::new(PENDING)).collect(),
            results: Mutex::new(vec![SlotResult::default(); len].into_boxed_slice()),
            callbacks,
            notifier,
        }),
    }
}

/// Publishes `events[start..]` (a list or tuple) as part of `batch`. Returns how many were
/// admitted, or -1 when the stream does not know the topic (call `resolve_topic`). With
/// `whole`, admits all of `events[start..]` or nothing (0: the window is full).
///
/// The first call of a batch (`start == 0`) checks every event, including those beyond
/// the in-flight window that later calls will admit: a bad event anywhere raises before
/// any of the batch is sent, so no event of it is left without an outcome.
pub fn publish_batch(
    publisher: &ensign_client::Publisher,
    topic: &[u8; 16],
    events: &Bound<'_, PyAny>,
    start: usize,
    batch: &Bound<'_, PublishBatch>,
    whole: bool,
) -> PyResult<isize> {
    let py = events.py();
    let seq = EventSeq::new(events)?;
    let total = seq.len();
    if start >= total {
        return Ok(0);
    }
    let state = &batch.get().state;
    if state.states.len() != total {
        return Err(PyValueError::new_err("the batch does not match the events"));
    }
    if start == 0 {
        check_all_events(&seq)?;
    }
    let slots = EventSlots::get(py);
    // Read only what the window can take now: the rest waits for room.
    let want = publisher.room_for(total - start, 128);
    if start == 0 {
        // NOTE: only batches larger than the window pay for this second read.
        for i in want..total {
            EventIn::read(seq.get(i)?, py, slots)?;
        }
    }
    if want == 0 || (whole && want < total - start) {
        return Ok(0);
    }
    let owned = (start..start + want)
        .map(|i| EventIn::read(seq.get(i)?, py, slots))
        .collect::<PyResult<Vec<_>>>()?;
    let metas: Vec<Vec<(&str, &str)>> = owned.iter().map(EventIn::meta_refs).collect();
    let fields: Vec<EventFields<'_>> = owned
        .iter()
        .zip(&metas)
        .map(|(ev, meta)| ev.fields(meta))
        .collect();
    let sink: Arc<dyn OutcomeSink> = state.clone();
    let admit = if whole {
        ensign_client::Publisher::try_publish_whole
    } else {
        ensign_client::Publisher::try_publish
    };
    let admitted = match admit(publisher, topic, &fields, &sink, start as u32) {
        Ok(Admit::Accepted(n)) => n,
        Ok(Admit::UnknownTopic) => return Ok(-1),
        Err(e) => return Err(to_py(e)),
    };
    let batch = batch.as_any();
    for (i, ev) in owned.iter().take(admitted).enumerate() {
        ev.admitted(batch, start + i)?;
    }
    Ok(admitted as isize)
}
