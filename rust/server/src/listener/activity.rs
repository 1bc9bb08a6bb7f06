//! `ActivityLayer`: the tower layer, outermost on the gRPC server, that keeps a
//! connection's open-request count (for the idle close in `conn`) and gives handlers the
//! peer address through tonic's usual `TcpConnectInfo` (`Request::remote_addr`).
//!
//! A request counts as open from the call until its response body ends or is dropped,
//! so a quiet subscribe stream keeps its connection open however long it waits.
//!
//! Concurrency: the guard travels with the response future and then its body, on
//! whichever task polls them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tonic::transport::server::TcpConnectInfo;
use tower_layer::Layer;
use tower_service::Service;

use super::conn::{ActivityGuard, ConnInfo};

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ActivityLayer;

impl<S> Layer<S> for ActivityLayer {
    type Service = TrackActivity<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrackActivity { inner }
    }
}

/// The service of `ActivityLayer`.
#[derive(Clone, Debug)]
pub struct TrackActivity<S> {
    inner: S,
}

impl<S, B, ResBody> Service<http::Request<B>> for TrackActivity<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<GuardedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let guard = match req.extensions().get::<ConnInfo>().cloned() {
            Some(info) => {
                req.extensions_mut().insert(TcpConnectInfo {
                    local_addr: info.local_addr,
                    remote_addr: Some(info.remote_addr),
                });
                Some(info.activity.begin())
            }
            None => None,
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|inner| GuardedBody { inner, guard }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as open until it ends.
    pub struct GuardedBody<B> {
        #[pin]
        inner: B,
        guard: Option<ActivityGuard>,
    }
}

impl<B: Body> Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let me = self.project();
        let frame = me.inner.poll_frame(cx);
        if let Poll::Ready(None) = frame {
            me.guard.take();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
