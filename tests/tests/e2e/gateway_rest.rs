//! The REST surface of the real gateway binary over the real contracts: BookingService routes
//! transcoded to a stand-in BookingService (see `astro_e2e::standin`), trace context and
//! request ids carried on, errors mapped, and the OpenAPI document served.

use astro_e2e::{TestServers, rest::send, standin};
use serde_json::json;

#[tokio::test]
async fn real_contract_routes_transcode_path_query_and_metadata() -> anyhow::Result<()> {
    let servers = TestServers::from_env();
    let booking = standin::start_booking_stand_in().await?;
    let gateway = standin::spawn_gateway_with_stand_in(&servers, booking, &[]).await?;
    let base = format!("http://{}", gateway.address);
    let authorization = gateway.traveler_authorization();

    // GET /v1/launches/{id_or_slug}, public; the token, request id, client address and
    // trace context reach the upstream as metadata.
    let answer = send(
        "GET",
        &format!("{base}/v1/launches/falcon-x-2027"),
        &[
            ("authorization", "Bearer some-token"),
            ("x-request-id", "rest-req-1"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
        None,
    )
    .await?;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let launch = &answer.json["launch"];
    assert_eq!(launch["id"], "falcon-x-2027");
    assert_eq!(launch["agencyName"], "Bearer some-token");
    assert_eq!(launch["slug"], "rest-req-1");
    assert_eq!(launch["spaceport"], "127.0.0.1");
    assert!(
        launch["rocketName"].as_str().is_some_and(
            |traceparent| traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        ),
        "the upstream call continues the client's trace: {launch}"
    );
    assert_eq!(launch["capacity"], 10);
    assert_eq!(launch["bookable"], true);
    assert_eq!(answer.headers["x-request-id"], "rest-req-1");

    // Query parameters: strings, enums by name, timestamps, optional int64, int32.
    let answer = send(
        "GET",
        &format!(
            "{base}/v1/launches?destination=Moon&range=ROCKET_RANGE_LOW_EARTH_ORBIT\
             &departsAfter=2027-03-14T10:00:00Z&minPriceMinor=150000&currency=EUR&pageSize=5\
             &pageToken=next&minSeatsAvailable=2"
        ),
        &[],
        None,
    )
    .await?;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let launch = &answer.json["launches"][0];
    assert_eq!(launch["destination"], "Moon");
    assert_eq!(launch["range"], "ROCKET_RANGE_LOW_EARTH_ORBIT");
    assert_eq!(launch["scheduledAt"], "2027-03-14T10:00:00Z");
    assert_eq!(
        launch["pricePerSeat"],
        json!({"amountMinor": "150000", "currency": "EUR"})
    );
    assert_eq!(launch["seatsAvailable"], 2);
    assert_eq!(answer.json["nextPageToken"], "next");
    assert_eq!(answer.json["totalSize"], 5);

    // Repeated enums from the query string, on a protected route (a token is needed).
    let url = format!(
        "{base}/v1/bookings?statuses=BOOKING_STATUS_CONFIRMED&statuses=BOOKING_STATUS_CANCELLED"
    );
    let answer = send(
        "GET",
        &url,
        &[("authorization", authorization.as_str())],
        None,
    )
    .await?;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let statuses: Vec<&str> = answer.json["bookings"]
        .as_array()
        .expect("bookings")
        .iter()
        .filter_map(|booking| booking["status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["BOOKING_STATUS_CONFIRMED", "BOOKING_STATUS_CANCELLED"]
    );
    let answer = send("GET", &url, &[], None).await?;
    assert_eq!(answer.status, 401, "{}", answer.json);
    assert_eq!(answer.json["code"], 16);

    // gRPC codes from a real contract's RPC map to HTTP, with a google.rpc.Status body.
    for (code, http) in [(5, 404), (7, 403), (9, 400), (14, 503), (16, 401)] {
        let answer = send(
            "GET",
            &format!("{base}/v1/bookings/code-{code}"),
            &[("authorization", authorization.as_str())],
            None,
        )
        .await?;
        assert_eq!(answer.status, http, "{}", answer.json);
        assert_eq!(answer.json["code"], code);
        assert_eq!(
            answer.json["message"],
            format!("stand-in answers code {code}")
        );
    }

    // An RPC the stand-in does not implement: UNIMPLEMENTED, still transcoded and mapped.
    let answer = send(
        "POST",
        &format!("{base}/v1/bookings/b1:cancel"),
        &[("authorization", authorization.as_str())],
        Some(r#"{"reason": "changed plans"}"#),
    )
    .await?;
    assert_eq!(answer.status, 501, "{}", answer.json);
    assert_eq!(answer.json["code"], 12);

    // An unreachable upstream is 503 with Retry-After, without internal details.
    let agency = format!("Bearer {}", gateway.token("AGENCY"));
    let answer = send(
        "GET",
        &format!("{base}/v1/rockets"),
        &[("authorization", agency.as_str())],
        None,
    )
    .await?;
    assert_eq!(answer.status, 503, "{}", answer.json);
    assert_eq!(answer.json["message"], "agency service unavailable");
    assert_eq!(answer.headers["retry-after"], "1");
    Ok(())
}

#[tokio::test]
async fn the_openapi_document_and_docs_page_cover_every_public_rpc() -> anyhow::Result<()> {
    let servers = TestServers::from_env();
    let booking = standin::start_booking_stand_in().await?;
    let gateway = standin::spawn_gateway_with_stand_in(&servers, booking, &[]).await?;
    let base = format!("http://{}", gateway.address);
    let document = send("GET", &format!("{base}/openapi.json"), &[], None)
        .await?
        .json;
    let paths = document["paths"].as_object().expect("paths");
    // The fixed paths of API.md.
    for (method, path) in [
        ("post", "/v1/auth/register"),
        ("post", "/v1/auth/login"),
        ("get", "/v1/users/me"),
        ("get", "/.well-known/jwks.json"),
        ("get", "/v1/logs:export"),
        ("patch", "/v1/rockets/{id}"),
        ("post", "/v1/launches/{id}:delay"),
        ("get", "/v1/launches/{id}/bookings-report"),
        ("get", "/v1/launches/{id_or_slug}"),
        ("post", "/v1/bookings/{id}:cancel"),
        ("post", "/v1/invoices:generate"),
        ("get", "/v1/reports/annual/{year}"),
        ("get", "/v1/reports/annual/{year}/chart"),
        ("get", "/v1/reports/agencies/{agency_id}/revenue"),
        ("get", "/v1/invoices/{id}/pdf"),
        ("post", "/v1/invoices/{id}/credit-notes"),
        ("post", "/v1/webhooks/stripe"),
        ("post", "/v1/notifications/{id}:mark-sent"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    let login = &paths["/v1/auth/login"]["post"];
    assert_eq!(login["security"], json!([]));
    assert_eq!(
        login["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/astrobookings.system.v1.LoginRequest"
    );
    assert!(
        login["description"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
    assert_eq!(
        paths["/v1/bookings"]["post"]["security"],
        json!([{"bearer": []}])
    );
    let docs = send("GET", &format!("{base}/docs"), &[], None).await?;
    assert_eq!(docs.status, 200);
    assert!(
        docs.json
            .as_str()
            .is_some_and(|html| html.contains("/v1/bookings/{id}:cancel"))
    );
    Ok(())
}
