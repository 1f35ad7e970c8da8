//! A minimal grpc-web client over HTTP/1.1, speaking the wire format a browser library sends
//! (`application/grpc-web+proto` and the base64 `application/grpc-web-text`), so tests prove
//! the gateway's translation byte by byte.

use base64::Engine as _;
use bytes::{Buf as _, Bytes};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

/// Whether the request and response are binary or base64 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Binary,
    Text,
}

/// The decoded answer of one grpc-web call.
#[derive(Debug)]
pub struct GrpcWebResponse {
    pub http_status: u16,
    /// Message payloads, in order.
    pub messages: Vec<Bytes>,
    /// `grpc-status` from the trailer frame (or the headers, for trailers-only answers).
    pub grpc_status: Option<i32>,
    pub grpc_message: Option<String>,
}

/// Calls `path` (e.g. `/grpc.health.v1.Health/Check`) on `base_url` with one encoded message.
pub async fn call(
    base_url: &str,
    path: &str,
    message: &[u8],
    encoding: Encoding,
    extra_headers: &[(&str, &str)],
) -> anyhow::Result<GrpcWebResponse> {
    let mut frame = Vec::with_capacity(message.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
    frame.extend_from_slice(message);
    let (content_type, body) = match encoding {
        Encoding::Binary => ("application/grpc-web+proto", frame),
        Encoding::Text => (
            "application/grpc-web-text",
            base64::engine::general_purpose::STANDARD
                .encode(frame)
                .into_bytes(),
        ),
    };
    let mut request = http::Request::post(format!("{base_url}{path}"))
        .header("content-type", content_type)
        .header("x-grpc-web", "1")
        .header("accept", content_type);
    for (name, value) in extra_headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body)))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client.request(request).await?;
    let http_status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let mut grpc_status = header("grpc-status").and_then(|value| value.parse().ok());
    let mut grpc_message = header("grpc-message").map(|message| percent_decode(&message));
    let raw = response.into_body().collect().await?.to_bytes();
    let mut body = match encoding {
        Encoding::Binary => raw,
        Encoding::Text => Bytes::from(decode_concatenated_base64(&raw)?),
    };

    let mut messages = Vec::new();
    while body.remaining() >= 5 {
        let flags = body.get_u8();
        let length = usize::try_from(body.get_u32())?;
        anyhow::ensure!(body.remaining() >= length, "truncated grpc-web frame");
        let payload = body.split_to(length);
        if flags & 0x80 == 0 {
            messages.push(payload);
        } else {
            for line in String::from_utf8_lossy(&payload).split("\r\n") {
                if let Some((name, value)) = line.split_once(':') {
                    match name.trim().to_ascii_lowercase().as_str() {
                        "grpc-status" => grpc_status = value.trim().parse().ok(),
                        "grpc-message" => grpc_message = Some(percent_decode(value.trim())),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(GrpcWebResponse {
        http_status,
        messages,
        grpc_status,
        grpc_message,
    })
}

/// `grpc-message` is percent-encoded on the wire (gRPC over HTTP/2 spec).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            decoded.push(byte);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// grpc-web-text responses may be several base64 chunks, each with its own padding.
fn decode_concatenated_base64(raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut decoded = Vec::new();
    let mut start = 0;
    for (index, byte) in raw.iter().enumerate() {
        let chunk_end = index + 1;
        let at_padding_end = *byte == b'=' && raw.get(chunk_end) != Some(&b'=');
        if at_padding_end || chunk_end == raw.len() {
            decoded
                .extend(base64::engine::general_purpose::STANDARD.decode(&raw[start..chunk_end])?);
            start = chunk_end;
        }
    }
    Ok(decoded)
}

/// A plain HTTP GET; returns the status and the body.
pub async fn http_get(url: &str) -> anyhow::Result<(u16, String)> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::get(url).body(Full::new(Bytes::new()))?;
    let response =
        tokio::time::timeout(std::time::Duration::from_secs(5), client.request(request)).await??;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
