//! Which re-sent events the server recognises: the same local id from the same client
//! (OpenStream.client_id and token subject) on the same topic is acked and stored once;
//! another client, another topic, an empty local id or one evicted from the window is
//! a new event.

mod common;
mod storage_support;

use bytes::Bytes;
use common::*;
use ensign_proto::api::{self, publisher_reply::Embed, publisher_request};
use ensign_server::ServerConfig;
use storage_support::*;

/// Publishes on a new stream opened with `client_id`; returns whether each was acked.
async fn send_as(c: &mut Client, client_id: &str, events: Vec<api::EventWrapper>) -> Vec<bool> {
    let open = api::PublisherRequest {
        embed: Some(publisher_request::Embed::OpenStream(api::OpenStream {
            client_id: client_id.into(),
            topics: Vec::new(),
        })),
    };
    let n = events.len();
    let mut p = try_publish(c, Some(open)).await.unwrap();
    for w in events {
        p.send(w).await;
    }
    p.half_close();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(matches!(p.next().await, Embed::Ack(_)));
    }
    out
}

fn with_id(topic: &Bytes, num: u64, id: &[u8]) -> api::EventWrapper {
    api::EventWrapper {
        local_id: Bytes::copy_from_slice(id),
        ..numbered(topic, num, 20)
    }
}

#[tokio::test]
async fn copies_from_the_same_client_are_stored_once() {
    let h = start(ServerConfig {
        resend_window: 4,
        ..Default::default()
    })
    .await;
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    let u = create_topic(&mut c, "u").await;
    let id = [7u8; 16];
    // Sent again on a later stream of the same client: acked, stored once.
    assert_eq!(
        send_as(&mut c, "a", vec![with_id(&t, 1, &id)]).await,
        [true]
    );
    assert_eq!(
        send_as(&mut c, "a", vec![with_id(&t, 2, &id)]).await,
        [true]
    );
    assert_eq!(
        send_as(&mut c, "a", vec![with_id(&t, 3, &id)]).await,
        [true]
    );
    // Another client, another topic, no local id, a local id of another length: new.
    send_as(&mut c, "b", vec![with_id(&t, 4, &id)]).await;
    send_as(&mut c, "a", vec![with_id(&u, 5, &id)]).await;
    send_as(&mut c, "a", vec![with_id(&t, 6, b"")]).await;
    send_as(&mut c, "a", vec![with_id(&t, 7, b"")]).await;
    send_as(&mut c, "a", vec![with_id(&t, 8, &[1; 8])]).await;
    send_as(&mut c, "a", vec![with_id(&t, 9, &[1; 8])]).await;
    let nums: Vec<u64> = read_topic(&mut c, "t", true)
        .await
        .iter()
        .map(number)
        .collect();
    assert_eq!(nums, [1, 4, 6, 7, 8, 9]);
    assert_eq!(read_topic(&mut c, "u", true).await.len(), 1);
    assert_eq!(h.recognised_resends(), 2);
    // A stream remembers its last 4 events: the first of 5 is new again later.
    let first = [9u8; 16];
    let mut evs = vec![with_id(&t, 10, &first)];
    evs.extend((0..4u8).map(|i| with_id(&t, 11 + u64::from(i), &[i + 100; 16])));
    send_as(&mut c, "c", evs).await;
    send_as(
        &mut c,
        "c",
        vec![with_id(&t, 20, &first), with_id(&t, 21, &[103; 16])],
    )
    .await;
    let nums: Vec<u64> = read_topic(&mut c, "t", true)
        .await
        .iter()
        .map(number)
        .collect();
    assert_eq!(nums[6..], [10, 11, 12, 13, 14, 20]);
    assert_eq!(h.recognised_resends(), 3);
    bounded(h.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_waits_for_its_first_write_and_is_nacked_if_that_fails() {
    use ensign_server::storage::simfs::SimFs;
    let sim = SimFs::new();
    let h = start(sim_config(&sim)).await;
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    let id = [5u8; 16];
    let open = |cid: &str| api::PublisherRequest {
        embed: Some(publisher_request::Embed::OpenStream(api::OpenStream {
            client_id: cid.into(),
            topics: Vec::new(),
        })),
    };
    // The first copy is committed and its write hangs on a stalled disk.
    sim.set_stalled(true);
    let mut a = try_publish(&mut c, Some(open("x"))).await.unwrap();
    a.send(with_id(&t, 1, &id)).await;
    let s = sim.clone();
    bounded(tokio::task::spawn_blocking(move || {
        s.wait_for_stalled_write()
    }))
    .await
    .unwrap();
    // The client re-sends it on a new stream: recognised while the first is in flight.
    let mut b = try_publish(&mut c, Some(open("x"))).await.unwrap();
    b.send(with_id(&t, 1, &id)).await;
    bounded(async {
        while h.recognised_resends() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // The first write fails: both copies are nacked, none acked.
    sim.set_fail_sync(true);
    sim.set_stalled(false);
    assert!(matches!(a.next().await, Embed::Nack(_)));
    assert!(matches!(b.next().await, Embed::Nack(_)));
    sim.set_fail_sync(false);
    // Sent once more: stored, once.
    let mut tries = 0;
    while send_as(&mut c, "x", vec![with_id(&t, 1, &id)]).await != [true] {
        tries += 1;
        assert!(tries < 10_000, "the log never took writes again");
    }
    assert_eq!(read_topic(&mut c, "t", true).await.len(), 1);
    bounded(h.shutdown()).await;
}
