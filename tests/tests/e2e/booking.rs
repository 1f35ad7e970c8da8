//! BookingAPI through the real mesh: seats never oversold at any concurrency, idempotent
//! bookings, seat limits and passenger ages, the refund policy checked against the payment
//! gateway's own records, abort refunds that survive a crash, one trace from the gateway to the
//! Stripe call, and bookings through a CacheDB outage.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use astro_e2e::{
    Mesh, MeshOptions, Service, TestServers,
    accounts::with_token,
    collector::{CallerTrace, traced_mesh},
    eventually,
    fixtures::{
        self, Actor, agency_client, booking_client, gateway_payment, passenger_aged, passengers,
    },
    forwarder::Forwarder,
    mesh, mesh_with,
};
use astro_proto::astrobookings::{
    agency::v1::AbortLaunchRequest,
    booking::v1::{
        BookingStatus, CancelBookingRequest, CreateBookingRequest, CreateBookingResponse,
        GetBookingRequest, GetCancellationQuoteRequest, GetLaunchRequest, ListBookingsRequest,
        Passenger, RefundState, RefundTier,
    },
};
use tonic::Code;
use tonic_types::StatusExt as _;

const PRICE: i64 = 1_000_000;

fn stripe_url() -> String {
    TestServers::from_env().stripe_url
}

async fn database(mesh: &Mesh) -> sqlx::PgPool {
    sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB of the mesh")
}

fn gateway(mesh: &Mesh) -> SocketAddr {
    mesh.address(Service::Gateway)
}

async fn book(
    gateway: SocketAddr,
    traveler: &Actor,
    launch_id: &str,
    passengers: Vec<Passenger>,
    key: String,
) -> Result<CreateBookingResponse, tonic::Status> {
    booking_client(gateway)
        .create_booking(with_token(
            CreateBookingRequest {
                idempotency_key: key,
                ..fixtures::booking_request(launch_id, passengers)
            },
            &traveler.token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

async fn seats_booked(db: &sqlx::PgPool, launch_id: &str) -> i32 {
    sqlx::query_scalar("SELECT seats_booked FROM launches WHERE id = $1::uuid")
        .bind(launch_id)
        .fetch_one(db)
        .await
        .expect("launch row")
}

/// The PaymentIntent FinanceAPI created for a booking.
async fn payment_intent_of(db: &sqlx::PgPool, booking_id: &str) -> String {
    sqlx::query_scalar("SELECT gateway_payment_id FROM payments WHERE booking_id = $1::uuid")
        .bind(booking_id)
        .fetch_one(db)
        .await
        .expect("payment row")
}

async fn travelers(gateway: SocketAddr, count: usize) -> Vec<Actor> {
    let mut made = Vec::with_capacity(count);
    // A few at a time: each registration hashes a password.
    for chunk in (0..count).collect::<Vec<_>>().chunks(8) {
        let labels: Vec<String> = chunk.iter().map(|index| format!("t{index}")).collect();
        let batch = futures::future::join_all(
            labels
                .iter()
                .map(|label| fixtures::traveler(gateway, label)),
        )
        .await;
        made.extend(batch);
    }
    made
}

#[tokio::test]
async fn forty_travelers_racing_for_ten_seats_never_oversell_twenty_times_over() {
    let mesh = mesh().await;
    let gateway = gateway(&mesh);
    let db = database(&mesh).await;
    let agency = fixtures::agency(gateway, "race").await;
    let rocket = fixtures::rocket(gateway, &agency, 10).await;
    let racers = travelers(gateway, 40).await;
    for round in 0..20 {
        let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
        let attempts = futures::future::join_all(
            racers
                .iter()
                .map(|traveler| book(gateway, traveler, &launch, passengers(1), new_key())),
        )
        .await;
        let mut confirmed = 0;
        let mut refused = 0;
        for attempt in &attempts {
            match attempt {
                Ok(response) => {
                    let booking = response.booking.as_ref().expect("booking");
                    assert_eq!(booking.status(), BookingStatus::Confirmed, "round {round}");
                    confirmed += 1;
                }
                Err(status) => {
                    assert_eq!(
                        status.code(),
                        Code::FailedPrecondition,
                        "round {round}: {status:?}"
                    );
                    assert_eq!(reason(status), "SEATS_UNAVAILABLE", "round {round}");
                    refused += 1;
                }
            }
        }
        assert_eq!((confirmed, refused), (10, 30), "round {round}");
        let sold: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(seats), 0) FROM bookings \
             WHERE launch_id = $1::uuid AND status = 'CONFIRMED'",
        )
        .bind(&launch)
        .fetch_one(&db)
        .await
        .expect("sum of confirmed seats");
        assert_eq!(sold, 10, "round {round}");
        assert_eq!(seats_booked(&db, &launch).await, 10, "round {round}");
    }
}

#[tokio::test]
async fn one_idempotency_key_books_and_charges_once_and_answers_the_same() {
    let mesh = mesh().await;
    let gateway = gateway(&mesh);
    let db = database(&mesh).await;
    let agency = fixtures::agency(gateway, "idem").await;
    let rocket = fixtures::rocket(gateway, &agency, 10).await;
    let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    let traveler = fixtures::traveler(gateway, "idem").await;
    let key = new_key();

    let at_once = futures::future::join_all(
        (0..5).map(|_| book(gateway, &traveler, &launch, passengers(2), key.clone())),
    )
    .await;
    let mut answers: Vec<CreateBookingResponse> = at_once
        .into_iter()
        .map(|answer| answer.expect("every concurrent retry gets the booking"))
        .collect();
    for _ in 0..5 {
        answers.push(
            book(gateway, &traveler, &launch, passengers(2), key.clone())
                .await
                .expect("a later retry gets the booking"),
        );
    }
    let first = answers
        .iter()
        .find(|answer| !answer.idempotent_replay)
        .expect("exactly one original answer")
        .clone();
    assert_eq!(
        answers
            .iter()
            .filter(|answer| !answer.idempotent_replay)
            .count(),
        1
    );
    for answer in &answers {
        let mut answer = answer.clone();
        answer.idempotent_replay = false;
        assert_eq!(answer, first, "every retry returns the first answer");
    }
    let booking_id = first.booking.expect("booking").id;

    let bookings: i64 =
        sqlx::query_scalar("SELECT count(*) FROM bookings WHERE launch_id = $1::uuid")
            .bind(&launch)
            .fetch_one(&db)
            .await
            .expect("count");
    assert_eq!(bookings, 1, "one booking");
    let charges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM payments WHERE booking_id = $1::uuid")
            .bind(&booking_id)
            .fetch_one(&db)
            .await
            .expect("count");
    assert_eq!(charges, 1, "one charge");
    let intent = payment_intent_of(&db, &booking_id).await;
    let paid = gateway_payment(&stripe_url(), &intent)
        .await
        .expect("payment intent");
    assert_eq!(
        (paid.status.as_str(), paid.amount),
        ("succeeded", 2 * PRICE)
    );
    assert_eq!(seats_booked(&db, &launch).await, 2);
    // Every write of the booking is in the change log with its origin: service, acting user
    // and the trace of the request.
    let events: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT event_type, origin_service, origin_user_id, origin_trace_id FROM change_log \
         WHERE entity = 'booking' AND entity_id = $1 ORDER BY id",
    )
    .bind(&booking_id)
    .fetch_all(&db)
    .await
    .expect("change log");
    let kinds: Vec<&str> = events.iter().map(|event| event.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["BOOKING_HELD", "BOOKING_CONFIRMED"],
        "one row per write, none per retry"
    );
    for (_, service, user, trace) in &events {
        assert_eq!(service, "booking-api");
        assert_eq!(user.as_deref(), Some(traveler.id.as_str()));
        assert!(
            trace.as_ref().is_some_and(|trace| trace.len() == 32),
            "{trace:?}"
        );
    }

    // The same key with another request is a client mistake, not a replay.
    let other = book(gateway, &traveler, &launch, passengers(1), key.clone())
        .await
        .expect_err("key reused with another request");
    assert_eq!(
        (other.code(), astro_e2e::violated_field(&other).as_str()),
        (Code::InvalidArgument, "idempotency_key")
    );
}

#[tokio::test]
async fn seat_limits_are_four_per_launch_and_six_for_a_vip() {
    let mesh = mesh().await;
    let gateway = gateway(&mesh);
    let agency = fixtures::agency(gateway, "limits").await;
    let rocket = fixtures::rocket(gateway, &agency, 20).await;
    let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    let traveler = fixtures::traveler(gateway, "limits").await;

    book(gateway, &traveler, &launch, passengers(3), new_key())
        .await
        .expect("3 seats");
    let over = book(gateway, &traveler, &launch, passengers(2), new_key())
        .await
        .expect_err("a 5th seat");
    assert_eq!(
        (over.code(), reason(&over).as_str()),
        (Code::FailedPrecondition, "SEAT_LIMIT_EXCEEDED")
    );
    book(gateway, &traveler, &launch, passengers(1), new_key())
        .await
        .expect("the 4th seat");
    let five_at_once = book(
        gateway,
        &traveler,
        &fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await,
        passengers(5),
        new_key(),
    )
    .await
    .expect_err("5 seats at once");
    assert_eq!(reason(&five_at_once), "SEAT_LIMIT_EXCEEDED");

    // Confirmed bookings on two launches make a VIP (derived, never set): 6 seats now.
    let second = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    book(gateway, &traveler, &second, passengers(1), new_key())
        .await
        .expect("second launch");
    let third = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    book(gateway, &traveler, &third, passengers(6), new_key())
        .await
        .expect("a VIP books 6");
    let seventh = book(gateway, &traveler, &third, passengers(1), new_key())
        .await
        .expect_err("a 7th seat");
    assert_eq!(reason(&seventh), "SEAT_LIMIT_EXCEEDED");
    let profile = booking_client(gateway)
        .get_traveler_profile(with_token(Default::default(), &traveler.token))
        .await
        .expect("profile")
        .into_inner()
        .traveler
        .expect("traveler");
    assert!(profile.vip);
    assert_eq!(profile.max_seats_per_launch, 6);

    // A limit of the launch is not a limit of the traveler: others still book.
    let other = fixtures::traveler(gateway, "other").await;
    book(gateway, &other, &launch, passengers(4), new_key())
        .await
        .expect("another traveler");
}

#[tokio::test]
async fn passengers_must_be_18_to_70_on_the_launch_date() {
    let mesh = mesh().await;
    let gateway = gateway(&mesh);
    let agency = fixtures::agency(gateway, "ages").await;
    let rocket = fixtures::rocket(gateway, &agency, 20).await;
    let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    let launch_at = {
        let found = booking_client(gateway)
            .get_launch(GetLaunchRequest {
                id_or_slug: launch.clone(),
            })
            .await
            .expect("launch")
            .into_inner()
            .launch
            .expect("launch");
        let at = found.scheduled_at.expect("date");
        chrono::DateTime::from_timestamp(at.seconds, 0).expect("date")
    };
    let traveler = fixtures::traveler(gateway, "ages").await;
    for age in [17, 71] {
        let refused = book(
            gateway,
            &traveler,
            &launch,
            vec![
                passenger_aged(30, launch_at),
                passenger_aged(age, launch_at),
            ],
            new_key(),
        )
        .await
        .expect_err("out of range");
        assert_eq!(refused.code(), Code::InvalidArgument, "age {age}");
        assert_eq!(
            astro_e2e::violated_field(&refused),
            "passengers[1].date_of_birth",
            "age {age}"
        );
    }
    let accepted = book(
        gateway,
        &traveler,
        &launch,
        vec![passenger_aged(18, launch_at), passenger_aged(70, launch_at)],
        new_key(),
    )
    .await
    .expect("18 and 70 are accepted");
    assert_eq!(accepted.booking.expect("booking").seats, 2);
}

#[tokio::test]
async fn cancellations_refund_90_70_or_nothing_as_the_payment_gateway_records() {
    let mesh = mesh().await;
    let gateway = gateway(&mesh);
    let db = database(&mesh).await;
    let agency = fixtures::agency(gateway, "refunds").await;
    let rocket = fixtures::rocket(gateway, &agency, 10).await;
    let traveler = fixtures::traveler(gateway, "refunds").await;
    let mut client = booking_client(gateway);

    // (days before the launch, refunded share, tier, seats back on sale)
    let cases = [
        (400, 90, RefundTier::OneYearOrMore, true),
        (100, 70, RefundTier::ThreeMonthsOrMore, true),
        (30, 0, RefundTier::Late, false),
    ];
    for (days, percent, tier, released) in cases {
        let launch = fixtures::launch(gateway, &agency, &rocket, days, 333_333).await;
        let booking = book(gateway, &traveler, &launch, passengers(2), new_key())
            .await
            .expect("booked")
            .booking
            .expect("booking");
        let total = 2 * 333_333;
        let refund = total * percent / 100;

        let quote = client
            .get_cancellation_quote(with_token(
                GetCancellationQuoteRequest {
                    id: booking.id.clone(),
                },
                &traveler.token,
            ))
            .await
            .expect("quote")
            .into_inner();
        assert_eq!(quote.refund_tier(), tier, "{days} days");
        assert_eq!(
            quote.refund_amount.as_ref().expect("amount").amount_minor,
            refund,
            "{days} days"
        );

        let cancel = || {
            let mut client = client.clone();
            let request = with_token(
                CancelBookingRequest {
                    id: booking.id.clone(),
                    reason: "plans changed".into(),
                },
                &traveler.token,
            );
            async move { client.cancel_booking(request).await }
        };
        // Retried, also concurrently: still one refund.
        let answers = futures::future::join_all((0..3).map(|_| cancel())).await;
        let cancelled = cancel()
            .await
            .expect("cancel repeated")
            .into_inner()
            .booking
            .expect("booking");
        for answer in answers {
            answer.expect("every cancel call succeeds");
        }
        assert_eq!(cancelled.status(), BookingStatus::Cancelled, "{days} days");
        assert_eq!(cancelled.refund_tier(), tier, "{days} days");
        assert_eq!(
            cancelled
                .refunded_amount
                .as_ref()
                .expect("refund")
                .amount_minor,
            refund,
            "{days} days"
        );
        assert_eq!(cancelled.seats_released, released, "{days} days");
        if refund > 0 {
            assert_eq!(
                cancelled.refund_state(),
                RefundState::Succeeded,
                "{days} days"
            );
        }
        assert_eq!(
            seats_booked(&db, &launch).await,
            if released { 0 } else { 2 },
            "{days} days"
        );

        let intent = payment_intent_of(&db, &booking.id).await;
        let recorded = gateway_payment(&stripe_url(), &intent)
            .await
            .expect("payment intent");
        assert_eq!(
            recorded.refunds,
            usize::from(refund > 0),
            "{days} days: refunds at the gateway"
        );
        assert_eq!(
            recorded.refunded, refund,
            "{days} days: amount refunded at the gateway"
        );
    }
}

#[tokio::test]
async fn an_abort_refunds_every_booking_once_even_when_booking_api_is_killed_midway() {
    let mut mesh = mesh_with(HashMap::from([(
        // Sweeps often, so a refund left mid-way by the kill is finished soon.
        "ASTRO_BOOKING_SWEEP_INTERVAL_MS".to_owned(),
        "500".to_owned(),
    )]))
    .await;
    let gateway = gateway(&mesh);
    let db = database(&mesh).await;
    let agency = fixtures::agency(gateway, "abort").await;
    let rocket = fixtures::rocket(gateway, &agency, 40).await;
    let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    let bookers = travelers(gateway, 12).await;
    let mut booking_ids = Vec::new();
    for traveler in &bookers {
        let booking = book(gateway, traveler, &launch, passengers(2), new_key())
            .await
            .expect("booked")
            .booking
            .expect("booking");
        booking_ids.push(booking.id);
    }

    agency_client(gateway)
        .abort_launch(with_token(
            AbortLaunchRequest {
                id: launch.clone(),
                reason: "engine anomaly".into(),
            },
            &agency.token,
        ))
        .await
        .expect("aborted");
    // Kill BookingAPI as soon as it has started refunding.
    let started = eventually(Duration::from_secs(20), || async {
        let refunded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM bookings WHERE launch_id = $1::uuid AND refund_state IS NOT NULL",
        )
        .bind(&launch)
        .fetch_one(&db)
        .await
        .unwrap_or(0);
        refunded > 0
    })
    .await;
    assert!(started, "the abort was never handled");
    mesh.kill(Service::Booking).await.expect("killed");
    let settled_at_kill: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bookings WHERE launch_id = $1::uuid AND refund_state = 'SUCCEEDED'",
    )
    .bind(&launch)
    .fetch_one(&db)
    .await
    .expect("count");
    println!("refunds settled when BookingAPI was killed: {settled_at_kill} of 12");
    mesh.restart(Service::Booking).await.expect("restarted");

    let all_settled = eventually(Duration::from_secs(60), || async {
        let settled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM bookings WHERE launch_id = $1::uuid \
               AND status = 'CANCELLED' AND refund_state = 'SUCCEEDED'",
        )
        .bind(&launch)
        .fetch_one(&db)
        .await
        .unwrap_or(0);
        settled == 12
    })
    .await;
    assert!(all_settled, "not every booking was refunded");
    for (traveler, booking_id) in bookers.iter().zip(&booking_ids) {
        let booking = booking_client(gateway)
            .get_booking(with_token(
                GetBookingRequest {
                    id: booking_id.clone(),
                },
                &traveler.token,
            ))
            .await
            .expect("booking")
            .into_inner();
        let launch_history = booking.launch_history;
        let booking = booking.booking.expect("booking");
        assert_eq!(
            booking
                .refunded_amount
                .as_ref()
                .expect("refund")
                .amount_minor,
            2 * PRICE
        );
        assert_eq!(booking.refund_tier(), RefundTier::LaunchAborted);
        assert_eq!(launch_history.len(), 2, "scheduled, then aborted");
        let intent = payment_intent_of(&db, booking_id).await;
        let recorded = gateway_payment(&stripe_url(), &intent)
            .await
            .expect("payment intent");
        assert_eq!(
            (recorded.refunds, recorded.refunded),
            (1, 2 * PRICE),
            "booking {booking_id}"
        );
    }
}

#[tokio::test]
async fn a_booking_is_one_trace_from_the_gateway_to_the_stripe_call() {
    let (collector, mesh) = traced_mesh().await;
    let gateway = gateway(&mesh);
    let agency = fixtures::agency(gateway, "trace").await;
    let rocket = fixtures::rocket(gateway, &agency, 10).await;
    let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    let traveler = fixtures::traveler(gateway, "trace").await;

    let caller = CallerTrace::new();
    let mut request = with_token(
        fixtures::booking_request(&launch, passengers(1)),
        &traveler.token,
    );
    request
        .metadata_mut()
        .insert("traceparent", caller.traceparent.parse().expect("ascii"));
    booking_client(gateway)
        .create_booking(request)
        .await
        .expect("booked");

    let wanted = |in_trace: &[astro_e2e::collector::ReceivedSpan]| {
        let gateway = in_trace
            .iter()
            .any(|span| span.service_name == "astro-gateway");
        let booking = in_trace.iter().any(|span| {
            span.service_name == "astro-booking" && span.name.ends_with("/CreateBooking")
        });
        let finance = in_trace.iter().any(|span| {
            span.service_name == "astro-finance" && span.name.ends_with("/ChargeBooking")
        });
        let stripe = in_trace.iter().any(|span| {
            span.service_name == "astro-finance" && span.kind == 3 && span.name.contains("stripe")
        });
        gateway && booking && finance && stripe
    };
    let complete = eventually(Duration::from_secs(20), || {
        let found = wanted(&collector.spans_of_trace(&caller.trace_id));
        async move { found }
    })
    .await;
    let spans: Vec<_> = collector
        .spans_of_trace(&caller.trace_id)
        .into_iter()
        .map(|span| format!("{} {} kind={}", span.service_name, span.name, span.kind))
        .collect();
    assert!(
        complete,
        "gateway → booking → finance → Stripe not in one trace; got {spans:#?}"
    );
}

#[tokio::test]
async fn with_booking_api_cache_down_the_catalogue_answers_and_bookings_fail_closed() {
    let servers = TestServers::from_env();
    let mut redis = Forwarder::closed(servers.redis_address());
    redis.open().await.expect("forwarder open");
    let mesh = mesh_with(HashMap::from([(
        "ASTRO_BOOKING_REDIS_URL".to_owned(),
        format!("redis://{}", redis.address),
    )]))
    .await;
    let gateway = gateway(&mesh);
    let db = database(&mesh).await;
    let agency = fixtures::agency(gateway, "outage").await;
    let rocket = fixtures::rocket(gateway, &agency, 6).await;
    let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    let travelers = travelers(gateway, 4).await;
    let seats_left = |expected: i32| {
        let launch = launch.clone();
        async move {
            booking_client(gateway)
                .get_launch(GetLaunchRequest { id_or_slug: launch })
                .await
                .ok()
                .and_then(|response| response.into_inner().launch)
                .is_some_and(|launch| launch.seats_available == expected)
        }
    };
    book(gateway, &travelers[0], &launch, passengers(2), new_key())
        .await
        .expect("before the outage");
    // The booking shows in the catalogue (CacheDB) within a second.
    assert!(eventually(Duration::from_secs(1), || seats_left(4)).await);

    redis.close();
    // During the outage BookingAPI cannot read the token denylist, so a revoked token could
    // pass: writes fail closed (UNAVAILABLE, retryable) and nothing is sold or charged.
    let refused = futures::future::join_all(
        travelers[1..]
            .iter()
            .map(|traveler| book(gateway, traveler, &launch, passengers(2), new_key())),
    )
    .await;
    for attempt in &refused {
        let status = attempt
            .as_ref()
            .expect_err("a write fails closed without the denylist");
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    }
    assert_eq!(seats_booked(&db, &launch).await, 2);
    // Reads go on: the catalogue answers from OperationsDB.
    assert!(
        eventually(Duration::from_secs(10), || seats_left(4)).await,
        "catalogue while CacheDB is down"
    );
    let mine = booking_client(gateway)
        .list_bookings(with_token(
            ListBookingsRequest::default(),
            &travelers[0].token,
        ))
        .await
        .expect("my bookings while CacheDB is down")
        .into_inner();
    assert_eq!(mine.bookings.len(), 1);

    redis.open().await.expect("forwarder reopened");
    // Concurrent bookings for more seats than are left, once the denylist answers again (a
    // request may still meet the reconnecting client: it is retried with its key).
    let attempts = futures::future::join_all(travelers[1..].iter().map(|traveler| {
        let launch = launch.clone();
        async move {
            let key = new_key();
            let mut outcome = book(gateway, traveler, &launch, passengers(2), key.clone()).await;
            for _ in 0..30 {
                match &outcome {
                    Err(status) if status.code() == tonic::Code::Unavailable => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        outcome =
                            book(gateway, traveler, &launch, passengers(2), key.clone()).await;
                    }
                    _ => break,
                }
            }
            outcome
        }
    }))
    .await;
    let confirmed = attempts.iter().filter(|attempt| attempt.is_ok()).count();
    for attempt in &attempts {
        if let Err(status) = attempt {
            assert_eq!(reason(status), "SEATS_UNAVAILABLE", "{status:?}");
        }
    }
    assert_eq!(confirmed, 2, "4 seats left, 2 bookings of 2 fit");
    assert_eq!(seats_booked(&db, &launch).await, 6);
    assert!(
        eventually(Duration::from_secs(15), || seats_left(0)).await,
        "catalogue after the outage"
    );
}

/// A card that needs the customer (3-D Secure) at the payment gateway.
async fn card_needing_authentication() -> String {
    let created = astro_e2e::rest::send(
        "POST",
        &format!("{}v1/payment_methods", stripe_url()),
        &[("authorization", "Bearer sk_test_astrobookings")],
        Some(
            r#"{"type": "card", "card": {"number": "4000002760003184", "exp_month": "12",
                "exp_year": "2030", "cvc": "123"}}"#,
        ),
    )
    .await
    .expect("payment method");
    created.json["id"].as_str().expect("pm id").to_owned()
}

#[tokio::test]
async fn an_expired_payment_hold_releases_the_seats() {
    let mesh = mesh_with(HashMap::from([
        (
            "ASTRO_BOOKING_PAYMENT_HOLD_MS".to_owned(),
            "1500".to_owned(),
        ),
        (
            "ASTRO_BOOKING_SWEEP_INTERVAL_MS".to_owned(),
            "300".to_owned(),
        ),
    ]))
    .await;
    let gateway = gateway(&mesh);
    let db = database(&mesh).await;
    let agency = fixtures::agency(gateway, "hold").await;
    let rocket = fixtures::rocket(gateway, &agency, 4).await;
    let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    let traveler = fixtures::traveler(gateway, "hold").await;

    let held = booking_client(gateway)
        .create_booking(with_token(
            CreateBookingRequest {
                launch_id: launch.clone(),
                passengers: passengers(3),
                payment_method_id: card_needing_authentication().await,
                idempotency_key: new_key(),
            },
            &traveler.token,
        ))
        .await
        .expect("held while the customer authenticates")
        .into_inner();
    let booking = held.booking.expect("booking");
    assert_eq!(booking.status(), BookingStatus::PendingPayment);
    assert!(booking.hold_expires_at.is_some());
    assert!(
        !held.payment_client_secret.is_empty(),
        "the client completes the payment with it"
    );
    assert_eq!(seats_booked(&db, &launch).await, 3, "seats are held");

    let released = eventually(Duration::from_secs(15), || async {
        seats_booked(&db, &launch).await == 0
    })
    .await;
    assert!(released, "the hold never expired");
    let after = booking_client(gateway)
        .get_booking(with_token(
            GetBookingRequest {
                id: booking.id.clone(),
            },
            &traveler.token,
        ))
        .await
        .expect("booking")
        .into_inner()
        .booking
        .expect("booking");
    assert_eq!(after.status(), BookingStatus::Cancelled);
    assert_eq!(
        after.cancellation_reason(),
        astro_proto::astrobookings::booking::v1::CancellationReason::HoldExpired
    );
    let intent = payment_intent_of(&db, &booking.id).await;
    // The payment intent was cancelled at the gateway: nothing can be charged any more.
    let status = astro_e2e::rest::send(
        "GET",
        &format!("{}v1/payment_intents/{intent}", stripe_url()),
        &[("authorization", "Bearer sk_test_astrobookings")],
        None,
    )
    .await
    .expect("payment intent")
    .json["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(status, "canceled");
    // The seats are for sale again.
    book(gateway, &traveler, &launch, passengers(3), new_key())
        .await
        .expect("the released seats can be booked");
}

#[tokio::test]
async fn a_registration_whose_profile_cannot_be_stored_leaves_no_account() {
    let servers = TestServers::from_env();
    let mut postgres = Forwarder::closed(servers.pg_address());
    postgres.open().await.expect("forwarder open");
    let mesh = Mesh::start(
        &servers,
        MeshOptions {
            postgres_via: HashMap::from([(Service::Booking, postgres.address.to_string())]),
            ..MeshOptions::default()
        },
    )
    .await
    .expect("mesh starts");
    let gateway = gateway(&mesh);
    let email = astro_e2e::accounts::unique_email("halfmade");
    let register = || {
        let mut client = booking_client(gateway);
        let request = astro_proto::astrobookings::booking::v1::RegisterTravelerRequest {
            email: email.clone(),
            password: astro_e2e::accounts::PASSWORD.to_owned(),
            name: "Half Made".into(),
            phone: "+14155550123".into(),
            tax_id: "TX-123456".into(),
            billing_address: Some(astro_proto::astrobookings::common::v1::Address {
                line1: "1 Main St".into(),
                city: "Springfield".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
            idempotency_key: new_key(),
        };
        async move { client.register_traveler(request).await }
    };

    // OperationsDB is unreachable for BookingAPI: the account SystemAPI made is deleted again.
    postgres.close();
    let refused = register().await.expect_err("the profile cannot be stored");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let mut system = astro_e2e::accounts::system_client(gateway);
    let login =
        astro_e2e::accounts::login(&mut system, &email, astro_e2e::accounts::PASSWORD).await;
    assert_eq!(
        login.expect_err("no account is left").code(),
        Code::Unauthenticated
    );

    // Once OperationsDB is back, the same e-mail registers (it was never left taken).
    postgres.open().await.expect("forwarder reopened");
    let registered = eventually(Duration::from_secs(20), || async {
        register().await.is_ok()
    })
    .await;
    assert!(registered, "the e-mail stayed taken");
    astro_e2e::accounts::login(&mut system, &email, astro_e2e::accounts::PASSWORD)
        .await
        .expect("the traveler logs in");
}

#[tokio::test]
async fn travelers_see_their_own_bookings_with_the_launch_status_and_history_only() {
    let mesh = mesh().await;
    let gateway = gateway(&mesh);
    let agency = fixtures::agency(gateway, "mine").await;
    let rocket = fixtures::rocket(gateway, &agency, 10).await;
    let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    let other_launch = fixtures::launch(gateway, &agency, &rocket, 300, PRICE).await;
    let owner = fixtures::traveler(gateway, "owner").await;
    let stranger = fixtures::traveler(gateway, "stranger").await;
    let mut client = booking_client(gateway);
    let first = book(gateway, &owner, &launch, passengers(1), new_key())
        .await
        .expect("booked")
        .booking
        .expect("booking");
    let second = book(gateway, &owner, &other_launch, passengers(2), new_key())
        .await
        .expect("booked")
        .booking
        .expect("booking");

    // The agency delays the launch: the traveler sees the current status and the history.
    let new_date = chrono::Utc::now() + chrono::Duration::days(230);
    agency_client(gateway)
        .delay_launch(with_token(
            astro_proto::astrobookings::agency::v1::DelayLaunchRequest {
                id: launch.clone(),
                new_scheduled_at: Some(prost_types::Timestamp {
                    seconds: new_date.timestamp(),
                    nanos: 0,
                }),
                reason: "weather".into(),
            },
            &agency.token,
        ))
        .await
        .expect("delayed");
    let page = client
        .list_bookings(with_token(
            ListBookingsRequest {
                page_size: 1,
                ..Default::default()
            },
            &owner.token,
        ))
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(page.bookings.len(), 1);
    assert_eq!(page.bookings[0].id, second.id, "newest first");
    let rest = client
        .list_bookings(with_token(
            ListBookingsRequest {
                page_size: 1,
                page_token: page.next_page_token.clone(),
                ..Default::default()
            },
            &owner.token,
        ))
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(rest.bookings.len(), 1);
    assert_eq!(rest.bookings[0].id, first.id);
    assert!(rest.next_page_token.is_empty(), "the last page");
    let summary = rest.bookings[0].launch.as_ref().expect("launch");
    assert_eq!(
        summary.status(),
        astro_proto::astrobookings::common::v1::LaunchStatus::Delayed
    );
    assert_eq!(
        summary.scheduled_at.as_ref().map(|at| at.seconds),
        Some(new_date.timestamp())
    );
    let detail = client
        .get_booking(with_token(
            GetBookingRequest {
                id: first.id.clone(),
            },
            &owner.token,
        ))
        .await
        .expect("own booking")
        .into_inner();
    assert_eq!(detail.launch_history.len(), 2, "scheduled, then delayed");
    assert_eq!(detail.launch_history[1].reason, "weather");

    // Another traveler's booking is as missing as a missing one, for every RPC.
    let missing = uuid::Uuid::new_v4().to_string();
    for id in [first.id.clone(), missing] {
        let get = client
            .get_booking(with_token(
                GetBookingRequest { id: id.clone() },
                &stranger.token,
            ))
            .await
            .expect_err("not theirs");
        assert_eq!(get.code(), Code::NotFound);
        let quote = client
            .get_cancellation_quote(with_token(
                GetCancellationQuoteRequest { id: id.clone() },
                &stranger.token,
            ))
            .await
            .expect_err("not theirs");
        assert_eq!(quote.code(), Code::NotFound);
        let cancel = client
            .cancel_booking(with_token(
                CancelBookingRequest {
                    id: id.clone(),
                    reason: String::new(),
                },
                &stranger.token,
            ))
            .await
            .expect_err("not theirs");
        assert_eq!(cancel.code(), Code::NotFound);
    }
    let theirs = client
        .list_bookings(with_token(ListBookingsRequest::default(), &stranger.token))
        .await
        .expect("list")
        .into_inner();
    assert!(theirs.bookings.is_empty());
    // The owner's booking is untouched.
    let untouched = client
        .get_booking(with_token(
            GetBookingRequest {
                id: first.id.clone(),
            },
            &owner.token,
        ))
        .await
        .expect("own booking")
        .into_inner()
        .booking
        .expect("booking");
    assert_eq!(untouched.status(), BookingStatus::Confirmed);
}

#[tokio::test]
async fn an_account_without_a_complete_profile_books_once_it_completes_it() {
    let mesh = mesh().await;
    let gateway = gateway(&mesh);
    let agency = fixtures::agency(gateway, "profile").await;
    let rocket = fixtures::rocket(gateway, &agency, 10).await;
    let launch = fixtures::launch(gateway, &agency, &rocket, 200, PRICE).await;
    // Registered through SystemAPI (POST /v1/auth/register), not as a traveler with a profile.
    let (user, session) = astro_e2e::accounts::register_and_login(
        &mut astro_e2e::accounts::system_client(gateway),
        "bare",
        astro_proto::astrobookings::common::v1::Role::Traveler,
    )
    .await;
    let traveler = Actor {
        id: user.id.clone(),
        email: user.email.clone(),
        token: astro_e2e::accounts::access_token(&session),
    };
    let mut client = booking_client(gateway);
    let profile = client
        .get_traveler_profile(with_token(Default::default(), &traveler.token))
        .await
        .expect("a profile is made on first read")
        .into_inner()
        .traveler
        .expect("traveler");
    assert_eq!(
        (profile.id.as_str(), profile.email.as_str()),
        (user.id.as_str(), user.email.as_str())
    );
    assert!(!profile.profile_complete);
    assert_eq!(profile.max_seats_per_launch, 4);

    let refused = book(gateway, &traveler, &launch, passengers(1), new_key())
        .await
        .expect_err("an incomplete profile cannot book");
    assert_eq!(
        (refused.code(), reason(&refused).as_str()),
        (Code::FailedPrecondition, "PROFILE_INCOMPLETE")
    );

    let bad = client
        .update_traveler_profile(with_token(
            astro_proto::astrobookings::booking::v1::UpdateTravelerProfileRequest {
                phone: "555-0100".into(),
                tax_id: "TX-1".into(),
                billing_address: None,
            },
            &traveler.token,
        ))
        .await
        .expect_err("a malformed phone");
    assert_eq!(
        (bad.code(), astro_e2e::violated_field(&bad).as_str()),
        (Code::InvalidArgument, "phone")
    );
    let updated = client
        .update_traveler_profile(with_token(
            astro_proto::astrobookings::booking::v1::UpdateTravelerProfileRequest {
                phone: "+14155550123".into(),
                tax_id: "TX-123456".into(),
                billing_address: Some(astro_proto::astrobookings::common::v1::Address {
                    line1: "1 Main St".into(),
                    city: "Springfield".into(),
                    country_code: "US".into(),
                    ..Default::default()
                }),
            },
            &traveler.token,
        ))
        .await
        .expect("profile completed")
        .into_inner()
        .traveler
        .expect("traveler");
    assert!(updated.profile_complete);
    assert_eq!(
        updated.billing_address.expect("address").city,
        "Springfield"
    );
    book(gateway, &traveler, &launch, passengers(1), new_key())
        .await
        .expect("a complete profile books");
}
