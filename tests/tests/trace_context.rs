//! One call through the gateway is one trace: the gateway's span and the service's span share
//! the trace id, the service's span is the gateway's child, and a caller's own `traceparent`
//! is continued. Spans arrive over real OTLP/gRPC in an in-test collector.

use std::time::Duration;

use astro_e2e::{
    Mesh, MeshOptions, TestServers,
    collector::{Collector, ReceivedSpan},
    eventually,
    grpc_web::{self, Encoding},
};

const RPC: &str = "/astrobookings.booking.v1.BookingService/ListLaunches";
const SERVER_KIND: i32 = 2;

fn span_of<'a>(
    spans: &'a [ReceivedSpan],
    service: &str,
    trace_id: &[u8],
) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|span| span.service_name == service && span.name == RPC && span.trace_id == trace_id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).expect("hex"))
        .collect()
}

#[tokio::test]
async fn a_call_through_the_gateway_is_one_trace_with_the_service_span_as_child() {
    let collector = Collector::start().await.expect("collector");
    let mesh = Mesh::start(
        &TestServers::from_env(),
        MeshOptions {
            otlp_endpoint: Some(collector.endpoint()),
            ..MeshOptions::default()
        },
    )
    .await
    .expect("mesh starts");

    // A browser that starts its own trace: the gateway continues it.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let traceparent = format!("00-{trace_id}-{caller_span_id}-01");
    let response = grpc_web::call(
        &mesh.gateway_url(),
        RPC,
        &[],
        Encoding::Binary,
        &[("traceparent", &traceparent)],
    )
    .await
    .expect("grpc-web call");
    assert_eq!(response.grpc_status, Some(tonic::Code::Ok as i32));

    let trace_id = unhex(&trace_id);
    let both_arrived = eventually(Duration::from_secs(15), || {
        let spans = collector.spans();
        let found = span_of(&spans, "astro-gateway", &trace_id).is_some()
            && span_of(&spans, "astro-booking", &trace_id).is_some();
        async move { found }
    })
    .await;
    let spans = collector.spans();
    assert!(
        both_arrived,
        "gateway and booking spans of trace {} not received; got {spans:#?}",
        hex(&trace_id)
    );

    let gateway = span_of(&spans, "astro-gateway", &trace_id).expect("gateway span");
    let booking = span_of(&spans, "astro-booking", &trace_id).expect("booking span");
    assert_eq!(
        gateway.parent_span_id,
        unhex(caller_span_id),
        "gateway continues the caller's trace"
    );
    assert_eq!(
        booking.parent_span_id, gateway.span_id,
        "booking span is the gateway span's child"
    );
    assert_ne!(booking.span_id, gateway.span_id);
    assert_eq!(gateway.kind, SERVER_KIND);
    assert_eq!(booking.kind, SERVER_KIND);
}

#[tokio::test]
async fn without_a_caller_trace_the_gateway_starts_one_that_the_service_joins() {
    let collector = Collector::start().await.expect("collector");
    let mesh = Mesh::start(
        &TestServers::from_env(),
        MeshOptions {
            otlp_endpoint: Some(collector.endpoint()),
            ..MeshOptions::default()
        },
    )
    .await
    .expect("mesh starts");
    let response = grpc_web::call(&mesh.gateway_url(), RPC, &[], Encoding::Text, &[])
        .await
        .expect("grpc-web call");
    assert_eq!(
        response.grpc_status,
        Some(tonic::Code::Ok as i32),
        "{response:?}"
    );

    let pair = || {
        let spans = collector.spans();
        spans
            .iter()
            .filter(|span| span.service_name == "astro-gateway" && span.name == RPC)
            .find_map(|gateway| {
                spans
                    .iter()
                    .find(|span| {
                        span.service_name == "astro-booking"
                            && span.parent_span_id == gateway.span_id
                    })
                    .map(|booking| (gateway.clone(), booking.clone()))
            })
    };
    let arrived = eventually(Duration::from_secs(15), || {
        let found = pair().is_some();
        async move { found }
    })
    .await;
    assert!(
        arrived,
        "no gateway→booking span pair; got {:#?}",
        collector.spans()
    );
    let (gateway, booking) = pair().expect("pair");
    assert!(
        gateway.parent_span_id.is_empty(),
        "the gateway span is the root"
    );
    assert_eq!(booking.trace_id, gateway.trace_id);
}
