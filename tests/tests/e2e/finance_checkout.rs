//! Agencies paying invoices through the payment gateway against the real mesh and localstripe:
//! PayInvoice never counts the money itself; localstripe's signed webhook (through the
//! gateway's `POST /v1/webhooks/stripe`) does, once per event however often it arrives; forged,
//! stale and tampered deliveries are refused and change nothing; and when the webhook never
//! arrives, the reconciliation reads the payment back from localstripe and settles it.

use std::time::Duration;

use astro_e2e::{
    Mesh, Service, TestServers,
    accounts::with_token,
    eventually,
    fixtures::{self, Actor},
    mesh, mesh_with, rest,
    stripe_webhooks::{self, Sink},
};
use astro_proto::astrobookings::{
    common::v1::Role,
    finance::v1::{
        GetInvoiceRequest, Invoice, InvoiceStatus, PayInvoiceRequest, PayInvoiceResponse,
        PaymentStatus, finance_service_client::FinanceServiceClient,
    },
};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

use crate::finance_invoices::{abort, database, finance, invoice_of, money};

/// localstripe's card that is charged without trouble, and one that is declined.
const CARD: &str = "pm_card_visa";
const DECLINED_CARD: &str = "pm_card_chargeCustomerFail";

/// An ABORTED launch's invoice (1,000.00 USD) of a new agency.
pub(crate) async fn aborted_launch_invoice(
    mesh: &Mesh,
    employee: &Actor,
    agency: &Actor,
) -> Invoice {
    let gateway = mesh.address(Service::Gateway);
    let rocket = fixtures::rocket(gateway, agency, 4).await;
    let launch_id = fixtures::launch(gateway, agency, &rocket, 30, 10_000).await;
    abort(mesh, agency, &launch_id).await;
    invoice_of(mesh, employee, &launch_id).await
}

async fn pay(
    client: &mut FinanceServiceClient<Channel>,
    agency: &Actor,
    invoice_id: &str,
    payment_method_id: &str,
    key: &str,
) -> Result<PayInvoiceResponse, tonic::Status> {
    client
        .pay_invoice(with_token(
            PayInvoiceRequest {
                id: invoice_id.to_owned(),
                payment_method_id: payment_method_id.to_owned(),
                amount: None,
                idempotency_key: key.to_owned(),
            },
            &agency.token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

pub(crate) async fn get(mesh: &Mesh, actor: &Actor, invoice_id: &str) -> Invoice {
    finance(mesh)
        .get_invoice(with_token(
            GetInvoiceRequest {
                id: invoice_id.to_owned(),
            },
            &actor.token,
        ))
        .await
        .expect("GetInvoice")
        .into_inner()
        .invoice
        .expect("invoice")
}

/// Ledger entries of the invoice: (kind, amount).
async fn ledger(db: &sqlx::PgPool, invoice_id: &str) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT kind, amount_minor FROM invoice_payment_entries WHERE invoice_id = $1::uuid \
         ORDER BY id",
    )
    .bind(invoice_id)
    .fetch_all(db)
    .await
    .expect("ledger")
}

/// How often each gateway event about `intent_id` was recorded, and whether it was processed.
async fn recorded_events(db: &sqlx::PgPool, intent_id: &str) -> Vec<(String, bool)> {
    sqlx::query_as(
        "SELECT event_id, processed FROM gateway_events WHERE object_id = $1 ORDER BY event_id",
    )
    .bind(intent_id)
    .fetch_all(db)
    .await
    .expect("gateway events")
}

/// Posts a delivery to the gateway's webhook route as Stripe would: the raw body and its
/// signature header; answers the HTTP status and body.
async fn deliver(mesh: &Mesh, body: &str, signature: &str) -> (u16, serde_json::Value) {
    let answer = rest::send(
        "POST",
        &format!("{}/v1/webhooks/stripe", mesh.gateway_url()),
        &[("stripe-signature", signature)],
        Some(body),
    )
    .await
    .expect("REST");
    (answer.status, answer.json)
}

/// Stripe's signature header for `body` at `timestamp` under `secret`.
fn signature(body: &str, timestamp: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[tokio::test]
async fn an_agency_pays_through_stripe_and_the_signed_webhook_makes_the_invoice_paid() {
    let mesh = mesh().await;
    let servers = TestServers::from_env();
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(mesh.address(Service::Gateway), "stripe-payer").await;
    let invoice = aborted_launch_invoice(&mesh, &employee, &agency).await;
    let webhook = stripe_webhooks::register(
        &servers.stripe_url,
        &format!("{}/v1/webhooks/stripe", mesh.gateway_url()),
        &mesh.stripe_webhook_secret,
    )
    .await
    .expect("webhook registered with localstripe");

    let mut client = finance(&mesh);
    let paid = pay(&mut client, &agency, &invoice.id, CARD, "checkout-0001")
        .await
        .expect("PayInvoice");
    let payment = paid.payment.expect("payment");
    assert!(!paid.idempotent_replay);
    assert_eq!(
        payment.status(),
        PaymentStatus::Pending,
        "PayInvoice never counts the money itself: {payment:?}"
    );
    assert_eq!(payment.original_amount, Some(money(100_000, "USD")));
    let intent_id = payment.gateway_payment_id.clone();
    assert!(intent_id.starts_with("pi_"), "{intent_id}");
    let at_stripe = fixtures::gateway_payment(&servers.stripe_url, &intent_id)
        .await
        .expect("the intent at localstripe");
    assert_eq!(
        (at_stripe.status.as_str(), at_stripe.amount),
        ("succeeded", 100_000)
    );

    // localstripe posts the signed event about a second later.
    assert!(
        eventually(Duration::from_secs(20), || async {
            get(&mesh, &agency, &invoice.id).await.status() == InvoiceStatus::Paid
        })
        .await,
        "the webhook never made the invoice PAID"
    );
    let settled = get(&mesh, &agency, &invoice.id).await;
    assert_eq!(settled.amount_due, Some(money(0, "USD")));
    assert_eq!(settled.payments.len(), 1);
    assert_eq!(settled.payments[0].status(), PaymentStatus::Succeeded);
    assert_eq!(settled.payments[0].amount, Some(money(100_000, "USD")));
    assert_eq!(
        ledger(&db, &invoice.id).await,
        vec![("PAYMENT".to_owned(), 100_000)]
    );
    let events = recorded_events(&db, &intent_id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].1, "the event settled the payment: {events:?}");
    let change: (String, Option<String>) = sqlx::query_as(
        "SELECT origin_service, origin_user_id FROM change_log \
         WHERE event_type = 'INVOICE_PAYMENT_RECORDED' AND entity_id = $1",
    )
    .bind(&payment.id)
    .fetch_one(&db)
    .await
    .expect("the settlement is in the change log");
    assert_eq!(change, ("finance-api".to_owned(), None));

    // A retry with the same key answers the same payment; a new one finds the invoice PAID.
    let replay = pay(&mut client, &agency, &invoice.id, CARD, "checkout-0001")
        .await
        .expect("a replay");
    assert!(replay.idempotent_replay);
    assert_eq!(replay.payment.expect("payment").id, payment.id);
    let again = pay(&mut client, &agency, &invoice.id, CARD, "checkout-0002")
        .await
        .expect_err("the invoice is paid");
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(
        again.get_details_error_info().expect("error info").reason,
        "INVOICE_PAID"
    );
    webhook.disable().await.expect("webhook disabled");
}

#[tokio::test]
async fn forged_stale_and_tampered_webhooks_are_refused_and_a_redelivery_settles_once() {
    let mesh = mesh().await;
    let servers = TestServers::from_env();
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(mesh.address(Service::Gateway), "redelivered").await;
    let invoice = aborted_launch_invoice(&mesh, &employee, &agency).await;
    // localstripe's real delivery goes to a sink, signed with the mesh's secret; the test then
    // plays the network: it replays, tampers with and re-signs that delivery.
    let sink = Sink::start().await.expect("sink");
    let webhook = stripe_webhooks::register(
        &servers.stripe_url,
        &sink.url(),
        &mesh.stripe_webhook_secret,
    )
    .await
    .expect("webhook registered with localstripe");
    let payment = pay(
        &mut finance(&mesh),
        &agency,
        &invoice.id,
        CARD,
        "redeliver-01",
    )
    .await
    .expect("PayInvoice")
    .payment
    .expect("payment");
    let intent_id = payment.gateway_payment_id.clone();
    let delivery = sink
        .delivery_for(
            &intent_id,
            "payment_intent.succeeded",
            Duration::from_secs(20),
        )
        .await
        .expect("localstripe delivered the event");
    webhook.disable().await.expect("webhook disabled");
    let event_id = delivery.json["id"].as_str().expect("event id").to_owned();
    let timestamp: i64 = delivery
        .signature
        .split(',')
        .find_map(|part| part.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("localstripe's signature has a timestamp");

    let forged = signature(&delivery.body, timestamp, "whsec_not_the_mesh_secret");
    let stale_at = chrono::Utc::now().timestamp() - 600;
    let stale = signature(&delivery.body, stale_at, &mesh.stripe_webhook_secret);
    let tampered = delivery.body.replace("100000", "1");
    assert_ne!(tampered, delivery.body, "the body names the amount");
    for (what, body, header) in [
        (
            "a forged signature",
            delivery.body.as_str(),
            forged.as_str(),
        ),
        (
            "a timestamp 10 minutes old",
            delivery.body.as_str(),
            stale.as_str(),
        ),
        (
            "a tampered body",
            tampered.as_str(),
            delivery.signature.as_str(),
        ),
        ("no signature", delivery.body.as_str(), ""),
    ] {
        let (status, body) = deliver(&mesh, body, header).await;
        assert_eq!(status, 400, "{what}: {body}");
    }
    let untouched = get(&mesh, &agency, &invoice.id).await;
    assert_eq!(untouched.status(), InvoiceStatus::Issued);
    assert_eq!(untouched.amount_paid, Some(money(0, "USD")));
    assert!(ledger(&db, &invoice.id).await.is_empty());
    assert!(recorded_events(&db, &intent_id).await.is_empty());

    // The genuine delivery, three times, two of them at once: settled once.
    let first = deliver(&mesh, &delivery.body, &delivery.signature).await;
    let (second, third) = tokio::join!(
        deliver(&mesh, &delivery.body, &delivery.signature),
        deliver(&mesh, &delivery.body, &delivery.signature)
    );
    for (status, body) in [&first, &second, &third] {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["eventId"], event_id.as_str(), "{body}");
    }
    let processed: Vec<bool> = [&first, &second, &third]
        .iter()
        .map(|(_, body)| body["processed"] == true)
        .collect();
    assert_eq!(processed, vec![true, false, false]);
    let paid = get(&mesh, &agency, &invoice.id).await;
    assert_eq!(paid.status(), InvoiceStatus::Paid);
    assert_eq!(paid.amount_paid, Some(money(100_000, "USD")));
    assert_eq!(
        ledger(&db, &invoice.id).await,
        vec![("PAYMENT".to_owned(), 100_000)]
    );
    assert_eq!(
        recorded_events(&db, &intent_id).await,
        vec![(event_id, true)]
    );

    // An event type we do not act on is acknowledged, and recorded as not processed.
    let now = chrono::Utc::now().timestamp();
    let customer = format!("cus_{}", uuid::Uuid::new_v4().simple());
    let other = format!(
        r#"{{"id":"evt_{customer}","type":"customer.created","created":{now},"data":{{"object":{{"id":"{customer}"}}}}}}"#
    );
    let (status, body) = deliver(
        &mesh,
        &other,
        &signature(&other, now, &mesh.stripe_webhook_secret),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["processed"], true, "{body}");
    assert_eq!(
        recorded_events(&db, &customer).await,
        vec![(format!("evt_{customer}"), false)]
    );
}

#[tokio::test]
async fn with_the_webhook_endpoint_unreachable_the_reconciliation_settles_the_payment() {
    let mesh = mesh_with(
        [
            ("ASTRO_FINANCE_RECONCILE_AFTER_MS", "1000"),
            ("ASTRO_FINANCE_RECONCILE_INTERVAL_MS", "200"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect(),
    )
    .await;
    let servers = TestServers::from_env();
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(mesh.address(Service::Gateway), "unheard").await;
    let invoice = aborted_launch_invoice(&mesh, &employee, &agency).await;
    // Where the webhook would go, nobody listens.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port")
        .local_addr()
        .expect("address");
    let webhook = stripe_webhooks::register(
        &servers.stripe_url,
        &format!("http://{closed}/v1/webhooks/stripe"),
        &mesh.stripe_webhook_secret,
    )
    .await
    .expect("webhook registered with localstripe");

    let payment = pay(
        &mut finance(&mesh),
        &agency,
        &invoice.id,
        CARD,
        "reconcile-01",
    )
    .await
    .expect("PayInvoice")
    .payment
    .expect("payment");
    assert_eq!(payment.status(), PaymentStatus::Pending);
    assert!(
        eventually(Duration::from_secs(20), || async {
            get(&mesh, &agency, &invoice.id).await.status() == InvoiceStatus::Paid
        })
        .await,
        "the reconciliation never settled the payment"
    );
    assert!(
        recorded_events(&db, &payment.gateway_payment_id)
            .await
            .is_empty(),
        "no webhook reached the mesh: the reconciliation settled it"
    );
    assert_eq!(
        ledger(&db, &invoice.id).await,
        vec![("PAYMENT".to_owned(), 100_000)]
    );
    webhook.disable().await.expect("webhook disabled");
}

#[tokio::test]
async fn a_declined_card_releases_the_amount_and_only_the_agency_billed_may_pay() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let owner = fixtures::agency(gateway, "declined").await;
    let other = fixtures::agency(gateway, "interloper").await;
    let traveler = fixtures::traveler(gateway, "not-billed").await;
    let invoice = aborted_launch_invoice(&mesh, &employee, &owner).await;
    let mut client = finance(&mesh);

    let declined = pay(
        &mut client,
        &owner,
        &invoice.id,
        DECLINED_CARD,
        "declined-01",
    )
    .await
    .expect_err("the card is declined");
    assert_eq!(declined.code(), Code::FailedPrecondition, "{declined:?}");
    assert_eq!(
        declined
            .get_details_error_info()
            .expect("error info")
            .reason,
        "PAYMENT_DECLINED"
    );
    let after_decline = get(&mesh, &owner, &invoice.id).await;
    assert_eq!(after_decline.payments.len(), 1);
    assert_eq!(after_decline.payments[0].status(), PaymentStatus::Failed);
    // The declined payment holds nothing: the whole amount can be paid again.
    let retried = pay(&mut client, &owner, &invoice.id, CARD, "declined-02")
        .await
        .expect("another card")
        .payment
        .expect("payment");
    assert_eq!(retried.original_amount, Some(money(100_000, "USD")));
    // While that payment is in flight, nothing more is open.
    let more = pay(&mut client, &owner, &invoice.id, CARD, "declined-03")
        .await
        .expect_err("the amount is held by the payment in flight");
    assert_eq!(
        more.get_details_error_info().expect("error info").reason,
        "AMOUNT_EXCEEDS_DUE"
    );

    let foreign = pay(&mut client, &other, &invoice.id, CARD, "foreign-001")
        .await
        .expect_err("another agency's invoice");
    assert_eq!(foreign.code(), Code::NotFound);
    let url = format!("{}/v1/invoices/{}:pay", mesh.gateway_url(), invoice.id);
    let body = r#"{"paymentMethodId":"pm_card_visa","idempotencyKey":"traveler-01"}"#;
    for (actor, expected) in [(&traveler, 403), (&employee, 403), (&other, 404)] {
        let answer = rest::send(
            "POST",
            &url,
            &[("authorization", &format!("Bearer {}", actor.token))],
            Some(body),
        )
        .await
        .expect("REST");
        assert_eq!(answer.status, expected, "{}", answer.json);
    }
    let bad = rest::send(
        "POST",
        &url,
        &[("authorization", &format!("Bearer {}", owner.token))],
        Some(r#"{"paymentMethodId":"","idempotencyKey":"bad-request-1"}"#),
    )
    .await
    .expect("REST");
    assert_eq!(bad.status, 400, "{}", bad.json);
}
