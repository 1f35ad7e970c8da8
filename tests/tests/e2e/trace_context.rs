//! One call through the gateway is one trace: the gateway's span and the service's span share
//! the trace id, the service's span is the gateway's child, and a caller's own `traceparent`
//! is continued. Spans arrive over real OTLP/gRPC in an in-test collector.

use std::time::Duration;

use astro_e2e::{
    collector::{CallerTrace, ReceivedSpan, traced_mesh},
    eventually,
    grpc_web::{self, Encoding},
};

const RPC: &str = "/astrobookings.booking.v1.BookingService/ListLaunches";
const SERVER_KIND: i32 = 2;

/// The span of `service` for the RPC among `spans` (the spans of one trace).
fn span_of<'a>(spans: &'a [ReceivedSpan], service: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|span| span.service_name == service && span.name == RPC)
}

#[tokio::test]
async fn a_call_through_the_gateway_is_one_trace_with_the_service_span_as_child() {
    let (collector, mesh) = traced_mesh().await;

    // A browser that starts its own trace: the gateway continues it.
    let caller = CallerTrace::new();
    let response = grpc_web::call(
        &mesh.gateway_url(),
        RPC,
        &[],
        Encoding::Binary,
        &[("traceparent", &caller.traceparent)],
    )
    .await
    .expect("grpc-web call");
    assert_eq!(response.grpc_status, Some(tonic::Code::Ok as i32));

    let both_arrived = eventually(Duration::from_secs(15), || {
        let spans = collector.spans_of_trace(&caller.trace_id);
        let found = span_of(&spans, "astro-gateway").is_some()
            && span_of(&spans, "astro-booking").is_some();
        async move { found }
    })
    .await;
    let spans = collector.spans_of_trace(&caller.trace_id);
    assert!(
        both_arrived,
        "gateway and booking spans of trace {} not received; got {:#?}",
        caller.trace_id_hex,
        collector.spans()
    );

    let gateway = span_of(&spans, "astro-gateway").expect("gateway span");
    let booking = span_of(&spans, "astro-booking").expect("booking span");
    assert_eq!(
        gateway.parent_span_id, caller.span_id,
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
    let (collector, mesh) = traced_mesh().await;
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
