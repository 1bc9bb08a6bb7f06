//! Conversions between Python objects and the core's types, in one place (like polars'
//! `conversion/`): the bindings (`client`, `publish`, `subscribe`, `query`, `admin`,
//! `bridge`) move data across the boundary only through these functions.
//!
//! * [`event`]: a Python `Event` → the encoder's [`ensign_client::EventFields`], plus the
//!   garbage-collector bookkeeping of published events.
//! * [`received`]: decoded events → Python `Event`s, one page per call.
//! * [`event_init`]: `Event.__init__` for the common arguments, without Python code.
//! * [`memo`]: the last lookups of `Event.__init__`'s caches, by identity.
//! * [`ints`]: the slot index and creation time of each published event.
//! * [`gc`]: which `Event`s the cyclic garbage collector walks (`_core._event_born`).
//! * [`slots`]: direct access to `Event`'s `__slots__` for the publish path.
//! * [`refcount`]: reference counts changed in place on the per-event paths ([`refcount::Ref`]).
//! * [`outcome`]: acks and nacks → `messages.Ack` / `messages.Nack` objects.
//! * [`admin`]: topic, project and status replies → the dicts and tuples of `topics.py`,
//!   `projects.py` and `status.py`.
//!
//! Concurrency: everything here runs with the GIL held, on the calling thread.

pub mod admin;
mod alloc;
pub mod event;
pub mod event_init;
pub mod gc;
pub mod ints;
mod memo;
pub mod outcome;
pub mod received;
pub mod refcount;
pub mod slots;

pub use alloc::Alloc;
