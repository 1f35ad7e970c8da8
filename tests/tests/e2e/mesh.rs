//! The whole mesh as real processes: health of every service directly and through the
//! gateway (gRPC and grpc-web), readiness, routing, and what the gateway refuses to expose.

use std::{collections::HashMap, time::Duration};

use astro_e2e::{
    Service, channel, eventually,
    grpc_web::{self, Encoding},
    health_status, mesh, mesh_with, rest,
};
use astro_proto::astrobookings::booking::v1::ListLaunchesRequest;
use astro_proto::astrobookings::finance::v1::{
    IssueLaunchInvoiceRequest, finance_internal_service_client::FinanceInternalServiceClient,
};
use prost::Message as _;
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
};

#[tokio::test]
async fn every_service_answers_serving_directly_and_through_the_gateway_grpc_web() {
    let mesh = mesh().await;
    for service in Service::BACKENDS {
        let direct = health_status(mesh.address(service), service.grpc_service()).await;
        assert_eq!(
            direct.ok(),
            Some(ServingStatus::Serving),
            "{} direct",
            service.name()
        );
        let whole_process = health_status(mesh.address(service), "").await;
        assert_eq!(
            whole_process.ok(),
            Some(ServingStatus::Serving),
            "{} process",
            service.name()
        );

        let request = HealthCheckRequest {
            service: service.grpc_service().to_owned(),
        }
        .encode_to_vec();
        for encoding in [Encoding::Binary, Encoding::Text] {
            let response = grpc_web::call(
                &mesh.gateway_url(),
                "/grpc.health.v1.Health/Check",
                &request,
                encoding,
                &[],
            )
            .await
            .expect("grpc-web call");
            assert_eq!(response.http_status, 200);
            assert_eq!(
                response.grpc_status,
                Some(0),
                "{} via {encoding:?}: {response:?}",
                service.name()
            );
            assert_eq!(response.messages.len(), 1);
            let answer = HealthCheckResponse::decode(response.messages[0].clone()).expect("decode");
            assert_eq!(
                answer.status(),
                ServingStatus::Serving,
                "{} via {encoding:?}",
                service.name()
            );
        }
    }

    let gateway_over_grpc = health_status(mesh.address(Service::Gateway), "").await;
    assert_eq!(gateway_over_grpc.ok(), Some(ServingStatus::Serving));
}

#[tokio::test]
async fn readyz_is_ready_only_while_every_upstream_serves() {
    let mut mesh = mesh().await;
    let readyz = format!("{}/readyz", mesh.gateway_url());
    let (status, body) = grpc_web::http_get(&readyz).await.expect("readyz");
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(body["ready"], true);
    for service in Service::BACKENDS {
        assert_eq!(body["upstreams"][service.name()], "SERVING", "{body}");
    }
    let (status, _) = grpc_web::http_get(&format!("{}/healthz", mesh.gateway_url()))
        .await
        .expect("healthz");
    assert_eq!(status, 200);

    // One upstream gone: not ready, and the body names it; the gateway itself stays alive.
    // (Answers are reused for a second: the next one after that tells.)
    drop(mesh.processes.remove(&Service::Finance));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, body) = grpc_web::http_get(&readyz).await.expect("readyz");
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(body["ready"], false);
    assert!(
        body["upstreams"]["finance"]
            .as_str()
            .unwrap_or_default()
            .starts_with("UNREACHABLE"),
        "{body}"
    );
    // No transport error text leaks to whoever probes.
    assert_eq!(body["upstreams"]["finance"], "UNREACHABLE", "{body}");
    assert_eq!(body["upstreams"]["booking"], "SERVING", "{body}");
    let (status, _) = grpc_web::http_get(&format!("{}/healthz", mesh.gateway_url()))
        .await
        .expect("healthz");
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_gateway_forwards_rpcs_and_never_exposes_internal_services() {
    let mesh = mesh().await;
    let gateway = mesh.gateway_url();

    // A public RPC with an empty request: forwarded to AgencyAPI, whose own validation answers
    // (the gateway checks no fields).
    let public_rpc = "/astrobookings.agency.v1.AgencyService/RegisterAgency";
    for encoding in [Encoding::Binary, Encoding::Text] {
        let response = grpc_web::call(&gateway, public_rpc, &[], encoding, &[])
            .await
            .expect("grpc-web call");
        assert_eq!(
            response.grpc_status,
            Some(tonic::Code::InvalidArgument as i32),
            "{response:?}"
        );
        assert_eq!(
            response.grpc_message.as_deref(),
            Some("agency_name: is required"),
            "{response:?}"
        );
    }

    // Internal services are served by the process itself (which validates the request)...
    let internal_rpc = "/astrobookings.finance.v1.FinanceInternalService/IssueLaunchInvoice";
    let mut direct =
        FinanceInternalServiceClient::new(mesh.internal_channel(Service::Finance, Service::Agency));
    let status = direct
        .issue_launch_invoice(IssueLaunchInvoiceRequest::default())
        .await
        .expect_err("a launch id is required");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("launch_id"),
        "{}",
        status.message()
    );

    // ...but the gateway refuses them, over plain gRPC and over grpc-web.
    let mut through_gateway =
        FinanceInternalServiceClient::new(channel(mesh.address(Service::Gateway)));
    let status = through_gateway
        .issue_launch_invoice(IssueLaunchInvoiceRequest::default())
        .await
        .expect_err("internal services are not exposed");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert_eq!(
        status.message(),
        "unknown service astrobookings.finance.v1.FinanceInternalService"
    );
    let refused = grpc_web::call(&gateway, internal_rpc, &[], Encoding::Binary, &[])
        .await
        .expect("grpc-web call");
    assert_eq!(refused.grpc_status, Some(tonic::Code::Unimplemented as i32));

    // A health check for a service the gateway does not expose is NOT_FOUND.
    let internal_health = health_status(
        mesh.address(Service::Gateway),
        "astrobookings.finance.v1.FinanceInternalService",
    )
    .await;
    assert_eq!(
        internal_health.err().map(|status| status.code()),
        Some(tonic::Code::NotFound)
    );
}

#[tokio::test]
async fn a_dead_upstream_is_unavailable_through_the_gateway_not_an_internal_error() {
    let mut mesh = mesh().await;
    drop(mesh.processes.remove(&Service::Agency));
    let gateway = mesh.gateway_url();
    // A public RPC, so the edge lets it through without a token and only the upstream is missing.
    let rpc = "/astrobookings.agency.v1.AgencyService/RegisterAgency";
    let unavailable = eventually(Duration::from_secs(5), || async {
        grpc_web::call(&gateway, rpc, &[], Encoding::Binary, &[])
            .await
            .is_ok_and(|response| response.grpc_status == Some(tonic::Code::Unavailable as i32))
    })
    .await;
    assert!(
        unavailable,
        "agency down must answer UNAVAILABLE through the gateway"
    );
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_in_time_is_deadline_exceeded_not_unavailable() {
    // BookingAPI's public catalogue gets 1 s at the gateway; a grpc-web client may ask for less.
    let mesh = mesh_with(HashMap::from([(
        "ASTRO_GATEWAY_ROUTE_TIMEOUTS_MS".to_owned(),
        "ListLaunches=1000".to_owned(),
    )]))
    .await;
    let gateway = mesh.gateway_url();
    let rpc = "/astrobookings.booking.v1.BookingService/ListLaunches";
    let request = ListLaunchesRequest::default().encode_to_vec();
    let catalogue = format!("{gateway}/v1/launches");
    let answered = grpc_web::call(&gateway, rpc, &request, Encoding::Binary, &[])
        .await
        .expect("grpc-web call");
    assert_eq!(answered.grpc_status, Some(0), "{answered:?}");

    // Frozen, BookingAPI keeps its connection to the gateway open but answers nothing.
    let booking = &mesh.processes[&Service::Booking];
    booking.freeze().expect("SIGSTOP BookingAPI");
    let grpc = grpc_web::call(
        &gateway,
        rpc,
        &request,
        Encoding::Binary,
        &[("grpc-timeout", "300m")],
    )
    .await;
    let rest = rest::send("GET", &catalogue, &[], None).await;
    booking.resume().expect("SIGCONT BookingAPI");

    let grpc = grpc.expect("grpc-web call");
    assert_eq!(
        grpc.grpc_status,
        Some(tonic::Code::DeadlineExceeded as i32),
        "{grpc:?}"
    );
    assert_eq!(
        grpc.grpc_message.as_deref(),
        Some("booking service did not answer within the deadline")
    );
    let rest = rest.expect("REST call");
    assert_eq!(rest.status, 504, "{rest:?}");
    assert_eq!(rest.json["code"], tonic::Code::DeadlineExceeded as i32);
    assert!(
        rest.headers.get("retry-after").is_none(),
        "a slow upstream is no invitation to retry at once: {rest:?}"
    );

    // Running again, it answers again.
    let recovered = eventually(Duration::from_secs(10), || async {
        rest::send("GET", &catalogue, &[], None)
            .await
            .is_ok_and(|answer| answer.status == 200)
    })
    .await;
    assert!(recovered, "BookingAPI answers once it runs again");
}

#[tokio::test]
async fn the_mesh_started_by_dev_is_ready() {
    let Ok(gateway) = std::env::var("ASTRO_TEST_GATEWAY_URL") else {
        panic!("ASTRO_TEST_GATEWAY_URL is not set: run through ./dev test");
    };
    let (status, body) = grpc_web::http_get(&format!("{gateway}/readyz"))
        .await
        .expect("the ./dev mesh answers /readyz");
    assert_eq!(status, 200, "{body}");
}
