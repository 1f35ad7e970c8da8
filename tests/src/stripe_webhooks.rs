//! The payment gateway's webhooks in tests: registering an endpoint with localstripe (which
//! signs each event and posts it once, without retries), and a sink that captures real
//! deliveries so a test can replay, tamper with or withhold them.
//!
//! localstripe keeps its webhooks for its lifetime and posts every event to every registered
//! endpoint, so each test registers under its own id and disables it when done; endpoints also
//! receive other tests' events, which FinanceAPI acknowledges as not its own.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::sync::{Mutex, mpsc};

/// The payment intent events FinanceAPI acts on.
pub const EVENTS: [&str; 3] = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
];

/// An endpoint registered with localstripe under a test's own id.
pub struct Registration {
    stripe_url: String,
    id: String,
}

/// Registers `url` with localstripe at `stripe_url` (with its trailing `/`), signed with
/// `secret`, for [`EVENTS`].
pub async fn register(stripe_url: &str, url: &str, secret: &str) -> anyhow::Result<Registration> {
    let id = format!("test-{}", uuid::Uuid::new_v4().simple());
    configure(stripe_url, &id, url, secret, &EVENTS).await?;
    Ok(Registration {
        stripe_url: stripe_url.to_owned(),
        id,
    })
}

impl Registration {
    /// Stops deliveries to the endpoint (localstripe cannot forget one: it gets no events).
    pub async fn disable(self) -> anyhow::Result<()> {
        configure(
            &self.stripe_url,
            &self.id,
            "http://127.0.0.1:9/disabled",
            "disabled",
            &[],
        )
        .await
    }
}

async fn configure(
    stripe_url: &str,
    id: &str,
    url: &str,
    secret: &str,
    events: &[&str],
) -> anyhow::Result<()> {
    let body = serde_json::json!({"url": url, "secret": secret, "events": events}).to_string();
    let answer = crate::rest::send(
        "POST",
        &format!("{stripe_url}_config/webhooks/{id}"),
        &[],
        Some(&body),
    )
    .await?;
    anyhow::ensure!(
        answer.status == 200,
        "localstripe refused the webhook: {answer:?}"
    );
    Ok(())
}

/// One delivery as it arrived: the raw body and its `Stripe-Signature`.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: String,
    pub signature: String,
    pub json: serde_json::Value,
}

/// An HTTP endpoint that records every delivery and answers 200, as a receiver that has
/// accepted it (so the mesh itself never sees it).
pub struct Sink {
    pub address: SocketAddr,
    deliveries: Arc<Mutex<mpsc::UnboundedReceiver<Delivery>>>,
}

impl Sink {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let sender = sender.clone();
                        async move {
                            let signature = request
                                .headers()
                                .get("stripe-signature")
                                .and_then(|value| value.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let bytes = request.into_body().collect().await?.to_bytes();
                            let body = String::from_utf8_lossy(&bytes).into_owned();
                            let json = serde_json::from_str(&body).unwrap_or_default();
                            let _ = sender.send(Delivery {
                                body,
                                signature,
                                json,
                            });
                            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::new())))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            address,
            deliveries: Arc::new(Mutex::new(receiver)),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.address)
    }

    /// The first delivery of `event_type` about the payment intent `intent_id`, waiting up to
    /// `timeout`; other tests' deliveries are skipped.
    pub async fn delivery_for(
        &self,
        intent_id: &str,
        event_type: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Delivery> {
        let mut deliveries = self.deliveries.lock().await;
        tokio::time::timeout(timeout, async {
            while let Some(delivery) = deliveries.recv().await {
                if delivery.json["type"] == event_type
                    && delivery.json["data"]["object"]["id"] == intent_id
                {
                    return Ok(delivery);
                }
            }
            anyhow::bail!("the sink stopped")
        })
        .await
        .map_err(|_| {
            anyhow::anyhow!("no {event_type} delivery for {intent_id} within {timeout:?}")
        })?
    }
}
