//! `Client`: one channel to an Ensign server, its authentication, the shared publish
//! stream and the unary RPCs (topics, project info, status). Cheap to clone; every clone
//! shares the same connection and publisher.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ensign_proto::api::ensign_client::EnsignClient;
use tonic::transport::Channel;

use ensign_proto::api::{
    topic_mod, HealthCheck, InfoRequest, PageInfo, ProjectInfo, Query, QueryExplanation,
    ServiceState, Topic, TopicExistsInfo, TopicMod, TopicName, TopicNamesPage, TopicPolicy,
    TopicStatus, TopicsPage,
};

use crate::config::ClientConfig;
use crate::error::Result;
use crate::publisher::{Publisher, PublisherConfig};
use crate::stats::{ClientStats, SubscribeCounters};
use crate::transport::Transport;
use tokio::sync::watch;

/// A connection to one Ensign server.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    transport: Transport,
    publisher: Publisher,
    /// Flips to true when the client closes; subscriptions watch it.
    streams_closed: watch::Sender<bool>,
    subscribe_counters: Arc<SubscribeCounters>,
}

impl Client {
    /// Builds the client without connecting. Must run inside a tokio runtime.
    pub fn new(mut config: ClientConfig) -> Result<Self> {
        if config.stream_client_id.is_empty() {
            config.stream_client_id = ulid::Ulid::new().to_string();
        }
        let transport = Transport::new(&config)?;
        let publisher = Publisher::new(
            transport.clone(),
            PublisherConfig {
                endpoint: config.endpoint.clone(),
                client_id: config.stream_client_id.clone(),
                max_inflight_events: config.max_inflight_events,
                max_inflight_bytes: config.max_inflight_bytes,
                reconnect_tick: config.reconnect_tick,
                reconnect_timeout: config.reconnect_timeout,
                max_message_bytes: config.max_message_bytes,
                open_timeout: config
                    .connect_timeout
                    .max(crate::publisher::DEFAULT_OPEN_TIMEOUT),
            },
        );
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                transport,
                publisher,
                streams_closed: watch::channel(false).0,
                subscribe_counters: Arc::default(),
            }),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The transport, for streams built elsewhere in the crate.
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The shared publish stream.
    pub fn publisher(&self) -> &Publisher {
        &self.inner.publisher
    }

    /// Closes the client: ends every subscription (their consumers get the events
    /// already received, then the end), then closes the publisher (see
    /// [`Publisher::close`]).
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        self.inner.streams_closed.send_replace(true);
        let flushed = self.inner.publisher.close(timeout).await;
        self.inner.transport.close();
        flushed
    }

    /// A snapshot of the client's statistics; costs one short lock of the publisher.
    pub fn stats(&self) -> ClientStats {
        self.inner
            .subscribe_counters
            .snapshot(self.inner.publisher.stats())
    }

    /// The counters every subscription of this client updates.
    pub(crate) fn subscribe_counters(&self) -> Arc<SubscribeCounters> {
        self.inner.subscribe_counters.clone()
    }

    /// Whether [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.inner.streams_closed.borrow()
    }

    /// Resolves (to true) when the client closes; for the streams of this client.
    pub(crate) fn streams_closed(&self) -> watch::Receiver<bool> {
        self.inner.streams_closed.subscribe()
    }

    /// One unary call: the message goes out with the bearer token, the reply comes back.
    async fn call<M, R, F, Fut>(&self, msg: M, rpc: F) -> Result<R>
    where
        F: FnOnce(EnsignClient<Channel>, tonic::Request<M>) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<R>, tonic::Status>>,
    {
        let req = self.inner.transport.request(msg).await?;
        let client = self.inner.transport.ensign()?;
        Ok(rpc(client, req).await?.into_inner())
    }

    /// `Status`: the server's health (needs no token, but one is sent when configured).
    pub async fn status(&self) -> Result<ServiceState> {
        self.call(HealthCheck::default(), |mut c, r| async move {
            c.status(r).await
        })
        .await
    }

    /// `CreateTopic` with just a name.
    pub async fn create_topic(&self, name: &str) -> Result<Topic> {
        let topic = Topic {
            name: name.to_string(),
            ..Default::default()
        };
        self.call(topic, |mut c, r| async move { c.create_topic(r).await })
            .await
    }

    /// One page of `ListTopics`.
    pub async fn list_topics(&self, page_size: u32, page_token: &str) -> Result<TopicsPage> {
        let page = PageInfo {
            page_size,
            next_page_token: page_token.to_string(),
        };
        self.call(page, |mut c, r| async move { c.list_topics(r).await })
            .await
    }

    /// Every topic of the project, paging through `ListTopics`.
    pub async fn all_topics(&self) -> Result<Vec<Topic>> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let page = self.list_topics(100, &token).await?;
            out.extend(page.topics);
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }

    /// One page of `TopicNames`.
    pub async fn topic_names(&self, page_size: u32, page_token: &str) -> Result<TopicNamesPage> {
        let page = PageInfo {
            page_size,
            next_page_token: page_token.to_string(),
        };
        self.call(page, |mut c, r| async move { c.topic_names(r).await })
            .await
    }

    /// Every `TopicName` of the project (names are hashes on the wire), paging through
    /// `TopicNames`.
    pub async fn all_topic_names(&self) -> Result<Vec<TopicName>> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let page = self.topic_names(100, &token).await?;
            out.extend(page.topic_names);
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }

    /// The ULID string of the topic called `name`, found through `TopicNames` by hashing
    /// the name locally (as go-ensign does), so keys without `topics:read` can use it.
    /// `None` if no topic has that name.
    pub async fn topic_id(&self, name: &str) -> Result<Option<String>> {
        let hash = ensign_proto::topic_hash::topic_name_hash_str(name);
        let mut token = String::new();
        loop {
            let page = self.topic_names(100, &token).await?;
            if let Some(t) = page.topic_names.into_iter().find(|t| t.name == hash) {
                return Ok(Some(t.topic_id));
            }
            if page.next_page_token.is_empty() {
                return Ok(None);
            }
            token = page.next_page_token;
        }
    }

    /// `TopicExists` by name and/or id string.
    pub async fn topic_exists(&self, name: &str, topic_id: &str) -> Result<TopicExistsInfo> {
        let query = TopicName {
            name: name.to_string(),
            topic_id: topic_id.to_string(),
            project_id: String::new(),
        };
        self.call(query, |mut c, r| async move { c.topic_exists(r).await })
            .await
    }

    /// `RetrieveTopic` by 16-byte id.
    pub async fn retrieve_topic(&self, id: &[u8; 16]) -> Result<Topic> {
        let topic = Topic {
            id: bytes::Bytes::copy_from_slice(id),
            ..Default::default()
        };
        self.call(topic, |mut c, r| async move { c.retrieve_topic(r).await })
            .await
    }

    /// `DeleteTopic`: archive or destroy the topic with this ULID string.
    pub async fn delete_topic(&self, id: &str, op: topic_mod::Operation) -> Result<TopicStatus> {
        let m = TopicMod {
            id: id.to_string(),
            operation: op as i32,
        };
        self.call(m, |mut c, r| async move { c.delete_topic(r).await })
            .await
    }

    /// `SetTopicPolicy`.
    pub async fn set_topic_policy(&self, policy: TopicPolicy) -> Result<TopicStatus> {
        self.call(
            policy,
            |mut c, r| async move { c.set_topic_policy(r).await },
        )
        .await
    }

    /// `Info` for the given 16-byte topic ids (all topics when empty).
    pub async fn info(&self, topics: Vec<bytes::Bytes>) -> Result<ProjectInfo> {
        self.call(
            InfoRequest { topics },
            |mut c, r| async move { c.info(r).await },
        )
        .await
    }

    /// `Explain` an EnSQL query.
    pub async fn explain(&self, query: Query) -> Result<QueryExplanation> {
        self.call(query, |mut c, r| async move { c.explain(r).await })
            .await
    }
}
