//! The publish handshake (semantics §4.1): the caller's claims, the project's topics,
//! then the client's `OpenStream`, answered by `StreamReady` as the stream's first reply.
//! What follows the handshake is `publish::PublishStream`'s.

use std::sync::Arc;

use ensign_proto::api::{self, publisher_request};
use tonic::{Request, Status, Streaming};

use super::publish::PublishStream;
use crate::broker::PublisherInfo;
use crate::grpc::recv::Inbound;
use crate::state::ServerState;

/// Opens a publish stream: auth, the project's topics, then the OpenStream message.
pub async fn open(
    state: Arc<ServerState>,
    req: Request<Streaming<api::PublisherRequest>>,
) -> Result<PublishStream, Status> {
    let claims = super::caller(&req)?;
    if state.topics.read().is_empty() {
        return Err(Status::failed_precondition("no topics available"));
    }
    let ipaddr = req.remote_addr().map(|a| a.to_string()).unwrap_or_default();
    let user_agent = req
        .metadata()
        .get_all("user-agent")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let mut inbound = Inbound::of(req);
    let open = match inbound.message().await {
        Ok(Some(api::PublisherRequest {
            embed: Some(publisher_request::Embed::OpenStream(open)),
        })) => open,
        Ok(Some(_)) => {
            return Err(Status::failed_precondition(
                "an open stream message must be sent immediately after opening the stream",
            ))
        }
        // Client EOF or cancel before the handshake: a clean, empty stream.
        Ok(None) | Err(_) => return Ok(PublishStream::empty()),
    };
    let snapshot = state
        .topics
        .read()
        .snapshot(&open.topics)
        .ok_or_else(|| Status::failed_precondition("no topics available"))?;
    let ready = api::StreamReady {
        client_id: if open.client_id.is_empty() {
            claims.sub.clone()
        } else {
            open.client_id.clone()
        },
        server_id: state.server_id.clone(),
        topics: snapshot.names.clone(),
    };
    let publisher = PublisherInfo::new(api::Publisher {
        publisher_id: claims.sub,
        ipaddr,
        client_id: open.client_id,
        user_agent,
    });
    Ok(PublishStream::opened(
        state, inbound, snapshot, publisher, ready,
    ))
}
