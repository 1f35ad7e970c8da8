//! A server stream answered over REST as it arrives, never collected: the first message
//! decides the answer's status and shape, and each later message is written to the chunked
//! body when the client has taken the one before.
//!
//! Framing. A download (messages shaped like `HttpBody`, e.g. ExportLogs' CSV or NDJSON
//! chunks): the bytes of every message's `data`, with the first message's content type and
//! file name. Any other stream: the JSON array of its messages, byte for byte what a collected
//! answer would be, written one element at a time.
//!
//! Back-pressure. Nothing reads ahead: the upstream stream is polled only when hyper polls the
//! body, which it does when the client connection can take more. What the gateway holds is the
//! message being written plus the upstream HTTP/2 stream window.
//!
//! Failures. Before the first message the answer is still a `google.rpc.Status` with the mapped
//! HTTP status (the caller reading the first message answers it). After it the status is sent: the body is
//! aborted instead (HTTP/1.1: the connection closes before the last chunk; HTTP/2: the stream is
//! reset), which every HTTP client reports as an error, so a body that ends cleanly is whole.
//! (A failure right behind the first message may close the connection before even the head
//! left the gateway's buffer: the client then sees an incomplete answer, an error too.) The
//! cause is logged. The stream deadline passing counts as such a failure.
//!
//! Deadlines. The route's deadline bounds the wait for the first message, as it bounds a unary
//! answer (504 past it). The whole stream has the stream deadline (`stream_timeout`), which is
//! also its `grpc-timeout` upstream, so a long export is not cut at the unary deadline.

use std::fmt;

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse as _, Response},
};
use bytes::Bytes;
use futures::Stream;
use prost_reflect::{DynamicMessage, FieldDescriptor};
use tokio::time::Instant;
use tonic::{Code, Status, Streaming};

use super::response::{self, DownloadShape};
use crate::errors::ApiError;

/// What the body is made of.
enum Framing {
    Download(DownloadShape),
    /// A JSON array of the messages (or of their `response_body` field).
    JsonArray(Option<FieldDescriptor>),
}

/// Why a body stopped before its end: what the client's HTTP stack sees as the body's error.
#[derive(Debug)]
pub struct StreamBroken(Code);

impl fmt::Display for StreamBroken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "the upstream stream ended with {:?} after the answer began",
            self.0
        )
    }
}

impl std::error::Error for StreamBroken {}

/// The rest of a server stream whose first message has been read.
pub struct Opened {
    pub rest: Streaming<DynamicMessage>,
    /// When the whole stream must be done.
    pub deadline: Instant,
    /// For logs: the upstream's short name and the RPC's path.
    pub upstream: String,
    pub rpc: String,
}

/// The answer to a stream that began with `first`: a download or a JSON array whose body
/// relays the rest. A stream without messages is `[]`, complete.
pub fn respond(
    first: Option<&DynamicMessage>,
    opened: Opened,
    download: Option<&DownloadShape>,
    response_body: Option<&FieldDescriptor>,
) -> Result<Response, ApiError> {
    let Some(first) = first else {
        return Ok(response::json_response(&serde_json::Value::Array(
            Vec::new(),
        )));
    };
    if let Some(download) = download
        && let Some(content_type) = download.content_type(first)
    {
        let relay = Relay::new(opened, Framing::Download(download.clone()));
        let body = Body::from_stream(relay.body(download.data(first)));
        return Ok(download.respond(first, &content_type, body));
    }
    let mut head = b"[".to_vec();
    head.extend_from_slice(
        response::to_json(first, response_body)?
            .to_string()
            .as_bytes(),
    );
    let relay = Relay::new(opened, Framing::JsonArray(response_body.cloned()));
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::from_stream(relay.body(Bytes::from(head))),
    )
        .into_response())
}

/// The body's side of the stream.
struct Relay {
    stream: Streaming<DynamicMessage>,
    framing: Framing,
    deadline: Instant,
    upstream: String,
    rpc: String,
    /// The request's span: the body outlives the handler, its log lines stay in the request.
    span: tracing::Span,
    messages: u64,
    bytes: u64,
    done: bool,
}

impl Relay {
    fn new(opened: Opened, framing: Framing) -> Self {
        Self {
            stream: opened.rest,
            framing,
            deadline: opened.deadline,
            upstream: opened.upstream,
            rpc: opened.rpc,
            span: tracing::Span::current(),
            messages: 1,
            bytes: 0,
            done: false,
        }
    }

    /// `head` (the first message, already encoded), then the rest as the client takes it.
    fn body(mut self, head: Bytes) -> impl Stream<Item = Result<Bytes, StreamBroken>> + Send {
        self.bytes = byte_count(&head);
        let head = futures::stream::iter((!head.is_empty()).then_some(Ok(head)));
        let rest = futures::stream::unfold(self, |mut relay| async move {
            let next = relay.next().await?;
            Some((next, relay))
        });
        futures::StreamExt::chain(head, rest)
    }

    /// The next non-empty piece of the body, or its error; `None` once it is over. Polls the
    /// upstream only when asked.
    async fn next(&mut self) -> Option<Result<Bytes, StreamBroken>> {
        while !self.done {
            let message = match tokio::time::timeout_at(self.deadline, self.stream.message()).await
            {
                Ok(Ok(Some(message))) => message,
                Ok(Ok(None)) => {
                    self.done = true;
                    tracing::debug!(
                        parent: &self.span,
                        rpc = self.rpc,
                        messages = self.messages,
                        bytes = self.bytes,
                        "stream relayed"
                    );
                    return match self.framing {
                        Framing::JsonArray(_) => Some(Ok(Bytes::from_static(b"]"))),
                        Framing::Download(_) => None,
                    };
                }
                Ok(Err(status)) => return Some(Err(self.broken(&status))),
                Err(_) => {
                    let status = Status::deadline_exceeded("the stream's deadline passed");
                    return Some(Err(self.broken(&status)));
                }
            };
            self.messages += 1;
            let piece = match &self.framing {
                Framing::Download(download) => download.data(&message),
                Framing::JsonArray(response_body) => {
                    match response::to_json(&message, response_body.as_ref()) {
                        Ok(json) => Bytes::from(format!(",{json}")),
                        Err(error) => return Some(Err(self.broken(&error.status))),
                    }
                }
            };
            if !piece.is_empty() {
                self.bytes += byte_count(&piece);
                return Some(Ok(piece));
            }
        }
        None
    }

    /// Ends the body on `status`, which the client can no longer be told: logged here.
    fn broken(&mut self, status: &Status) -> StreamBroken {
        self.done = true;
        tracing::warn!(
            parent: &self.span,
            upstream = self.upstream,
            rpc = self.rpc,
            code = ?status.code(),
            error = status.message(),
            messages = self.messages,
            bytes = self.bytes,
            "stream failed after the answer began: body aborted"
        );
        StreamBroken(status.code())
    }
}

fn byte_count(bytes: &Bytes) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}
