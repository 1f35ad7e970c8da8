//! A service started while its database is down keeps retrying and turns SERVING once the
//! database is up; on SIGTERM it turns NOT_SERVING at once and exits 0 within the drain time.
//! The "database" is a real server behind a TCP forwarder that refuses connections until opened.

use std::{collections::HashMap, time::Duration};

use astro_e2e::{
    MeshProcess, Service, TestServers, eventually, forwarder::Forwarder, health_status,
    with_address,
};
use tonic_health::pb::health_check_response::ServingStatus;

const DRAIN_DELAY: Duration = Duration::from_millis(1500);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Which database is down while `service` starts.
async fn starts_degraded_then_serves_then_drains(
    service: Service,
    forwarder: &mut Forwarder,
    env: HashMap<String, String>,
    waiting_for: &str,
) {
    let prefix = format!("ASTRO_{}", service.name().to_uppercase());
    let mut env = env;
    env.insert(
        format!("{prefix}_DRAIN_DELAY_MS"),
        DRAIN_DELAY.as_millis().to_string(),
    );
    env.insert(
        format!("{prefix}_DRAIN_TIMEOUT_MS"),
        DRAIN_TIMEOUT.as_millis().to_string(),
    );
    let servers = TestServers::from_env();
    let mut process = MeshProcess::spawn(&servers, service, &env)
        .await
        .expect("spawn");
    let address = process.address;
    let name = service.grpc_service();

    let listening = eventually(Duration::from_secs(10), || async {
        health_status(address, name).await.is_ok()
    })
    .await;
    assert!(
        listening,
        "{} never answered health:\n{}",
        service.name(),
        process.log()
    );
    let waiting_logged = eventually(Duration::from_secs(10), || {
        let logged = process.log().contains(waiting_for);
        async move { logged }
    })
    .await;
    assert!(
        waiting_logged,
        "the log says what it waits for:\n{}",
        process.log()
    );
    assert_eq!(
        health_status(address, name).await.ok(),
        Some(ServingStatus::NotServing),
        "NOT_SERVING while the database is down"
    );
    assert_eq!(
        health_status(address, "").await.ok(),
        Some(ServingStatus::NotServing)
    );

    forwarder.open().await.expect("database comes up");
    let serving = eventually(Duration::from_secs(15), || async {
        health_status(address, name).await.ok() == Some(ServingStatus::Serving)
    })
    .await;
    assert!(
        serving,
        "{} not SERVING after the database came up:\n{}",
        service.name(),
        process.log()
    );

    process.terminate().expect("SIGTERM");
    let not_serving = eventually(DRAIN_DELAY - Duration::from_millis(300), || async {
        health_status(address, name).await.ok() == Some(ServingStatus::NotServing)
    })
    .await;
    assert!(
        not_serving,
        "NOT_SERVING right after SIGTERM:\n{}",
        process.log()
    );
    let exit = process
        .wait_exit(DRAIN_DELAY + DRAIN_TIMEOUT)
        .await
        .expect("wait");
    let status =
        exit.unwrap_or_else(|| panic!("still running after the drain time:\n{}", process.log()));
    assert!(
        status.success(),
        "exit status {status:?}:\n{}",
        process.log()
    );
}

#[tokio::test]
async fn agency_waits_for_postgresql() {
    let servers = TestServers::from_env();
    let database_url = servers.fresh_postgres_database().await.expect("database");
    let mut forwarder = Forwarder::closed(servers.pg_address());
    let env = HashMap::from([
        (
            "ASTRO_AGENCY_DATABASE_URL".to_owned(),
            with_address(&database_url, &forwarder.address.to_string()),
        ),
        (
            "ASTRO_AGENCY_REDIS_URL".to_owned(),
            servers.redis_url.clone(),
        ),
    ]);
    starts_degraded_then_serves_then_drains(
        Service::Agency,
        &mut forwarder,
        env,
        "waiting for OperationsDB",
    )
    .await;
}

#[tokio::test]
async fn notify_waits_for_the_mongodb_protocol_system_db() {
    let servers = TestServers::from_env();
    let mut forwarder = Forwarder::closed(servers.mongo_address());
    let database_url = servers.fresh_postgres_database().await.expect("database");
    let env = HashMap::from([
        ("ASTRO_NOTIFY_DATABASE_URL".to_owned(), database_url),
        ("ASTRO_NOTIFY_SMTP_TLS".to_owned(), "none".to_owned()),
        (
            "ASTRO_NOTIFY_MONGO_URL".to_owned(),
            with_address(&servers.mongo_url, &forwarder.address.to_string()),
        ),
        (
            "ASTRO_NOTIFY_MONGO_DB".to_owned(),
            format!("test_{}", uuid::Uuid::new_v4().simple()),
        ),
        (
            "ASTRO_NOTIFY_REDIS_URL".to_owned(),
            servers.redis_url.clone(),
        ),
    ]);
    starts_degraded_then_serves_then_drains(
        Service::Notify,
        &mut forwarder,
        env,
        "waiting for SystemDB",
    )
    .await;
}

#[tokio::test]
async fn booking_waits_for_redis_while_postgresql_is_up() {
    let servers = TestServers::from_env();
    let database_url = servers.fresh_postgres_database().await.expect("database");
    let mut forwarder = Forwarder::closed(servers.redis_address());
    let env = HashMap::from([
        ("ASTRO_BOOKING_DATABASE_URL".to_owned(), database_url),
        (
            "ASTRO_BOOKING_REDIS_URL".to_owned(),
            with_address(&servers.redis_url, &forwarder.address.to_string()),
        ),
    ]);
    starts_degraded_then_serves_then_drains(
        Service::Booking,
        &mut forwarder,
        env,
        "waiting for CacheDB",
    )
    .await;
}

/// Behind a Kubernetes Service every replica shares one address, and an HTTP/2 client keeps
/// its first connection forever: with `MAX_CONNECTION_AGE_MS` the server sends GOAWAY after
/// that age, so the client reconnects (and could land on another replica) without one call
/// failing. Counted at a TCP proxy in front of SystemAPI.
#[tokio::test]
async fn an_old_connection_is_sent_away_and_the_client_reconnects_without_a_failed_call() {
    let servers = TestServers::from_env();
    let mesh = astro_e2e::Mesh::start(
        &servers,
        astro_e2e::MeshOptions {
            extra_env: HashMap::from([(
                "ASTRO_SYSTEM_MAX_CONNECTION_AGE_MS".to_owned(),
                "300".to_owned(),
            )]),
            ..Default::default()
        },
    )
    .await
    .expect("mesh starts");
    let target = mesh.address(Service::System);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = listener.local_addr().expect("address");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counting = tokio::spawn({
        let accepted = std::sync::Arc::clone(&accepted);
        async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }
    });

    let mut client = tonic_health::pb::health_client::HealthClient::new(astro_e2e::channel(proxy));
    let mut failures = Vec::new();
    for _ in 0..20 {
        let request = tonic_health::pb::HealthCheckRequest {
            service: Service::System.grpc_service().to_owned(),
        };
        if let Err(status) = client.check(request).await {
            failures.push(status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    counting.abort();
    let connections = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        failures.is_empty(),
        "calls failed across the reconnects: {failures:?}"
    );
    // 2 s of calls with a 300 ms age: several connections (one, without the setting).
    assert!(
        connections >= 3,
        "the client kept {connections} connection(s) over 2 s with a 300 ms connection age"
    );
}
