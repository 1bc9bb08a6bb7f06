//! A topic id reused after the topic was destroyed keeps its new topic and every acked
//! event across restarts (issue 8.2: replay used to skip topic records of ids destroyed
//! earlier, losing the new topic and its events).

mod common;

use std::path::Path;

use bytes::Bytes;
use common::*;
use ensign_proto::api::{self, publisher_reply::Embed, topic_mod::Operation};
use ensign_server::ServerConfig;
use ulid::Ulid;

fn disk(dir: &Path) -> ServerConfig {
    ServerConfig {
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

async fn create_with_id(c: &mut Client, id: &Bytes, name: &str) {
    c.create_topic(api::Topic {
        id: id.clone(),
        name: name.into(),
        ..Default::default()
    })
    .await
    .expect("topic created");
}

async fn publish_acked(c: &mut Client, topic: &Bytes, from: u64, n: u64) {
    let mut p = publish(c, &[]).await;
    for i in from..from + n {
        p.send(wrapper(topic, i, format!("event {i}").as_bytes()))
            .await;
    }
    p.half_close();
    for _ in 0..n {
        assert!(matches!(p.next().await, Embed::Ack(_)));
    }
}

async fn count(c: &mut Client, topic: &str) -> usize {
    let mut s = c
        .en_sql(api::Query {
            query: format!("SELECT * FROM {topic}"),
            ..Default::default()
        })
        .await
        .expect("query runs")
        .into_inner();
    let mut n = 0;
    while bounded(s.message()).await.unwrap().is_some() {
        n += 1;
    }
    n
}

#[tokio::test]
async fn a_reused_topic_id_keeps_its_acked_events_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let id = Bytes::copy_from_slice(&Ulid::new().to_bytes());
    let h = start(disk(dir.path())).await;
    let mut c = connect(&h.endpoint()).await;
    create_with_id(&mut c, &id, "first").await;
    publish_acked(&mut c, &id, 0, 10).await;
    c.delete_topic(api::TopicMod {
        id: Ulid::from_bytes(id[..].try_into().unwrap()).to_string(),
        operation: Operation::Destroy as i32,
    })
    .await
    .unwrap();
    create_with_id(&mut c, &id, "second").await;
    publish_acked(&mut c, &id, 100, 100).await;
    bounded(h.shutdown()).await;

    for _ in 0..2 {
        let h = start(disk(dir.path())).await;
        let mut c = connect(&h.endpoint()).await;
        let topics = c
            .list_topics(api::PageInfo::default())
            .await
            .unwrap()
            .into_inner()
            .topics;
        let names: Vec<_> = topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["second"]);
        assert_eq!(topics[0].id, id);
        assert_eq!(count(&mut c, "second").await, 100);
        bounded(h.shutdown()).await;
    }
}
