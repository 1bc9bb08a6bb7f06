//! Opening a data directory: the `LOCK` that keeps a second server out, `meta.json`
//! (the project id, and that an event log exists) and `events.log`, and what to do when
//! one of them is missing.
//!
//! A new directory gets its log first (header with the project id, file synced,
//! directory synced) and `meta.json` second, so a crash in between leaves a log without
//! metadata, which is adopted (its header names the project). Afterwards these states
//! cannot come from a crash, only from deleted or damaged files, and the server refuses
//! to start unless asked to repair (`ServerConfig::repair`):
//! * `meta.json` present but `events.log` missing or shorter than its header: repair
//!   starts an empty log for the same project.
//! * `meta.json` missing or unreadable while the log holds records: repair rewrites it
//!   with the project id from the log's header (or a new id if that is damaged too).
//!
//! Repairs are listed in the recovery report. Nothing here makes up a project id for
//! existing data without saying so.
//!
//! Concurrency: runs once, on the starting thread.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ulid::Ulid;

use super::fs::{FsHandle, StorageFile};
use super::record::{self, FILE_HEADER};
use super::replay::{self, LogHeader, Recovered, ReplayOptions};
use crate::error::ServerError;

pub const LOG_FILE: &str = "events.log";
pub const META_FILE: &str = "meta.json";
pub const LOCK_FILE: &str = "LOCK";

/// How to open a data directory.
#[derive(Clone, Debug, Default)]
pub struct DirOptions {
    pub fs: FsHandle,
    /// Start even when files are missing or damaged, repairing what can be repaired.
    pub repair: bool,
    pub replay: ReplayOptions,
}

/// An open data directory, ready for the log writer.
pub struct OpenDir {
    pub project: Ulid,
    pub log: Arc<dyn StorageFile>,
    pub recovered: Recovered,
    pub lock: Box<dyn Any + Send + Sync>,
}

struct Meta {
    project: Ulid,
    /// Written by this format (which also records that the log exists).
    current: bool,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::DataDir {
        path: path.to_path_buf(),
        source,
    }
}

fn needs_repair(path: &Path, reason: String) -> ServerError {
    ServerError::NeedsRepair {
        path: path.to_path_buf(),
        reason,
    }
}

fn read_meta(opts: &DirOptions, path: &Path) -> Result<Option<Result<Meta, String>>, ServerError> {
    let text = match opts.fs.read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let parsed = (|| {
        let v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
        let id = v["project_id"].as_str().ok_or("no project_id")?;
        let project = Ulid::from_string(id).map_err(|_| "project_id is not a ULID")?;
        Ok(Meta {
            project,
            current: v["format"].as_u64() == Some(2),
        })
    })();
    Ok(Some(parsed))
}

fn write_meta(opts: &DirOptions, path: &Path, project: Ulid) -> Result<(), ServerError> {
    let text = serde_json::json!({"format": 2, "project_id": project.to_string(), "log": LOG_FILE});
    opts.fs
        .write_atomic(path, text.to_string().as_bytes())
        .map_err(io_err(path))
}

/// Creates (or empties) the log with its header, durably, entry included.
fn create_log(
    opts: &DirOptions,
    dir: &Path,
    path: &Path,
    project: Ulid,
) -> Result<Arc<dyn StorageFile>, ServerError> {
    let err = io_err(path);
    let file = opts.fs.create(path).map_err(&err)?;
    file.write_all_at(&record::file_header(project), 0)
        .map_err(&err)?;
    file.sync_all().map_err(&err)?;
    opts.fs.sync_dir(dir).map_err(io_err(dir))?;
    Ok(file)
}

/// Locks, checks and replays a data directory (creating it if needed).
pub fn open(dir: &Path, opts: &DirOptions) -> Result<OpenDir, ServerError> {
    let fs = &opts.fs;
    fs.create_dir_all(dir).map_err(io_err(dir))?;
    let lock = fs
        .lock(&dir.join(LOCK_FILE))
        .map_err(io_err(dir))?
        .ok_or_else(|| ServerError::DataDirLocked {
            path: dir.to_path_buf(),
        })?;
    let (meta_path, log_path): (PathBuf, PathBuf) = (dir.join(META_FILE), dir.join(LOG_FILE));
    let meta = match read_meta(opts, &meta_path)? {
        Some(Ok(m)) => Some(m),
        None => None,
        Some(Err(reason)) if !opts.repair => {
            return Err(ServerError::Corrupt {
                path: meta_path,
                reason: format!("{reason}; start with repair to rewrite it from the event log"),
            })
        }
        Some(Err(reason)) => {
            tracing::warn!(%reason, "meta.json is unreadable; repairing");
            None
        }
    };
    let log_exists = fs.exists(&log_path).map_err(io_err(&log_path))?;
    let mut actions = Vec::new();
    let (project, log, mut recovered) = match (meta, log_exists) {
        (None, false) => {
            let project = Ulid::new();
            let log = create_log(opts, dir, &log_path, project)?;
            (project, log, fresh(opts))
        }
        (Some(m), false) => {
            if !opts.repair {
                return Err(needs_repair(
                    &log_path,
                    format!(
                        "it is missing, but meta.json says project {} has an event log \
                         (was it deleted?)",
                        m.project
                    ),
                ));
            }
            actions.push(format!(
                "events.log was missing: started an empty event log for project {} (the \
                 events it held are gone)",
                m.project
            ));
            let log = create_log(opts, dir, &log_path, m.project)?;
            (m.project, log, fresh(opts))
        }
        (meta, true) => {
            let log = fs.open(&log_path).map_err(io_err(&log_path))?;
            let rec = replay::replay(&log_path, &*log, &opts.replay)?;
            let project = decide_project(opts, meta.as_ref(), &rec, &log_path, &mut actions)?;
            if rec.header == LogHeader::Missing {
                // Empty, or a header write cut short before any record was written.
                let log = create_log(opts, dir, &log_path, project)?;
                (project, log, fresh(opts))
            } else {
                (project, log, rec)
            }
        }
    };
    for t in recovered.topics.values_mut() {
        if t.topic.project_id.is_empty() {
            t.topic.project_id = project.to_bytes().to_vec().into();
        }
    }
    let meta_now = read_meta(opts, &meta_path)?;
    if !matches!(meta_now, Some(Ok(Meta { project: p, current: true })) if p == project) {
        write_meta(opts, &meta_path, project)?;
    }
    recovered.report.actions.extend(actions);
    Ok(OpenDir {
        project,
        log,
        recovered,
        lock,
    })
}

fn fresh(opts: &DirOptions) -> Recovered {
    let mut r = Recovered::new(opts.replay.resend_keys);
    r.append_at = FILE_HEADER as u64;
    r
}

/// The project of an existing log, from `meta.json` and the log's header.
fn decide_project(
    opts: &DirOptions,
    meta: Option<&Meta>,
    rec: &Recovered,
    log_path: &Path,
    actions: &mut Vec<String>,
) -> Result<Ulid, ServerError> {
    let has_data = rec.report.records > 0 || !rec.report.damaged.is_empty();
    match (meta, rec.header) {
        (Some(m), LogHeader::Valid(p)) if p != m.project => Err(ServerError::Corrupt {
            path: log_path.to_path_buf(),
            reason: format!(
                "it belongs to project {p} but meta.json says {}; move one of them away",
                m.project
            ),
        }),
        (Some(m), LogHeader::Missing) if m.current && !opts.repair => Err(needs_repair(
            log_path,
            format!(
                "it is shorter than its header, but meta.json says project {} has an \
                 event log (was it truncated?)",
                m.project
            ),
        )),
        (Some(m), LogHeader::Missing) => {
            if m.current {
                actions.push(format!(
                    "events.log was truncated: started an empty event log for project {}",
                    m.project
                ));
            }
            Ok(m.project)
        }
        (Some(m), _) => Ok(m.project),
        // A crash between creating the log and writing meta.json: adopt the log.
        (None, LogHeader::Valid(p)) if !has_data => Ok(p),
        (None, LogHeader::Missing) => Ok(Ulid::new()),
        (None, header) if !opts.repair => Err(needs_repair(
            log_path,
            format!(
                "meta.json is missing or unreadable while the event log holds {} records \
                 (of project {})",
                rec.report.records,
                match header {
                    LogHeader::Valid(p) => p.to_string(),
                    _ => "unknown: its header is damaged too".into(),
                }
            ),
        )),
        (None, LogHeader::Valid(p)) => {
            actions.push(format!(
                "meta.json was missing or unreadable: rewrote it for project {p}, read from \
                 the event log's header"
            ));
            Ok(p)
        }
        (None, _) => {
            let p = Ulid::new();
            actions.push(format!(
                "meta.json was missing or unreadable and the event log's header is \
                 damaged: the data now belongs to a NEW project id {p}"
            ));
            Ok(p)
        }
    }
}
