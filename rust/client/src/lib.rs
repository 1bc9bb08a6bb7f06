//! Pure-Rust Ensign SDK: the transport, authentication, publisher (batching, ack
//! tracking, reconnects), subscriber, EnSQL and topic operations that the Python
//! bindings drive. Usable and tested without Python.

pub mod auth;
pub mod client;
pub mod codec;
pub mod config;
pub mod error;
pub mod publisher;
pub mod query;
pub mod stats;
pub mod subscriber;
pub mod transport;

pub use client::Client;
pub use config::{ClientConfig, Credentials, Secret};
pub use error::{Error, Result};
pub use publisher::{Admit, EventFields, Outcome, OutcomeSink, Publisher, TopicId};
pub use query::QueryCursor;
pub use stats::ClientStats;
pub use subscriber::{Received, SubscribeOptions, Subscription};
