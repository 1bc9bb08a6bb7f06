//! Maps the client's errors onto `pyensign_fast.exceptions`, the pyensign-compatible
//! hierarchy, so that `except` clauses written for pyensign keep working.

use ensign_client::error::{code_name, Code};
use ensign_client::Error;
use pyo3::call::PyCallArgs;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

fn exception<'py, A: PyCallArgs<'py>>(py: Python<'py>, class: &str, args: A) -> PyErr {
    let made = py
        .import("pyensign_fast.exceptions")
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1(args));
    match made {
        Ok(obj) => PyErr::from_value(obj),
        Err(e) => e,
    }
}

/// The Python exception for a client error.
pub fn to_py(py: Python<'_>, err: Error) -> PyErr {
    match err {
        Error::Rpc(status) => {
            let code = status.code();
            let class = if code == Code::InvalidArgument {
                "EnsignInvalidArgument"
            } else {
                "EnsignRPCError"
            };
            exception(
                py,
                class,
                (code_name(code), code as i32, status.message().to_string()),
            )
        }
        Error::Connect { reason, .. } => exception(
            py,
            "EnsignRPCError",
            ("UNAVAILABLE", Code::Unavailable as i32, reason),
        ),
        Error::Auth(msg) | Error::AuthRefused(msg) => exception(py, "AuthenticationError", (msg,)),
        Error::Config(msg) | Error::InvalidArgument(msg) => PyValueError::new_err(msg),
        Error::UnknownTopic(topic) => exception(py, "UnknownTopicError", (topic,)),
        Error::Protocol(msg) => exception(py, "EnsignTypeError", (msg,)),
        Error::Timeout(msg) => exception(py, "EnsignTimeoutError", (msg,)),
        Error::Closed => exception(py, "EnsignClientClosingError", ("the client is closed",)),
        Error::NoRows => exception(py, "QueryNoRows", ("query returned no rows",)),
    }
}

/// For failures that are bugs rather than user errors.
#[allow(dead_code)]
pub fn internal(msg: impl Into<String>) -> PyErr {
    PyRuntimeError::new_err(msg.into())
}
