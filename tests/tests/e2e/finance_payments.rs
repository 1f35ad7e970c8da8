//! FinanceAPI's booking charges and refunds against the real mesh and localstripe: a charge and
//! a refund reach the gateway exactly once, however often and however concurrently they are
//! retried, a crashed or cut-off attempt is resumed instead of repeated, and each gateway call
//! is a CLIENT span in the caller's trace.
//!
//! localstripe ignores idempotency keys, so what the gateway holds is counted directly: payment
//! intents per booking and refunds per payment intent.

use astro_shared::grpc_client::TracedChannel;
use std::{collections::HashMap, time::Duration};

use astro_e2e::{
    Mesh, Service, TestServers,
    collector::{CallerTrace, ReceivedSpan, traced_mesh},
    eventually,
    forwarder::Forwarder,
    mesh, mesh_with, rest,
};
use astro_proto::astrobookings::{
    common::v1::Money,
    finance::v1::{
        BookingCharge, BookingRefund, CancelBookingChargeRequest, ChargeBookingRequest,
        PaymentStatus, RefundBookingRequest, RefundReason, RefundStatus,
        finance_internal_service_client::FinanceInternalServiceClient,
    },
};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt as _;
use uuid::Uuid;

const STRIPE_KEY: &str = "Bearer sk_test_astrobookings";
const VISA: &str = "pm_card_visa";
const DECLINED: &str = "pm_card_chargeCustomerFail";
const CLIENT_KIND: i32 = 3;
const SERVER_KIND: i32 = 2;

/// FinanceAPI's internal RPCs as BookingAPI calls them.
fn finance(mesh: &Mesh) -> FinanceInternalServiceClient<TracedChannel> {
    FinanceInternalServiceClient::new(mesh.internal_channel(Service::Finance, Service::Booking))
}

/// A charge request for a fresh booking (every id unique to the test).
fn charge_request(amount_minor: i64, payment_method_id: &str) -> ChargeBookingRequest {
    ChargeBookingRequest {
        booking_id: Uuid::new_v4().to_string(),
        traveler_id: Uuid::new_v4().to_string(),
        launch_id: Uuid::new_v4().to_string(),
        agency_id: Uuid::new_v4().to_string(),
        amount: Some(usd(amount_minor)),
        payment_method_id: payment_method_id.to_owned(),
        receipt_email: "traveler@example.com".to_owned(),
        description: "AstroBookings 2 seats falcon-x-moon".to_owned(),
    }
}

fn refund_request(booking_id: &str, amount_minor: i64) -> RefundBookingRequest {
    RefundBookingRequest {
        refund_id: Uuid::new_v4().to_string(),
        booking_id: booking_id.to_owned(),
        amount: Some(usd(amount_minor)),
        reason: RefundReason::TravelerCancellation.into(),
    }
}

fn usd(amount_minor: i64) -> Money {
    Money {
        amount_minor,
        currency: "USD".to_owned(),
    }
}

async fn charge_booking(mesh: &Mesh, request: &ChargeBookingRequest) -> BookingCharge {
    finance(mesh)
        .charge_booking(request.clone())
        .await
        .expect("ChargeBooking")
        .into_inner()
        .charge
        .expect("a charge")
}

async fn refund_booking(mesh: &Mesh, request: &RefundBookingRequest) -> BookingRefund {
    finance(mesh)
        .refund_booking(request.clone())
        .await
        .expect("RefundBooking")
        .into_inner()
        .refund
        .expect("a refund")
}

/// A request to localstripe's API, as the tests inspect the gateway directly.
async fn stripe(method: &str, path: &str, body: Option<Value>) -> Value {
    let base = TestServers::from_env().stripe_url;
    let url = format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    let body = body.map(|body| body.to_string());
    let answer = rest::send(
        method,
        &url,
        &[("authorization", STRIPE_KEY)],
        body.as_deref(),
    )
    .await
    .expect("localstripe answers");
    assert_eq!(answer.status, 200, "{method} {path}: {:?}", answer.json);
    answer.json
}

async fn intent(id: &str) -> Value {
    stripe("GET", &format!("v1/payment_intents/{id}"), None).await
}

/// Every refund the gateway holds for payment intent `intent_id`.
async fn refunds_of(intent_id: &str) -> Vec<Value> {
    let list = stripe(
        "GET",
        &format!("v1/refunds?payment_intent={intent_id}&limit=100"),
        None,
    )
    .await;
    list["data"].as_array().cloned().unwrap_or_default()
}

/// Every payment intent the gateway holds for `booking_id` (by its metadata).
async fn intents_of_booking(booking_id: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let mut starting_after: Option<String> = None;
    loop {
        let path = match &starting_after {
            Some(after) => format!("v1/payment_intents?limit=100&starting_after={after}"),
            None => "v1/payment_intents?limit=100".to_owned(),
        };
        let page = stripe("GET", &path, None).await;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        found.extend(
            data.iter()
                .filter(|intent| intent["metadata"]["booking_id"] == booking_id)
                .cloned(),
        );
        match data.last() {
            Some(last) if page["has_more"] == true => {
                starting_after = last["id"].as_str().map(str::to_owned);
            }
            _ => return found,
        }
    }
}

async fn database(mesh: &Mesh) -> sqlx::PgPool {
    sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB of the mesh")
}

/// The change-log event types of one entity, oldest first.
async fn changes(mesh: &Mesh, entity: &str, entity_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT event_type FROM change_log WHERE entity = $1 AND entity_id = $2 ORDER BY id",
    )
    .bind(entity)
    .bind(entity_id)
    .fetch_all(&database(mesh).await)
    .await
    .expect("change log")
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_charge_succeeds_and_the_gateway_holds_one_paid_intent() {
    let mesh = mesh().await;
    let request = charge_request(12_000, VISA);

    let charge = charge_booking(&mesh, &request).await;

    assert_eq!(charge.status(), PaymentStatus::Succeeded, "{charge:?}");
    assert_eq!(charge.booking_id, request.booking_id);
    assert_eq!(charge.amount, Some(usd(12_000)));
    assert_eq!(charge.refunded_amount, Some(usd(0)));
    assert!(charge.failure_message.is_empty());
    assert!(
        charge.client_secret.is_empty(),
        "nothing left for the payer to do"
    );
    assert!(charge.gateway_payment_id.starts_with("pi_"), "{charge:?}");
    let paid = intent(&charge.gateway_payment_id).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["amount"], 12_000);
    assert_eq!(paid["currency"], "usd");
    assert_eq!(paid["metadata"]["booking_id"], request.booking_id.as_str());
    assert_eq!(paid["metadata"]["payment_id"], charge.id.as_str());
    assert_eq!(paid["receipt_email"], "traveler@example.com");

    // Every step is in the change log, with its origin.
    assert_eq!(
        changes(&mesh, "payment", &charge.id).await,
        ["PAYMENT_CREATED", "PAYMENT_SUBMITTED", "PAYMENT_SUCCEEDED"]
    );
    let origin: (String, Option<String>) = sqlx::query_as(
        "SELECT origin_service, origin_user_id FROM change_log \
         WHERE entity = 'payment' AND entity_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(&charge.id)
    .fetch_one(&database(&mesh).await)
    .await
    .expect("origin");
    assert_eq!(
        origin,
        ("finance-api".to_owned(), Some(request.traveler_id.clone()))
    );

    // A retry is answered with the first charge, and charges nothing more.
    let again = charge_booking(&mesh, &request).await;
    assert_eq!(again.id, charge.id);
    assert_eq!(again.gateway_payment_id, charge.gateway_payment_id);
    assert_eq!(again.status(), PaymentStatus::Succeeded);
    assert_eq!(intents_of_booking(&request.booking_id).await.len(), 1);

    // ...but a retry for another amount is a caller's bug.
    let other_amount = ChargeBookingRequest {
        amount: Some(usd(12_001)),
        ..request.clone()
    };
    let status = finance(&mesh)
        .charge_booking(other_amount)
        .await
        .expect_err("another amount");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "CHARGE_MISMATCH");
}

#[tokio::test]
async fn one_booking_charged_five_times_at_once_is_charged_once() {
    let mesh = mesh().await;
    let request = charge_request(25_000, VISA);

    let attempts = (0..5).map(|_| {
        let mut client = finance(&mesh);
        let request = request.clone();
        async move { client.charge_booking(request).await }
    });
    let charges: Vec<BookingCharge> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|answer| {
            answer
                .expect("ChargeBooking")
                .into_inner()
                .charge
                .expect("charge")
        })
        .collect();

    let first = &charges[0];
    for charge in &charges {
        assert_eq!(charge.id, first.id, "one charge per booking");
        assert_eq!(charge.status(), PaymentStatus::Succeeded, "{charge:?}");
        assert_eq!(charge.gateway_payment_id, first.gateway_payment_id);
    }
    let intents = intents_of_booking(&request.booking_id).await;
    assert_eq!(
        intents.len(),
        1,
        "one payment intent for the booking: {intents:#?}"
    );
    assert_eq!(intents[0]["id"], first.gateway_payment_id.as_str());
    assert_eq!(intents[0]["status"], "succeeded");
    assert_eq!(intents[0]["amount_received"], 25_000);
}

#[tokio::test]
async fn a_declined_card_is_a_failed_charge_with_the_gateways_reason() {
    let mesh = mesh().await;
    let request = charge_request(9_900, DECLINED);

    let charge = charge_booking(&mesh, &request).await;

    assert_eq!(charge.status(), PaymentStatus::Failed, "{charge:?}");
    assert_eq!(charge.failure_message, "Your card was declined.");
    let declined = intent(&charge.gateway_payment_id).await;
    assert_eq!(declined["status"], "requires_payment_method", "{declined}");
    assert_eq!(declined["amount_received"], 0);

    // The retry answers the same, without another attempt at the card.
    let again = charge_booking(&mesh, &request).await;
    assert_eq!(again.id, charge.id);
    assert_eq!(again.status(), PaymentStatus::Failed);
    assert_eq!(intents_of_booking(&request.booking_id).await.len(), 1);

    // A failed charge is cancelled as it is (already FAILED), and nothing is refundable.
    let cancelled = finance(&mesh)
        .cancel_booking_charge(CancelBookingChargeRequest {
            booking_id: request.booking_id.clone(),
        })
        .await
        .expect("cancel a failed charge")
        .into_inner()
        .charge
        .expect("charge");
    assert_eq!(cancelled.status(), PaymentStatus::Failed);
    let status = finance(&mesh)
        .refund_booking(refund_request(&request.booking_id, 100))
        .await
        .expect_err("nothing to refund");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "CHARGE_NOT_SUCCEEDED");
}

#[tokio::test]
async fn invalid_requests_are_refused_before_anything_is_recorded() {
    let mesh = mesh().await;
    let mut client = finance(&mesh);
    let cases = [
        ChargeBookingRequest {
            payment_method_id: String::new(),
            ..charge_request(1_000, VISA)
        },
        ChargeBookingRequest {
            amount: Some(usd(0)),
            ..charge_request(1_000, VISA)
        },
        ChargeBookingRequest {
            booking_id: "not-a-uuid".to_owned(),
            ..charge_request(1_000, VISA)
        },
    ];
    for request in cases {
        let status = client
            .charge_booking(request.clone())
            .await
            .expect_err("invalid");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{request:?}: {status:?}"
        );
    }
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments")
        .fetch_one(&database(&mesh).await)
        .await
        .expect("count");
    assert_eq!(payments, 0);

    let unknown = Uuid::new_v4().to_string();
    let status = client
        .cancel_booking_charge(CancelBookingChargeRequest {
            booking_id: unknown.clone(),
        })
        .await
        .expect_err("no charge");
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .refund_booking(refund_request(&unknown, 100))
        .await
        .expect_err("no charge");
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .refund_booking(RefundBookingRequest {
            reason: RefundReason::Unspecified.into(),
            ..refund_request(&unknown, 100)
        })
        .await
        .expect_err("no reason");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_refund_is_paid_back_at_the_gateway_and_never_beyond_the_charge() {
    let mesh = mesh().await;
    let request = charge_request(10_000, VISA);
    let charge = charge_booking(&mesh, &request).await;
    assert_eq!(charge.status(), PaymentStatus::Succeeded);

    // 90% back, as for a cancellation a year ahead.
    let ninety = refund_request(&request.booking_id, 9_000);
    let refunded = refund_booking(&mesh, &ninety).await;
    assert_eq!(refunded.status(), RefundStatus::Succeeded, "{refunded:?}");
    assert_eq!(refunded.id, ninety.refund_id);
    assert_eq!(refunded.amount, Some(usd(9_000)));
    assert_eq!(refunded.reason(), RefundReason::TravelerCancellation);
    let at_gateway = refunds_of(&charge.gateway_payment_id).await;
    assert_eq!(at_gateway.len(), 1, "{at_gateway:#?}");
    assert_eq!(at_gateway[0]["id"], refunded.gateway_refund_id.as_str());
    assert_eq!(at_gateway[0]["amount"], 9_000);
    assert_eq!(
        at_gateway[0]["metadata"]["refund_id"],
        ninety.refund_id.as_str()
    );
    assert_eq!(
        changes(&mesh, "refund", &ninety.refund_id).await,
        ["REFUND_REQUESTED", "REFUND_SUCCEEDED"]
    );

    // More than the 1,000 left is refused, and reaches nothing.
    let too_much = refund_request(&request.booking_id, 2_000);
    let status = finance(&mesh)
        .refund_booking(too_much)
        .await
        .expect_err("beyond the charge");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "REFUND_EXCEEDS_CHARGE");
    assert_eq!(
        status
            .get_error_details()
            .error_info()
            .and_then(|info| info.metadata.get("refundable_minor").cloned())
            .as_deref(),
        Some("1000")
    );

    // The same refund id for another amount is a caller's bug.
    let reused = RefundBookingRequest {
        amount: Some(usd(500)),
        ..ninety.clone()
    };
    let status = finance(&mesh)
        .refund_booking(reused)
        .await
        .expect_err("refund id reused");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "REFUND_ID_REUSED");

    // What is left can still be refunded; then the gateway holds exactly the charge.
    let rest = refund_booking(&mesh, &refund_request(&request.booking_id, 1_000)).await;
    assert_eq!(rest.status(), RefundStatus::Succeeded);
    let at_gateway = refunds_of(&charge.gateway_payment_id).await;
    let total: i64 = at_gateway
        .iter()
        .filter_map(|refund| refund["amount"].as_i64())
        .sum();
    assert_eq!((at_gateway.len(), total), (2, 10_000));
    let refunded_minor: i64 =
        sqlx::query_scalar("SELECT refunded_minor FROM payments WHERE booking_id = $1::uuid")
            .bind(&request.booking_id)
            .fetch_one(&database(&mesh).await)
            .await
            .expect("payment");
    assert_eq!(refunded_minor, 10_000);
}

#[tokio::test]
async fn a_refund_retried_five_times_at_once_and_after_is_paid_back_once() {
    let mesh = mesh().await;
    let request = charge_request(40_000, VISA);
    let charge = charge_booking(&mesh, &request).await;
    let seventy = refund_request(&request.booking_id, 28_000);

    let attempts = (0..5).map(|_| {
        let mut client = finance(&mesh);
        let request = seventy.clone();
        async move { client.refund_booking(request).await }
    });
    let mut refunds: Vec<BookingRefund> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|answer| {
            answer
                .expect("RefundBooking")
                .into_inner()
                .refund
                .expect("refund")
        })
        .collect();
    for _ in 0..5 {
        refunds.push(refund_booking(&mesh, &seventy).await);
    }

    for refund in &refunds {
        assert_eq!(refund.id, seventy.refund_id);
        assert_eq!(refund.status(), RefundStatus::Succeeded, "{refund:?}");
        assert_eq!(refund.gateway_refund_id, refunds[0].gateway_refund_id);
    }
    let at_gateway = refunds_of(&charge.gateway_payment_id).await;
    assert_eq!(at_gateway.len(), 1, "exactly one refund: {at_gateway:#?}");
    assert_eq!(at_gateway[0]["amount"], 28_000);
    let refunded_minor: i64 =
        sqlx::query_scalar("SELECT refunded_minor FROM payments WHERE booking_id = $1::uuid")
            .bind(&request.booking_id)
            .fetch_one(&database(&mesh).await)
            .await
            .expect("payment");
    assert_eq!(refunded_minor, 28_000, "reserved once");
}

#[tokio::test]
async fn a_succeeded_charge_cannot_be_cancelled_only_refunded() {
    let mesh = mesh().await;
    let request = charge_request(5_000, VISA);
    let charge = charge_booking(&mesh, &request).await;
    assert_eq!(charge.status(), PaymentStatus::Succeeded);

    let status = finance(&mesh)
        .cancel_booking_charge(CancelBookingChargeRequest {
            booking_id: request.booking_id.clone(),
        })
        .await
        .expect_err("a paid charge is refunded, not cancelled");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "CHARGE_SUCCEEDED");
    assert_eq!(
        intent(&charge.gateway_payment_id).await["status"],
        "succeeded"
    );
}

/// The gateway behind a forwarder the test opens and closes: unreachable, then back.
#[tokio::test]
async fn an_unreachable_gateway_charges_nothing_and_lost_answers_are_resumed_not_repeated() {
    let stripe_url = TestServers::from_env().stripe_url;
    let stripe_address = stripe_url
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/').to_owned())
        .expect("stripe URL");
    let mut gateway = Forwarder::closed(stripe_address);
    let mesh = mesh_with(HashMap::from([
        (
            "ASTRO_FINANCE_STRIPE_URL".to_owned(),
            format!("http://{}/", gateway.address),
        ),
        (
            "ASTRO_FINANCE_STRIPE_TIMEOUT_MS".to_owned(),
            "2000".to_owned(),
        ),
        (
            "ASTRO_FINANCE_GATEWAY_LEASE_MS".to_owned(),
            "5000".to_owned(),
        ),
    ]))
    .await;
    let request = charge_request(20_000, VISA);

    // Down: UNAVAILABLE, and nothing exists at the gateway.
    let status = finance(&mesh)
        .charge_booking(request.clone())
        .await
        .expect_err("gateway down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(intents_of_booking(&request.booking_id).await.is_empty());

    // A charge that never reached the gateway is cancelled without it, and stays cancelled.
    let abandoned = charge_request(3_000, VISA);
    let status = finance(&mesh)
        .charge_booking(abandoned.clone())
        .await
        .expect_err("gateway down");
    assert_eq!(status.code(), Code::Unavailable);
    let cancelled = finance(&mesh)
        .cancel_booking_charge(CancelBookingChargeRequest {
            booking_id: abandoned.booking_id.clone(),
        })
        .await
        .expect("cancel")
        .into_inner()
        .charge
        .expect("charge");
    assert_eq!(cancelled.status(), PaymentStatus::Cancelled);

    // Up again: the retry charges, once.
    gateway.open().await.expect("open the forwarder");
    let charge = charge_booking(&mesh, &request).await;
    assert_eq!(charge.status(), PaymentStatus::Succeeded, "{charge:?}");
    assert_eq!(intents_of_booking(&request.booking_id).await.len(), 1);
    let still_cancelled = charge_booking(&mesh, &abandoned).await;
    assert_eq!(still_cancelled.status(), PaymentStatus::Cancelled);
    assert!(intents_of_booking(&abandoned.booking_id).await.is_empty());

    // Down during a refund: UNAVAILABLE, the amount stays reserved...
    gateway.close();
    let lost = refund_request(&request.booking_id, 5_000);
    let status = finance(&mesh)
        .refund_booking(lost.clone())
        .await
        .expect_err("gateway down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // ...and say the request had reached the gateway before the connection broke: the
    // gateway holds a refund with our refund id that FinanceAPI never heard of.
    let landed = stripe(
        "POST",
        "v1/refunds",
        Some(json!({
            "payment_intent": charge.gateway_payment_id,
            "amount": 5_000,
            "metadata": { "refund_id": lost.refund_id, "booking_id": request.booking_id },
        })),
    )
    .await;

    // The retry finds and adopts it instead of refunding a second time.
    gateway.open().await.expect("open the forwarder");
    let adopted = refund_booking(&mesh, &lost).await;
    assert_eq!(adopted.status(), RefundStatus::Succeeded, "{adopted:?}");
    assert_eq!(
        adopted.gateway_refund_id,
        landed["id"].as_str().unwrap_or_default()
    );
    let at_gateway = refunds_of(&charge.gateway_payment_id).await;
    assert_eq!(at_gateway.len(), 1, "{at_gateway:#?}");
}

/// A finance process that died after recording its payment intent but before confirming it
/// (its lease ran out): the next attempt confirms that intent instead of creating another.
#[tokio::test]
async fn a_charge_cut_off_before_confirmation_is_resumed_with_its_own_intent() {
    let mesh = mesh().await;
    let request = charge_request(7_000, VISA);
    let created = stripe(
        "POST",
        "v1/payment_intents",
        Some(json!({
            "amount": 7_000,
            "currency": "usd",
            "payment_method": VISA,
            "metadata": { "booking_id": request.booking_id },
        })),
    )
    .await;
    assert_eq!(created["status"], "requires_confirmation");
    let intent_id = created["id"].as_str().expect("intent id").to_owned();
    sqlx::query(
        "INSERT INTO payments (booking_id, traveler_id, launch_id, agency_id, amount_minor, \
         currency, payment_method_id, status, gateway_payment_id, client_secret, \
         gateway_attempts, lease_token, lease_expires_at, created_service, updated_service) \
         VALUES ($1::uuid, $2::uuid, $3::uuid, $4::uuid, 7000, 'USD', $5, 'PENDING', $6, $7, 1, \
                 gen_random_uuid(), now() - interval '1 second', 'finance-api', 'finance-api')",
    )
    .bind(&request.booking_id)
    .bind(&request.traveler_id)
    .bind(&request.launch_id)
    .bind(&request.agency_id)
    .bind(VISA)
    .bind(&intent_id)
    .bind(created["client_secret"].as_str())
    .execute(&database(&mesh).await)
    .await
    .expect("the dead attempt's row");

    let charge = charge_booking(&mesh, &request).await;

    assert_eq!(charge.status(), PaymentStatus::Succeeded, "{charge:?}");
    assert_eq!(charge.gateway_payment_id, intent_id);
    assert_eq!(intent(&intent_id).await["status"], "succeeded");
    assert_eq!(intents_of_booking(&request.booking_id).await.len(), 1);
}

/// The span named `name` among `spans` (the spans of one trace).
fn span_named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|span| span.name == name)
}

#[tokio::test]
async fn each_gateway_call_is_a_client_span_of_the_rpc_in_the_callers_trace() {
    let (collector, mesh) = traced_mesh().await;
    let caller = CallerTrace::new();
    let mut call = tonic::Request::new(charge_request(8_800, VISA));
    call.metadata_mut().insert(
        "traceparent",
        caller.traceparent.parse().expect("header value"),
    );
    let charge = finance(&mesh)
        .charge_booking(call)
        .await
        .expect("ChargeBooking")
        .into_inner()
        .charge
        .expect("charge");
    assert_eq!(charge.status(), PaymentStatus::Succeeded);

    let names = [
        "stripe POST /v1/payment_intents",
        "stripe POST /v1/payment_intents/{intent}/confirm",
    ];
    let rpc_span = |spans: &[ReceivedSpan]| {
        spans
            .iter()
            .find(|span| span.service_name == "astro-finance" && span.kind == SERVER_KIND)
            .cloned()
    };
    // The RPC's span ends (and is exported) after its gateway calls' spans.
    let arrived = eventually(Duration::from_secs(15), || {
        let spans = collector.spans_of_trace(&caller.trace_id);
        let found = rpc_span(&spans).is_some()
            && names.iter().all(|name| span_named(&spans, name).is_some());
        async move { found }
    })
    .await;
    let spans = collector.spans_of_trace(&caller.trace_id);
    assert!(arrived, "RPC and stripe spans not received: {spans:#?}");
    let rpc = rpc_span(&spans).expect("the RPC's server span");
    assert_eq!(rpc.parent_span_id, caller.span_id);
    for name in names {
        let call = span_named(&spans, name).expect("stripe span");
        assert_eq!(call.kind, CLIENT_KIND, "{name}");
        assert_eq!(call.service_name, "astro-finance");
        assert_eq!(
            call.parent_span_id, rpc.span_id,
            "{name} is the RPC's child"
        );
    }
}
