//! What FinanceAPI hands out beyond the invoices' JSON, against the real mesh: an invoice's
//! PDF (read back with poppler's `pdftotext`), the agency revenue report as JSON and CSV, the
//! annual report whose months and agencies add up, and its SVG chart, byte-identical from
//! call to call. Who may have which: FINANCE everything, the agency billed its own PDF,
//! another agency NOT_FOUND, a traveler 403.

use astro_e2e::{
    Mesh, Service,
    accounts::with_token,
    fixtures::{self, Actor},
    mesh, rest,
};
use astro_proto::astrobookings::{
    common::v1::{Money, Role},
    finance::v1::{
        GetAgencyRevenueReportRequest, GetAgencyRevenueReportResponse, GetAnnualReportRequest,
        GetAnnualReportResponse, Invoice, PayInvoiceRequest, PaymentChannel, RecordPaymentRequest,
        RevenueFigures,
    },
};
use chrono::{Datelike as _, Utc};
use tonic::Code;

use super::finance_invoices::{
    abort, booked_launch, database, finance, invoice_of, money, move_into_past, succeed,
};

pub(crate) fn bearer(actor: &Actor) -> String {
    format!("Bearer {}", actor.token)
}

pub(crate) async fn get(mesh: &Mesh, actor: &Actor, path: &str) -> rest::RestAnswer {
    rest::send(
        "GET",
        &format!("{}{path}", mesh.gateway_url()),
        &[("authorization", &bearer(actor))],
        None,
    )
    .await
    .expect("REST")
}

fn content_type(answer: &rest::RestAnswer) -> &str {
    answer
        .headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// `pdf` as text, by poppler's pdftotext (Debian's poppler-utils, installed by `./dev`).
pub(crate) fn pdf_text(pdf: &[u8]) -> String {
    let file = std::env::temp_dir().join(format!("invoice-{}.pdf", uuid::Uuid::new_v4()));
    std::fs::write(&file, pdf).expect("PDF written");
    let output = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext runs (Debian package poppler-utils)");
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 text")
}

async fn record_payment(mesh: &Mesh, employee: &Actor, invoice: &Invoice, amount_minor: i64) {
    finance(mesh)
        .record_payment(with_token(
            RecordPaymentRequest {
                id: invoice.id.clone(),
                amount: Some(money(amount_minor, "USD")),
                channel: PaymentChannel::BankTransfer.into(),
                reference: format!("transfer {}", invoice.number),
                idempotency_key: format!("report-{}-{amount_minor}", invoice.id),
                ..RecordPaymentRequest::default()
            },
            &employee.token,
        ))
        .await
        .expect("payment recorded");
}

#[tokio::test]
async fn an_invoice_pdf_carries_its_legal_fields_and_only_finance_and_its_agency_get_it() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let owner = fixtures::agency(gateway, "pdf").await;
    let other = fixtures::agency(gateway, "pdf-other").await;
    let traveler = fixtures::traveler(gateway, "pdf-nosy").await;
    let rocket = fixtures::rocket(gateway, &owner, 4).await;
    // 2 x 12,345 = 246.90 -> 1% = 2.469 -> USD 2.47.
    let launch_id = booked_launch(&mesh, &owner, &rocket, 12_345, 2).await;
    move_into_past(&db, &launch_id, 5).await;
    succeed(&mesh, &owner, &launch_id).await;
    let invoice = invoice_of(&mesh, &employee, &launch_id).await;
    let path = format!("/v1/invoices/{}/pdf", invoice.id);

    let pdf = get(&mesh, &employee, &path).await;
    assert_eq!(pdf.status, 200, "{}", pdf.json);
    assert_eq!(content_type(&pdf), "application/pdf");
    assert!(pdf.body.starts_with(b"%PDF-"), "{:?}", &pdf.body[..16]);
    let text = pdf_text(&pdf.body);
    for expected in [
        invoice.number.as_str(),
        "US-12-3456789",
        "Hawthorne",
        "USD 2.47",
        "USD 246.90",
        &invoice.legal_date,
        &invoice.due_date,
        &launch_id,
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let own = get(&mesh, &owner, &path).await;
    assert_eq!(own.status, 200, "{}", own.json);
    assert_eq!(own.body, pdf.body, "the same invoice gives the same bytes");

    // A payment changes what the PDF says is due, never what was billed.
    record_payment(&mesh, &employee, &invoice, 100).await;
    let after = pdf_text(&get(&mesh, &employee, &path).await.body);
    assert!(
        after.contains("USD 1.47"),
        "amount due after 1.00 paid:\n{after}"
    );
    assert!(after.contains("PARTIALLY_PAID"), "{after}");

    let foreign = get(&mesh, &other, &path).await;
    assert_eq!(foreign.status, 404, "{}", foreign.json);
    let refused = get(&mesh, &traveler, &path).await;
    assert_eq!(refused.status, 403, "{}", refused.json);
    let missing = get(
        &mesh,
        &employee,
        &format!("/v1/invoices/{}/pdf", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(missing.status, 404, "{}", missing.json);
    let malformed = get(&mesh, &employee, "/v1/invoices/not-a-uuid/pdf").await;
    assert_eq!(malformed.status, 400, "{}", malformed.json);
    let pay_foreign = finance(&mesh)
        .pay_invoice(with_token(
            PayInvoiceRequest {
                id: invoice.id.clone(),
                payment_method_id: "pm_card_visa".to_owned(),
                amount: None,
                idempotency_key: "pay-someone-elses".to_owned(),
            },
            &other.token,
        ))
        .await
        .expect_err("another agency's invoice");
    assert_eq!(pay_foreign.code(), Code::NotFound);
}

/// Moves a launch to now + `interval`: a minute ago keeps it in this year's reports (but in
/// the first minute of a year) and lets it be declared SUCCESSFUL.
async fn reschedule(db: &sqlx::PgPool, launch_id: &str, interval: &str) {
    sqlx::query("UPDATE launches SET scheduled_at = now() + $2::interval WHERE id = $1::uuid")
        .bind(launch_id)
        .bind(interval)
        .execute(db)
        .await
        .expect("launch rescheduled");
}

pub(crate) fn amount(money: &Option<Money>) -> i64 {
    money.as_ref().map(|money| money.amount_minor).unwrap_or(0)
}

/// Field by field sum of `figures`.
fn sum<'a>(figures: impl Iterator<Item = &'a RevenueFigures>) -> [i64; 5] {
    figures.fold([0; 5], |sum, figures| {
        [
            sum[0] + amount(&figures.invoiced),
            sum[1] + amount(&figures.credited),
            sum[2] + amount(&figures.received),
            sum[3] + amount(&figures.pending),
            sum[4] + amount(&figures.projected),
        ]
    })
}

pub(crate) fn assert_consistent(label: &str, figures: &RevenueFigures) {
    assert_eq!(
        amount(&figures.received) + amount(&figures.pending),
        amount(&figures.invoiced) - amount(&figures.credited),
        "{label}: received + pending = invoiced - credited ({figures:?})"
    );
}

pub(crate) async fn annual(
    mesh: &Mesh,
    employee: &Actor,
    year: i32,
    currency: &str,
) -> GetAnnualReportResponse {
    finance(mesh)
        .get_annual_report(with_token(
            GetAnnualReportRequest {
                year,
                currency: currency.to_owned(),
                include_chart: true,
            },
            &employee.token,
        ))
        .await
        .expect("annual report")
        .into_inner()
}

async fn agency_report(
    mesh: &Mesh,
    employee: &Actor,
    agency: &Actor,
    period: &str,
    currency: &str,
) -> GetAgencyRevenueReportResponse {
    finance(mesh)
        .get_agency_revenue_report(with_token(
            GetAgencyRevenueReportRequest {
                agency_id: agency.id.clone(),
                period: period.to_owned(),
                currency: currency.to_owned(),
                format: String::new(),
            },
            &employee.token,
        ))
        .await
        .expect("agency revenue report")
        .into_inner()
}

#[tokio::test]
async fn reports_add_up_never_mix_currencies_and_chart_the_same_bytes_twice() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let db = database(&mesh).await;
    let employee = fixtures::employee(&mesh, Role::Finance).await;
    let alpha = fixtures::agency(gateway, "alpha").await;
    let beta = fixtures::agency(gateway, "beta").await;
    let alpha_rocket = fixtures::rocket(gateway, &alpha, 6).await;
    let beta_rocket = fixtures::rocket(gateway, &beta, 6).await;

    // alpha: a success (fee 247 of 24,690) and an abort of a EUR launch (USD 1,000.00).
    let flown = booked_launch(&mesh, &alpha, &alpha_rocket, 12_345, 2).await;
    reschedule(&db, &flown, "-1 minute").await;
    succeed(&mesh, &alpha, &flown).await;
    let aborted = fixtures::schedule(
        gateway,
        &alpha,
        &alpha_rocket,
        fixtures::LaunchPlan {
            currency: "EUR",
            ..fixtures::LaunchPlan::usd("Mars", 50, 99_900)
        },
    )
    .await
    .id;
    reschedule(&db, &aborted, "-1 minute").await;
    abort(&mesh, &alpha, &aborted).await;
    // beta: a success (fee 101 of 10,050) and a launch tomorrow with 20,000 booked: 200
    // projected at beta's rate now (1%).
    let beta_flown = booked_launch(&mesh, &beta, &beta_rocket, 10_050, 1).await;
    reschedule(&db, &beta_flown, "-1 minute").await;
    succeed(&mesh, &beta, &beta_flown).await;
    let upcoming = booked_launch(&mesh, &beta, &beta_rocket, 20_000, 1).await;
    reschedule(&db, &upcoming, "1 day").await;

    let flown_invoice = invoice_of(&mesh, &employee, &flown).await;
    let aborted_invoice = invoice_of(&mesh, &employee, &aborted).await;
    let beta_invoice = invoice_of(&mesh, &employee, &beta_flown).await;
    record_payment(&mesh, &employee, &flown_invoice, 100).await;
    record_payment(&mesh, &employee, &beta_invoice, 101).await;
    let year: i32 = flown_invoice.legal_date[..4].parse().expect("year");
    assert_eq!(
        aborted_invoice.legal_date[..4],
        beta_invoice.legal_date[..4]
    );

    // The annual report: every figure, every month and every agency adds up.
    let report = annual(&mesh, &employee, year, "").await;
    assert_eq!(report.currency, "USD");
    assert_eq!(report.by_month.len(), 12);
    let totals = report.totals.clone().expect("totals");
    assert_eq!(amount(&totals.invoiced), 247 + 100_000 + 101);
    assert_eq!(amount(&totals.received), 100 + 101);
    assert_eq!(amount(&totals.pending), 147 + 100_000);
    assert_eq!(amount(&totals.credited), 0);
    assert_consistent("year", &totals);
    let months = sum(report
        .by_month
        .iter()
        .filter_map(|month| month.figures.as_ref()));
    let agencies = sum(report
        .by_agency
        .iter()
        .filter_map(|agency| agency.figures.as_ref()));
    let year_sum = sum(std::iter::once(&totals));
    assert_eq!(months, year_sum, "the months add up to the year");
    assert_eq!(agencies, year_sum, "the agencies add up to the year");
    for month in &report.by_month {
        assert_consistent(
            &format!("month {}", month.month),
            month.figures.as_ref().expect("figures"),
        );
    }
    let by_agency: Vec<(&str, i64)> = report
        .by_agency
        .iter()
        .map(|agency| {
            (
                agency.agency_id.as_str(),
                amount(&agency.figures.as_ref().expect("figures").invoiced),
            )
        })
        .collect();
    assert!(
        by_agency.contains(&(alpha.id.as_str(), 100_247)),
        "{by_agency:?}"
    );
    assert!(
        by_agency.contains(&(beta.id.as_str(), 101)),
        "{by_agency:?}"
    );

    // The projection lands in the month (and year) of the launch tomorrow.
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    let projected_in = if tomorrow.year() == year {
        report.clone()
    } else {
        annual(&mesh, &employee, tomorrow.year(), "USD").await
    };
    let projected_month = &projected_in.by_month[tomorrow.month0() as usize];
    assert_eq!(
        amount(&projected_month.figures.as_ref().expect("figures").projected),
        200,
        "{projected_month:?}"
    );
    assert_eq!(
        amount(&projected_in.totals.as_ref().expect("totals").projected),
        200
    );

    // No EUR fee was ever invoiced: the EUR report holds none of the USD amounts.
    let euro = annual(&mesh, &employee, year, "eur").await;
    assert_eq!(euro.currency, "EUR");
    assert_eq!(sum(euro.totals.iter()), [0; 5], "{:?}", euro.totals);

    // The chart: SVG that parses, the same bytes on a second call and in the JSON.
    let chart_path = format!("/v1/reports/annual/{year}/chart");
    let chart = get(&mesh, &employee, &chart_path).await;
    assert_eq!(chart.status, 200, "{}", chart.json);
    assert_eq!(content_type(&chart), "image/svg+xml");
    let svg = std::str::from_utf8(&chart.body).expect("UTF-8 SVG");
    let document = roxmltree::Document::parse(svg).expect("the chart parses as XML");
    assert_eq!(document.root_element().tag_name().name(), "svg");
    assert!(
        svg.contains("USD 2.01"),
        "the caption names what was received"
    );
    let again = get(&mesh, &employee, &chart_path).await;
    assert_eq!(again.body, chart.body, "byte-identical on a second call");
    assert_eq!(report.chart_svg.as_bytes(), chart.body.as_ref());
    let bad_year = get(&mesh, &employee, "/v1/reports/annual/1999/chart").await;
    assert_eq!(bad_year.status, 400, "{}", bad_year.json);

    // alpha's year: both launches, the abort's USD fee with no revenue in USD.
    let period = year.to_string();
    let alpha_usd = agency_report(&mesh, &employee, &alpha, &period, "USD").await;
    let alpha_totals = alpha_usd.totals.clone().expect("totals");
    assert_eq!(alpha_usd.rows.len(), 2, "{:?}", alpha_usd.rows);
    assert_eq!(alpha_totals.launches, 2);
    assert_eq!(alpha_totals.successful_launches, 1);
    assert_eq!(amount(&alpha_totals.net_revenue), 24_690);
    assert_eq!(amount(&alpha_totals.fees_invoiced), 100_247);
    assert_eq!(amount(&alpha_totals.fees_paid), 100);
    assert_eq!(amount(&alpha_totals.fees_outstanding), 100_147);
    assert_eq!(alpha_usd.successful_launches_to_date, 1);
    assert!(!alpha_usd.reliable);
    let alpha_eur = agency_report(&mesh, &employee, &alpha, &period, "EUR").await;
    let eur_totals = alpha_eur.totals.clone().expect("totals");
    assert_eq!(
        alpha_eur.rows.len(),
        1,
        "only the EUR launch: {:?}",
        alpha_eur.rows
    );
    assert_eq!(amount(&eur_totals.fees_invoiced), 0, "its fee is in USD");
    let beta_year = agency_report(&mesh, &employee, &beta, &period, "USD").await;
    let beta_totals = beta_year.totals.clone().expect("totals");
    assert_eq!(amount(&beta_totals.fees_paid), 101);
    assert_eq!(amount(&beta_totals.fees_outstanding), 0);

    // The same report as CSV through REST.
    let csv = get(
        &mesh,
        &employee,
        &format!(
            "/v1/reports/agencies/{}/revenue?period={period}&format=csv",
            alpha.id
        ),
    )
    .await;
    assert_eq!(csv.status, 200, "{}", csv.json);
    assert_eq!(content_type(&csv), "text/csv; charset=utf-8");
    let text = std::str::from_utf8(&csv.body).expect("UTF-8 CSV");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("launch_id,launch,"), "{text}");
    assert_eq!(lines.len(), 4, "header, 2 launches, totals:\n{text}");
    assert_eq!(
        lines[3], "TOTAL,2,,1,24690,100247,0,100,100147,,,USD",
        "{text}"
    );

    // Bad input and the wrong people.
    for (path, status) in [
        (
            format!("/v1/reports/agencies/{}/revenue?period=2026-Q7", alpha.id),
            400,
        ),
        (
            format!(
                "/v1/reports/agencies/{}/revenue?period={period}&currency=EURO",
                alpha.id
            ),
            400,
        ),
        (
            format!(
                "/v1/reports/agencies/{}/revenue?period={period}&format=xml",
                alpha.id
            ),
            400,
        ),
        (
            format!(
                "/v1/reports/agencies/{}/revenue?period={period}",
                uuid::Uuid::new_v4()
            ),
            404,
        ),
    ] {
        let answer = get(&mesh, &employee, &path).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.json);
    }
    let traveler = fixtures::traveler(gateway, "reports-nosy").await;
    for actor in [&alpha, &traveler] {
        for path in [
            format!("/v1/reports/annual/{year}"),
            chart_path.clone(),
            format!("/v1/reports/agencies/{}/revenue?period={period}", alpha.id),
        ] {
            let answer = get(&mesh, actor, &path).await;
            assert_eq!(answer.status, 403, "{path}: {}", answer.json);
        }
    }
}
