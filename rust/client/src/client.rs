//! `Client`: one channel to an Ensign server, its authentication, the shared publish
//! stream and the unary RPCs (topics, project info, status). Cheap to clone; every clone
//! shares the same connection and publisher.

use std::sync::Arc;
use std::time::Duration;

use ensign_proto::api::{
    topic_mod, HealthCheck, InfoRequest, PageInfo, ProjectInfo, Query, QueryExplanation,
    ServiceState, Topic, TopicExistsInfo, TopicMod, TopicName, TopicNamesPage, TopicPolicy,
    TopicStatus, TopicsPage,
};

use crate::config::ClientConfig;
use crate::error::Result;
use crate::publisher::{Publisher, PublisherConfig};
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

    /// Whether [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.inner.streams_closed.borrow()
    }

    /// Resolves (to true) when the client closes; for the streams of this client.
    pub(crate) fn streams_closed(&self) -> watch::Receiver<bool> {
        self.inner.streams_closed.subscribe()
    }

    /// `Status`: the server's health (needs no token, but one is sent when configured).
    pub async fn status(&self) -> Result<ServiceState> {
        let req = self.inner.transport.request(HealthCheck::default()).await?;
        Ok(self
            .inner
            .transport
            .ensign()?
            .status(req)
            .await?
            .into_inner())
    }

    /// `CreateTopic` with just a name.
    pub async fn create_topic(&self, name: &str) -> Result<Topic> {
        let topic = Topic {
            name: name.to_string(),
            ..Default::default()
        };
        let req = self.inner.transport.request(topic).await?;
        Ok(self
            .inner
            .transport
            .ensign()?
            .create_topic(req)
            .await?
            .into_inner())
    }

    /// One page of `ListTopics`.
    pub async fn list_topics(&self, page_size: u32, page_token: &str) -> Result<TopicsPage> {
        let req = self
            .inner
            .transport
            .request(PageInfo {
                page_size,
                next_page_token: page_token.to_string(),
            })
            .await?;
        Ok(self
            .inner
            .transport
            .ensign()?
            .list_topics(req)
            .await?
            .into_inner())
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
        let req = self
            .inner
            .transport
            .request(PageInfo {
                page_size,
                next_page_token: page_token.to_string(),
            })
            .await?;
        Ok(self
            .inner
            .transport
            .ensign()?
            .topic_names(req)
            .await?
            .into_inner())
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
        let req = self
            .inner
            .transport
            .request(TopicName {
                name: name.to_string(),
                topic_id: topic_id.to_string(),
                project_id: String::new(),
            })
            .await?;
        Ok(self
            .inner
            .transport
            .ensign()?
            .topic_exists(req)
            .await?
            .into_inner())
    }

    /// `RetrieveTopic` by 16-byte id.
    pub async fn retrieve_topic(&self, id: &[u8; 16]) -> Result<Topic> {
        let topic = Topic {
            id: bytes::Bytes::copy_from_slice(id),
            ..Default::default()
        };
        let req = self.inner.transport.request(topic).await?;
        Ok(self
            .inner
            .transport
            .ensign()?
            .retrieve_topic(req)
            .await?
            .into_inner())
    }

    /// `DeleteTopic`: archive or destroy the topic with this ULID string.
    pub async fn delete_topic(&self, id: &str, op: topic_mod::Operation) -> Result<TopicStatus> {
        let req = self
            .inner
            .transport
            .request(TopicMod {
                id: id.to_string(),
                operation: op as i32,
            })
            .await?;
        Ok(self
            .inner
            .transport
            .ensign()?
            .delete_topic(req)
            .await?
            .into_inner())
    }

    /// `SetTopicPolicy`.
    pub async fn set_topic_policy(&self, policy: TopicPolicy) -> Result<TopicStatus> {
        let req = self.inner.transport.request(policy).await?;
        Ok(self
            .inner
            .transport
            .ensign()?
            .set_topic_policy(req)
            .await?
            .into_inner())
    }

    /// `Info` for the given 16-byte topic ids (all topics when empty).
    pub async fn info(&self, topics: Vec<bytes::Bytes>) -> Result<ProjectInfo> {
        let req = self.inner.transport.request(InfoRequest { topics }).await?;
        Ok(self.inner.transport.ensign()?.info(req).await?.into_inner())
    }

    /// `Explain` an EnSQL query.
    pub async fn explain(&self, query: Query) -> Result<QueryExplanation> {
        let req = self.inner.transport.request(query).await?;
        Ok(self
            .inner
            .transport
            .ensign()?
            .explain(req)
            .await?
            .into_inner())
    }
}
