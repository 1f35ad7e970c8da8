//! Two gateway processes sharing CacheDB spend from one rate-limit budget: the limit holds
//! across replicas, REST answers 429 with Retry-After, grpc-web RESOURCE_EXHAUSTED.

use astro_e2e::{TestServers, grpc_web, rest::send, standin};
use prost::Message as _;

#[tokio::test]
async fn the_rate_limit_holds_across_two_gateways_sharing_redis() -> anyhow::Result<()> {
    let servers = TestServers::from_env();
    let booking = standin::start_booking_stand_in().await?;
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    let env = [
        ("ASTRO_GATEWAY_REDIS_URL", servers.redis_url.as_str()),
        ("ASTRO_REDIS_KEY_PREFIX", prefix.as_str()),
        ("ASTRO_GATEWAY_RATE_LIMIT_CATALOGUE", "6/1h"),
        ("ASTRO_GATEWAY_RATE_LIMIT_DEFAULT", "100/1s"),
    ];
    let first = standin::spawn_gateway_with_stand_in(&servers, booking, &env).await?;
    let second = standin::spawn_gateway_with_stand_in(&servers, booking, &env).await?;

    let mut statuses = Vec::new();
    for index in 0..12 {
        let gateway = if index % 2 == 0 { &first } else { &second };
        let answer = send(
            "GET",
            &format!("http://{}/v1/launches/l{index}", gateway.address),
            &[],
            None,
        )
        .await?;
        if answer.status == 429 {
            assert!(
                answer.headers.contains_key("retry-after"),
                "429 says when to retry"
            );
            assert_eq!(answer.json["code"], 8, "{}", answer.json);
        }
        statuses.push(answer.status);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429],
        "6 per hour in total, however the requests are spread over the replicas"
    );

    // grpc-web on the same group is limited by the same budget.
    let request = astro_proto::astrobookings::booking::v1::GetLaunchRequest {
        id_or_slug: "l".into(),
    };
    let answer = grpc_web::call(
        &format!("http://{}", second.address),
        "/astrobookings.booking.v1.BookingService/GetLaunch",
        &request.encode_to_vec(),
        grpc_web::Encoding::Binary,
        &[],
    )
    .await?;
    assert_eq!(
        answer.grpc_status,
        Some(8),
        "RESOURCE_EXHAUSTED over grpc-web"
    );

    // Another group keeps its own budget.
    let authorization = first.traveler_authorization();
    let answer = send(
        "GET",
        &format!("http://{}/v1/bookings/b1", first.address),
        &[("authorization", authorization.as_str())],
        None,
    )
    .await?;
    assert_eq!(answer.status, 200, "{}", answer.json);
    Ok(())
}
