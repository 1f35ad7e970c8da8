//! System monitoring through a real mesh: every process counts its calls (Prometheus text on its
//! admin port) and reports each window to SystemAPI, which lists them for IT; GetSystemStatus
//! probes every service live and answers in time when one hangs or loses its CacheDB.

use std::{collections::HashMap, time::Duration};

use astro_e2e::{
    Mesh, Service, TestServers,
    accounts::{system_client, with_token},
    fixtures::{self, Actor},
    forwarder::Forwarder,
    grpc_web::{self, Encoding},
    mesh_with,
};
use astro_proto::astrobookings::{
    booking::v1::{ListLaunchesRequest, booking_service_client::BookingServiceClient},
    common::v1::{InstanceInfo, Role},
    system::v1::{
        GetSystemStatusRequest, GetSystemStatusResponse, ListSystemMetricsRequest,
        RecordMetricsRequest, ServiceStatus, ServingState, SystemMetric,
        system_internal_service_client::SystemInternalServiceClient,
    },
};
use tonic::Code;

const LIST_LAUNCHES: &str = "/astrobookings.booking.v1.BookingService/ListLaunches";
const GET_LAUNCH: &str = "/astrobookings.booking.v1.BookingService/GetLaunch";
const SERVICES: [&str; 5] = [
    "system-api",
    "agency-api",
    "booking-api",
    "finance-api",
    "notify-api",
];

/// A port nobody listens on right now, for an admin address.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The Prometheus text a process serves on its admin port.
async fn scrape(admin_port: u16) -> String {
    let scraped = astro_e2e::rest::send(
        "GET",
        &format!("http://127.0.0.1:{admin_port}/metrics"),
        &[],
        None,
    )
    .await
    .expect("the admin port answers");
    assert_eq!(scraped.status, 200);
    String::from_utf8_lossy(&scraped.body).into_owned()
}

async fn status(mesh: &Mesh, it: &Actor) -> GetSystemStatusResponse {
    let mut request = with_token(GetSystemStatusRequest {}, &it.token);
    // Well above the 2 s probe deadline: the answer must come even with a service frozen.
    request.set_timeout(Duration::from_secs(8));
    system_client(mesh.address(Service::Gateway))
        .get_system_status(request)
        .await
        .expect("the status answers")
        .into_inner()
}

fn service<'a>(status: &'a GetSystemStatusResponse, name: &str) -> &'a ServiceStatus {
    status
        .services
        .iter()
        .find(|service| service.name == name)
        .unwrap_or_else(|| panic!("{name} in {status:?}"))
}

async fn metrics(mesh: &Mesh, it: &Actor, name: &str) -> Vec<SystemMetric> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = system_client(mesh.address(Service::Gateway))
            .list_system_metrics(with_token(
                ListSystemMetricsRequest {
                    service: "booking-api".to_owned(),
                    name: name.to_owned(),
                    method: LIST_LAUNCHES.to_owned(),
                    page_size: 2,
                    page_token,
                    ..ListSystemMetricsRequest::default()
                },
                &it.token,
            ))
            .await
            .expect("metrics listed")
            .into_inner();
        all.extend(page.metrics);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_n_calls_metrics_shows_n_and_system_metrics_lists_the_windows_with_that_count() {
    let admin_port = free_port();
    let mesh = mesh_with(HashMap::from([
        (
            "ASTRO_BOOKING_ADMIN_ADDR".to_owned(),
            format!("127.0.0.1:{admin_port}"),
        ),
        (
            "ASTRO_BOOKING_METRICS_WINDOW_MS".to_owned(),
            "1000".to_owned(),
        ),
    ]))
    .await;
    let it = fixtures::employee(&mesh, Role::It).await;
    // Straight to BookingAPI, so no other caller's ListLaunches (the gateway's readiness
    // checks use health, not this RPC) mixes in.
    let mut booking = BookingServiceClient::new(astro_e2e::channel(mesh.address(Service::Booking)));
    let calls = 7;
    for _ in 0..calls {
        booking
            .list_launches(ListLaunchesRequest::default())
            .await
            .expect("catalogue listed");
    }

    let text = scrape(admin_port).await;
    let counted = format!(
        "astro_grpc_server_requests_total{{service=\"booking-api\",method=\"{LIST_LAUNCHES}\",code=\"OK\"}} {calls}"
    );
    assert!(
        text.lines().any(|line| line == counted),
        "{counted} not in:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "astro_grpc_server_request_duration_seconds_count{{service=\"booking-api\",method=\"{LIST_LAUNCHES}\"}} {calls}"
        )),
        "{text}"
    );

    // The calls fall in one or two 1-second windows; each reaches SystemAPI at its end.
    let mut counted_windows = Vec::new();
    for _ in 0..50 {
        counted_windows = metrics(&mesh, &it, "grpc.requests").await;
        let total: f64 = counted_windows.iter().map(|metric| metric.value).sum();
        if (total - f64::from(calls)).abs() < f64::EPSILON {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let total: f64 = counted_windows.iter().map(|metric| metric.value).sum();
    assert!(
        (total - f64::from(calls)).abs() < f64::EPSILON,
        "windows {counted_windows:?}"
    );
    for window in &counted_windows {
        assert_eq!(window.unit, "count");
        assert_eq!(window.labels["method"], LIST_LAUNCHES);
        assert!(!window.labels["instance"].is_empty(), "{window:?}");
    }
    // Each counted window has its rate, error ratio and percentiles beside it.
    for name in [
        "grpc.requests_per_second",
        "grpc.error_ratio",
        "grpc.latency_p50_ms",
        "grpc.latency_p95_ms",
        "grpc.latency_p99_ms",
    ] {
        let listed = metrics(&mesh, &it, name).await;
        assert_eq!(listed.len(), counted_windows.len(), "{name}: {listed:?}");
        for metric in &listed {
            match name {
                "grpc.error_ratio" => assert!(metric.value.abs() < f64::EPSILON, "{metric:?}"),
                _ => assert!(metric.value > 0.0, "{metric:?}"),
            }
        }
    }
    let p50 = metrics(&mesh, &it, "grpc.latency_p50_ms").await;
    let p99 = metrics(&mesh, &it, "grpc.latency_p99_ms").await;
    for (p50, p99) in p50.iter().zip(&p99) {
        assert!(p50.value <= p99.value, "{p50:?} {p99:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_reports_only_its_own_metrics() {
    let mesh = astro_e2e::mesh().await;
    let now = chrono::Utc::now();
    let window = |service: &str| SystemMetric {
        service: service.to_owned(),
        name: "grpc.requests".to_owned(),
        value: 1.0,
        unit: "count".to_owned(),
        labels: HashMap::from([("method".to_owned(), "/a.B/C".to_owned())]),
        window_start: Some(astro_shared::convert::timestamp(
            now - chrono::Duration::seconds(60),
        )),
        window_end: Some(astro_shared::convert::timestamp(now)),
    };
    let reporter = |service: &str| InstanceInfo {
        service: service.to_owned(),
        instance: "pod-test".to_owned(),
        version: "0".to_owned(),
        started_at: None,
    };
    let mut as_booking =
        SystemInternalServiceClient::new(mesh.internal_channel(Service::System, Service::Booking));
    let accepted = as_booking
        .record_metrics(RecordMetricsRequest {
            metrics: vec![window("booking-api")],
            reporter: Some(reporter("booking-api")),
        })
        .await
        .expect("its own window is taken")
        .into_inner()
        .accepted;
    assert_eq!(accepted, 1);
    // Sent again (a retry after a lost answer): taken, not doubled.
    as_booking
        .record_metrics(RecordMetricsRequest {
            metrics: vec![window("booking-api")],
            reporter: Some(reporter("booking-api")),
        })
        .await
        .expect("a resend is taken");
    for (metrics, reporter) in [
        (vec![window("agency-api")], reporter("booking-api")),
        (vec![window("agency-api")], reporter("agency-api")),
    ] {
        let refused = as_booking
            .record_metrics(RecordMetricsRequest {
                metrics,
                reporter: Some(reporter),
            })
            .await
            .expect_err("another service's figures are refused");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    }
    let stored = astro_e2e::system_db(&mesh)
        .await
        .collection::<mongodb::bson::Document>("system_metrics")
        .count_documents(mongodb::bson::doc! { "labels.method": "/a.B/C" })
        .await
        .expect("counted");
    assert_eq!(stored, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_shows_every_service_and_answers_in_time_with_booking_frozen() {
    let mesh = astro_e2e::mesh().await;
    let it = fixtures::employee(&mesh, Role::It).await;

    let healthy = status(&mesh, &it).await;
    assert_eq!(
        healthy.overall_state(),
        ServingState::Serving,
        "{healthy:?}"
    );
    let names: Vec<&str> = healthy.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, SERVICES);
    for name in SERVICES {
        let service = service(&healthy, name);
        assert_eq!(service.state(), ServingState::Serving, "{service:?}");
        assert!(!service.version.is_empty(), "{service:?}");
        assert!(service.uptime_seconds >= 0, "{service:?}");
        assert!(!service.replicas.is_empty(), "{service:?}");
        assert!(!service.dependencies.is_empty(), "{service:?}");
        for dependency in &service.dependencies {
            assert_eq!(
                dependency.state(),
                ServingState::Serving,
                "{name}: {dependency:?}"
            );
            assert!(dependency.latency_ms > 0.0, "{dependency:?}");
        }
    }
    let dependencies = |name: &str| -> Vec<String> {
        service(&healthy, name)
            .dependencies
            .iter()
            .map(|dependency| dependency.name.clone())
            .collect()
    };
    assert_eq!(dependencies("system-api"), ["system-db", "cache-db"]);
    assert_eq!(
        dependencies("finance-api"),
        ["operations-db", "cache-db", "payment-gateway"]
    );
    assert_eq!(
        dependencies("notify-api"),
        ["system-db", "operations-db", "cache-db", "email"]
    );
    assert!(healthy.notification_service.is_some(), "{healthy:?}");

    let booking = &mesh.processes[&Service::Booking];
    booking.freeze().expect("SIGSTOP BookingAPI");
    let frozen = status(&mesh, &it).await;
    booking.resume().expect("SIGCONT BookingAPI");
    let stuck = service(&frozen, "booking-api");
    assert_eq!(stuck.state(), ServingState::Unknown, "{stuck:?}");
    assert!(stuck.dependencies.is_empty(), "{stuck:?}");
    for name in SERVICES.iter().filter(|name| **name != "booking-api") {
        assert_eq!(
            service(&frozen, name).state(),
            ServingState::Serving,
            "{frozen:?}"
        );
    }
    assert_ne!(frozen.overall_state(), ServingState::Serving);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_booking_cut_from_redis_the_status_shows_its_cache_db_down() {
    let servers = TestServers::from_env();
    let mut redis = Forwarder::closed(servers.redis_address());
    redis.open().await.expect("forwarder open");
    let mesh = mesh_with(HashMap::from([(
        "ASTRO_BOOKING_REDIS_URL".to_owned(),
        format!("redis://{}", redis.address),
    )]))
    .await;
    let it = fixtures::employee(&mesh, Role::It).await;
    let cache = |status: &GetSystemStatusResponse| {
        service(status, "booking-api")
            .dependencies
            .iter()
            .find(|dependency| dependency.name == "cache-db")
            .cloned()
            .expect("booking's cache-db")
    };
    assert_eq!(
        cache(&status(&mesh, &it).await).state(),
        ServingState::Serving
    );

    redis.close();
    let cut = status(&mesh, &it).await;
    let booking = service(&cut, "booking-api");
    assert_eq!(cache(&cut).state(), ServingState::NotServing, "{booking:?}");
    assert!(!cache(&cut).detail.is_empty(), "{booking:?}");
    assert_eq!(booking.state(), ServingState::NotServing, "{booking:?}");
    assert!(booking.detail.contains("cache-db"), "{booking:?}");
    assert_eq!(cut.overall_state(), ServingState::NotServing);
    // The others keep their own CacheDB connection.
    assert_eq!(
        service(&cut, "agency-api").state(),
        ServingState::Serving,
        "{cut:?}"
    );

    redis.open().await.expect("forwarder reopened");
    let mut back = cut;
    for _ in 0..40 {
        back = status(&mesh, &it).await;
        if cache(&back).state() == ServingState::Serving {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(cache(&back).state(), ServingState::Serving, "{back:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_metrics_routes_refuse_travelers_and_agencies_and_answer_it_over_rest() {
    let mesh = astro_e2e::mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let base = mesh.gateway_url();
    let it = fixtures::employee(&mesh, Role::It).await;
    let traveler = fixtures::traveler(gateway, "no-status").await;
    let agency = fixtures::agency(gateway, "no-status").await;
    let routes = ["/v1/system/status", "/v1/system/metrics"];
    for actor in [&traveler, &agency] {
        let bearer = format!("Bearer {}", actor.token);
        for path in routes {
            let answer = astro_e2e::rest::send(
                "GET",
                &format!("{base}{path}"),
                &[("authorization", bearer.as_str())],
                None,
            )
            .await
            .expect("the gateway answers");
            assert_eq!(answer.status, 403, "{path}: {}", answer.json);
        }
    }
    let bearer = format!("Bearer {}", it.token);
    let get = |path: String| {
        let bearer = bearer.clone();
        async move {
            astro_e2e::rest::send("GET", &path, &[("authorization", bearer.as_str())], None)
                .await
                .expect("the gateway answers")
        }
    };
    let status = get(format!("{base}/v1/system/status")).await;
    assert_eq!(status.status, 200, "{}", status.json);
    assert_eq!(
        status.json["services"].as_array().map(Vec::len),
        Some(SERVICES.len()),
        "{}",
        status.json
    );
    let listed = get(format!(
        "{base}/v1/system/metrics?service=system-api&pageSize=5"
    ))
    .await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    let backwards = get(format!(
        "{base}/v1/system/metrics?startTime=2026-01-02T00:00:00Z&endTime=2026-01-01T00:00:00Z"
    ))
    .await;
    assert_eq!(backwards.status, 400, "{}", backwards.json);
    let negative = get(format!("{base}/v1/system/metrics?pageSize=-1")).await;
    assert_eq!(negative.status, 400, "{}", negative.json);
    let bad_token = get(format!("{base}/v1/system/metrics?pageToken=nonsense")).await;
    assert_eq!(bad_token.status, 400, "{}", bad_token.json);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_counts_grpc_grpc_web_and_rest_calls_on_its_admin_port() {
    let admin_port = free_port();
    let mesh = mesh_with(HashMap::from([(
        "ASTRO_GATEWAY_ADMIN_ADDR".to_owned(),
        format!("127.0.0.1:{admin_port}"),
    )]))
    .await;
    let gateway = mesh.gateway_url();
    let mut booking = BookingServiceClient::new(astro_e2e::channel(mesh.address(Service::Gateway)));
    for _ in 0..3 {
        booking
            .list_launches(ListLaunchesRequest::default())
            .await
            .expect("catalogue listed over gRPC");
    }
    for _ in 0..2 {
        let answer = grpc_web::call(&gateway, LIST_LAUNCHES, &[], Encoding::Binary, &[])
            .await
            .expect("grpc-web call");
        assert_eq!(answer.grpc_status, Some(0), "{answer:?}");
    }
    // An empty launch id: BookingAPI's INVALID_ARGUMENT, counted with its code.
    let refused = grpc_web::call(&gateway, GET_LAUNCH, &[], Encoding::Binary, &[])
        .await
        .expect("grpc-web call");
    assert_eq!(
        refused.grpc_status,
        Some(Code::InvalidArgument as i32),
        "{refused:?}"
    );
    for _ in 0..4 {
        let listed = astro_e2e::rest::send("GET", &format!("{gateway}/v1/launches"), &[], None)
            .await
            .expect("REST call");
        assert_eq!(listed.status, 200, "{}", listed.json);
    }
    let unknown = astro_e2e::rest::send("GET", &format!("{gateway}/v1/no-such-route"), &[], None)
        .await
        .expect("REST call");
    assert_eq!(unknown.status, 404);

    let text = scrape(admin_port).await;
    for (method, code, count) in [
        (LIST_LAUNCHES, "OK", 5),
        (GET_LAUNCH, "INVALID_ARGUMENT", 1),
        ("GET /v1/launches", "OK", 4),
        ("REST (no route)", "NOT_FOUND", 1),
    ] {
        let counted = format!(
            "astro_grpc_server_requests_total{{service=\"gateway\",method=\"{method}\",code=\"{code}\"}} {count}"
        );
        assert!(
            text.lines().any(|line| line == counted),
            "{counted} not in:\n{text}"
        );
    }
}
