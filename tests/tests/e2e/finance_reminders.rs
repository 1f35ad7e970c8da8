//! Overdue invoices against the real mesh, the time moved by FinanceAPI's clock offset (never
//! by sleeping for days): the day after its due date an unpaid invoice is OVERDUE and the
//! agency gets the overdue notice, then reminders on days 7 and 14, each once, in the SMTP
//! catcher; a paid invoice gets no more; a job that missed steps sends only the latest; and
//! FINANCE reminds by hand.

use std::time::Duration;

use astro_e2e::{
    Mesh, Service,
    accounts::with_token,
    eventually,
    fixtures::{self, Actor},
    mail::Mail,
    mesh_with_catcher, rest,
};
use astro_proto::astrobookings::{
    common::v1::Role,
    finance::v1::{
        Invoice, InvoiceStatus, PaymentChannel, RecordPaymentRequest, SendInvoiceReminderRequest,
    },
};
use tonic::Code;

use crate::{
    finance_checkout::{aborted_launch_invoice, get},
    finance_invoices::{database, finance, money},
};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Moves FinanceAPI's clock `days` days ahead (from the real time).
async fn clock_at(mesh: &mut Mesh, days: i64) {
    mesh.restart_with(
        Service::Finance,
        &[(
            "ASTRO_FINANCE_CLOCK_OFFSET_MS",
            &(days * DAY_MS).to_string(),
        )],
    )
    .await
    .expect("FinanceAPI restarts with its clock moved");
}

async fn reminded(mesh: &Mesh, employee: &Actor, invoice_id: &str, count: i32) -> bool {
    eventually(Duration::from_secs(20), || async {
        get(mesh, employee, invoice_id).await.reminder_count >= count
    })
    .await
}

/// The overdue e-mails of `invoice`, as the reminder numbers they announce.
fn overdue_mails(mails: &[Mail], invoice: &Invoice) -> Vec<String> {
    let subject = format!("Invoice {} is overdue", invoice.number);
    let mut numbers: Vec<String> = mails
        .iter()
        .filter(|mail| mail.subject == subject)
        .map(|mail| {
            mail.text
                .split("This is reminder ")
                .nth(1)
                .and_then(|rest| rest.split('.').next())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    numbers.sort();
    numbers
}

async fn changes(db: &sqlx::PgPool, invoice_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT event_type FROM change_log WHERE entity = 'invoice' AND entity_id = $1 \
         AND event_type IN ('INVOICE_OVERDUE', 'INVOICE_REMINDER') ORDER BY id",
    )
    .bind(invoice_id)
    .fetch_all(db)
    .await
    .expect("change log")
}

#[tokio::test]
async fn overdue_invoices_are_reminded_on_schedule_each_reminder_once() {
    let (catcher, mut mesh) = mesh_with_catcher(&[]).await;
    let gateway = mesh.address(Service::Gateway);
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(gateway, "late-payer").await;
    let unpaid = aborted_launch_invoice(&mesh, &employee, &agency).await;
    let settled = aborted_launch_invoice(&mesh, &employee, &agency).await;
    // Through the gateway, which stays up while FinanceAPI restarts.
    let through_gateway = finance(&mesh);
    let remind = |invoice_id: &str| {
        let mut client = through_gateway.clone();
        let request = with_token(
            SendInvoiceReminderRequest {
                id: invoice_id.to_owned(),
            },
            &employee.token,
        );
        async move { client.send_invoice_reminder(request).await }
    };
    let early = remind(&unpaid.id).await.expect_err("not overdue yet");
    assert_eq!(early.code(), Code::FailedPrecondition);

    // Day 1 after the due date (issued today, due in 30 days): OVERDUE and the notice.
    clock_at(&mut mesh, 31).await;
    assert!(reminded(&mesh, &employee, &unpaid.id, 1).await);
    assert!(reminded(&mesh, &employee, &settled.id, 1).await);
    let overdue = get(&mesh, &employee, &unpaid.id).await;
    assert_eq!(overdue.status(), InvoiceStatus::Overdue);
    assert!(overdue.last_reminder_at.is_some());
    // An invoice issued now (its due date 30 days after the moved clock), for the catch-up.
    let later = aborted_launch_invoice(&mesh, &employee, &agency).await;
    finance(&mesh)
        .record_payment(with_token(
            RecordPaymentRequest {
                id: settled.id.clone(),
                amount: Some(money(100_000, "USD")),
                channel: PaymentChannel::BankTransfer.into(),
                idempotency_key: "settles-the-second".to_owned(),
                ..RecordPaymentRequest::default()
            },
            &employee.token,
        ))
        .await
        .expect("the second invoice is paid");

    // Day 7, then day 14: the unpaid one gets each step once; the paid one nothing more.
    clock_at(&mut mesh, 37).await;
    assert!(reminded(&mesh, &employee, &unpaid.id, 2).await);
    clock_at(&mut mesh, 44).await;
    assert!(reminded(&mesh, &employee, &unpaid.id, 3).await);
    // Day 100: the schedule is done for the first; the third, 39 days late, gets only the
    // latest step it missed, not three at once.
    clock_at(&mut mesh, 100).await;
    assert!(reminded(&mesh, &employee, &later.id, 1).await);
    let manual = remind(&unpaid.id)
        .await
        .expect("FINANCE reminds by hand")
        .into_inner()
        .invoice
        .expect("invoice");
    assert_eq!(manual.reminder_count, 4);
    let paid = remind(&settled.id).await.expect_err("a paid invoice");
    assert_eq!(paid.code(), Code::FailedPrecondition);
    let answer = rest::send(
        "POST",
        &format!("{}/v1/invoices/{}:remind", mesh.gateway_url(), unpaid.id),
        &[("authorization", &format!("Bearer {}", agency.token))],
        Some("{}"),
    )
    .await
    .expect("REST");
    assert_eq!(answer.status, 403, "{}", answer.json);

    assert_eq!(
        changes(&db, &unpaid.id).await,
        [
            "INVOICE_OVERDUE",
            "INVOICE_REMINDER",
            "INVOICE_REMINDER",
            "INVOICE_REMINDER"
        ]
    );
    assert_eq!(changes(&db, &settled.id).await, ["INVOICE_OVERDUE"]);
    assert_eq!(changes(&db, &later.id).await, ["INVOICE_OVERDUE"]);
    let steps: Vec<(Option<i16>, i32)> = sqlx::query_as(
        "SELECT schedule_step, reminder_number FROM invoice_reminders \
         WHERE invoice_id = $1::uuid ORDER BY reminder_number",
    )
    .bind(&unpaid.id)
    .fetch_all(&db)
    .await
    .expect("reminders");
    assert_eq!(steps, [(Some(1), 1), (Some(2), 2), (Some(3), 3), (None, 4)]);
    let later_steps: Vec<Option<i16>> = sqlx::query_scalar(
        "SELECT schedule_step FROM invoice_reminders WHERE invoice_id = $1::uuid",
    )
    .bind(&later.id)
    .fetch_all(&db)
    .await
    .expect("reminders");
    assert_eq!(later_steps, [Some(3)]);

    // One e-mail per reminder, with the link to pay.
    let mails = catcher
        .wait_until(Duration::from_secs(30), |mails| {
            overdue_mails(mails, &unpaid).len() >= 4 && !overdue_mails(mails, &later).is_empty()
        })
        .await
        .expect("mails");
    assert_eq!(overdue_mails(&mails, &unpaid), ["1", "2", "3", "4"]);
    assert_eq!(overdue_mails(&mails, &settled), ["1"]);
    assert_eq!(overdue_mails(&mails, &later), ["1"]);
    let notice = mails
        .iter()
        .find(|mail| mail.subject == format!("Invoice {} is overdue", unpaid.number))
        .expect("the notice");
    assert!(notice.text.contains("USD 1,000.00"), "{}", notice.text);
    assert!(
        notice
            .text
            .contains(&format!("/agency/invoices/{}", unpaid.id)),
        "{}",
        notice.text
    );
}
