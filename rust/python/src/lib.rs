//! The `pyensign_fast._core` extension module: registers the binding modules.

mod admin;
mod bridge;
mod client;
mod conversion;
mod dispatch;
mod errors;
mod exiting;
mod logs;
mod publish;
mod query;
mod runtime;
mod server;
mod subscribe;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "FILE_DESCRIPTOR_SET",
        PyBytes::new(m.py(), ensign_proto::FILE_DESCRIPTOR_SET),
    )?;
    runtime::register_fork_hook(m)?;
    exiting::register(m)?;
    logs::register(m)?;
    client::register(m)?;
    admin::register(m)?;
    server::register(m)?;
    subscribe::register(m)?;
    query::register(m)?;
    Ok(())
}
