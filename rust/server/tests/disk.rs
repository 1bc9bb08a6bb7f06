//! Disk mode: everything acked survives a restart; torn tails are cut, corruption and
//! a second server on the same directory are clear errors.

mod common;

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use common::*;
use ensign_proto::api::{self, publisher_reply::Embed, topic_mod::Operation};
use ensign_proto::rlid::Rlid;
use ensign_server::{AuthConfig, ServerConfig, ServerError, ServerHandle};
use prost::Message;
use ulid::Ulid;

fn disk(dir: &Path) -> ServerConfig {
    ServerConfig {
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

async fn publish_n(c: &mut Client, topic: &Bytes, from: u64, n: u64) {
    let mut p = publish(c, &[]).await;
    for i in from..from + n {
        p.send(wrapper(topic, i, format!("event {i}").as_bytes()))
            .await;
    }
    p.half_close();
    for _ in 0..n {
        assert!(matches!(p.next().await, Embed::Ack(_)));
    }
    assert!(matches!(p.next().await, Embed::CloseStream(_)));
}

async fn all_events(c: &mut Client, topic: &str) -> Vec<api::EventWrapper> {
    let mut s = c
        .en_sql(api::Query {
            query: format!("SELECT * FROM {topic}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(e) = bounded(s.message()).await.unwrap() {
        out.push(e);
    }
    out
}

async fn restart(h: ServerHandle, dir: &Path) -> (ServerHandle, Client) {
    bounded(h.shutdown()).await;
    let h = start(disk(dir)).await;
    let c = connect(&h.endpoint()).await;
    (h, c)
}

#[tokio::test]
async fn restart_keeps_project_topics_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(disk(dir.path())).await;
    let project = h.project_id();
    let mut c = connect(&h.endpoint()).await;
    let orders = create_topic(&mut c, "orders").await;
    let gone = create_topic(&mut c, "gone").await;
    let archived = create_topic(&mut c, "archived").await;
    publish_n(&mut c, &orders, 0, 500).await;
    publish_n(&mut c, &gone, 1000, 10).await;
    let before = all_events(&mut c, "orders").await;
    let id_str = |b: &Bytes| Ulid::from_bytes(b[..].try_into().unwrap()).to_string();
    c.delete_topic(api::TopicMod {
        id: id_str(&gone),
        operation: Operation::Destroy as i32,
    })
    .await
    .unwrap();
    c.delete_topic(api::TopicMod {
        id: id_str(&archived),
        operation: Operation::Archive as i32,
    })
    .await
    .unwrap();

    let (h, mut c) = restart(h, dir.path()).await;
    assert_eq!(h.project_id(), project);
    let topics = c
        .list_topics(api::PageInfo::default())
        .await
        .unwrap()
        .into_inner()
        .topics;
    let names: Vec<_> = topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["orders", "archived"]);
    assert!(topics[1].readonly);
    let after = all_events(&mut c, "orders").await;
    assert_eq!(after, before, "same events, ids and bytes");
    // RLIDs keep increasing across restarts.
    let last = Rlid::from_slice(&after.last().unwrap().id).unwrap();
    publish_n(&mut c, &orders, 500, 1).await;
    let newest = all_events(&mut c, "orders").await.pop().unwrap();
    assert!(Rlid::from_slice(&newest.id).unwrap() > last);
    assert_eq!(
        api::Event::decode(newest.event).unwrap().data,
        Bytes::from("event 500")
    );
    bounded(h.shutdown()).await;
}

#[tokio::test]
async fn torn_tail_is_cut_and_damage_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(disk(dir.path())).await;
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "orders").await;
    publish_n(&mut c, &t, 0, 20).await;
    bounded(h.shutdown()).await;
    let log = dir.path().join("events.log");
    let clean = std::fs::read(&log).unwrap();
    // A write cut short by a crash: the first bytes of a copy of the last record.
    let last = clean.len() - 200;
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let header = &clean[clean.len() - 4096.min(clean.len() - 32)..];
    let start_of_record = header
        .windows(4)
        .rposition(|w| w == ensign_server::storage::record::SYNC.to_le_bytes())
        .unwrap();
    f.write_all(&header[start_of_record..][..20]).unwrap();
    drop(f);
    let h = start(disk(dir.path())).await;
    let mut c = connect(&h.endpoint()).await;
    assert_eq!(all_events(&mut c, "orders").await.len(), 20);
    let torn = h.recovery().torn_tail.expect("a torn tail");
    assert_eq!(torn, (clean.len() as u64, clean.len() as u64 + 20));
    assert!(h.recovery().damaged.is_empty());
    bounded(h.shutdown()).await;
    assert_eq!(std::fs::read(&log).unwrap(), clean);

    // A flipped byte in the middle loses that record only, and says so.
    let mut bytes = clean.clone();
    bytes[last] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();
    let h = start(disk(dir.path())).await;
    let mut c = connect(&h.endpoint()).await;
    assert_eq!(all_events(&mut c, "orders").await.len(), 19);
    assert_eq!(h.recovery().records_lost(), 1, "{}", h.recovery());
    bounded(h.shutdown()).await;

    std::fs::write(dir.path().join("meta.json"), b"{not json").unwrap();
    let err = ensign_server::start(disk(dir.path())).await.unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    assert!(err.to_string().contains("meta.json"), "{err}");
}

#[tokio::test]
async fn one_server_per_directory_and_unwritable_paths() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(disk(dir.path())).await;
    let err = ensign_server::start(disk(dir.path())).await.unwrap_err();
    assert!(matches!(err, ServerError::DataDirLocked { .. }), "{err:?}");
    bounded(h.shutdown()).await;
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = ensign_server::start(disk(&file.join("sub")))
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::DataDir { .. }), "{err:?}");
}

#[tokio::test]
async fn auth_credentials_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || ServerConfig {
        data_dir: Some(dir.path().to_path_buf()),
        auth: Some(AuthConfig::default()),
        ..Default::default()
    };
    let h = start(cfg()).await;
    let (id, secret) = (
        h.client_id().unwrap().to_string(),
        h.client_secret().unwrap().to_string(),
    );
    assert_eq!(id.len(), 32);
    assert_eq!(secret.len(), 64);
    let token = h.mint_access_token(&["topics:read"], 60).unwrap();
    bounded(h.shutdown()).await;
    let h = start(cfg()).await;
    assert_eq!(
        (h.client_id().unwrap(), h.client_secret().unwrap()),
        (id.as_str(), secret.as_str())
    );
    // Tokens issued before the restart still verify (same signing key).
    let mut c = connect(&h.endpoint()).await;
    let mut req = tonic::Request::new(api::PageInfo::default());
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    c.list_topics(req).await.unwrap();
    bounded(h.shutdown()).await;
}
