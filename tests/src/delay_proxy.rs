//! An HTTP proxy in front of the payment gateway (localstripe) that forwards every request at
//! once and holds back the answer to some of them: the gateway has done the work, the caller
//! only hears of it too late, as with a slow network or a gateway that answers after the
//! caller's timeout.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::{
    client::legacy::Client,
    rt::{TokioExecutor, TokioIo},
};

/// A running proxy; it stops with the test process.
pub struct DelayProxy {
    pub address: SocketAddr,
    matched: Arc<AtomicUsize>,
}

impl DelayProxy {
    /// Proxies to `target` (`http://host:port`); answers to requests whose path ends with
    /// `path_suffix` are held for `delay`, the first `times` of them.
    pub async fn start(
        target: &str,
        path_suffix: &'static str,
        delay: Duration,
        times: usize,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let target = target.trim_end_matches('/').to_owned();
        let matched = Arc::new(AtomicUsize::new(0));
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let counter = Arc::clone(&matched);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let client = client.clone();
                let target = target.clone();
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let client = client.clone();
                        let target = target.clone();
                        let counter = Arc::clone(&counter);
                        async move {
                            forward(
                                client,
                                &target,
                                request,
                                path_suffix,
                                delay,
                                times,
                                &counter,
                            )
                            .await
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { address, matched })
    }

    /// The base URL to give the caller instead of the gateway's.
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// How many requests matched the path so far (the first `times` were held back).
    pub fn matched(&self) -> usize {
        self.matched.load(Ordering::SeqCst)
    }
}

async fn forward(
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    target: &str,
    request: Request<Incoming>,
    path_suffix: &str,
    delay: Duration,
    times: usize,
    matched: &AtomicUsize,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let hold =
        parts.uri.path().ends_with(path_suffix) && matched.fetch_add(1, Ordering::SeqCst) < times;
    let body = body
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    let mut upstream = Request::builder()
        .method(parts.method)
        .uri(format!("{target}{path}"));
    for (name, value) in &parts.headers {
        if name != http::header::HOST {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.body(Full::new(body)) {
        Ok(request) => client.request(request).await.ok(),
        Err(_) => None,
    };
    let Some(answer) = answer else {
        return Ok(Response::builder()
            .status(502)
            .body(Full::new(Bytes::from_static(b"proxy: upstream failed")))
            .unwrap_or_default());
    };
    let (parts, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    if hold {
        tokio::time::sleep(delay).await;
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}
