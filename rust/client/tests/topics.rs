//! Topic lookups of the client against the local server: `topic_id` finds names through
//! `TopicNames` and local name hashing, across pages, and reports unknown names as `None`.

mod common;

use common::*;

#[tokio::test]
async fn topic_id_hashes_names_locally_across_pages() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    // More than one TopicNames page (100 per page).
    let mut ids = Vec::new();
    for i in 0..130 {
        let t = c.create_topic(&format!("topic-{i}")).await.unwrap();
        ids.push(ulid::Ulid::from_bytes(t.id[..].try_into().unwrap()).to_string());
    }
    let names = c.all_topic_names().await.unwrap();
    assert_eq!(names.len(), 130);
    for i in [0usize, 99, 100, 129] {
        let found = c.topic_id(&format!("topic-{i}")).await.unwrap();
        assert_eq!(found.as_deref(), Some(ids[i].as_str()));
    }
    assert_eq!(c.topic_id("missing").await.unwrap(), None);
    srv.shutdown().await;
}
