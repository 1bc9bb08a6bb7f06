//! A 7 MiB EnSQL query is refused by size before it is tokenized: the memory it costs
//! is a few copies of the message, not ~450 MiB of tokens. Measured with a counting
//! allocator (this test binary only).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use tonic::Code;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[tokio::test]
async fn a_7_mib_query_is_refused_with_bounded_memory() {
    let (_h, mut c) = memory_server().await;
    create_topic(&mut c, "t").await;
    let q = format!(
        "SELECT * FROM t WHERE {}a = 1",
        "a = 1 AND ".repeat(7 * 1024 * 1024 / 10)
    );
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let err = query(&mut c, &q, false).await.unwrap_err();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("query is too long"),
        "{}",
        err.message()
    );
    // The query string is 7 MiB; client and server each hold a couple of copies.
    assert!(peak < 64 << 20, "peak {} MiB", peak >> 20);
}
