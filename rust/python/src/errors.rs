//! Maps the client's errors onto `pyensign_fast.exceptions`, the pyensign-compatible
//! hierarchy, so that `except` clauses written for pyensign keep working.
//!
//! The classes stay defined in Python (they keep pyensign's constructors and `__str__`);
//! `import_exception!` binds each one to a Rust type once, so raising one is a typed
//! `new_err` call rather than a module lookup by class name on every error.

use ensign_client::error::{code_name, Code};
use ensign_client::Error;
use pyo3::exceptions::PyValueError;
use pyo3::import_exception;
use pyo3::prelude::*;

import_exception!(pyensign_fast.exceptions, AuthenticationError);
import_exception!(pyensign_fast.exceptions, EnsignClientClosingError);
import_exception!(pyensign_fast.exceptions, EnsignInvalidArgument);
import_exception!(pyensign_fast.exceptions, EnsignRPCError);
import_exception!(pyensign_fast.exceptions, EnsignTimeoutError);
import_exception!(pyensign_fast.exceptions, EnsignTypeError);
import_exception!(pyensign_fast.exceptions, QueryNoRows);
import_exception!(pyensign_fast.exceptions, UnknownTopicError);

/// The Python exception for a client error.
pub fn to_py(err: Error) -> PyErr {
    match err {
        Error::Rpc(status) => {
            let code = status.code();
            let args = (code_name(code), code as i32, status.message().to_string());
            if code == Code::InvalidArgument {
                EnsignInvalidArgument::new_err(args)
            } else {
                EnsignRPCError::new_err(args)
            }
        }
        Error::Connect { reason, .. } => {
            EnsignRPCError::new_err(("UNAVAILABLE", Code::Unavailable as i32, reason))
        }
        Error::Auth(msg) | Error::AuthRefused(msg) => AuthenticationError::new_err((msg,)),
        Error::Config(msg) | Error::InvalidArgument(msg) => PyValueError::new_err(msg),
        Error::UnknownTopic(topic) => UnknownTopicError::new_err((topic,)),
        Error::Protocol(msg) => EnsignTypeError::new_err((msg,)),
        Error::Timeout(msg) => EnsignTimeoutError::new_err((msg,)),
        Error::Closed => EnsignClientClosingError::new_err(("the client is closed",)),
        Error::NoRows => QueryNoRows::new_err(("query returned no rows",)),
    }
}
