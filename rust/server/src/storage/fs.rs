//! The file layer under the durable log: the handful of file and directory operations
//! the data directory needs, behind a trait so that tests can swap the operating system
//! for a simulated disk (`simfs`) that loses unsynced writes on a "power cut" or runs out
//! of space on demand.
//!
//! Everything the log writes goes through `StorageFile::write_all_at` at an explicit
//! offset (no `O_APPEND`), so the writer alone decides where the next record goes, even
//! after a failed write left bytes behind.
//!
//! Concurrency: `StorageFile` methods take `&self` (`pread`/`pwrite` semantics) so the
//! writer thread and readers share one handle; implementations are `Send + Sync`.

use std::any::Any;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

/// An open data file.
// A file's length is an I/O result, not a collection size: no `is_empty` to go with it.
#[allow(clippy::len_without_is_empty)]
pub trait StorageFile: Send + Sync {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `data` at `offset`, growing the file if needed.
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    /// Writes `parts` one after another, all of them, starting at `offset`. The default
    /// writes them one at a time; the operating system's files use `pwritev`, so that
    /// the writer need not first copy a round's batches into one buffer.
    fn write_all_vectored_at(&self, parts: &[&[u8]], offset: u64) -> io::Result<()> {
        let mut pos = offset;
        for part in parts {
            self.write_all_at(part, pos)?;
            pos += part.len() as u64;
        }
        Ok(())
    }
    /// Truncates (or zero-extends) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// `fdatasync`: the data written so far, and a size that grew, are durable. A size
    /// that shrank (`set_len`) need not be (POSIX leaves it out): use `sync_all`.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: data and every attribute, the size included, are durable.
    fn sync_all(&self) -> io::Result<()>;

    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(&mut buf[done..], offset + done as u64)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(())
    }
}

/// The directory operations of the data directory. A created, renamed or removed file is
/// durable only once `sync_dir` returned for its directory.
pub trait StorageFs: Send + Sync + 'static {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Opens an existing file for reading and writing (`NotFound` if absent).
    fn open(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>>;
    /// Creates a file, or empties an existing one, for reading and writing (mode 0600).
    fn create(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>>;
    /// Whether a file exists at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock file of a data directory: `Ok(None)` if another server
    /// holds it. The lock is released when the returned guard is dropped.
    fn lock(&self, path: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>>;

    /// Reads a whole (small) file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let f = self.open(path)?;
        let mut buf = vec![0u8; f.len()? as usize];
        f.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }

    /// Replaces a small file so that after a crash it is either the old or the new one,
    /// complete: write a temporary file, sync it, rename it over, sync the directory.
    fn write_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        let f = self.create(&tmp)?;
        f.write_all_at(data, 0)?;
        f.sync_all()?;
        drop(f);
        self.rename(&tmp, path)?;
        self.sync_dir(path.parent().unwrap_or(Path::new(".")))
    }
}

/// The operating system's files.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsFs;

struct OsFile(File);

impl StorageFile for OsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.0.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }
    fn write_all_vectored_at(&self, parts: &[&[u8]], mut offset: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // Linux's IOV_MAX.
        const MAX_PARTS: usize = 1024;
        let mut slices: Vec<io::IoSlice<'_>> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| io::IoSlice::new(p))
            .collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let count = rest.len().min(MAX_PARTS);
            // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix (std documents
            // it), the slices borrow live buffers, and `count` is within `rest`.
            let written = unsafe {
                libc::pwritev(
                    self.0.as_raw_fd(),
                    rest.as_ptr().cast::<libc::iovec>(),
                    count as libc::c_int,
                    offset as libc::off_t,
                )
            };
            if written < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            offset += written as u64;
            io::IoSlice::advance_slices(&mut rest, written as usize);
        }
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl StorageFs for OsFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(OsFile(f)))
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        Ok(Arc::new(OsFile(f)))
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn lock(&self, path: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(Box::new(f))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Which file layer a server uses: the operating system's unless a test passes another.
#[derive(Clone)]
pub struct FsHandle(pub Arc<dyn StorageFs>);

impl Default for FsHandle {
    fn default() -> Self {
        FsHandle(Arc::new(OsFs))
    }
}

impl std::fmt::Debug for FsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FsHandle(..)")
    }
}

impl std::ops::Deref for FsHandle {
    type Target = dyn StorageFs;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_files_write_read_truncate_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs;
        let p = dir.path().join("f");
        assert!(!fs.exists(&p).unwrap());
        let f = fs.create(&p).unwrap();
        f.write_all_at(b"hello world", 0).unwrap();
        f.write_all_at(b"W", 6).unwrap();
        f.sync_data().unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"hello World");
        f.set_len(5).unwrap();
        f.sync_all().unwrap();
        assert_eq!(f.len().unwrap(), 5);
        let mut buf = [0u8; 8];
        assert_eq!(f.read_at(&mut buf, 2).unwrap(), 3);
        fs.write_atomic(&p, b"new").unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"new");
        let lock = dir.path().join("LOCK");
        let held = fs.lock(&lock).unwrap();
        assert!(held.is_some());
        assert!(fs.lock(&lock).unwrap().is_none());
        drop(held);
        assert!(fs.lock(&lock).unwrap().is_some());
    }

    #[test]
    fn vectored_writes_land_in_order_past_the_part_limit() {
        let dir = tempfile::tempdir().unwrap();
        let f = OsFs.create(&dir.path().join("v")).unwrap();
        f.write_all_at(b"head", 0).unwrap();
        // 3,000 parts (more than one `pwritev` takes), some of them empty.
        let owned: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| vec![(i % 251) as u8; (i % 7) as usize])
            .collect();
        let parts: Vec<&[u8]> = owned.iter().map(|v| &v[..]).collect();
        f.write_all_vectored_at(&parts, 4).unwrap();
        let want: Vec<u8> = b"head".iter().copied().chain(owned.concat()).collect();
        assert_eq!(f.len().unwrap(), want.len() as u64);
        let mut got = vec![0u8; want.len()];
        f.read_exact_at(&mut got, 0).unwrap();
        assert_eq!(got, want);
        // The simulated disk's default (one write per part) gives the same bytes.
        let sim = crate::storage::simfs::SimFs::new();
        sim.create_dir_all(Path::new("/sim")).unwrap();
        let g = sim.create(Path::new("/sim/s")).unwrap();
        g.write_all_at(b"head", 0).unwrap();
        g.write_all_vectored_at(&parts, 4).unwrap();
        let mut got = vec![0u8; want.len()];
        g.read_exact_at(&mut got, 0).unwrap();
        assert_eq!(got, want);
    }
}
