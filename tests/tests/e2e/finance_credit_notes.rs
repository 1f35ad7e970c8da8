//! Credit notes against the real mesh: an issued invoice is corrected by a credit note, never
//! edited. Credit notes are numbered gapless in their own series (also when racing, and when
//! an issue fails after its number was taken), never take more than is still open (nor let a
//! payment take what was credited), settle the status (PAID, CREDITED), show on the PDF and in
//! the annual report (received + pending = invoiced - credited), and are FINANCE's alone.

use std::collections::BTreeSet;

use astro_e2e::{
    Mesh, Service,
    accounts::{system_client, with_token},
    fixtures::{self, Actor},
    mesh, rest,
};
use astro_proto::astrobookings::{
    common::v1::Role,
    finance::v1::{
        CreditNote, GetInvoiceRequest, Invoice, InvoiceStatus, IssueCreditNoteRequest,
        IssueCreditNoteResponse, ListInvoicesRequest, PaymentChannel, RecordPaymentRequest,
    },
    system::v1::ListLogsRequest,
};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::finance_invoices::{abort, database, finance, invoice_of, money};
use super::finance_reports::{amount, annual, assert_consistent, bearer, get, pdf_text};

/// An ABORTED launch's invoice (1,000.00 USD) of a new agency.
async fn aborted_invoice(mesh: &Mesh, employee: &Actor, label: &str) -> Invoice {
    let gateway = mesh.address(Service::Gateway);
    let agency = fixtures::agency(gateway, label).await;
    let rocket = fixtures::rocket(gateway, &agency, 4).await;
    let launch_id = fixtures::launch(gateway, &agency, &rocket, 30, 10_000).await;
    abort(mesh, &agency, &launch_id).await;
    invoice_of(mesh, employee, &launch_id).await
}

async fn credit(
    mesh: &Mesh,
    actor: &Actor,
    invoice_id: &str,
    amount_minor: i64,
    key: &str,
) -> Result<IssueCreditNoteResponse, tonic::Status> {
    finance(mesh)
        .issue_credit_note(with_token(
            IssueCreditNoteRequest {
                id: invoice_id.to_owned(),
                amount: Some(money(amount_minor, "USD")),
                reason: format!("goodwill {key}"),
                idempotency_key: key.to_owned(),
            },
            &actor.token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn pay(
    mesh: &Mesh,
    employee: &Actor,
    invoice_id: &str,
    amount_minor: i64,
    key: &str,
) -> Result<Invoice, tonic::Status> {
    finance(mesh)
        .record_payment(with_token(
            RecordPaymentRequest {
                id: invoice_id.to_owned(),
                amount: Some(money(amount_minor, "USD")),
                channel: PaymentChannel::BankTransfer.into(),
                idempotency_key: key.to_owned(),
                ..RecordPaymentRequest::default()
            },
            &employee.token,
        ))
        .await
        .map(|answer| answer.into_inner().invoice.expect("invoice"))
}

async fn fetch(mesh: &Mesh, employee: &Actor, invoice_id: &str) -> Invoice {
    finance(mesh)
        .get_invoice(with_token(
            GetInvoiceRequest {
                id: invoice_id.to_owned(),
            },
            &employee.token,
        ))
        .await
        .expect("invoice")
        .into_inner()
        .invoice
        .expect("invoice")
}

/// `CN-2026-000007` -> (2026, 7).
fn year_and_sequence(number: &str) -> (i32, u32) {
    let mut parts = number.split('-');
    assert_eq!(parts.next(), Some("CN"), "{number}");
    let year = parts.next().and_then(|year| year.parse().ok());
    let sequence = parts.next().and_then(|digits| digits.parse().ok());
    (year.expect("year"), sequence.expect("sequence"))
}

fn sequences(notes: &[CreditNote]) -> Vec<u32> {
    notes
        .iter()
        .map(|note| year_and_sequence(&note.number).1)
        .collect()
}

fn refusal_reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_credit_note_lowers_what_is_due_within_what_is_open_and_settles_the_status() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let invoice = aborted_invoice(&mesh, &employee, "credited").await;
    assert_eq!(invoice.amount_credited, Some(money(0, "USD")));

    let first = credit(&mesh, &employee, &invoice.id, 30_000, "credit-0001")
        .await
        .expect("a credit note");
    let note = first.credit_note.clone().expect("credit note");
    let (year, sequence) = year_and_sequence(&note.number);
    assert_eq!(sequence, 1, "the first of its own series: {}", note.number);
    assert_eq!(note.legal_date[..4].parse::<i32>().expect("year"), year);
    assert_eq!(note.invoice_number, invoice.number);
    assert_eq!(note.amount, Some(money(30_000, "USD")));
    let created = note.audit.clone().and_then(|audit| audit.created);
    assert_eq!(
        created.map(|origin| (origin.service, origin.user_id)),
        Some(("finance-api".to_owned(), employee.id.clone()))
    );
    let credited = first.invoice.expect("invoice");
    assert_eq!(credited.amount, invoice.amount, "the invoice never changes");
    assert_eq!(credited.amount_credited, Some(money(30_000, "USD")));
    assert_eq!(credited.amount_due, Some(money(70_000, "USD")));
    assert_eq!(credited.status(), InvoiceStatus::Issued);
    assert_eq!(credited.credit_notes, vec![note.clone()]);

    let replay = credit(&mesh, &employee, &invoice.id, 30_000, "credit-0001")
        .await
        .expect("a replay");
    assert_eq!(replay.credit_note, Some(note.clone()), "the first answer");
    assert_eq!(
        replay.invoice.expect("invoice").amount_credited,
        Some(money(30_000, "USD")),
        "a replay credits nothing more"
    );

    // What was credited is no longer payable, and no more than is open can be credited.
    let overpaid = pay(&mesh, &employee, &invoice.id, 70_001, "pay-too-much")
        .await
        .expect_err("a payment of more than is due after the credit note");
    assert_eq!(overpaid.code(), Code::FailedPrecondition);
    let partly = pay(&mesh, &employee, &invoice.id, 50_000, "pay-0001")
        .await
        .expect("a partial payment");
    assert_eq!(partly.status(), InvoiceStatus::PartiallyPaid);
    assert_eq!(partly.amount_due, Some(money(20_000, "USD")));
    let too_much = credit(&mesh, &employee, &invoice.id, 20_001, "credit-too-much")
        .await
        .expect_err("more than is open");
    assert_eq!(too_much.code(), Code::FailedPrecondition);
    assert_eq!(refusal_reason(&too_much), "AMOUNT_EXCEEDS_DUE");
    for (request, field) in [
        (
            IssueCreditNoteRequest {
                amount: Some(money(100, "EUR")),
                ..valid_request(&invoice.id)
            },
            "amount.currency",
        ),
        (
            IssueCreditNoteRequest {
                amount: Some(money(0, "USD")),
                ..valid_request(&invoice.id)
            },
            "amount.amount_minor",
        ),
        (
            IssueCreditNoteRequest {
                reason: "   ".to_owned(),
                ..valid_request(&invoice.id)
            },
            "reason",
        ),
        (
            IssueCreditNoteRequest {
                idempotency_key: String::new(),
                ..valid_request(&invoice.id)
            },
            "idempotency_key",
        ),
    ] {
        let refused = finance(&mesh)
            .issue_credit_note(with_token(request, &employee.token))
            .await
            .expect_err("a bad credit note");
        assert_eq!(refused.code(), Code::InvalidArgument, "{field}");
        let violations = refused.get_details_bad_request().expect("bad request");
        assert_eq!(violations.field_violations[0].field, field);
    }
    let unknown = credit(
        &mesh,
        &employee,
        &uuid::Uuid::new_v4().to_string(),
        100,
        "credit-nowhere",
    )
    .await
    .expect_err("no such invoice");
    assert_eq!(unknown.code(), Code::NotFound);

    // The rest credited: nothing is due, and what was paid makes it PAID.
    let settled = credit(&mesh, &employee, &invoice.id, 20_000, "credit-0002")
        .await
        .expect("the rest credited");
    assert_eq!(
        year_and_sequence(&settled.credit_note.expect("note").number).1,
        2
    );
    let paid = settled.invoice.expect("invoice");
    assert_eq!(paid.status(), InvoiceStatus::Paid);
    assert_eq!(paid.amount_due, Some(money(0, "USD")));
    assert!(paid.paid_at.is_some());
    assert_eq!(sequences(&paid.credit_notes), [1, 2]);

    // The PDF shows the credit notes and that nothing is due.
    let pdf = get(
        &mesh,
        &employee,
        &format!("/v1/invoices/{}/pdf", invoice.id),
    )
    .await;
    assert_eq!(pdf.status, 200);
    let text = pdf_text(&pdf.body);
    assert!(text.contains(&note.number), "{text}");
    assert!(text.contains("-300.00"), "{text}");
    assert!(text.contains("Nothing is due"), "{text}");

    // Every credit note is in the change log with the employee, and in the activity log.
    let changes: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT event_type, origin_user_id FROM change_log WHERE entity = 'credit_note' \
         AND payload->>'invoice_id' = $1 ORDER BY id",
    )
    .bind(&invoice.id)
    .fetch_all(&db)
    .await
    .expect("change log");
    let expected = ("CREDIT_NOTE_ISSUED".to_owned(), Some(employee.id.clone()));
    assert_eq!(changes, [expected.clone(), expected]);
    let it = fixtures::employee(&mesh, Role::It).await;
    let mut system = system_client(mesh.address(Service::System));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let entries = system
            .list_logs(with_token(
                ListLogsRequest {
                    service: "finance-api".to_owned(),
                    event_type: "invoice.credited".to_owned(),
                    ..ListLogsRequest::default()
                },
                &it.token,
            ))
            .await
            .expect("activity log")
            .into_inner()
            .entries;
        if entries.len() == 2 {
            assert!(entries[0].message.contains(&invoice.number), "{entries:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "two invoice.credited entries, got {entries:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // An issued credit note is a document: never changed, never deleted.
    for statement in [
        "UPDATE credit_notes SET amount_minor = 1 WHERE id = $1::uuid",
        "DELETE FROM credit_notes WHERE id = $1::uuid",
    ] {
        assert!(
            sqlx::query(statement)
                .bind(&note.id)
                .execute(&db)
                .await
                .is_err(),
            "{statement}"
        );
    }
}

fn valid_request(invoice_id: &str) -> IssueCreditNoteRequest {
    IssueCreditNoteRequest {
        id: invoice_id.to_owned(),
        amount: Some(money(100, "USD")),
        reason: "valid".to_owned(),
        idempotency_key: "credit-invalid".to_owned(),
    }
}

#[tokio::test]
async fn racing_credit_notes_take_only_what_is_open_with_gapless_numbers_even_after_a_failure() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let invoice = aborted_invoice(&mesh, &employee, "racing-credits").await;

    // An issue failing after its number was taken gives the number back.
    sqlx::raw_sql(
        "CREATE FUNCTION fail_one_credit_note() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.idempotency_key = 'credit-failing' THEN \
             RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER fail_one_credit_note BEFORE INSERT ON credit_notes \
             FOR EACH ROW EXECUTE FUNCTION fail_one_credit_note();",
    )
    .execute(&db)
    .await
    .expect("failure injected");
    let failed = credit(&mesh, &employee, &invoice.id, 10_000, "credit-failing")
        .await
        .expect_err("the injected failure");
    assert_eq!(failed.code(), Code::Internal);
    assert!(
        !failed.message().contains("injected"),
        "{}",
        failed.message()
    );
    assert_eq!(
        fetch(&mesh, &employee, &invoice.id).await.amount_credited,
        Some(money(0, "USD")),
        "the failed issue credited nothing"
    );

    // Eight credit notes of 25,000 race for the 100,000 open: exactly four fit.
    let keys: Vec<String> = (0..8).map(|index| format!("credit-race-{index}")).collect();
    let racing = futures::future::join_all(
        keys.iter()
            .map(|key| credit(&mesh, &employee, &invoice.id, 25_000, key)),
    )
    .await;
    let accepted: Vec<CreditNote> = racing
        .iter()
        .filter_map(|answer| answer.as_ref().ok())
        .map(|answer| answer.credit_note.clone().expect("note"))
        .collect();
    assert_eq!(accepted.len(), 4, "{racing:?}");
    for refused in racing.iter().filter_map(|answer| answer.as_ref().err()) {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert_eq!(refusal_reason(refused), "AMOUNT_EXCEEDS_DUE");
    }
    let numbers: BTreeSet<u32> = sequences(&accepted).into_iter().collect();
    assert_eq!(
        numbers,
        BTreeSet::from([1, 2, 3, 4]),
        "no gap, no repeat, the failed number reused"
    );

    // Credited in full with nothing paid: CREDITED, not payable, not overdue, listed as such.
    let cancelled = fetch(&mesh, &employee, &invoice.id).await;
    assert_eq!(cancelled.status(), InvoiceStatus::Credited);
    assert_eq!(cancelled.amount_due, Some(money(0, "USD")));
    assert!(cancelled.paid_at.is_none());
    let payment = pay(&mesh, &employee, &invoice.id, 1, "pay-credited")
        .await
        .expect_err("nothing to pay");
    assert_eq!(payment.code(), Code::FailedPrecondition);
    let listed = finance(&mesh)
        .list_invoices(with_token(
            ListInvoicesRequest {
                statuses: vec![InvoiceStatus::Credited.into()],
                ..ListInvoicesRequest::default()
            },
            &employee.token,
        ))
        .await
        .expect("list")
        .into_inner()
        .invoices;
    let listed: Vec<&str> = listed.iter().map(|invoice| invoice.id.as_str()).collect();
    assert_eq!(listed, [invoice.id.as_str()]);

    // The annual report counts it as invoiced and credited, nothing pending.
    let year: i32 = invoice.legal_date[..4].parse().expect("year");
    let report = annual(&mesh, &employee, year, "USD").await;
    let totals = report.totals.expect("totals");
    assert_eq!(amount(&totals.invoiced), 100_000);
    assert_eq!(amount(&totals.credited), 100_000);
    assert_eq!(amount(&totals.pending), 0);
    assert_consistent("year", &totals);
    for month in &report.by_month {
        assert_consistent("month", month.figures.as_ref().expect("figures"));
    }

    sqlx::raw_sql(
        "DROP TRIGGER fail_one_credit_note ON credit_notes; DROP FUNCTION fail_one_credit_note();",
    )
    .execute(&db)
    .await
    .expect("failure removed");
}

#[tokio::test]
async fn only_finance_issues_credit_notes_and_rest_takes_the_idempotency_key_header() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let invoice = aborted_invoice(&mesh, &employee, "credit-access").await;
    let agency = fixtures::agency(gateway, "credit-self").await;
    let traveler = fixtures::traveler(gateway, "credit-nosy").await;
    for actor in [&agency, &traveler] {
        let refused = credit(&mesh, actor, &invoice.id, 100, "credit-denied")
            .await
            .expect_err("not FINANCE");
        assert_eq!(refused.code(), Code::PermissionDenied);
    }

    let url = format!(
        "{}/v1/invoices/{}/credit-notes",
        mesh.gateway_url(),
        invoice.id
    );
    let body = r#"{"amount": {"amountMinor": "1500", "currency": "USD"}, "reason": "typo"}"#;
    let post = |key: &'static str| {
        let url = url.clone();
        let authorization = bearer(&employee);
        async move {
            rest::send(
                "POST",
                &url,
                &[("authorization", &authorization), ("idempotency-key", key)],
                Some(body),
            )
            .await
            .expect("REST")
        }
    };
    let created = post("rest-credit-0001").await;
    assert_eq!(created.status, 200, "{}", created.json);
    assert_eq!(
        created.json["invoice"]["amountCredited"]["amountMinor"],
        "1500"
    );
    assert_eq!(created.json["invoice"]["amountDue"]["amountMinor"], "98500");
    let again = post("rest-credit-0001").await;
    assert_eq!(again.json["creditNote"], created.json["creditNote"]);
    let denied = rest::send(
        "POST",
        &url,
        &[
            ("authorization", &bearer(&agency)),
            ("idempotency-key", "rest-credit-0002"),
        ],
        Some(body),
    )
    .await
    .expect("REST");
    assert_eq!(denied.status, 403, "{}", denied.json);
}
