//! The `ensign.v1beta1.Ensign` service: one type implementing the generated trait, each
//! RPC delegating to its module. Calls reach it through the gRPC front (`grpc`), whose
//! authorization layer has already checked the token, the RPC's permissions and (for
//! most RPCs) the project; handlers read the caller's claims with `caller`.
//!
//! Concurrency: tonic runs each call as its own task; stream RPCs return hand-written
//! `Stream`s that do their work when polled, so a stream costs no extra task or channel.

pub mod info;
pub mod nack_texts;
pub mod pages;
pub mod publish;
mod publish_open;
pub mod query;
pub mod status;
pub mod subscribe;
pub mod topics;

use std::sync::Arc;

use ensign_proto::api::{self, ensign_server::Ensign};
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Claims;
use crate::state::ServerState;

/// The verified claims of the caller, put in the request by the authorization layer.
/// Without them (the service served without `grpc::auth`) every call is refused.
pub fn caller<T>(req: &Request<T>) -> Result<Claims, Status> {
    req.extensions().get::<Claims>().cloned().ok_or_else(|| {
        tracing::error!("a call reached the service without passing the authorization layer");
        Status::internal("authorization is not configured")
    })
}

/// The gRPC service of one server.
#[derive(Clone)]
pub struct EnsignService {
    state: Arc<ServerState>,
}

impl EnsignService {
    pub fn new(state: Arc<ServerState>) -> Self {
        EnsignService { state }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Ensign for EnsignService {
    type PublishStream = publish::PublishStream;
    type SubscribeStream = subscribe::SubscribeStream;
    type EnSQLStream = crate::ensql::exec::QueryStream;

    async fn publish(
        &self,
        req: Request<Streaming<api::PublisherRequest>>,
    ) -> Reply<Self::PublishStream> {
        publish::open(self.state.clone(), req)
            .await
            .map(Response::new)
    }

    async fn subscribe(
        &self,
        req: Request<Streaming<api::SubscribeRequest>>,
    ) -> Reply<Self::SubscribeStream> {
        subscribe::open(self.state.clone(), req)
            .await
            .map(Response::new)
    }

    async fn en_sql(&self, req: Request<api::Query>) -> Reply<Self::EnSQLStream> {
        query::ensql(self.state.clone(), req).map(Response::new)
    }

    async fn explain(&self, req: Request<api::Query>) -> Reply<api::QueryExplanation> {
        query::explain(&self.state, req).map(Response::new)
    }

    async fn list_topics(&self, req: Request<api::PageInfo>) -> Reply<api::TopicsPage> {
        topics::list_topics(&self.state, req).map(Response::new)
    }

    async fn create_topic(&self, req: Request<api::Topic>) -> Reply<api::Topic> {
        topics::create_topic(&self.state, req)
            .await
            .map(Response::new)
    }

    async fn retrieve_topic(&self, req: Request<api::Topic>) -> Reply<api::Topic> {
        topics::retrieve_topic(&self.state, req).map(Response::new)
    }

    async fn delete_topic(&self, req: Request<api::TopicMod>) -> Reply<api::TopicStatus> {
        topics::delete_topic(&self.state, req)
            .await
            .map(Response::new)
    }

    async fn topic_names(&self, req: Request<api::PageInfo>) -> Reply<api::TopicNamesPage> {
        topics::topic_names(&self.state, req).map(Response::new)
    }

    async fn topic_exists(&self, req: Request<api::TopicName>) -> Reply<api::TopicExistsInfo> {
        topics::topic_exists(&self.state, req).map(Response::new)
    }

    async fn set_topic_policy(&self, req: Request<api::TopicPolicy>) -> Reply<api::TopicStatus> {
        topics::set_topic_policy(&self.state, req)
            .await
            .map(Response::new)
    }

    async fn info(&self, req: Request<api::InfoRequest>) -> Reply<api::ProjectInfo> {
        info::info(self.state.clone(), req).await.map(Response::new)
    }

    async fn status(&self, req: Request<api::HealthCheck>) -> Reply<api::ServiceState> {
        Ok(Response::new(status::status(&self.state, req.get_ref())))
    }
}
