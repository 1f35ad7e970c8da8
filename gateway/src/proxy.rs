//! Forwards gRPC requests (grpc-web already translated to gRPC) to the upstream that serves
//! the requested service, as opaque HTTP/2 streams: every RPC kind (unary and streaming) passes
//! through unchanged, with the gateway's trace context and a deadline added. Calls of public
//! RPCs are admitted at the edge first (token, rate limits), exactly like REST calls.

use std::{
    convert::Infallible,
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderValue, Request, Response};
use tonic::{Code, Status, body::Body, server::NamedService as _};
use tonic_health::pb::health_server::HealthServer;
use tower::ServiceExt as _;

use crate::{contracts::Contracts, edge::Edge, health::GatewayHealth, upstream::Upstreams};

/// Routes each gRPC request by its service name: `grpc.health.v1.Health` to the gateway's own
/// health service, a public service to its upstream, anything else UNIMPLEMENTED.
#[derive(Clone)]
pub struct GrpcRouter {
    upstreams: Upstreams,
    health: HealthServer<GatewayHealth>,
    contracts: Arc<Contracts>,
    edge: Edge,
    trusted_proxy_hops: usize,
}

impl GrpcRouter {
    pub fn new(
        upstreams: Upstreams,
        contracts: Arc<Contracts>,
        edge: Edge,
        trusted_proxy_hops: usize,
    ) -> Self {
        let health = HealthServer::new(GatewayHealth::new(upstreams.clone()));
        Self {
            upstreams,
            health,
            contracts,
            edge,
            trusted_proxy_hops,
        }
    }
}

/// The address of the client: the TCP peer, or, behind `trusted_proxy_hops` trusted proxies
/// (`ASTRO_GATEWAY_TRUSTED_PROXY_HOPS`), the `X-Forwarded-For` entry that many from the right.
pub fn client_address(
    extensions: &http::Extensions,
    headers: &http::HeaderMap,
    trusted_proxy_hops: usize,
) -> IpAddr {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            astro_shared::client_address::from_forwarded_for(value, trusted_proxy_hops)
        });
    forwarded
        .or_else(|| {
            extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip())
        })
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

impl tower::Service<Request<Body>> for GrpcRouter {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        strip_hop_by_hop_headers(&mut parts.headers);
        let request = Request::from_parts(parts, Body::new(UnknownLength(body)));
        let service_name = request
            .uri()
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();

        if service_name == HealthServer::<GatewayHealth>::NAME {
            return Box::pin(self.health.clone().oneshot(request));
        }
        let Some(upstream) = self.upstreams.by_service(&service_name) else {
            tracing::info!(service = %service_name, "no public service of that name");
            let status = Status::unimplemented(format!("unknown service {service_name}"));
            return Box::pin(async move { Ok(status.into_http()) });
        };
        let Some(rpc) = self.contracts.rpc(request.uri().path()).cloned() else {
            let status = Status::unimplemented(format!("unknown RPC {}", request.uri().path()));
            return Box::pin(async move { Ok(status.into_http()) });
        };
        let upstream_name = upstream.name.clone();
        let channel = upstream.channel.clone();
        let edge = self.edge.clone();
        let client = client_address(
            request.extensions(),
            request.headers(),
            self.trusted_proxy_hops,
        );
        Box::pin(async move {
            let mut request = request;
            if let Err(status) = edge.admit(&rpc, request.headers(), client).await {
                return Ok(status.into_http());
            }
            if let Ok(value) = HeaderValue::from_str(&client.to_string()) {
                request.headers_mut().insert("x-forwarded-for", value);
            }
            // The route's own deadline, unless the client asked for a shorter one.
            astro_shared::grpc_client::ensure_deadline(request.headers_mut(), rpc.timeout);
            match channel.oneshot(request).await {
                Ok(response) => Ok(response),
                Err(error) if astro_shared::grpc_client::deadline_passed(&error) => {
                    tracing::warn!(upstream = %upstream_name, "upstream did not answer within the deadline");
                    Ok(deadline_exceeded(&upstream_name).into_http())
                }
                Err(error) => {
                    tracing::warn!(
                        upstream = %upstream_name,
                        error = %astro_shared::telemetry::error_chain(&error),
                        "upstream unreachable"
                    );
                    Ok(unavailable(&upstream_name))
                }
            }
        })
    }
}

/// Headers that describe the client's connection or the original body, not the gRPC call.
/// `content-length` above all: grpc-web-text bodies shrink when decoded from base64, and a
/// stale length makes the upstream reset the HTTP/2 stream.
const HOP_BY_HOP_HEADERS: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "accept-encoding",
];

fn strip_hop_by_hop_headers(headers: &mut http::HeaderMap) {
    for name in HOP_BY_HOP_HEADERS {
        headers.remove(name);
    }
    // HTTP/2 allows only `te: trailers`, which gRPC requires; normalise whatever came in.
    headers.insert("te", HeaderValue::from_static("trailers"));
}

/// A request body forwarded without a size hint. tonic-web's decoder reports the size of the
/// base64 text it reads, not of the bytes it yields, and hyper would turn that exact hint into
/// a wrong `content-length` on the upstream HTTP/2 stream.
struct UnknownLength(Body);

impl http_body::Body for UnknownLength {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
}

/// The status for a call whose deadline passed while `upstream` was still working on it: the
/// upstream is reachable, so this is not UNAVAILABLE, and a retry may well do the work twice.
pub fn deadline_exceeded(upstream: &str) -> Status {
    Status::deadline_exceeded(format!(
        "{upstream} service did not answer within the deadline"
    ))
}

/// A trailers-only gRPC answer saying that `upstream` cannot be reached.
fn unavailable(upstream: &str) -> Response<Body> {
    let mut response = Status::new(Code::Unavailable, format!("{upstream} service unavailable"))
        .into_http::<Body>();
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    response
}
