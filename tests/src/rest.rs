//! A minimal REST client for gateway tests: one request, the status, headers and body (raw and
//! as JSON).

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

/// The answer to one REST request.
#[derive(Debug)]
pub struct RestAnswer {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// The body as JSON, or as a JSON string when it is not JSON.
    pub json: serde_json::Value,
    /// The body as received (downloads: PDF, SVG, CSV).
    pub body: Bytes,
}

/// Sends `method url` with `headers` and an optional JSON `body`.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> anyhow::Result<RestAnswer> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))?;
    let response =
        tokio::time::timeout(std::time::Duration::from_secs(10), client.request(request)).await??;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await?.to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
    });
    Ok(RestAnswer {
        status,
        headers,
        json,
        body: bytes,
    })
}
