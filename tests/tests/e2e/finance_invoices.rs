//! FinanceAPI's launch fee invoices against the real mesh: a launch that ends is invoiced once
//! from the change log, whatever else generates at the same time; numbers are gapless per year
//! of the legal date in the platform time zone, also when an issue fails after its number was
//! taken; fees follow the revenue BookingAPI reports and the agency's reliability; payments
//! move the status and never exceed the amount; and an agency sees only its own invoices.

use std::{collections::BTreeSet, time::Duration};

use astro_e2e::{
    Mesh, MeshOptions, Service, TestServers,
    accounts::with_token,
    eventually,
    fixtures::{self, Actor},
    mesh, mesh_with_catcher, rest,
};
use astro_proto::astrobookings::{
    agency::v1::{AbortLaunchRequest, SucceedLaunchRequest},
    booking::v1::{
        BatchGetLaunchRevenueRequest, booking_internal_service_client::BookingInternalServiceClient,
    },
    common::v1::{Money, Role},
    finance::v1::{
        CorrectPaymentRequest, GenerateInvoicesRequest, GenerateInvoicesResponse,
        GetInvoiceRequest, Invoice, InvoiceKind, InvoiceStatus, ListInvoicesRequest,
        PaymentChannel, RecordPaymentRequest, finance_service_client::FinanceServiceClient,
    },
};
use chrono::{DateTime, Datelike as _, TimeZone as _, Utc};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

pub(crate) fn finance(mesh: &Mesh) -> FinanceServiceClient<Channel> {
    FinanceServiceClient::new(astro_e2e::channel(mesh.address(Service::Gateway)))
}

pub(crate) async fn database(mesh: &Mesh) -> sqlx::PgPool {
    sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB")
}

pub(crate) fn money(amount_minor: i64, currency: &str) -> Money {
    Money {
        amount_minor,
        currency: currency.to_owned(),
    }
}

/// Schedules a launch of `rocket` at `price_minor` USD per seat, books `seats` passengers on
/// it (one booking each, paid at localstripe), and returns its id.
pub(crate) async fn booked_launch(
    mesh: &Mesh,
    agency: &Actor,
    rocket: &str,
    price_minor: i64,
    seats: usize,
) -> String {
    let gateway = mesh.address(Service::Gateway);
    let launch_id = fixtures::launch(gateway, agency, rocket, 30, price_minor).await;
    if seats > 0 {
        let traveler = fixtures::traveler(gateway, "invoiced").await;
        for _ in 0..seats {
            fixtures::booking_client(gateway)
                .create_booking(with_token(
                    fixtures::booking_request(&launch_id, fixtures::passengers(1)),
                    &traveler.token,
                ))
                .await
                .expect("booking paid");
        }
    }
    launch_id
}

/// Moves a launch's date `hours_ago` hours into the past, so it may be declared SUCCESSFUL
/// (and so launches of one agency have a known order).
pub(crate) async fn move_into_past(db: &sqlx::PgPool, launch_id: &str, hours_ago: i32) {
    sqlx::query(
        "UPDATE launches SET scheduled_at = now() - make_interval(hours => $2) WHERE id = $1::uuid",
    )
    .bind(launch_id)
    .bind(hours_ago)
    .execute(db)
    .await
    .expect("launch moved into the past");
}

pub(crate) async fn succeed(mesh: &Mesh, agency: &Actor, launch_id: &str) {
    fixtures::agency_client(mesh.address(Service::Gateway))
        .succeed_launch(with_token(
            SucceedLaunchRequest {
                id: launch_id.to_owned(),
                reason: "nominal".to_owned(),
            },
            &agency.token,
        ))
        .await
        .expect("launch SUCCESSFUL");
}

pub(crate) async fn abort(mesh: &Mesh, agency: &Actor, launch_id: &str) {
    fixtures::agency_client(mesh.address(Service::Gateway))
        .abort_launch(with_token(
            AbortLaunchRequest {
                id: launch_id.to_owned(),
                reason: "engine anomaly".to_owned(),
            },
            &agency.token,
        ))
        .await
        .expect("launch ABORTED");
}

/// Every invoice FINANCE sees, oldest number first.
async fn all_invoices(mesh: &Mesh, finance_employee: &Actor) -> Vec<Invoice> {
    let mut invoices = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = finance(mesh)
            .list_invoices(with_token(
                ListInvoicesRequest {
                    page_size: 100,
                    page_token: page_token.clone(),
                    ..ListInvoicesRequest::default()
                },
                &finance_employee.token,
            ))
            .await
            .expect("FINANCE lists invoices")
            .into_inner();
        invoices.extend(page.invoices);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    invoices.sort_by(|a, b| a.number.cmp(&b.number));
    invoices
}

/// The invoice of `launch_id`, once the change-log consumer has issued it.
pub(crate) async fn invoice_of(mesh: &Mesh, finance_employee: &Actor, launch_id: &str) -> Invoice {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let page = finance(mesh)
            .list_invoices(with_token(
                ListInvoicesRequest {
                    launch_id: launch_id.to_owned(),
                    ..ListInvoicesRequest::default()
                },
                &finance_employee.token,
            ))
            .await
            .expect("FINANCE lists invoices")
            .into_inner();
        if let Some(invoice) = page.invoices.into_iter().next() {
            return invoice;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "launch {launch_id} was never invoiced"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn generate(
    mesh: &Mesh,
    employee: &Actor,
    request: GenerateInvoicesRequest,
) -> Result<GenerateInvoicesResponse, tonic::Status> {
    finance(mesh)
        .generate_invoices(with_token(request, &employee.token))
        .await
        .map(tonic::Response::into_inner)
}

fn sequence_of(number: &str) -> u32 {
    number
        .rsplit('-')
        .next()
        .and_then(|digits| digits.parse().ok())
        .expect("number AB-YYYY-NNNNNN")
}

#[tokio::test]
async fn a_hundred_launches_succeeding_at_once_get_invoices_numbered_1_to_100_once_each() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agencies = [
        fixtures::agency(gateway, "hundred-a").await,
        fixtures::agency(gateway, "hundred-b").await,
    ];
    let mut launches = Vec::new();
    for (index, agency) in agencies.iter().cycle().take(100).enumerate() {
        let rocket = fixtures::rocket(gateway, agency, 4).await;
        let launch_id = fixtures::launch(gateway, agency, &rocket, 30, 50_000).await;
        move_into_past(&db, &launch_id, 200 - i32::try_from(index).expect("small")).await;
        launches.push((agency.clone(), launch_id));
    }
    // All at once, while five generations run as well: the change-log consumer and the
    // generators race on every launch.
    let succeeded = futures::future::join_all(
        launches
            .iter()
            .map(|(agency, launch_id)| succeed(&mesh, agency, launch_id)),
    );
    let generators = futures::future::join_all(
        (0..5).map(|_| generate(&mesh, &employee, GenerateInvoicesRequest::default())),
    );
    let ((), generated) = tokio::join!(
        async {
            succeeded.await;
        },
        generators
    );
    for run in generated {
        run.expect("a generation during the launches' success succeeds");
    }
    let all_issued = eventually(Duration::from_secs(60), || async {
        all_invoices(&mesh, &employee).await.len() >= 100
    })
    .await;
    assert!(all_issued, "every launch is invoiced");
    let invoices = all_invoices(&mesh, &employee).await;
    assert_eq!(invoices.len(), 100, "one invoice per launch, never two");
    let year = Utc::now().year();
    let sequences: Vec<u32> = invoices
        .iter()
        .map(|invoice| sequence_of(&invoice.number))
        .collect();
    assert_eq!(
        sequences,
        (1..=100).collect::<Vec<u32>>(),
        "gapless, no repeat"
    );
    assert!(
        invoices
            .iter()
            .all(|invoice| invoice.number.starts_with(&format!("AB-{year}-")))
    );
    let invoiced: BTreeSet<&str> = invoices
        .iter()
        .map(|invoice| invoice.launch.as_ref().expect("launch").id.as_str())
        .collect();
    let expected: BTreeSet<&str> = launches.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        invoiced, expected,
        "each launch has exactly its own invoice"
    );

    // Five more concurrent generations issue nothing new.
    let reruns = futures::future::join_all(
        (0..5).map(|_| generate(&mesh, &employee, GenerateInvoicesRequest::default())),
    )
    .await;
    for rerun in reruns {
        let rerun = rerun.expect("generation");
        assert!(rerun.created_invoices.is_empty(), "nothing left to issue");
        assert_eq!(rerun.already_invoiced, 100);
        assert_eq!(rerun.already_invoiced_launch_ids.len(), 100);
    }
    let (rows, last): (i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM invoices), \
                (SELECT last_number FROM invoice_number_series WHERE series = 'INVOICE' AND year = $1)",
    )
    .bind(year)
    .fetch_one(&db)
    .await
    .expect("counts");
    assert_eq!((rows, last), (100, 100));
}

#[tokio::test]
async fn an_issue_failing_after_its_number_was_taken_leaves_no_gap() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(gateway, "gapless").await;
    let rocket = fixtures::rocket(gateway, &agency, 4).await;
    let mut ids = Vec::new();
    for hours_ago in [30, 20, 10] {
        let launch_id = fixtures::launch(gateway, &agency, &rocket, 30, 10_000).await;
        move_into_past(&db, &launch_id, hours_ago).await;
        ids.push(launch_id);
    }
    let (first, failing, third) = (&ids[0], &ids[1], &ids[2]);
    // The insert of the second launch's invoice fails, after its number was allocated in the
    // same transaction.
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION fail_one_invoice() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.launch_id = '{failing}'::uuid THEN RAISE EXCEPTION 'injected failure'; END IF; \
         RETURN NEW; END $$; \
         CREATE TRIGGER fail_one_invoice BEFORE INSERT ON invoices \
             FOR EACH ROW EXECUTE FUNCTION fail_one_invoice();"
    ))
    .execute(&db)
    .await
    .expect("failure injected");
    for launch_id in &ids {
        succeed(&mesh, &agency, launch_id).await;
    }
    let first_invoice = invoice_of(&mesh, &employee, first).await;
    let third_invoice = invoice_of(&mesh, &employee, third).await;
    let refused = generate(
        &mesh,
        &employee,
        GenerateInvoicesRequest {
            launch_id: failing.clone(),
            ..GenerateInvoicesRequest::default()
        },
    )
    .await
    .expect_err("the injected failure fails the issue");
    assert_eq!(refused.code(), Code::Internal);
    assert!(
        !refused.message().contains("injected"),
        "internal text never leaks: {}",
        refused.message()
    );
    assert_eq!(sequence_of(&first_invoice.number), 1);
    assert_eq!(
        sequence_of(&third_invoice.number),
        2,
        "the failed issue gave its number back"
    );

    sqlx::raw_sql("DROP TRIGGER fail_one_invoice ON invoices; DROP FUNCTION fail_one_invoice();")
        .execute(&db)
        .await
        .expect("failure removed");
    // The change-log consumer retries the failed launch by itself.
    let second_invoice = invoice_of(&mesh, &employee, failing).await;
    assert_eq!(sequence_of(&second_invoice.number), 3);
    let invoices = all_invoices(&mesh, &employee).await;
    let sequences: Vec<u32> = invoices
        .iter()
        .map(|invoice| sequence_of(&invoice.number))
        .collect();
    assert_eq!(sequences, vec![1, 2, 3]);
}

#[tokio::test]
async fn invoices_take_the_year_of_their_legal_date_in_the_platform_time_zone() {
    let new_york = chrono_tz::America::New_York;
    let next_year = Utc::now().year() + 1;
    let at = |year: i32, month: u32, day: u32, hour: u32, minute: u32| -> DateTime<Utc> {
        new_york
            .with_ymd_and_hms(year, month, day, hour, minute, 0)
            .single()
            .expect("a time")
            .with_timezone(&Utc)
    };
    let offset_to = |target: DateTime<Utc>| (target - Utc::now()).num_milliseconds().to_string();
    let late_on_new_years_eve = at(next_year - 1, 12, 31, 23, 30);
    let mut mesh = Mesh::start(
        &TestServers::from_env(),
        MeshOptions {
            extra_env: [
                (
                    "ASTRO_FINANCE_TIME_ZONE".to_owned(),
                    "America/New_York".to_owned(),
                ),
                (
                    "ASTRO_FINANCE_CLOCK_OFFSET_MS".to_owned(),
                    offset_to(late_on_new_years_eve),
                ),
            ]
            .into(),
            ..MeshOptions::default()
        },
    )
    .await
    .expect("mesh starts");
    let gateway = mesh.address(Service::Gateway);
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(gateway, "new-year").await;
    let rocket = fixtures::rocket(gateway, &agency, 4).await;
    let december = fixtures::launch(gateway, &agency, &rocket, 30, 10_000).await;
    let january = fixtures::launch(gateway, &agency, &rocket, 40, 10_000).await;
    abort(&mesh, &agency, &december).await;
    let december_invoice = invoice_of(&mesh, &employee, &december).await;
    assert_eq!(
        december_invoice.legal_date,
        format!("{}-12-31", next_year - 1)
    );
    assert_eq!(december_invoice.due_date, format!("{next_year}-01-30"));
    assert!(
        december_invoice
            .number
            .starts_with(&format!("AB-{}-", next_year - 1)),
        "{}",
        december_invoice.number
    );

    let early_on_new_years_day = at(next_year, 1, 1, 0, 30);
    mesh.restart_with(
        Service::Finance,
        &[(
            "ASTRO_FINANCE_CLOCK_OFFSET_MS",
            &offset_to(early_on_new_years_day),
        )],
    )
    .await
    .expect("FinanceAPI restarted an hour later");
    abort(&mesh, &agency, &january).await;
    let january_invoice = invoice_of(&mesh, &employee, &january).await;
    assert_eq!(january_invoice.legal_date, format!("{next_year}-01-01"));
    assert_eq!(
        january_invoice.number,
        format!("AB-{next_year}-000001"),
        "a new year starts at 1"
    );
}

#[tokio::test]
async fn fees_follow_the_revenue_the_agencys_reliability_and_aborts() {
    let (catcher, mesh) = mesh_with_catcher(&[]).await;
    let gateway = mesh.address(Service::Gateway);
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(gateway, "fees").await;
    let rocket = fixtures::rocket(gateway, &agency, 6).await;
    // 2 x 12,345 = 246.90 -> 1% = 2.469 -> 247; 1 x 10,050 -> 100.5 -> 101 (half up);
    // the third: 0.8% of 4 x 15,625 = 62,500 -> 500.
    let first = booked_launch(&mesh, &agency, &rocket, 12_345, 2).await;
    let second = booked_launch(&mesh, &agency, &rocket, 10_050, 1).await;
    let third = booked_launch(&mesh, &agency, &rocket, 15_625, 4).await;
    let aborted = fixtures::schedule(
        gateway,
        &agency,
        &rocket,
        fixtures::LaunchPlan {
            currency: "EUR",
            ..fixtures::LaunchPlan::usd("Mars", 50, 99_900)
        },
    )
    .await
    .id;
    for (launch_id, hours_ago) in [(&first, 30), (&second, 20), (&third, 10)] {
        move_into_past(&db, launch_id, hours_ago).await;
        succeed(&mesh, &agency, launch_id).await;
    }
    abort(&mesh, &agency, &aborted).await;

    let first_invoice = invoice_of(&mesh, &employee, &first).await;
    assert_eq!(first_invoice.amount, Some(money(247, "USD")));
    assert_eq!(first_invoice.fee_rate_basis_points, 100);
    assert_eq!(first_invoice.gross_revenue, Some(money(24_690, "USD")));
    assert_eq!(first_invoice.passengers, 2);
    assert_eq!(first_invoice.seats_sold, 2);
    assert!(!first_invoice.reliable_agency);
    let second_invoice = invoice_of(&mesh, &employee, &second).await;
    assert_eq!(second_invoice.amount, Some(money(101, "USD")), "half up");
    assert_eq!(second_invoice.earlier_successful_launches, 1);
    assert!(
        !second_invoice.reliable_agency,
        "one earlier success is not enough"
    );
    let third_invoice = invoice_of(&mesh, &employee, &third).await;
    assert_eq!(third_invoice.amount, Some(money(500, "USD")));
    assert_eq!(third_invoice.fee_rate_basis_points, 80);
    assert!(third_invoice.reliable_agency);
    assert_eq!(
        third_invoice.reliability_launch_ids,
        vec![first.clone(), second.clone()]
    );
    assert_eq!(third_invoice.net_revenue, Some(money(62_500, "USD")));
    let fee_lines: i64 = third_invoice
        .lines
        .iter()
        .filter(|line| line.kind == 4)
        .map(|line| line.amount.as_ref().expect("amount").amount_minor)
        .sum();
    assert_eq!(fee_lines, 500, "only the FEE line is billed");
    let bill_to = third_invoice.bill_to.clone().expect("bill to");
    assert_eq!(bill_to.tax_id, "US-12-3456789");
    assert_eq!(bill_to.legal_address.expect("address").city, "Hawthorne");
    let aborted_invoice = invoice_of(&mesh, &employee, &aborted).await;
    assert_eq!(aborted_invoice.kind(), InvoiceKind::AbortedLaunchFee);
    assert_eq!(
        aborted_invoice.amount,
        Some(money(100_000, "USD")),
        "1,000 USD whatever the launch's currency"
    );
    assert_eq!(aborted_invoice.status(), InvoiceStatus::Issued);

    // A refund after issue (written as one would be) changes the revenue, never the invoice.
    sqlx::query(
        "UPDATE bookings SET status = 'CANCELLED', cancellation_reason = 'TRAVELER_REQUEST', \
             refund_minor = total_minor, cancelled_at = now() \
         WHERE id = (SELECT id FROM bookings WHERE launch_id = $1::uuid LIMIT 1)",
    )
    .bind(&first)
    .execute(&db)
    .await
    .expect("a late refund");
    let revenue = BookingInternalServiceClient::new(
        mesh.internal_channel(Service::Booking, Service::Finance),
    )
    .batch_get_launch_revenue(BatchGetLaunchRevenueRequest {
        launch_ids: vec![first.clone()],
    })
    .await
    .expect("revenue")
    .into_inner()
    .revenues;
    assert_eq!(
        revenue[0].net_revenue,
        Some(money(12_345, "USD")),
        "BookingAPI sees the refund"
    );
    let rerun = generate(
        &mesh,
        &employee,
        GenerateInvoicesRequest {
            launch_ids: vec![first.clone()],
            ..GenerateInvoicesRequest::default()
        },
    )
    .await
    .expect("generation");
    assert!(rerun.created_invoices.is_empty());
    assert_eq!(rerun.already_invoiced_launch_ids, vec![first.clone()]);
    let again = finance(&mesh)
        .get_invoice(with_token(
            GetInvoiceRequest {
                id: first_invoice.id.clone(),
            },
            &employee.token,
        ))
        .await
        .expect("the invoice")
        .into_inner()
        .invoice
        .expect("invoice");
    assert_eq!(again.amount, first_invoice.amount);
    assert_eq!(again.refunds, first_invoice.refunds);
    assert_eq!(again.lines, first_invoice.lines);
    let tampered = sqlx::query("UPDATE invoices SET amount_minor = 1 WHERE id = $1::uuid")
        .bind(&first_invoice.id)
        .execute(&db)
        .await
        .expect_err("the database refuses to change an issued invoice");
    assert!(tampered.to_string().contains("cannot change"), "{tampered}");

    // The agency is told of each invoice, with a link to it.
    let subject = format!("Invoice {} issued", third_invoice.number);
    let mails = catcher
        .wait_until(Duration::from_secs(30), |mails| {
            mails.iter().any(|mail| mail.subject == subject)
        })
        .await
        .expect("mails");
    let mail = mails
        .iter()
        .find(|mail| mail.subject == subject)
        .unwrap_or_else(|| {
            panic!(
                "no e-mail {subject:?} among {:?}",
                mails.iter().map(|mail| &mail.subject).collect::<Vec<_>>()
            )
        });
    assert!(
        mail.rcpt_tos.iter().any(|to| to == "ops@agency.example"),
        "{:?}",
        mail.rcpt_tos
    );
    assert!(mail.text.contains("USD 5.00"), "{}", mail.text);
    assert!(
        mail.text
            .contains(&format!("/agency/invoices/{}", third_invoice.id)),
        "{}",
        mail.text
    );
}

#[tokio::test]
async fn payments_move_the_status_and_never_exceed_the_amount() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let agency = fixtures::agency(gateway, "payer").await;
    let rocket = fixtures::rocket(gateway, &agency, 4).await;
    let launch_id = fixtures::launch(gateway, &agency, &rocket, 30, 10_000).await;
    abort(&mesh, &agency, &launch_id).await;
    let invoice = invoice_of(&mesh, &employee, &launch_id).await;
    let record = |amount_minor: i64, key: &str| {
        let mut client = finance(&mesh);
        let request = with_token(
            RecordPaymentRequest {
                id: invoice.id.clone(),
                amount: Some(money(amount_minor, "USD")),
                channel: PaymentChannel::BankTransfer.into(),
                reference: format!("SEPA {key}"),
                idempotency_key: key.to_owned(),
                ..RecordPaymentRequest::default()
            },
            &employee.token,
        );
        async move {
            client
                .record_payment(request)
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let partial = record(40_000, "payment-0001")
        .await
        .expect("partial payment");
    let partial_invoice = partial.invoice.expect("invoice");
    assert_eq!(partial_invoice.status(), InvoiceStatus::PartiallyPaid);
    assert_eq!(partial_invoice.amount_due, Some(money(60_000, "USD")));
    let replay = record(40_000, "payment-0001").await.expect("a replay");
    assert_eq!(
        replay.payment, partial.payment,
        "the same key answers the first payment"
    );
    assert_eq!(
        replay.invoice.expect("invoice").amount_due,
        Some(money(60_000, "USD"))
    );

    let over = record(60_001, "payment-0002")
        .await
        .expect_err("more than is due");
    assert_eq!(over.code(), Code::FailedPrecondition);
    assert_eq!(
        over.get_details_error_info().expect("error info").reason,
        "AMOUNT_EXCEEDS_DUE"
    );
    let euros = finance(&mesh)
        .record_payment(with_token(
            RecordPaymentRequest {
                id: invoice.id.clone(),
                amount: Some(money(1_000, "EUR")),
                channel: PaymentChannel::Cheque.into(),
                idempotency_key: "payment-euros".to_owned(),
                ..RecordPaymentRequest::default()
            },
            &employee.token,
        ))
        .await
        .expect_err("another currency");
    assert_eq!(euros.code(), Code::InvalidArgument);

    let rest_paid = record(60_000, "payment-0003").await.expect("the rest");
    let paid = rest_paid.invoice.expect("invoice");
    assert_eq!(paid.status(), InvoiceStatus::Paid);
    assert_eq!(paid.amount_due, Some(money(0, "USD")));
    assert!(paid.paid_at.is_some());
    assert_eq!(paid.payments.len(), 2);

    // A correction reverses the first payment and records what it really was.
    let payment_id = partial.payment.expect("payment").id;
    let corrected = finance(&mesh)
        .correct_payment(with_token(
            CorrectPaymentRequest {
                invoice_id: invoice.id.clone(),
                payment_id: payment_id.clone(),
                amount: Some(money(30_000, "USD")),
                reason: "bank statement shows 300.00".to_owned(),
                ..CorrectPaymentRequest::default()
            },
            &employee.token,
        ))
        .await
        .expect("correction")
        .into_inner();
    let corrected_payment = corrected.payment.expect("payment");
    assert_eq!(corrected_payment.amount, Some(money(30_000, "USD")));
    assert_eq!(
        corrected_payment.original_amount,
        Some(money(40_000, "USD"))
    );
    assert_eq!(
        corrected_payment.correction_reason,
        "bank statement shows 300.00"
    );
    let after = corrected.invoice.expect("invoice");
    assert_eq!(after.status(), InvoiceStatus::PartiallyPaid);
    assert_eq!(after.amount_due, Some(money(10_000, "USD")));
    assert!(after.paid_at.is_none());
    let no_reason = finance(&mesh)
        .correct_payment(with_token(
            CorrectPaymentRequest {
                invoice_id: invoice.id.clone(),
                payment_id: payment_id.clone(),
                amount: Some(money(0, "USD")),
                ..CorrectPaymentRequest::default()
            },
            &employee.token,
        ))
        .await
        .expect_err("a correction needs a reason");
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    let entries: Vec<(String, i64, Option<String>, String)> = sqlx::query_as(
        "SELECT kind, amount_minor, created_user_id, reason FROM invoice_payment_entries \
         WHERE payment_id = $1::uuid ORDER BY id",
    )
    .bind(&payment_id)
    .fetch_all(&db)
    .await
    .expect("ledger");
    let reason = "bank statement shows 300.00".to_owned();
    assert_eq!(
        entries,
        vec![
            (
                "PAYMENT".to_owned(),
                40_000,
                Some(employee.id.clone()),
                String::new()
            ),
            (
                "REVERSAL".to_owned(),
                -40_000,
                Some(employee.id.clone()),
                reason.clone()
            ),
            (
                "CORRECTION".to_owned(),
                30_000,
                Some(employee.id.clone()),
                reason
            ),
        ]
    );
    assert!(
        sqlx::query("DELETE FROM invoice_payments WHERE id = $1::uuid")
            .bind(&payment_id)
            .execute(&db)
            .await
            .is_err(),
        "nothing is ever deleted"
    );

    // Five payments of 4,000 race for the 10,000 still due: exactly two fit.
    let racing = futures::future::join_all(
        (0..5).map(|index| record(4_000, &format!("racing-payment-{index}"))),
    )
    .await;
    let accepted = racing.iter().filter(|answer| answer.is_ok()).count();
    assert_eq!(accepted, 2, "{racing:?}");
    for refused in racing.iter().filter_map(|answer| answer.as_ref().err()) {
        assert_eq!(refused.code(), Code::FailedPrecondition);
    }
    let final_state = finance(&mesh)
        .get_invoice(with_token(
            GetInvoiceRequest {
                id: invoice.id.clone(),
            },
            &employee.token,
        ))
        .await
        .expect("invoice")
        .into_inner()
        .invoice
        .expect("invoice");
    assert_eq!(final_state.amount_paid, Some(money(98_000, "USD")));
    assert_eq!(final_state.status(), InvoiceStatus::PartiallyPaid);
}

#[tokio::test]
async fn an_agency_sees_only_its_own_invoices_and_a_traveler_none() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let owner = fixtures::agency(gateway, "owner").await;
    let other = fixtures::agency(gateway, "other").await;
    let traveler = fixtures::traveler(gateway, "nosy").await;
    let rocket = fixtures::rocket(gateway, &owner, 4).await;
    let launch_id = fixtures::launch(gateway, &owner, &rocket, 30, 10_000).await;
    abort(&mesh, &owner, &launch_id).await;
    let invoice = invoice_of(&mesh, &employee, &launch_id).await;

    let own = finance(&mesh)
        .get_invoice(with_token(
            GetInvoiceRequest {
                id: invoice.id.clone(),
            },
            &owner.token,
        ))
        .await
        .expect("the agency reads its own invoice")
        .into_inner()
        .invoice
        .expect("invoice");
    assert_eq!(own.number, invoice.number);
    let foreign = finance(&mesh)
        .get_invoice(with_token(
            GetInvoiceRequest {
                id: invoice.id.clone(),
            },
            &other.token,
        ))
        .await
        .expect_err("another agency's invoice");
    assert_eq!(foreign.code(), Code::NotFound);
    let listed = finance(&mesh)
        .list_invoices(with_token(
            ListInvoicesRequest {
                agency_id: owner.id.clone(),
                ..ListInvoicesRequest::default()
            },
            &other.token,
        ))
        .await
        .expect("an agency lists")
        .into_inner();
    assert!(
        listed.invoices.is_empty(),
        "filtering on another agency shows nothing of it"
    );
    assert_eq!(listed.total_size, 0);
    let refused_record = finance(&mesh)
        .record_payment(with_token(
            RecordPaymentRequest {
                id: invoice.id.clone(),
                amount: Some(money(100, "USD")),
                channel: PaymentChannel::BankTransfer.into(),
                idempotency_key: "agency-self-payment".to_owned(),
                ..RecordPaymentRequest::default()
            },
            &owner.token,
        ))
        .await
        .expect_err("an agency cannot record payments");
    assert_eq!(refused_record.code(), Code::PermissionDenied);

    // Through REST: 404 for the other agency, 403 for the traveler.
    let url = format!("{}/v1/invoices/{}", mesh.gateway_url(), invoice.id);
    let bearer = |actor: &Actor| format!("Bearer {}", actor.token);
    let answer = rest::send("GET", &url, &[("authorization", &bearer(&other))], None)
        .await
        .expect("REST");
    assert_eq!(answer.status, 404, "{}", answer.json);
    for path in [
        format!("/v1/invoices/{}", invoice.id),
        "/v1/invoices".to_owned(),
    ] {
        let answer = rest::send(
            "GET",
            &format!("{}{path}", mesh.gateway_url()),
            &[("authorization", &bearer(&traveler))],
            None,
        )
        .await
        .expect("REST");
        assert_eq!(answer.status, 403, "{path}: {}", answer.json);
    }
    let generate_as_agency = rest::send(
        "POST",
        &format!("{}/v1/invoices:generate", mesh.gateway_url()),
        &[("authorization", &bearer(&owner))],
        Some("{}"),
    )
    .await
    .expect("REST");
    assert_eq!(generate_as_agency.status, 403);
    let bad_period = rest::send(
        "POST",
        &format!("{}/v1/invoices:generate", mesh.gateway_url()),
        &[("authorization", &bearer(&employee))],
        Some(r#"{"period": "2026-Q7"}"#),
    )
    .await
    .expect("REST");
    assert_eq!(bad_period.status, 400, "{}", bad_period.json);
}
