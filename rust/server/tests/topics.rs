//! Topic RPCs: create (name rules, ALREADY_EXISTS), list and names with page tokens,
//! retrieve, exists, delete (archive, destroy), policies.

mod common;

use bytes::Bytes;
use common::*;
use ensign_proto::api::{self, deduplication::Strategy, topic_mod::Operation, TopicState};
use ensign_proto::topic_hash::topic_name_hash_str;
use tonic::Code;
use ulid::Ulid;

fn ulid_str(id: &Bytes) -> String {
    Ulid::from_bytes(id[..].try_into().unwrap()).to_string()
}

#[tokio::test]
async fn create_topic_rules() {
    let (h, mut c) = memory_server().await;
    let t = c
        .create_topic(api::Topic {
            name: "orders".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.project_id[..], h.project_id().to_bytes());
    assert_eq!(t.status, TopicState::Ready as i32);
    assert!(t.created.is_some() && t.modified.is_some());
    assert_eq!(t.deduplication.unwrap().strategy, Strategy::None as i32);
    let cases = [
        (
            "orders",
            Code::AlreadyExists,
            "topic name already exists in project",
        ),
        ("", Code::InvalidArgument, "missing name field"),
        ("9lives", Code::InvalidArgument, "topic name is invalid"),
    ];
    for (name, code, msg) in cases {
        let err = c
            .create_topic(api::Topic {
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!((err.code(), err.message()), (code, msg), "{name}");
    }
    let long = "a".repeat(513);
    let err = c
        .create_topic(api::Topic {
            name: long,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.message(), "topic name is too long");
    let err = c
        .create_topic(api::Topic {
            name: "x".into(),
            project_id: Bytes::from_static(b"short"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "invalid project id field")
    );
    let err = c
        .create_topic(api::Topic {
            name: "x".into(),
            project_id: Bytes::copy_from_slice(&Ulid::new().to_bytes()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c
        .create_topic(api::Topic {
            name: "x".into(),
            id: Bytes::from_static(b"123"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.message(), "cannot parse id field");
    // A client-supplied 16-byte id is kept.
    let id = Bytes::copy_from_slice(&Ulid::new().to_bytes());
    let t = c
        .create_topic(api::Topic {
            name: "kept".into(),
            id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.id, id);
}

#[tokio::test]
async fn list_topics_pages_in_creation_order() {
    let (_h, mut c) = memory_server().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(create_topic(&mut c, &format!("topic{i}")).await);
    }
    let all = c
        .list_topics(api::PageInfo::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.topics.len(), 7);
    assert!(all.next_page_token.is_empty());
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_topics(api::PageInfo {
                page_size: 3,
                next_page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.topics.iter().map(|t| t.id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids);
    let err = c
        .list_topics(api::PageInfo {
            page_size: 3,
            next_page_token: "garbage!".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn topic_names_are_hashes_in_hash_order() {
    let (h, mut c) = memory_server().await;
    for n in ["a", "b", "c", "d"] {
        create_topic(&mut c, n).await;
    }
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .topic_names(api::PageInfo {
                page_size: 3,
                next_page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        for n in &page.topic_names {
            assert_eq!(n.project_id, h.project_id().to_string());
            names.push(n.name.clone());
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut expect: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| topic_name_hash_str(n))
        .collect();
    let mut got = names.clone();
    got.sort();
    expect.sort();
    assert_eq!(got, expect);
}

#[tokio::test]
async fn retrieve_and_exists() {
    let (h, mut c) = memory_server().await;
    let id = create_topic(&mut c, "orders").await;
    let t = c
        .retrieve_topic(api::Topic {
            id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.name, "orders");
    for (bad, msg) in [
        (Bytes::new(), "missing topic id field"),
        (Bytes::from_static(b"1"), "invalid topic id field"),
    ] {
        let err = c
            .retrieve_topic(api::Topic {
                id: bad,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!((err.code(), err.message()), (Code::InvalidArgument, msg));
    }
    let err = c
        .retrieve_topic(api::Topic {
            id: Bytes::copy_from_slice(&Ulid::new().to_bytes()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::NotFound, "topic not found")
    );

    let exists = |name: &str, topic_id: &str| api::TopicName {
        name: name.into(),
        topic_id: topic_id.into(),
        project_id: String::new(),
    };
    let r = c
        .topic_exists(exists("orders", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.query.as_str(), r.exists), ("name=\"orders\"", true));
    let r = c
        .topic_exists(exists("nope", ""))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.exists);
    let sid = ulid_str(&id);
    let r = c.topic_exists(exists("", &sid)).await.unwrap().into_inner();
    assert_eq!((r.query, r.exists), (format!("topic=\"{sid}\""), true));
    let r = c
        .topic_exists(exists("orders", &sid))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.query, format!("name=\"orders\" and topic=\"{sid}\""));
    let err = c.topic_exists(exists("", "")).await.unwrap_err();
    assert_eq!(
        err.message(),
        "must specify either or both topic name and id"
    );
    let err = c.topic_exists(exists("", "not-a-ulid")).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    let mut other = exists("orders", "");
    other.project_id = Ulid::new().to_string();
    assert_eq!(
        c.topic_exists(other).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let mut bad = exists("orders", "");
    bad.project_id = "bad".into();
    assert_eq!(
        c.topic_exists(bad).await.unwrap_err().message(),
        "invalid project id field"
    );
    let mut mine = exists("orders", "");
    mine.project_id = h.project_id().to_string();
    assert!(c.topic_exists(mine).await.unwrap().into_inner().exists);
}

#[tokio::test]
async fn archive_then_destroy() {
    let (_h, mut c) = memory_server().await;
    let id = create_topic(&mut c, "orders").await;
    let sid = ulid_str(&id);
    let op = |id: &str, op: Operation| api::TopicMod {
        id: id.into(),
        operation: op as i32,
    };
    let err = c.delete_topic(op(&sid, Operation::Noop)).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "invalid operation field")
    );
    assert_eq!(
        c.delete_topic(op("", Operation::Archive))
            .await
            .unwrap_err()
            .message(),
        "missing id field"
    );
    assert_eq!(
        c.delete_topic(op("zz", Operation::Archive))
            .await
            .unwrap_err()
            .message(),
        "invalid id field"
    );
    let err = c
        .delete_topic(op(&Ulid::new().to_string(), Operation::Destroy))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let s = c
        .delete_topic(op(&sid, Operation::Archive))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (s.id.as_str(), s.state),
        (sid.as_str(), TopicState::Readonly as i32)
    );
    let t = c
        .retrieve_topic(api::Topic {
            id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(t.readonly);
    // As the real server: an archived topic still accepts events.
    let mut p = publish(&mut c, &[]).await;
    p.send(wrapper(&id, 1, b"x")).await;
    assert!(matches!(
        p.next().await,
        api::publisher_reply::Embed::Ack(_)
    ));

    let s = c
        .delete_topic(op(&sid, Operation::Destroy))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.state, TopicState::Deleting as i32);
    let err = c
        .retrieve_topic(api::Topic {
            id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // The open stream still has it in its snapshot: its events are refused, not lost.
    p.send(wrapper(&id, 2, b"x")).await;
    match p.next().await {
        api::publisher_reply::Embed::Nack(n) => {
            assert_eq!(n.code, api::nack::Code::TopicDeleted as i32);
        }
        other => panic!("expected nack, got {other:?}"),
    }
    // The name can be used again.
    create_topic(&mut c, "orders").await;
}
