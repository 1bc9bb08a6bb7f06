//! `pyensign_fast._core.LocalServer`: the local Ensign server, in this process, on its
//! own tokio runtime (two worker threads) so that it never competes with the client's
//! runtime for a worker and leaves nothing running once stopped.
//!
//! Concurrency: start and stop block on the server's runtime with the GIL released.
//! The handle sits behind a mutex so `stop` is idempotent and safe from any thread.
//! Errors become `OSError` (ports, files) or `ValueError` (arguments, corrupt data);
//! nothing here panics across the FFI boundary.

use std::path::PathBuf;
use std::time::Duration;

use ensign_server::storage::RecoveryReport;
use ensign_server::{AuthConfig, ServerConfig, ServerError, ServerHandle};
use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

struct Running {
    runtime: tokio::runtime::Runtime,
    handle: ServerHandle,
}

impl Running {
    fn stop(self) {
        let Running { runtime, handle } = self;
        runtime.block_on(handle.shutdown());
        runtime.shutdown_timeout(Duration::from_secs(2));
    }
}

fn to_py(err: ServerError) -> PyErr {
    let msg = err.to_string();
    match err {
        ServerError::Bind { .. }
        | ServerError::DataDir { .. }
        | ServerError::DataDirLocked { .. }
        | ServerError::Storage(_) => PyOSError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// A running local Ensign server.
#[pyclass(frozen, module = "pyensign_fast._core")]
pub struct LocalServer {
    running: Mutex<Option<Running>>,
    endpoint: String,
    auth_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    project_id: String,
    metrics_url: Option<String>,
    recovery: RecoveryReport,
}

#[pymethods]
impl LocalServer {
    /// Starts a server and returns once it listens.
    #[new]
    #[pyo3(signature = (host="127.0.0.1".to_string(), port=0, data_dir=None, auth=false, client_id=None, client_secret=None, http_port=0, worker_threads=2, access_ttl=None, refresh_ttl=None, metrics_addr=None, repair=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        host: String,
        port: u16,
        data_dir: Option<PathBuf>,
        auth: bool,
        client_id: Option<String>,
        client_secret: Option<String>,
        http_port: u16,
        worker_threads: usize,
        access_ttl: Option<u64>,
        refresh_ttl: Option<u64>,
        metrics_addr: Option<String>,
        repair: bool,
    ) -> PyResult<Self> {
        if !auth
            && (client_id.is_some()
                || client_secret.is_some()
                || access_ttl.is_some()
                || refresh_ttl.is_some())
        {
            return Err(PyValueError::new_err(
                "client_id, client_secret, access_ttl and refresh_ttl need auth=True",
            ));
        }
        if access_ttl == Some(0) || refresh_ttl == Some(0) {
            return Err(PyValueError::new_err(
                "access_ttl and refresh_ttl must be at least 1 second",
            ));
        }
        let defaults = AuthConfig::default();
        let config = ServerConfig {
            host,
            port,
            data_dir,
            auth: auth.then(|| AuthConfig {
                client_id,
                client_secret,
                http_port,
                access_ttl: access_ttl.map_or(defaults.access_ttl, Duration::from_secs),
                refresh_ttl: refresh_ttl.map_or(defaults.refresh_ttl, Duration::from_secs),
                ..defaults
            }),
            metrics_addr,
            repair,
            ..Default::default()
        };
        let running = crate::exiting::detach(py, move || -> PyResult<Running> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads.clamp(1, 8))
                .thread_name("ensign-server")
                .enable_all()
                .build()
                .map_err(|e| {
                    PyOSError::new_err(format!("could not start the server runtime: {e}"))
                })?;
            let handle = runtime
                .block_on(ensign_server::start(config))
                .map_err(to_py)?;
            Ok(Running { runtime, handle })
        })?;
        let h = &running.handle;
        Ok(LocalServer {
            endpoint: h.endpoint(),
            auth_url: h.auth_url(),
            client_id: h.client_id().map(str::to_string),
            client_secret: h.client_secret().map(str::to_string),
            project_id: h.project_id().to_string(),
            metrics_url: h.metrics_url(),
            recovery: h.recovery().clone(),
            running: Mutex::new(Some(running)),
        })
    }

    /// "host:port" of the gRPC service.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// "http://host:port" of the auth endpoints, or None without auth.
    #[getter]
    fn auth_url(&self) -> Option<&str> {
        self.auth_url.as_deref()
    }

    #[getter]
    fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    #[getter]
    fn client_secret(&self) -> Option<&str> {
        self.client_secret.as_deref()
    }

    /// The project's id (a ULID string).
    #[getter]
    fn project_id(&self) -> &str {
        &self.project_id
    }

    /// "http://host:port/metrics" of the Prometheus endpoint, or None when not served.
    #[getter]
    fn metrics_url(&self) -> Option<&str> {
        self.metrics_url.as_deref()
    }

    /// What recovery found and did when the server opened its data directory: a dict
    /// with `records`, `records_lost`, `bytes_dropped`, `damaged` (list of
    /// `(start, end, records)`), `torn_tail` (`(start, end)` or None), `actions` and
    /// `summary`.
    #[getter]
    fn recovery<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = &self.recovery;
        let d = PyDict::new(py);
        d.set_item("records", r.records)?;
        d.set_item("records_lost", r.records_lost())?;
        d.set_item("bytes_dropped", r.bytes_dropped())?;
        let damaged: Vec<(u64, u64, u64)> = r
            .damaged
            .iter()
            .map(|x| (x.start, x.end, x.records))
            .collect();
        d.set_item("damaged", damaged)?;
        d.set_item("torn_tail", r.torn_tail)?;
        d.set_item("actions", r.actions.clone())?;
        d.set_item("summary", r.to_string())?;
        Ok(d)
    }

    #[getter]
    fn running(&self) -> bool {
        self.running.lock().is_some()
    }

    /// Stops the server: ends open streams after answering them, makes storage
    /// durable and frees the ports. Idempotent.
    fn stop(&self, py: Python<'_>) {
        let running = self.running.lock().take();
        if let Some(r) = running {
            crate::exiting::detach(py, move || r.stop());
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "LocalServer(endpoint={:?}, auth_url={:?}, running={})",
            self.endpoint,
            self.auth_url,
            self.running()
        )
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        // Dropped without stop(): shut down off the current thread, which may hold the
        // GIL, so that the runtime's threads can finish their work.
        if let Some(r) = self.running.get_mut().take() {
            let _ = std::thread::Builder::new()
                .name("ensign-server-stop".into())
                .spawn(move || r.stop());
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LocalServer>()
}
