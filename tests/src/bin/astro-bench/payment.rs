//! The payment gateways a booking phase charges through: a private localstripe, and a
//! zero-latency stand-in that exists only in this benchmark.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;

/// A private localstripe (the project's launcher, no persistence). localstripe answers in time
/// that grows with everything it ever stored (it scans its whole store on every charge it
/// renders), so each booking run starts with an empty one: otherwise the runs would measure
/// the emulator's history.
pub struct Localstripe {
    port: u16,
    child: tokio::process::Child,
    scratch: std::path::PathBuf,
}

impl Localstripe {
    pub async fn start(port: u16) -> anyhow::Result<Self> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the repository root")?
            .to_path_buf();
        let python = std::env::var("ASTRO_TEST_PYTHON")
            .map_or_else(|_| root.join(".venv/bin/python"), std::path::PathBuf::from);
        let scratch = std::env::temp_dir().join(format!("astro-bench-stripe-{port}"));
        std::fs::create_dir_all(&scratch)?;
        let child = tokio::process::Command::new(python)
            .arg(root.join("scripts/localstripe_launcher.py"))
            .args([
                "--port",
                &port.to_string(),
                "--from-scratch",
                "--no-persist",
            ])
            .env("TMPDIR", &scratch)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start localstripe")?;
        let stripe = Self {
            port,
            child,
            scratch,
        };
        let url = format!("{}v1/customers", stripe.url());
        let auth = ("authorization", "Bearer sk_test_astrobookings");
        let ready = astro_e2e::eventually(Duration::from_secs(20), || async {
            astro_e2e::rest::send("GET", &url, &[auth], None)
                .await
                .is_ok_and(|answer| answer.status == 200)
        })
        .await;
        anyhow::ensure!(ready, "localstripe did not start on port {port}");
        Ok(stripe)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// A new, empty one on the same port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        *self = Self::start(self.port).await?;
        Ok(())
    }

    pub async fn stop(&mut self) {
        // Already gone is fine: the point is that it no longer runs.
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// BENCHMARK ONLY. Answers the two calls FinanceAPI makes to charge a booking (create a payment
/// intent, confirm it) at once and always with success, keeping each intent in memory so a
/// retry under one idempotency key gets the same intent. It shows what the mesh does when
/// the payment gateway costs nothing; it is no payment gateway.
#[derive(Clone, Default)]
pub struct PaymentStandIn {
    intents: Arc<Mutex<StandInState>>,
}

#[derive(Default)]
struct StandInState {
    by_id: HashMap<String, serde_json::Value>,
    by_key: HashMap<String, String>,
    next: u64,
}

impl PaymentStandIn {
    /// Serves on a free local port until the process ends; returns its base URL.
    pub async fn start() -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address: SocketAddr = listener.local_addr()?;
        let stand_in = Self::default();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let stand_in = stand_in.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let stand_in = stand_in.clone();
                        async move { Ok::<_, std::convert::Infallible>(stand_in.answer(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(format!("http://{address}/"))
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let form = body
            .collect()
            .await
            .map(|body| parse_form(&body.to_bytes()))
            .unwrap_or_default();
        let key = parts
            .headers
            .get("idempotency-key")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let path = parts.uri.path().trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let mut state = self
            .intents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let intent = match (parts.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "payment_intents"]) => {
                if let Some(id) = key.as_ref().and_then(|key| state.by_key.get(key)) {
                    state.by_id.get(id).cloned()
                } else {
                    state.next += 1;
                    let id = format!("pi_standin{}", state.next);
                    let status = if form.get("confirm").is_some_and(|value| value == "true") {
                        "succeeded"
                    } else {
                        "requires_confirmation"
                    };
                    let intent = new_intent(&id, &form, status);
                    state.by_id.insert(id.clone(), intent.clone());
                    if let Some(key) = key {
                        state.by_key.insert(key, id);
                    }
                    Some(intent)
                }
            }
            ("POST", ["v1", "payment_intents", id, "confirm"]) => {
                state.by_id.get_mut(*id).map(|intent| {
                    intent["status"] = "succeeded".into();
                    intent["amount_received"] = intent["amount"].clone();
                    intent.clone()
                })
            }
            ("POST", ["v1", "payment_intents", id, "cancel"]) => {
                state.by_id.get_mut(*id).map(|intent| {
                    intent["status"] = "canceled".into();
                    intent.clone()
                })
            }
            ("GET", ["v1", "payment_intents", id]) => state.by_id.get(*id).cloned(),
            _ => None,
        };
        drop(state);
        let (status, body) = intent.map_or_else(
            || {
                (
                    404,
                    serde_json::json!({"error": {"type": "invalid_request_error",
                        "message": "the benchmark's payment stand-in knows only payment intents"}}),
                )
            },
            |intent| (200, intent),
        );
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap_or_default()
    }
}

/// A payment intent shaped as Stripe's API answers it, from the creation's form fields.
fn new_intent(id: &str, form: &HashMap<String, String>, status: &str) -> serde_json::Value {
    let amount: i64 = form
        .get("amount")
        .and_then(|amount| amount.parse().ok())
        .unwrap_or(0);
    let metadata: serde_json::Map<String, serde_json::Value> = form
        .iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), value.clone().into()))
        })
        .collect();
    let field = |name: &str| {
        form.get(name)
            .map_or(serde_json::Value::Null, |v| v.clone().into())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    serde_json::json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": if status == "succeeded" { amount } else { 0 },
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": "automatic",
        "client_secret": format!("{id}_secret_standin"),
        "confirmation_method": "automatic",
        "created": now,
        "currency": form.get("currency").cloned().unwrap_or_else(|| "usd".to_owned()),
        "customer": null,
        "description": field("description"),
        "invoice": null,
        "last_payment_error": null,
        "latest_charge": null,
        "livemode": false,
        "metadata": metadata,
        "next_action": null,
        "payment_method": field("payment_method"),
        "payment_method_types": ["card"],
        "receipt_email": field("receipt_email"),
        "status": status,
    })
}

/// `application/x-www-form-urlencoded` fields.
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((decode(name), decode(value)))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
