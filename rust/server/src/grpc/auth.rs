//! Authorization, applied once in front of every RPC (the way tonic's authentication
//! example does it, as a tower layer so that it sees the method): the bearer token is
//! verified by `crate::auth`, the RPC's permissions and project are checked against
//! `methods::METHODS`, and the verified `Claims` are put in the request's extensions
//! for the handler (`service::caller`). A refused call never reaches the service.
//!
//! In no-auth mode every call gets `Claims::all` (every permission, this project).
//! Status and paths that are not Ensign RPCs pass through untouched.
//!
//! Concurrency: stateless per call; `Auth` is shared and internally synchronised.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{self, Either, Ready};
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpConnectInfo;
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;
use ulid::Ulid;

use super::methods::{self, Access, Method};
use crate::auth::{Auth, Claims};
use crate::state::NOT_AUTHORIZED;

/// The layer: `Server::builder().layer(AuthLayer::new(..))`.
#[derive(Clone)]
pub struct AuthLayer {
    auth: Option<Arc<Auth>>,
    project: Ulid,
}

impl AuthLayer {
    /// `auth`: `None` serves every call without a token.
    pub fn new(auth: Option<Arc<Auth>>, project: Ulid) -> Self {
        AuthLayer { auth, project }
    }

    /// What the call may do, or the status that refuses it.
    fn check(&self, method: &Method, md: &MetadataMap) -> Result<Option<Claims>, Status> {
        if matches!(method.access, Access::Public) {
            return Ok(None);
        }
        let claims = match &self.auth {
            None => Claims::all(self.project),
            Some(auth) => auth.authenticate(md)?,
        };
        let allowed = match method.access {
            Access::Public | Access::Authenticated => true,
            Access::All(perms) => perms.iter().all(|p| claims.has(*p)),
            Access::Any(perms) => claims.has_any(perms),
        };
        if !allowed || (method.own_project && claims.project != Some(self.project)) {
            return Err(Status::permission_denied(NOT_AUTHORIZED));
        }
        Ok(Some(claims))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

type HttpResponse = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = HttpResponse>,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Either<Ready<Result<HttpResponse, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let Some((_, method)) = methods::lookup(req.uri().path()) else {
            return Either::Right(self.inner.call(req));
        };
        // The metadata view of the headers, without copying them.
        let md = MetadataMap::from_headers(std::mem::take(req.headers_mut()));
        let checked = self.layer.check(method, &md);
        *req.headers_mut() = md.into_headers();
        match checked {
            Ok(None) => Either::Right(self.inner.call(req)),
            Ok(Some(claims)) => {
                req.extensions_mut().insert(claims);
                Either::Right(self.inner.call(req))
            }
            Err(status) => {
                let peer = req
                    .extensions()
                    .get::<TcpConnectInfo>()
                    .and_then(|c| c.remote_addr());
                tracing::info!(
                    method = method.name,
                    peer = ?peer,
                    code = ?status.code(),
                    reason = status.message(),
                    "call refused"
                );
                // NOTE: the inner service (tonic's router) is always ready, so not
                // calling it after `poll_ready` holds nothing back.
                Either::Left(future::ready(Ok(status.into_http())))
            }
        }
    }
}
