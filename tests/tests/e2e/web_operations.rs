//! SystemWeb (ADMIN, IT and FINANCE employees) and the agency's invoices in a real browser, as
//! `web_apps.rs` runs its stories: a mesh of the test's own serving the built apps, its data
//! made through the real RPCs, one Playwright spec, then a look at where the spec's actions
//! landed (the SMTP catcher, FinanceAPI).

use std::time::Duration;

use astro_e2e::{
    Service, TestServers,
    accounts::with_token,
    fixtures::{self, Actor},
    stripe_webhooks,
};
use astro_proto::astrobookings::{
    common::v1::Role,
    finance::v1::InvoiceStatus,
    notify::v1::{ListNotificationsRequest, NotificationStatus},
};

use crate::{
    finance_checkout::{aborted_launch_invoice, get},
    finance_invoices::{booked_launch, database, invoice_of, move_into_past, succeed},
    web_apps::{run_spec, web_mesh, web_mesh_with_catcher},
};

/// How many notifications to `email` are FAILED, as IT lists them.
async fn failed_notifications_to(mesh: &astro_e2e::Mesh, it: &Actor, email: &str) -> usize {
    crate::notify::notify(mesh)
        .list_notifications(with_token(
            ListNotificationsRequest {
                recipient: email.to_owned(),
                statuses: vec![NotificationStatus::Failed.into()],
                ..ListNotificationsRequest::default()
            },
            &it.token,
        ))
        .await
        .expect("IT lists the queue")
        .into_inner()
        .notifications
        .len()
}

#[tokio::test]
async fn an_admin_adds_an_it_employee_who_retries_a_failed_email_until_it_is_sent() {
    let (catcher, mesh) = web_mesh_with_catcher(&[]).await;
    // The welcome e-mail of this traveler is refused for good (554) until the fault is lifted.
    let recipient = astro_e2e::accounts::unique_email("bounced");
    catcher
        .set_faults(serde_json::json!({ "554_recipients": [recipient] }))
        .expect("faults set");
    let traveler = fixtures::traveler_with_email(
        mesh.address(Service::Gateway),
        &recipient,
        "Bounced Traveler",
    )
    .await;
    let it = fixtures::employee(&mesh, Role::It).await;
    let failed = astro_e2e::eventually(Duration::from_secs(30), || async {
        failed_notifications_to(&mesh, &it, &traveler.email).await > 0
    })
    .await;
    assert!(failed, "the welcome e-mail failed first");
    catcher
        .set_faults(serde_json::json!({}))
        .expect("faults lifted");

    run_spec(
        &mesh,
        "system-admin-it.spec.ts",
        &[
            ("ADMIN_EMAIL", mesh.admin_email.clone()),
            ("ADMIN_PASSWORD", mesh.admin_password.clone()),
            ("RECIPIENT", recipient.clone()),
        ],
    )
    .await;
    let mails = catcher
        .wait_until(Duration::from_secs(10), |mails| {
            mails.iter().any(|mail| mail.rcpt_tos.contains(&recipient))
        })
        .await
        .expect("mails read");
    assert!(
        mails.iter().any(|mail| mail.rcpt_tos.contains(&recipient)),
        "the retried e-mail reached the SMTP catcher"
    );
}

#[tokio::test]
async fn it_watches_a_user_profile_sync_reach_100_percent_and_a_second_start_is_refused() {
    // One profile per batch, resting between batches: the job runs long enough to be watched
    // and to refuse a second start.
    let mesh = web_mesh(&[
        ("ASTRO_SYSTEM_SYNC_BATCH_SIZE", "1"),
        ("ASTRO_SYSTEM_SYNC_BATCH_PAUSE_MS", "700"),
    ])
    .await;
    let gateway = mesh.address(Service::Gateway);
    for label in ["sync-one", "sync-two", "sync-three", "sync-four"] {
        fixtures::traveler(gateway, label).await;
    }
    let it = fixtures::employee(&mesh, Role::It).await;
    run_spec(&mesh, "system-sync.spec.ts", &[("EMAIL", it.email.clone())]).await;
}

#[tokio::test]
async fn finance_records_a_partial_payment_then_the_rest_and_downloads_the_pdf() {
    let mesh = web_mesh(&[]).await;
    let gateway = mesh.address(Service::Gateway);
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(gateway, "web-invoiced").await;
    let rocket = fixtures::rocket(gateway, &agency, 4).await;
    // Two seats at 25 000 USD: a fee of 1 % of 50 000 USD.
    let launch_id = booked_launch(&mesh, &agency, &rocket, 2_500_000, 2).await;
    move_into_past(&database(&mesh).await, &launch_id, 1).await;
    succeed(&mesh, &agency, &launch_id).await;
    let invoice = invoice_of(&mesh, &employee, &launch_id).await;
    assert_eq!(
        invoice.amount.as_ref().map(|m| m.amount_minor),
        Some(50_000)
    );

    run_spec(
        &mesh,
        "system-finance.spec.ts",
        &[
            ("EMAIL", employee.email.clone()),
            ("LAUNCH_ID", launch_id.clone()),
            ("AGENCY_ID", agency.id.clone()),
        ],
    )
    .await;
    let paid = get(&mesh, &employee, &invoice.id).await;
    assert_eq!(paid.status(), InvoiceStatus::Paid);
    assert_eq!(paid.payments.len(), 2);
}

#[tokio::test]
async fn an_agency_pays_its_invoice_and_sees_it_paid_without_a_reload() {
    let mesh = web_mesh(&[]).await;
    let servers = TestServers::from_env();
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(mesh.address(Service::Gateway), "web-payer").await;
    let invoice = aborted_launch_invoice(&mesh, &employee, &agency).await;
    let webhook = stripe_webhooks::register(
        &servers.stripe_url,
        &format!("{}/v1/webhooks/stripe", mesh.gateway_url()),
        &mesh.stripe_webhook_secret,
    )
    .await
    .expect("webhook registered with localstripe");
    run_spec(
        &mesh,
        "agency-pays.spec.ts",
        &[("EMAIL", agency.email.clone())],
    )
    .await;
    webhook.disable().await.expect("webhook disabled");
    let paid = get(&mesh, &agency, &invoice.id).await;
    assert_eq!(paid.status(), InvoiceStatus::Paid);
}

#[tokio::test]
async fn travelers_and_agencies_are_not_allowed_into_systemweb_and_its_rpcs_answer_403() {
    let mesh = web_mesh(&[]).await;
    let gateway = mesh.address(Service::Gateway);
    let traveler = fixtures::traveler(gateway, "nosy").await;
    let agency = fixtures::agency(gateway, "nosy").await;
    run_spec(
        &mesh,
        "system-not-allowed.spec.ts",
        &[
            ("TRAVELER_EMAIL", traveler.email.clone()),
            ("AGENCY_EMAIL", agency.email.clone()),
        ],
    )
    .await;
}
