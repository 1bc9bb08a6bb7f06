//! A simulated disk for tests of durability: files and directories in memory that keep
//! apart what was written from what was made durable, so a test can cut the power at
//! any moment (`crash`) and restart a server on what a real disk would still hold. It
//! can also run out of space (`set_capacity`), fail every sync (`set_fail_sync`) or hold
//! every write (`set_stalled`).
//!
//! The model (POSIX, pessimistic where POSIX allows it):
//! * A file's bytes and size are durable once `sync_all` returned; `sync_data` makes
//!   the writes and a size that grew durable, but not a size that shrank (`set_len`).
//! * A created, renamed or removed directory entry is durable once `sync_dir` returned
//!   for its directory. Directories themselves (`create_dir_all`) are durable at once.
//! * A crash keeps the durable state and, with `CrashMode::Torn`, a random prefix of the
//!   operations that came after it (the last write possibly cut mid-way), as a disk that
//!   writes back in order but stops at any byte.
//!
//! Concurrency: one mutex over the whole simulated disk; handles share it.

use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use rand::{Rng, SeedableRng};

use super::fs::{StorageFile, StorageFs};
use file::{eio, SimFile};

#[path = "simfs_file.rs"]
mod file;

/// What survives a simulated power cut.
#[derive(Clone, Copy, Debug)]
pub enum CrashMode {
    /// Only what was synced.
    DropUnsynced,
    /// What was synced plus a random prefix (from this seed) of what came after.
    Torn(u64),
}

enum FileOp {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Default)]
struct Node {
    current: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<FileOp>,
    /// A shrink that `sync_data` did not make durable (only `sync_all` does).
    shrink_pending: bool,
}

enum DirOp {
    Link(OsString, usize),
    Unlink(OsString),
    Rename(OsString, OsString),
}

#[derive(Default)]
struct Dir {
    current: BTreeMap<OsString, usize>,
    durable: BTreeMap<OsString, usize>,
    pending: Vec<DirOp>,
}

#[derive(Default)]
struct State {
    dirs: BTreeMap<PathBuf, Dir>,
    nodes: Vec<Node>,
    locks: HashSet<PathBuf>,
    capacity: Option<u64>,
    fail_sync: bool,
    stalled: bool,
    /// Writes waiting because the disk is stalled.
    waiting: usize,
}

fn split(path: &Path) -> io::Result<(PathBuf, OsString)> {
    match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => Ok((p.to_path_buf(), n.to_os_string())),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        )),
    }
}

fn not_found() -> io::Error {
    io::ErrorKind::NotFound.into()
}

fn apply(data: &mut Vec<u8>, op: &FileOp, keep: usize) {
    match op {
        FileOp::Write(off, bytes) => {
            let (off, bytes) = (*off as usize, &bytes[..keep.min(bytes.len())]);
            if data.len() < off {
                data.resize(off, 0);
            }
            let inside = (data.len() - off).min(bytes.len());
            data[off..off + inside].copy_from_slice(&bytes[..inside]);
            data.extend_from_slice(&bytes[inside..]);
        }
        FileOp::SetLen(len) => data.resize(*len as usize, 0),
    }
}

impl State {
    fn dir(&mut self, dir: &Path) -> io::Result<&mut Dir> {
        self.dirs.get_mut(dir).ok_or_else(not_found)
    }
    fn lookup(&self, path: &Path) -> io::Result<usize> {
        let (dir, name) = split(path)?;
        let d = self.dirs.get(&dir).ok_or_else(not_found)?;
        d.current.get(&name).copied().ok_or_else(not_found)
    }
    /// Bytes held by linked files.
    fn used(&self) -> u64 {
        let linked: HashSet<usize> = self
            .dirs
            .values()
            .flat_map(|d| d.current.values().copied())
            .collect();
        linked
            .iter()
            .map(|&n| self.nodes[n].current.len() as u64)
            .sum()
    }
    fn link(&mut self, path: &Path) -> io::Result<usize> {
        let (dir, name) = split(path)?;
        let id = self.nodes.len();
        self.dir(&dir)?;
        self.nodes.push(Node::default());
        let d = self.dir(&dir)?;
        d.current.insert(name.clone(), id);
        d.pending.push(DirOp::Link(name, id));
        Ok(id)
    }
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    /// Wakes writes held by `set_stalled`.
    gate: Condvar,
}

/// The simulated disk. Cloning shares it.
#[derive(Clone, Default)]
pub struct SimFs(Arc<Inner>);

impl SimFs {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new disk holding what this one would hold after a power cut now. This one
    /// keeps running (a test usually stops the server on it next).
    pub fn crash(&self, mode: CrashMode) -> SimFs {
        let st = self.0.state.lock();
        let mut rng = match mode {
            CrashMode::DropUnsynced => None,
            CrashMode::Torn(seed) => Some(rand::rngs::StdRng::seed_from_u64(seed)),
        };
        // How many pending operations survive, and how much of the last one.
        let mut survivors = |n: usize| -> (usize, usize) {
            match rng.as_mut() {
                Some(r) if n > 0 => (r.random_range(0..=n), r.random_range(0..=usize::MAX)),
                _ => (0, 0),
            }
        };
        let mut nodes = Vec::with_capacity(st.nodes.len());
        for node in &st.nodes {
            let mut data = node.durable.clone();
            let (k, cut) = survivors(node.pending.len());
            for (i, op) in node.pending.iter().take(k).enumerate() {
                let keep = match op {
                    FileOp::Write(_, b) if i + 1 == k && !b.is_empty() => cut % (b.len() + 1),
                    _ => usize::MAX,
                };
                apply(&mut data, op, keep);
            }
            nodes.push(Node {
                current: data.clone(),
                durable: data,
                ..Default::default()
            });
        }
        let mut dirs = BTreeMap::new();
        for (path, dir) in &st.dirs {
            let mut entries = dir.durable.clone();
            let (k, _) = survivors(dir.pending.len());
            for op in dir.pending.iter().take(k) {
                match op {
                    DirOp::Link(n, id) => {
                        entries.insert(n.clone(), *id);
                    }
                    DirOp::Unlink(n) => {
                        entries.remove(n);
                    }
                    DirOp::Rename(from, to) => {
                        if let Some(id) = entries.remove(from) {
                            entries.insert(to.clone(), id);
                        }
                    }
                }
            }
            let d = Dir {
                current: entries.clone(),
                durable: entries,
                pending: Vec::new(),
            };
            dirs.insert(path.clone(), d);
        }
        SimFs(Arc::new(Inner {
            state: Mutex::new(State {
                dirs,
                nodes,
                ..Default::default()
            }),
            gate: Condvar::new(),
        }))
    }

    /// Limits the bytes all files may hold (`None`: unlimited). A write past it writes
    /// what fits and fails with `ENOSPC`, as a full disk does.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.0.state.lock().capacity = bytes;
    }

    /// Makes every `sync_data`/`sync_all`/`sync_dir` fail with `EIO` (nothing becomes
    /// durable) until turned off.
    pub fn set_fail_sync(&self, fail: bool) {
        self.0.state.lock().fail_sync = fail;
    }

    /// Holds every write (the writer waits, as on a disk that stopped answering) until
    /// turned off.
    pub fn set_stalled(&self, stalled: bool) {
        self.0.state.lock().stalled = stalled;
        self.0.gate.notify_all();
    }

    /// Blocks until a write is held by `set_stalled`.
    pub fn wait_for_stalled_write(&self) {
        let mut st = self.0.state.lock();
        while st.waiting == 0 {
            self.0.gate.wait(&mut st);
        }
    }

    /// The current (not necessarily durable) bytes of a file.
    pub fn contents(&self, path: &Path) -> io::Result<Vec<u8>> {
        let st = self.0.state.lock();
        Ok(st.nodes[st.lookup(path)?].current.clone())
    }

    /// Replaces a file's bytes, durably (a test damaging the "disk").
    pub fn overwrite(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut st = self.0.state.lock();
        let id = st.lookup(path)?;
        let node = &mut st.nodes[id];
        node.current = data.to_vec();
        node.durable = data.to_vec();
        node.pending.clear();
        node.shrink_pending = false;
        Ok(())
    }
}

struct SimLock(SimFs, PathBuf);

impl Drop for SimLock {
    fn drop(&mut self) {
        self.0 .0.state.lock().locks.remove(&self.1);
    }
}

impl StorageFs for SimFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.0.state.lock();
        for d in dir.ancestors() {
            st.dirs.entry(d.to_path_buf()).or_default();
        }
        Ok(())
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let node = self.0.state.lock().lookup(path)?;
        Ok(Arc::new(SimFile {
            fs: self.clone(),
            node,
        }))
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let mut st = self.0.state.lock();
        let node = match st.lookup(path) {
            Ok(id) => {
                let n = &mut st.nodes[id];
                if !n.current.is_empty() {
                    n.shrink_pending = true;
                }
                n.current.clear();
                n.pending.push(FileOp::SetLen(0));
                id
            }
            Err(_) => st.link(path)?,
        };
        Ok(Arc::new(SimFile {
            fs: self.clone(),
            node,
        }))
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        let st = self.0.state.lock();
        Ok(st.dirs.contains_key(path) || st.lookup(path).is_ok())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.0.state.lock();
        let ((fd, fname), (td, tname)) = (split(from)?, split(to)?);
        if fd != td {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "renames across directories are not simulated",
            ));
        }
        let d = st.dir(&fd)?;
        let id = d.current.remove(&fname).ok_or_else(not_found)?;
        d.current.insert(tname.clone(), id);
        d.pending.push(DirOp::Rename(fname, tname));
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.0.state.lock();
        let (dir, name) = split(path)?;
        let d = st.dir(&dir)?;
        d.current.remove(&name).ok_or_else(not_found)?;
        d.pending.push(DirOp::Unlink(name));
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.0.state.lock();
        if st.fail_sync {
            return Err(eio());
        }
        let d = st.dir(dir)?;
        d.durable = d.current.clone();
        d.pending.clear();
        Ok(())
    }
    fn lock(&self, path: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>> {
        {
            let mut st = self.0.state.lock();
            if st.lookup(path).is_err() {
                st.link(path)?;
            }
            if !st.locks.insert(path.to_path_buf()) {
                return Ok(None);
            }
        }
        Ok(Some(Box::new(SimLock(self.clone(), path.to_path_buf()))))
    }
}

#[cfg(test)]
#[path = "simfs_tests.rs"]
mod tests;
