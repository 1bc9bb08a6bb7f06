//! The metrics layer, outermost in front of every RPC (as the real server's monitoring
//! interceptor is): `grpc_server_started_total` when a call arrives,
//! `grpc_server_handled_total{code}` and `grpc_server_handler_duration` when it ends
//! (refusals by the authorization layer included), and for streams the messages
//! received and sent (`grpc_server_stream_messages_recv/sent`). See `crate::metrics`.
//!
//! Concurrency: per call, a few atomic adds; stream messages are counted per HTTP/2
//! data frame by `body`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use tower_layer::Layer;
use tower_service::Service;

use super::body::{code_of, CountedRequest, CountedResponse, OnEnd};
use super::methods::{self, Kind};
use crate::metrics::Metrics;

type TonicBody = tonic::body::Body;

#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        MetricsLayer { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// Records how one call ended.
pub struct CallEnd {
    metrics: Arc<Metrics>,
    method: usize,
    started: Instant,
}

impl OnEnd for CallEnd {
    fn ended(self, code: usize) {
        let m = &self.metrics.grpc[self.method];
        m.handled[code].inc();
        m.duration.observe(self.started.elapsed().as_secs_f64());
    }
}

impl<S> Service<http::Request<TonicBody>> for MetricsService<S>
where
    S: Service<http::Request<TonicBody>, Response = http::Response<TonicBody>>,
{
    type Response = http::Response<TonicBody>;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<TonicBody>) -> Self::Future {
        let Some((index, method)) = methods::lookup(req.uri().path()) else {
            return MetricsFuture {
                inner: self.inner.call(req),
                end: None,
                sent: None,
            };
        };
        let m = &self.metrics.grpc[index];
        m.started.inc();
        let stream = method.kind == Kind::Stream;
        let req = match (&m.recv, stream) {
            (Some(recv), true) => req.map(|b| TonicBody::new(CountedRequest::new(b, recv.clone()))),
            _ => req,
        };
        MetricsFuture {
            inner: self.inner.call(req),
            end: Some(CallEnd {
                metrics: self.metrics.clone(),
                method: index,
                started: Instant::now(),
            }),
            sent: m.sent.clone(),
        }
    }
}

#[pin_project::pin_project]
pub struct MetricsFuture<F> {
    #[pin]
    inner: F,
    end: Option<CallEnd>,
    sent: Option<prometheus::IntCounter>,
}

impl<F, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<http::Response<TonicBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(end) = this.end.take() else {
            return Poll::Ready(result);
        };
        Poll::Ready(match result {
            Ok(resp) => {
                // A reply that is only headers (an error before any message) carries
                // its status there: the call has ended.
                let end = match resp.headers().get("grpc-status") {
                    Some(status) => {
                        end.ended(code_of(Some(status)));
                        None
                    }
                    None => Some(end),
                };
                let sent = this.sent.take();
                Ok(resp.map(|b| TonicBody::new(CountedResponse::new(b, sent, end))))
            }
            Err(e) => {
                end.ended(2);
                Err(e)
            }
        })
    }
}
