//! The simulated disk's open files: reads see every write, `sync_data`/`sync_all` move
//! what was written into the durable state (see the model in `simfs`), and a full disk,
//! a failing sync or a stalled disk show up here.

use std::io;

use super::{apply, FileOp, SimFs};
use crate::storage::fs::StorageFile;

pub(super) struct SimFile {
    pub(super) fs: SimFs,
    pub(super) node: usize,
}

pub(super) fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

impl StorageFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.fs.0.state.lock().nodes[self.node].current.len() as u64)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let st = self.fs.0.state.lock();
        let data = &st.nodes[self.node].current;
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let mut st = self.fs.0.state.lock();
        while st.stalled {
            st.waiting += 1;
            self.fs.0.gate.notify_all();
            self.fs.0.gate.wait(&mut st);
            st.waiting -= 1;
        }
        let mut keep = data.len();
        if let Some(cap) = st.capacity {
            let cur = st.nodes[self.node].current.len() as u64;
            let growth = (offset + data.len() as u64).saturating_sub(cur);
            let room = cap.saturating_sub(st.used());
            if growth > room {
                keep = (data.len() as u64 - (growth - room)) as usize;
            }
        }
        let node = &mut st.nodes[self.node];
        let op = FileOp::Write(offset, data[..keep].to_vec());
        apply(&mut node.current, &op, usize::MAX);
        node.pending.push(op);
        if keep < data.len() {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = self.fs.0.state.lock();
        let node = &mut st.nodes[self.node];
        if len < node.current.len() as u64 {
            node.shrink_pending = true;
        }
        let op = FileOp::SetLen(len);
        apply(&mut node.current, &op, usize::MAX);
        node.pending.push(op);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        let mut st = self.fs.0.state.lock();
        if st.fail_sync {
            return Err(eio());
        }
        let node = &mut st.nodes[self.node];
        let mut durable = node.current.clone();
        if node.shrink_pending && node.durable.len() > durable.len() {
            // The old, longer size is still what the disk records.
            durable.extend_from_slice(&node.durable[node.current.len()..]);
        }
        node.durable = durable;
        node.pending.clear();
        Ok(())
    }
    fn sync_all(&self) -> io::Result<()> {
        let mut st = self.fs.0.state.lock();
        if st.fail_sync {
            return Err(eio());
        }
        let node = &mut st.nodes[self.node];
        node.durable = node.current.clone();
        node.pending.clear();
        node.shrink_pending = false;
        Ok(())
    }
}
