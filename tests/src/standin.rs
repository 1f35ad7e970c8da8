//! An echo BookingService for the gateway's own tests: a small tonic server inside the test
//! process that answers a few RPCs from the request itself (ids, filters, page tokens and the
//! caller's metadata echoed back), so a test sees exactly what the gateway decoded and forwarded
//! — which the real BookingAPI, with its validation and storage, would hide. It stands in for an
//! upstream only; the gateway under test is the real binary, and the real BookingAPI is tested
//! through the mesh (booking.rs, catalogue.rs).

use std::net::SocketAddr;

use astro_proto::astrobookings::{
    booking::v1::{
        Booking, CatalogueLaunch, GetBookingRequest, GetBookingResponse, GetLaunchRequest,
        GetLaunchResponse, ListBookingsRequest, ListBookingsResponse, ListLaunchesRequest,
        ListLaunchesResponse,
        booking_service_server::{BookingService, BookingServiceServer},
    },
    common::v1::Money,
};
use tonic::{Request, Response, Status};

/// Starts the echo upstream on a port of its own (bound to port 0); it runs until the test
/// process ends.
pub async fn start_booking_stand_in() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(BookingServiceServer::new(BookingStandIn))
            .add_service(health_service().await)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Ok(address)
}

async fn health_service()
-> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health> {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<BookingServiceServer<BookingStandIn>>()
        .await;
    service
}

fn metadata(request: &Request<impl Sized>, name: &str) -> String {
    request
        .metadata()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The stand-in's answers:
/// - `GetLaunch(id_or_slug)`: a launch with that id, whose other string fields report the
///   metadata received: `agency_name` = authorization, `slug` = x-request-id, `spaceport` =
///   x-forwarded-for, `rocket_name` = traceparent.
/// - `ListLaunches`: one launch echoing the filters (destination, range, price bounds as the
///   price, departs_after as the date).
/// - `GetBooking(id)`: `code-N` answers gRPC code N; anything else a booking with that id.
/// - `ListBookings`: one booking per requested status.
#[derive(Debug, Clone, Copy)]
pub struct BookingStandIn;

#[tonic::async_trait]
impl BookingService for BookingStandIn {
    async fn get_launch(
        &self,
        request: Request<GetLaunchRequest>,
    ) -> Result<Response<GetLaunchResponse>, Status> {
        let launch = CatalogueLaunch {
            agency_name: metadata(&request, "authorization"),
            slug: metadata(&request, "x-request-id"),
            spaceport: metadata(&request, "x-forwarded-for"),
            rocket_name: metadata(&request, "traceparent"),
            id: request.into_inner().id_or_slug,
            capacity: 10,
            seats_available: 4,
            bookable: true,
            ..CatalogueLaunch::default()
        };
        Ok(Response::new(GetLaunchResponse {
            launch: Some(launch),
        }))
    }

    async fn list_launches(
        &self,
        request: Request<ListLaunchesRequest>,
    ) -> Result<Response<ListLaunchesResponse>, Status> {
        let filters = request.into_inner();
        let launch = CatalogueLaunch {
            id: "echo".into(),
            destination: filters.destination,
            range: filters.range,
            scheduled_at: filters.departs_after,
            price_per_seat: Some(Money {
                amount_minor: filters.min_price_minor.unwrap_or_default(),
                currency: filters.currency,
            }),
            seats_available: filters.min_seats_available,
            ..CatalogueLaunch::default()
        };
        Ok(Response::new(ListLaunchesResponse {
            launches: vec![launch],
            next_page_token: filters.page_token,
            total_size: filters.page_size,
        }))
    }

    async fn get_booking(
        &self,
        request: Request<GetBookingRequest>,
    ) -> Result<Response<GetBookingResponse>, Status> {
        let id = request.into_inner().id;
        if let Some(code) = id
            .strip_prefix("code-")
            .and_then(|code| code.parse::<i32>().ok())
        {
            return Err(Status::new(
                tonic::Code::from_i32(code),
                format!("stand-in answers code {code}"),
            ));
        }
        Ok(Response::new(GetBookingResponse {
            booking: Some(Booking {
                id,
                ..Booking::default()
            }),
            launch_history: Vec::new(),
        }))
    }

    async fn list_bookings(
        &self,
        request: Request<ListBookingsRequest>,
    ) -> Result<Response<ListBookingsResponse>, Status> {
        let request = request.into_inner();
        let bookings = request
            .statuses
            .iter()
            .map(|status| Booking {
                id: format!("booking-{status}"),
                status: *status,
                ..Booking::default()
            })
            .collect();
        Ok(Response::new(ListBookingsResponse {
            bookings,
            next_page_token: String::new(),
        }))
    }
}

/// A real gateway in front of the stand-in BookingService, with a real SystemAPI (fresh
/// SystemDB database, its own signing key) whose JWKS the gateway verifies tokens against.
/// The other upstreams point at a closed port.
pub struct StandInGateway {
    pub gateway: crate::MeshProcess,
    pub address: SocketAddr,
    pub system: crate::MeshProcess,
    pub keys: crate::keys::TestKeys,
}

impl StandInGateway {
    /// A valid access token for a caller of `role` (`TRAVELER`, `AGENCY`, ...), signed with the
    /// key SystemAPI publishes.
    pub fn token(&self, role: &str) -> String {
        let now = astro_shared::auth::unix_now();
        self.keys.sign(&serde_json::json!({
            "sub": uuid::Uuid::new_v4().to_string(), "role": role,
            "iss": astro_shared::auth::TOKEN_ISSUER, "aud": astro_shared::auth::TOKEN_AUDIENCE,
            "exp": now + 600, "iat": now, "nbf": now, "jti": uuid::Uuid::new_v4().to_string(),
            "token_use": astro_shared::auth::ACCESS_TOKEN_USE,
        }))
    }

    /// `authorization: Bearer <token>` of a fresh TRAVELER.
    pub fn traveler_authorization(&self) -> String {
        format!("Bearer {}", self.token("TRAVELER"))
    }

    pub fn log(&self) -> String {
        self.gateway.log()
    }
}

/// Starts a [`StandInGateway`] with the extra gateway variables `env`.
pub async fn spawn_gateway_with_stand_in(
    servers: &crate::TestServers,
    booking: SocketAddr,
    env: &[(&str, &str)],
) -> anyhow::Result<StandInGateway> {
    let keys = crate::keys::TestKeys::generate()?;
    let system_env = std::collections::HashMap::from([
        (
            "ASTRO_SYSTEM_MONGO_URL".to_owned(),
            servers.mongo_url.clone(),
        ),
        (
            "ASTRO_SYSTEM_MONGO_DB".to_owned(),
            format!("test_{}", uuid::Uuid::new_v4().simple()),
        ),
        (
            "ASTRO_SYSTEM_REDIS_URL".to_owned(),
            servers.redis_url.clone(),
        ),
        (
            "ASTRO_SYSTEM_JWT_PRIVATE_KEY_FILE".to_owned(),
            keys.pem_path.display().to_string(),
        ),
    ]);
    let system = crate::MeshProcess::spawn(servers, crate::Service::System, &system_env).await?;
    let mut variables = std::collections::HashMap::new();
    for name in ["AGENCY", "FINANCE", "NOTIFY"] {
        variables.insert(
            format!("ASTRO_GATEWAY_{name}_URL"),
            "http://127.0.0.1:9".to_owned(),
        );
    }
    variables.insert(
        "ASTRO_GATEWAY_SYSTEM_URL".to_owned(),
        format!("http://{}", system.address),
    );
    variables.insert(
        "ASTRO_GATEWAY_BOOKING_URL".to_owned(),
        format!("http://{booking}"),
    );
    for (name, value) in env {
        variables.insert((*name).to_owned(), (*value).to_owned());
    }
    let gateway = crate::MeshProcess::spawn(servers, crate::Service::Gateway, &variables).await?;
    let url = format!("http://{}/healthz", gateway.address);
    let alive = crate::eventually(std::time::Duration::from_secs(15), || async {
        matches!(crate::grpc_web::http_get(&url).await, Ok((200, _)))
    })
    .await;
    anyhow::ensure!(alive, "gateway did not start:\n{}", gateway.log());
    let system_address = system.address;
    let system_ready = crate::eventually(std::time::Duration::from_secs(30), || async {
        crate::health_status(system_address, "").await.ok()
            == Some(tonic_health::pb::health_check_response::ServingStatus::Serving)
    })
    .await;
    anyhow::ensure!(system_ready, "SystemAPI did not start:\n{}", system.log());
    Ok(StandInGateway {
        address: gateway.address,
        gateway,
        system,
        keys,
    })
}
