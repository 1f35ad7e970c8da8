//! An OTLP trace collector inside the test process: the mesh exports its spans here over the
//! real OTLP/gRPC protocol and the test reads them back.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
};
use tokio_stream::wrappers::TcpListenerStream;

/// One received span, flattened for assertions.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The exporting process's `service.name` resource attribute.
    pub service_name: String,
    pub name: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    /// 2 = SERVER, 3 = CLIENT (OTLP's `SpanKind`).
    pub kind: i32,
}

#[derive(Clone, Default)]
struct Store(Arc<Mutex<Vec<ReceivedSpan>>>);

#[tonic::async_trait]
impl TraceService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service_name = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref())
                .and_then(|value| match &value.value {
                    Some(Value::StringValue(name)) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    received.push(ReceivedSpan {
                        service_name: service_name.clone(),
                        name: span.name,
                        trace_id: span.trace_id,
                        span_id: span.span_id,
                        parent_span_id: span.parent_span_id,
                        kind: span.kind,
                    });
                }
            }
        }
        self.0
            .lock()
            .map_err(|_| tonic::Status::internal("poisoned"))?
            .extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// A running collector.
pub struct Collector {
    pub address: SocketAddr,
    store: Store,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let store = Store::default();
        let service = TraceServiceServer::new(store.clone());
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await;
        });
        Ok(Self {
            address,
            store,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.store
            .0
            .lock()
            .map(|spans| spans.clone())
            .unwrap_or_default()
    }

    /// The spans received so far of the trace `trace_id` (16 bytes, as OTLP carries it).
    pub fn spans_of_trace(&self, trace_id: &[u8]) -> Vec<ReceivedSpan> {
        self.store
            .0
            .lock()
            .map(|spans| {
                spans
                    .iter()
                    .filter(|span| span.trace_id == trace_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh mesh that exports its spans to a fresh collector.
pub async fn traced_mesh() -> (Collector, crate::Mesh) {
    let collector = Collector::start().await.expect("collector");
    let mesh = crate::Mesh::start(
        &crate::TestServers::from_env(),
        crate::MeshOptions {
            otlp_endpoint: Some(collector.endpoint()),
            ..crate::MeshOptions::default()
        },
    )
    .await
    .expect("mesh starts");
    (collector, mesh)
}

/// A caller that starts its own trace: a fresh trace id and caller span id, and the W3C
/// `traceparent` header that carries them.
#[derive(Debug, Clone)]
pub struct CallerTrace {
    /// The trace id in hex, as the header carries it.
    pub trace_id_hex: String,
    /// The trace id as OTLP carries it (16 bytes).
    pub trace_id: Vec<u8>,
    /// The caller's span id (8 bytes): the parent of the first span the mesh makes.
    pub span_id: Vec<u8>,
    /// `00-{trace id}-{span id}-01` (sampled).
    pub traceparent: String,
}

impl CallerTrace {
    pub fn new() -> Self {
        let trace_id_hex = uuid::Uuid::new_v4().simple().to_string();
        let span_id_hex = &uuid::Uuid::new_v4().simple().to_string()[..16];
        Self {
            trace_id: from_hex(&trace_id_hex),
            span_id: from_hex(span_id_hex),
            traceparent: format!("00-{trace_id_hex}-{span_id_hex}-01"),
            trace_id_hex,
        }
    }
}

impl Default for CallerTrace {
    fn default() -> Self {
        Self::new()
    }
}

/// The bytes a hex trace or span id stands for.
pub fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).expect("hex"))
        .collect()
}
