//! REST/JSON transcoding driven by the descriptor set, like Envoy's gRPC-JSON transcoder: find
//! the route of a request, admit it at the edge, build the request message, call the upstream
//! over gRPC and answer in proto3 JSON (a server stream as it arrives: see `stream`), or with
//! a `google.rpc.Status`.

pub mod codec;
pub mod request;
pub mod response;
pub mod stream;
pub mod template;

use std::{net::IpAddr, str::FromStr as _, sync::Arc};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Request, header},
    response::Response,
};
use http::{StatusCode, uri::PathAndQuery};
use http_body_util::BodyExt as _;
use prost_reflect::DynamicMessage;
use tonic::{Status, metadata::MetadataMap};
use tracing::Instrument as _;

use astro_shared::metrics::Metrics;

use crate::{
    contracts::{Bindings, Contracts, Lookup, Route},
    edge::Edge,
    errors::ApiError,
    upstream::Upstreams,
};

/// What the REST handler needs.
#[derive(Clone)]
pub struct Rest {
    pub contracts: Arc<Contracts>,
    pub upstreams: Upstreams,
    pub edge: Edge,
    pub max_body_bytes: usize,
    /// Counts every REST call by route ("GET /v1/launches") and the gRPC code of its answer.
    pub metrics: Arc<Metrics>,
}

/// The metrics key of a request that matches no route (one key, whatever was asked).
const NO_ROUTE: &str = "REST (no route)";

impl Rest {
    /// Answers one REST request; every failure is a `google.rpc.Status` JSON body.
    pub async fn handle(&self, request: Request<Body>, client: IpAddr) -> Response {
        let span = rest_span(&request);
        let started = std::time::Instant::now();
        let (route, outcome) = self.transcode(request, client).instrument(span).await;
        let code = match &outcome {
            Ok(_) => tonic::Code::Ok,
            Err(error) => error.status.code(),
        };
        let key = route.map_or_else(
            || NO_ROUTE.to_owned(),
            |route| format!("{} {}", route.method, route.template),
        );
        self.metrics.record(&key, code, started.elapsed());
        match outcome {
            Ok(response) => response,
            Err(error) => error.into_response_with(&self.contracts.pool),
        }
    }

    /// The route the request matched (if any) and the answer.
    async fn transcode(
        &self,
        request: Request<Body>,
        client: IpAddr,
    ) -> (Option<&Route>, Result<Response, ApiError>) {
        let (parts, body) = request.into_parts();
        let (route, bindings) = match self.contracts.lookup(&parts.method, parts.uri.path()) {
            Lookup::Found(route, bindings) => (route, bindings),
            Lookup::MethodNotAllowed(methods) => {
                let allow: Vec<&str> = methods.iter().map(http::Method::as_str).collect();
                return (None, Err(ApiError::method_not_allowed(allow.join(", "))));
            }
            Lookup::NotFound => return (None, Err(ApiError::not_found())),
        };
        let answer = self.answer(route, bindings, parts, body, client).await;
        (Some(route), answer)
    }

    async fn answer(
        &self,
        route: &Route,
        bindings: Bindings,
        parts: http::request::Parts,
        body: Body,
        client: IpAddr,
    ) -> Result<Response, ApiError> {
        let admitted = self.edge.admit(&route.rpc, &parts.headers, client).await?;
        tracing::debug!(rpc = route.rpc.grpc_path, user = ?admitted.caller.map(|c| c.user_id), "admitted");

        let body = read_body(body, &parts.headers, self.max_body_bytes).await?;
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        let message = request::build(
            route,
            request::RestInput {
                bindings,
                query: parts.uri.query(),
                content_type,
                headers: &parts.headers,
                body,
            },
        )?;
        let metadata = forwarded_metadata(&parts.headers, client);
        self.call(route, message, metadata).await
    }

    /// Calls the upstream, and answers DEADLINE_EXCEEDED itself if the upstream overruns the
    /// route's deadline (a stuck upstream must not hold the client). For a server stream the
    /// route's deadline covers its first message; the rest has the stream's deadline (see
    /// `call_upstream`).
    async fn call(
        &self,
        route: &Route,
        message: DynamicMessage,
        metadata: MetadataMap,
    ) -> Result<Response, ApiError> {
        let grace = std::time::Duration::from_millis(200);
        match tokio::time::timeout(
            route.rpc.timeout + grace,
            self.call_upstream(route, message, metadata),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(ApiError::from(Status::deadline_exceeded(
                "the upstream did not answer in time",
            ))),
        }
    }

    async fn call_upstream(
        &self,
        route: &Route,
        message: DynamicMessage,
        metadata: MetadataMap,
    ) -> Result<Response, ApiError> {
        let started = tokio::time::Instant::now();
        let rpc = &route.rpc;
        let service = rpc.descriptor.parent_service().full_name().to_owned();
        let upstream = self
            .upstreams
            .by_service(&service)
            .ok_or_else(ApiError::not_found)?;
        let path = PathAndQuery::from_str(&rpc.grpc_path)
            .map_err(|_| ApiError::from(Status::internal("bad RPC path")))?;
        let streaming = rpc.descriptor.is_server_streaming();
        let mut request = tonic::Request::from_parts(metadata, tonic::Extensions::new(), message);
        // A stream's `grpc-timeout` is the deadline of the whole stream, as gRPC means it: the
        // upstream must not stop a long export at the unary deadline. Its server still bounds
        // its own start by its request timeout, and `call` bounds the first message here.
        request.set_timeout(if streaming {
            rpc.stream_timeout
        } else {
            rpc.timeout
        });
        let codec = codec::DynamicCodec::new(rpc.descriptor.output());
        let mut grpc = tonic::client::Grpc::new(upstream.channel.clone());
        grpc.ready()
            .await
            .map_err(|_| upstream_unavailable(&upstream.name))?;

        let output = rpc.descriptor.output();
        let download = response::DownloadShape::of(&output);
        if streaming {
            let mut rest = grpc
                .server_streaming(request, path, codec)
                .await
                .map_err(|status| upstream_error(status, &upstream.name))?
                .into_inner();
            // Until the first message the answer can still be an error status.
            let first = rest
                .message()
                .await
                .map_err(|status| upstream_error(status, &upstream.name))?;
            let opened = stream::Opened {
                rest,
                deadline: started + rpc.stream_timeout,
                upstream: upstream.name.clone(),
                rpc: rpc.grpc_path.clone(),
            };
            return stream::respond(
                first.as_ref(),
                opened,
                download.as_ref(),
                route.response_body.as_ref(),
            );
        }
        let message = grpc
            .unary(request, path, codec)
            .await
            .map_err(|status| upstream_error(status, &upstream.name))?
            .into_inner();
        if let Some(download) = &download
            && let Some(content_type) = download.content_type(&message)
        {
            let body = Body::from(download.data(&message));
            return Ok(download.respond(&message, &content_type, body));
        }
        let json = response::json_bytes(&message, route.response_body.as_ref())?;
        Ok(response::json_text_response(json))
    }
}

/// The body, refused with 413 past `limit` bytes (by `Content-Length` or while reading).
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            tonic::Code::InvalidArgument,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => {
            tracing::info!(%error, "client body could not be read");
            Err(ApiError::invalid("the body could not be read"))
        }
    }
}

/// The metadata every upstream call carries: the caller's token unchanged, the request id,
/// the client address (trace context is added by the channel).
pub fn forwarded_metadata(headers: &HeaderMap, client: IpAddr) -> MetadataMap {
    let mut forwarded = HeaderMap::new();
    for name in [header::AUTHORIZATION.as_str(), "x-request-id"] {
        if let Some(value) = headers.get(name) {
            forwarded.insert(name, value.clone());
        }
    }
    if let Ok(value) = HeaderValue::from_str(&client.to_string()) {
        forwarded.insert("x-forwarded-for", value);
    }
    MetadataMap::from_headers(forwarded)
}

/// An upstream's failure as the client sees it. Transport failures (the upstream cannot be
/// reached) become a plain UNAVAILABLE without internal details.
fn upstream_error(status: Status, upstream: &str) -> ApiError {
    if astro_shared::grpc_client::deadline_passed(&status) {
        tracing::warn!(upstream, "upstream did not answer within the deadline");
        return ApiError::from(crate::proxy::deadline_exceeded(upstream));
    }
    if std::error::Error::source(&status).is_some() {
        tracing::warn!(upstream, error = %status, "upstream unreachable");
        return upstream_unavailable(upstream);
    }
    ApiError::from(status)
}

fn upstream_unavailable(upstream: &str) -> ApiError {
    let mut error = ApiError::from(Status::unavailable(format!(
        "{upstream} service unavailable"
    )));
    error.retry_after = Some(1);
    error
}

fn rest_span(request: &Request<Body>) -> tracing::Span {
    let request_id = astro_shared::telemetry::request_id(request.headers());
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = %request.uri().path(),
        request_id,
    );
    astro_shared::telemetry::adopt_remote_parent(&span, request.headers());
    span
}
