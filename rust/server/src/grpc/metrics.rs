//! The gRPC series and the layer that updates them, outermost in front of every RPC (as
//! the real server's monitoring interceptor is): `grpc_server_started_total` when a call
//! arrives,
//! `grpc_server_handled_total{code}` and `grpc_server_handler_duration` when it ends
//! (refusals by the authorization layer included), and for streams the messages
//! received and sent (`grpc_server_stream_messages_recv/sent`). See `crate::metrics`.
//!
//! Concurrency: per call, a few atomic adds; stream messages are counted per HTTP/2
//! data frame by `body`, except those Publish and Subscribe receive, which the service
//! counts as it reads them (`recv`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};
use tower_layer::Layer;
use tower_service::Service;

use super::body::{code_of, CountedRequest, CountedResponse, OnEnd};
use super::methods::{self, Kind, METHODS, SERVICE};
use super::recv::RecvCounter;
use crate::metrics::register;

type TonicBody = tonic::body::Body;

/// gRPC status codes as Go names them (the `code` label), indexed by code number.
pub const GRPC_CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The series of one RPC.
pub struct MethodMetrics {
    pub started: IntCounter,
    /// By gRPC code number.
    pub handled: Vec<IntCounter>,
    pub duration: Histogram,
    /// Stream RPCs only.
    pub sent: Option<IntCounter>,
    pub recv: Option<IntCounter>,
}

/// The `grpc_server_*` series, one set per RPC of `METHODS` (same index).
pub struct GrpcMetrics {
    pub methods: Vec<MethodMetrics>,
}

impl GrpcMetrics {
    /// Registers the series in the server's registry, every label set resolved once.
    pub fn new(r: &Registry) -> Arc<Self> {
        let labels = ["type", "service", "method"];
        let started = register(
            r,
            IntCounterVec::new(
                Opts::new("grpc_server_started_total", "RPCs started on the server"),
                &labels,
            )
            .expect("valid"),
        );
        let handled = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "grpc_server_handled_total",
                    "RPCs completed on the server, regardless of success or failure",
                ),
                &["type", "service", "method", "code"],
            )
            .expect("valid"),
        );
        let duration = register(
            r,
            HistogramVec::new(
                HistogramOpts::new(
                    "grpc_server_handler_duration",
                    "time (seconds) taken by the server to handle an RPC",
                ),
                &labels,
            )
            .expect("valid"),
        );
        let sent = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "grpc_server_stream_messages_sent",
                    "stream messages sent by the server",
                ),
                &labels,
            )
            .expect("valid"),
        );
        let recv = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "grpc_server_stream_messages_recv",
                    "stream messages received by the server",
                ),
                &labels,
            )
            .expect("valid"),
        );
        let methods = METHODS
            .iter()
            .map(|m| {
                let l = [m.kind.label(), SERVICE, m.name];
                let stream = m.kind == Kind::Stream;
                MethodMetrics {
                    started: started.with_label_values(&l),
                    handled: GRPC_CODES
                        .iter()
                        .map(|code| handled.with_label_values(&[l[0], l[1], l[2], code]))
                        .collect(),
                    duration: duration.with_label_values(&l),
                    sent: stream.then(|| sent.with_label_values(&l)),
                    recv: stream.then(|| recv.with_label_values(&l)),
                }
            })
            .collect();
        Arc::new(GrpcMetrics { methods })
    }
}

#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Arc<GrpcMetrics>,
}

impl MetricsLayer {
    pub fn new(metrics: Arc<GrpcMetrics>) -> Self {
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
    metrics: Arc<GrpcMetrics>,
}

/// Records how one call ended.
pub struct CallEnd {
    metrics: Arc<GrpcMetrics>,
    method: usize,
    started: Instant,
}

impl OnEnd for CallEnd {
    fn ended(self, code: usize) {
        let m = &self.metrics.methods[self.method];
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
        let m = &self.metrics.methods[index];
        m.started.inc();
        let req = match &m.recv {
            // The service reads these one message at a time: it counts them (`recv`).
            Some(recv) if method.counts_recv => {
                let mut req = req;
                req.extensions_mut().insert(RecvCounter(recv.clone()));
                req
            }
            Some(recv) => req.map(|b| TonicBody::new(CountedRequest::new(b, recv.clone()))),
            None => req,
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

pin_project_lite::pin_project! {
    /// The inner service's future; wraps its response body once it is ready.
    pub struct MetricsFuture<F> {
        #[pin]
        inner: F,
        end: Option<CallEnd>,
        sent: Option<IntCounter>,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_of_the_real_server() {
        let r = Registry::new();
        let m = GrpcMetrics::new(&r);
        m.methods[0].handled[0].inc();
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&r.gather())
            .unwrap();
        assert!(text.contains(
            "grpc_server_handled_total{code=\"OK\",method=\"Publish\",service=\"ensign.v1beta1.Ensign\",type=\"stream\"} 1"
        ));
        assert!(
            text.contains("grpc_server_handled_total{code=\"Unauthenticated\",method=\"Status\"")
        );
        assert!(text.contains("# TYPE grpc_server_handler_duration histogram"));
        assert!(text.contains("grpc_server_stream_messages_sent{method=\"Subscribe\""));
        assert!(!text.contains("grpc_server_stream_messages_sent{method=\"Status\""));
    }
}
