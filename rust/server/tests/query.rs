//! EnSQL, Explain, Info and SetTopicPolicy (deduplication). WHERE and the hardening of
//! EnSQL: `query_filters.rs`, `query_memory.rs`, `ensql_fuzz.rs`.

mod common;

use bytes::Bytes;
use common::*;
use ensign_proto::api::{self, deduplication::Strategy, TopicState};
use ensign_proto::rlid::Rlid;
use tonic::Code;
use ulid::Ulid;

#[tokio::test]
async fn ensql_offset_limit_and_errors() {
    let (_h, mut c) = memory_server().await;
    let orders = create_topic(&mut c, "orders").await;
    let dotted = create_topic(&mut c, "testing.topics.topica").await;
    create_topic(&mut c, "empty").await;
    let mut evs: Vec<_> = (0..10u64)
        .map(|i| wrapper(&orders, i, format!("o{i}").as_bytes()))
        .collect();
    evs.push(wrapper(&dotted, 99, b"dotted"));
    publish_all(&mut c, evs).await;

    let all = query(&mut c, "SELECT * FROM orders", false).await.unwrap();
    assert_eq!(all.len(), 10);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(data(e), Bytes::from(format!("o{i}")));
        assert!(Rlid::from_slice(&e.id).is_some());
        assert_eq!(e.topic_id, orders);
        assert!(e.publisher.is_some());
    }
    let page = query(&mut c, "select * from orders offset 3 limit 4;", false)
        .await
        .unwrap();
    let got: Vec<_> = page.iter().map(data).collect();
    assert_eq!(got, ["o3", "o4", "o5", "o6"].map(Bytes::from));
    let page = query(
        &mut c,
        "SELECT a, b AS c FROM orders WHERE a = 'x' LIMIT 2",
        false,
    )
    .await
    .unwrap();
    assert!(
        page.is_empty(),
        "WHERE filters (no event has a field a); it is never ignored"
    );
    let d = query(&mut c, "SELECT * FROM testing.topics.topica", false)
        .await
        .unwrap();
    assert_eq!(d.len(), 1);
    assert!(
        query(&mut c, "SELECT * FROM empty", false)
            .await
            .unwrap()
            .is_empty(),
        "zero results: clean, empty stream"
    );

    for (q, msg) in [
        ("", "invalid query"),
        ("SELECT * FROM missing", "unknown topic in query"),
        (
            "SELECT FROM orders",
            "SELECT requires field projection or *",
        ),
        (
            "DELETE FROM orders",
            "syntax error at position 0 near \"DELETE\": invalid query type",
        ),
    ] {
        let err = query(&mut c, q, false).await.unwrap_err();
        assert_eq!(
            (err.code(), err.message()),
            (Code::InvalidArgument, msg),
            "{q}"
        );
    }
    let err = c
        .explain(api::Query {
            query: "SELECT * FROM orders".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unimplemented, "explain query is not implemented yet")
    );
}

#[tokio::test]
async fn info_counts_exactly() {
    let (h, mut c) = memory_server().await;
    let a = create_topic(&mut c, "alpha").await;
    let b = create_topic(&mut c, "beta").await;
    publish_all(
        &mut c,
        (0..5)
            .map(|i| wrapper(&a, i, b"x"))
            .chain((5..8).map(|i| wrapper(&b, i, b"yy")))
            .collect(),
    )
    .await;
    let info = c
        .info(api::InfoRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.project_id[..], h.project_id().to_bytes());
    assert_eq!((info.num_topics, info.events, info.duplicates), (2, 8, 0));
    assert!(info.data_size_bytes > 8 * 10);
    let ta = info.topics.iter().find(|t| t.topic_id == a).unwrap();
    assert_eq!(ta.events, 5);
    assert_eq!(ta.types.len(), 1);
    assert_eq!(ta.types[0].r#type.as_ref().unwrap().name, "Note");
    assert_eq!(ta.event_offset_id.len(), 10);
    let only_b = c
        .info(api::InfoRequest {
            topics: vec![b.clone(), Bytes::copy_from_slice(&Ulid::new().to_bytes())],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((only_b.num_topics, only_b.events), (1, 3));
    let err = c
        .info(api::InfoRequest {
            topics: vec![Bytes::from_static(b"bad")],
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "could not parse topic id in info request filter"
    );
}

async fn assert_ready(c: &mut Client, id: &Bytes) {
    let t = c
        .retrieve_topic(api::Topic {
            id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        t.status,
        TopicState::Ready as i32,
        "small topics are rehashed before the reply"
    );
}

#[tokio::test]
async fn deduplication_policy_marks_later_copies() {
    let (_h, mut c) = memory_server().await;
    let t = create_topic(&mut c, "dups").await;
    let sid = Ulid::from_bytes(t[..].try_into().unwrap()).to_string();
    publish_all(
        &mut c,
        [b"a", b"b", b"a", b"c", b"b"]
            .iter()
            .enumerate()
            .map(|(i, d)| wrapper(&t, i as u64, *d))
            .collect(),
    )
    .await;
    let policy = |strategy: Strategy, keys: Vec<String>| api::TopicPolicy {
        id: sid.clone(),
        deduplication_policy: Some(api::Deduplication {
            strategy: strategy as i32,
            keys,
            ..Default::default()
        }),
        sharding_strategy: 0,
    };
    let err = c
        .set_topic_policy(api::TopicPolicy {
            id: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.message(), "missing id field");
    let err = c
        .set_topic_policy(api::TopicPolicy {
            id: sid.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.message(), "no policies defined to set on topic");
    let err = c
        .set_topic_policy(api::TopicPolicy {
            id: sid.clone(),
            deduplication_policy: None,
            sharding_strategy: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    let err = c
        .set_topic_policy(policy(Strategy::UniqueKey, vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "no keys specified for key based hashing");

    let s = c
        .set_topic_policy(policy(Strategy::Datagram, vec![]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.state, TopicState::Pending as i32);
    assert_ready(&mut c, &t).await;
    let same = c
        .set_topic_policy(policy(Strategy::Datagram, vec![]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        same.state,
        TopicState::Ready as i32,
        "unchanged policy: current state"
    );

    let unique = query(&mut c, "SELECT * FROM dups", false).await.unwrap();
    assert_eq!(
        unique.iter().map(data).collect::<Vec<_>>(),
        ["a", "b", "c"].map(Bytes::from)
    );
    let all = query(&mut c, "SELECT * FROM dups", true).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all[2].is_duplicate && all[2].duplicate_id == all[0].id);
    assert!(all[4].is_duplicate && all[4].duplicate_id == all[1].id);
    // OFFSET counts stored records, duplicates included.
    let off = query(&mut c, "SELECT * FROM dups OFFSET 3", false)
        .await
        .unwrap();
    assert_eq!(off.iter().map(data).collect::<Vec<_>>(), [Bytes::from("c")]);
    let info = c
        .info(api::InfoRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((info.events, info.duplicates), (5, 2));

    // Archived topics refuse policy changes.
    c.delete_topic(api::TopicMod {
        id: sid.clone(),
        operation: 1,
    })
    .await
    .unwrap();
    let err = c
        .set_topic_policy(policy(Strategy::Strict, vec![]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::FailedPrecondition,
            "cannot change policies of an archived topic"
        )
    );
}
