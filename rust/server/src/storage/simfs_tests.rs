//! Tests of the simulated disk's model: what a crash keeps (synced, torn), and full disks.

use super::*;

fn setup() -> (SimFs, PathBuf) {
    let fs = SimFs::new();
    let dir = PathBuf::from("/data");
    fs.create_dir_all(&dir).unwrap();
    (fs, dir)
}

#[test]
fn a_crash_keeps_only_what_was_synced() {
    let (fs, dir) = setup();
    let p = dir.join("f");
    let f = fs.create(&p).unwrap();
    f.write_all_at(b"abc", 0).unwrap();
    f.sync_data().unwrap();
    // The entry is not durable yet: the file is gone after a crash.
    assert!(!fs.crash(CrashMode::DropUnsynced).exists(&p).unwrap());
    fs.sync_dir(&dir).unwrap();
    f.write_all_at(b"def", 3).unwrap();
    let after = fs.crash(CrashMode::DropUnsynced);
    assert_eq!(after.read(&p).unwrap(), b"abc");
    f.sync_data().unwrap();
    assert_eq!(
        fs.crash(CrashMode::DropUnsynced).read(&p).unwrap(),
        b"abcdef"
    );
}

#[test]
fn sync_data_does_not_make_a_shrink_durable() {
    let (fs, dir) = setup();
    let p = dir.join("f");
    let f = fs.create(&p).unwrap();
    fs.sync_dir(&dir).unwrap();
    f.write_all_at(b"0123456789", 0).unwrap();
    f.sync_all().unwrap();
    f.set_len(4).unwrap();
    f.write_all_at(b"xy", 4).unwrap();
    f.sync_data().unwrap();
    assert_eq!(fs.read(&p).unwrap(), b"0123xy");
    let c = fs.crash(CrashMode::DropUnsynced);
    assert_eq!(c.read(&p).unwrap(), b"0123xy6789");
    f.sync_all().unwrap();
    assert_eq!(
        fs.crash(CrashMode::DropUnsynced).read(&p).unwrap(),
        b"0123xy"
    );
}

#[test]
fn torn_crashes_keep_a_prefix_and_full_disks_fail_writes() {
    let (fs, dir) = setup();
    let p = dir.join("f");
    let f = fs.create(&p).unwrap();
    fs.sync_dir(&dir).unwrap();
    f.write_all_at(&[7u8; 100], 0).unwrap();
    let mut lens = HashSet::new();
    for seed in 0..64 {
        let data = fs.crash(CrashMode::Torn(seed)).read(&p).unwrap();
        assert!(data.iter().all(|&b| b == 7));
        lens.insert(data.len());
    }
    assert!(lens.len() > 10, "{lens:?}");
    fs.set_capacity(Some(150));
    let err = f.write_all_at(&[1u8; 100], 100).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(28));
    assert_eq!(f.len().unwrap(), 150);
    fs.set_fail_sync(true);
    assert!(f.sync_data().is_err());
    fs.set_fail_sync(false);
    fs.set_capacity(None);
    f.write_all_at(&[1u8; 100], 100).unwrap();
    let lock = dir.join("LOCK");
    let g = fs.lock(&lock).unwrap();
    assert!(g.is_some() && fs.lock(&lock).unwrap().is_none());
}
