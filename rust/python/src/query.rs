//! EnSQL from Python: `_core.query(client, ...)` → `_core.QueryCursor`, and
//! `_core.explain(client, ...)`.
//!
//! Results arrive like subscription events: a runtime task prefetches them into a
//! bounded buffer and each `poll`/`next_batch` call turns up to one page into `Event`s
//! (state INITIALIZED, no ack target) in one FFI call.
//!
//! Concurrency: `query`/`explain`/`next_batch` take a trailing `waiter` (asyncio through
//! the notifier, or blocking with the GIL released when `None`); `poll` and `close`
//! never wait.

use std::sync::Arc;

use ensign_client::subscriber::Pop;
use ensign_proto::api::{self, parameter};
use prost::Message;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::bridge::Waiter;
use crate::client::{run, take_when_ready, Client};
use crate::conversion::received::{build_events, log_warnings, MAX_PAGE};
use crate::errors::to_py;

/// Builds a `Query` from the SQL text and `(name, kind, value)` parameters, kind being
/// the `Parameter` field (`i`, `d`, `b`, `y` or `s`) that
/// `pyensign_fast.api.v1beta1.query.parameter_fields` chose.
pub fn build_query(
    sql: &str,
    params: Option<&Bound<'_, PyAny>>,
    include_duplicates: bool,
) -> PyResult<api::Query> {
    let mut out = Vec::new();
    if let Some(params) = params.filter(|p| !p.is_none()) {
        for item in params.try_iter()? {
            let (name, kind, value): (String, String, Bound<'_, PyAny>) = item?.extract()?;
            let v = match kind.as_str() {
                "i" => parameter::Value::I(value.extract()?),
                "d" => parameter::Value::D(value.extract()?),
                "b" => parameter::Value::B(value.extract()?),
                "y" => parameter::Value::Y(value.extract::<Vec<u8>>()?.into()),
                "s" => parameter::Value::S(value.extract()?),
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "unsupported parameter kind: {other:?}"
                    )))
                }
            };
            out.push(api::Parameter {
                name,
                value: Some(v),
            });
        }
    }
    Ok(api::Query {
        query: sql.trim().to_string(),
        params: out,
        include_duplicates,
    })
}

/// The results of one EnSQL query (see `pyensign_fast.cursor.Cursor`).
#[pyclass(frozen, module = "pyensign_fast._core", name = "QueryCursor")]
pub struct QueryCursor {
    inner: Arc<ensign_client::QueryCursor>,
}

fn pop_events<'py>(
    py: Python<'py>,
    inner: &ensign_client::QueryCursor,
    max: usize,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    // Builds `Event`s in Python and logs: Python code under our frames (see `exiting`).
    let _calls = crate::exiting::CallsGuard::enter(py);
    let mut out = Vec::new();
    let popped = inner.pop(max.clamp(1, MAX_PAGE), &mut out);
    log_warnings(py, inner.take_warnings())?;
    match popped.map_err(to_py)? {
        Pop::Ended => Ok(None),
        Pop::Empty => Ok(Some(PyList::empty(py).into_any())),
        Pop::Events(_) => build_events(py, out, &py.None().into_bound(py)).map(Some),
    }
}

#[pymethods]
impl QueryCursor {
    /// Up to `max` results that are already here: a list (empty if none yet), or
    /// `None` after the last one. Raises a stream error after the results before it.
    fn poll<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
        pop_events(py, &self.inner, max)
    }

    /// Waits for results and returns up to `max` (a list, or `None` at the end);
    /// `waiter=None` blocks with the GIL released.
    fn next_batch(&self, py: Python<'_>, max: usize, waiter: Waiter) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        let w = c.clone();
        take_when_ready(py, waiter, async move { w.wait().await }, move |py| {
            let got = pop_events(py, &c, max)?;
            Ok(got.map_or_else(|| py.None(), |l| l.unbind()))
        })
    }

    /// Resolves (to `None`) once events are buffered or the stream has ended; pair
    /// with `poll`, which then finds them. Nothing is taken, so cancelling the `await`
    /// loses nothing.
    fn wait(&self, py: Python<'_>, waiter: Waiter) -> PyResult<Py<PyAny>> {
        let w = self.inner.clone();
        take_when_ready(
            py,
            waiter,
            async move { w.wait().await },
            |py| Ok(py.None()),
        )
    }

    /// Stops the query (non-blocking): buffered results are dropped, the RPC cancelled.
    fn close(&self) {
        self.inner.close();
    }

    /// Results skipped because their payload was not a valid `Event`.
    #[getter]
    fn skipped(&self) -> u64 {
        self.inner.skipped()
    }
}

/// Runs an EnSQL query; resolves to a `QueryCursor`. Raises `QueryNoRows` when nothing
/// matched and `EnsignInvalidArgument` (with the server's message) for a bad query.
#[pyfunction]
#[pyo3(signature = (client, sql, params, include_duplicates, waiter))]
fn query(
    py: Python<'_>,
    client: &Bound<'_, Client>,
    sql: &str,
    params: Option<&Bound<'_, PyAny>>,
    include_duplicates: bool,
    waiter: Waiter,
) -> PyResult<Py<PyAny>> {
    let client = client.get();
    client.check_fork()?;
    if sql.trim().is_empty() {
        return Err(PyValueError::new_err("query must not be empty"));
    }
    let q = build_query(sql, params, include_duplicates)?;
    let c = client.inner.clone();
    run(py, waiter, async move { c.query(q).await }, |py, cursor| {
        let obj = Py::new(
            py,
            QueryCursor {
                inner: Arc::new(cursor),
            },
        )?;
        Ok(obj.into_any())
    })
}

/// Calls `Explain`; resolves to the encoded `QueryExplanation`.
#[pyfunction]
#[pyo3(signature = (client, sql, params, include_duplicates, waiter))]
fn explain(
    py: Python<'_>,
    client: &Bound<'_, Client>,
    sql: &str,
    params: Option<&Bound<'_, PyAny>>,
    include_duplicates: bool,
    waiter: Waiter,
) -> PyResult<Py<PyAny>> {
    let client = client.get();
    client.check_fork()?;
    let q = build_query(sql, params, include_duplicates)?;
    let c = client.inner.clone();
    run(py, waiter, async move { c.explain(q).await }, |py, e| {
        Ok(PyBytes::new(py, &e.encode_to_vec()).into_any().unbind())
    })
}

/// Registers the query class and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<QueryCursor>()?;
    m.add_function(wrap_pyfunction!(query, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    Ok(())
}
