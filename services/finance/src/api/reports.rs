//! The report RPCs of `FinanceService`: decode into domain input, call [`Reports`], encode.
//!
//! [`Reports`]: crate::app::reports::Reports

use astro_proto::{
    astrobookings::finance::v1::{
        AgencyAnnualRevenue, AgencyRevenueRow as ProtoRow, AgencyRevenueTotals as ProtoTotals,
        GetAgencyRevenueReportRequest, GetAgencyRevenueReportResponse, GetAnnualReportChartRequest,
        GetAnnualReportRequest, GetAnnualReportResponse, InvoiceStatus as ProtoInvoiceStatus,
        MonthlyRevenue, RevenueFigures,
    },
    google::api::HttpBody,
};
use astro_shared::{
    auth::caller,
    convert::{money, timestamp},
    text::ReportFormat,
};
use tonic::{Request, Response, Status};

use super::{FinanceApi, invoices::launch_summary};
use crate::app::reports::Annual;
use crate::domain::{
    self,
    invoice::Period,
    report::{Figures, agency_revenue_csv, check_year, parse_currency},
};

impl FinanceApi {
    pub(super) async fn get_agency_revenue_report_rpc(
        &self,
        request: Request<GetAgencyRevenueReportRequest>,
    ) -> Result<Response<GetAgencyRevenueReportResponse>, Status> {
        let caller = caller(&request)?.clone();
        let input = request.into_inner();
        let agency_id = domain::parse_id("agency_id", &input.agency_id)?;
        let period = Period::parse("period", &input.period)?;
        let currency = parse_currency(&input.currency)?;
        let format = ReportFormat::parse(&input.format)?;
        let report = self
            .state
            .reports
            .agency_revenue(&caller, agency_id, period, currency)
            .await?;
        let currency = report.currency.as_str();
        let totals = &report.totals;
        let mut response = GetAgencyRevenueReportResponse {
            agency_id: report.agency_id.to_string(),
            agency_name: report.agency_name.clone(),
            period: report.period.name.clone(),
            period_start: Some(timestamp(report.period_start)),
            period_end: Some(timestamp(report.period_end)),
            rows: Vec::new(),
            totals: Some(ProtoTotals {
                launches: totals.launches,
                successful_launches: totals.successful_launches,
                net_revenue: Some(money(totals.net_revenue_minor, currency)),
                fees_invoiced: Some(money(totals.fees_invoiced_minor, currency)),
                fees_paid: Some(money(totals.fees_paid_minor, currency)),
                fees_credited: Some(money(totals.fees_credited_minor, currency)),
                fees_outstanding: Some(money(totals.fees_outstanding_minor(), currency)),
            }),
            reliable: report.reliable,
            successful_launches_to_date: report.successful_launches_to_date,
            generated_at: Some(timestamp(report.generated_at)),
            currency: currency.to_owned(),
            ..GetAgencyRevenueReportResponse::default()
        };
        match format {
            ReportFormat::Csv => {
                let rows: Vec<_> = report.rows.iter().map(|(row, _)| row.clone()).collect();
                response.csv = agency_revenue_csv(&rows, totals, currency).into_bytes();
                response.content_type = "text/csv; charset=utf-8".to_owned();
                response.filename =
                    format!("revenue-{}-{}.csv", report.agency_id, report.period.name);
            }
            ReportFormat::Json => {
                response.rows = report
                    .rows
                    .iter()
                    .map(|(row, launch)| ProtoRow {
                        launch: Some(launch_summary(launch)),
                        net_revenue: Some(money(row.net_revenue_minor, currency)),
                        fee_invoiced: Some(money(row.fee_invoiced_minor, currency)),
                        fee_paid: Some(money(row.fee_paid_minor, currency)),
                        fee_credited: Some(money(row.fee_credited_minor, currency)),
                        invoice_id: row.invoice_id.map(|id| id.to_string()).unwrap_or_default(),
                        invoice_number: row.invoice_number.clone(),
                        invoice_status: ProtoInvoiceStatus::from_str_name(&format!(
                            "INVOICE_STATUS_{}",
                            row.invoice_status
                        ))
                        .unwrap_or(ProtoInvoiceStatus::Unspecified)
                        .into(),
                    })
                    .collect();
            }
        }
        Ok(Response::new(response))
    }

    pub(super) async fn get_annual_report_rpc(
        &self,
        request: Request<GetAnnualReportRequest>,
    ) -> Result<Response<GetAnnualReportResponse>, Status> {
        let input = request.get_ref();
        let annual = self
            .annual(&request, input.year, &input.currency, input.include_chart)
            .await?;
        let currency = annual.currency.as_str();
        let figures = |figures: &Figures| RevenueFigures {
            received: Some(money(figures.received_minor, currency)),
            pending: Some(money(figures.pending_minor(), currency)),
            projected: Some(money(figures.projected_minor, currency)),
            invoiced: Some(money(figures.invoiced_minor, currency)),
            credited: Some(money(figures.credited_minor, currency)),
        };
        Ok(Response::new(GetAnnualReportResponse {
            year: annual.year,
            currency: currency.to_owned(),
            totals: Some(figures(&annual.report.totals)),
            by_agency: annual
                .report
                .by_agency
                .iter()
                .map(|agency| AgencyAnnualRevenue {
                    agency_id: agency.agency_id.to_string(),
                    agency_name: agency.agency_name.clone(),
                    figures: Some(figures(&agency.figures)),
                })
                .collect(),
            by_month: (1..)
                .zip(&annual.report.by_month)
                .map(|(month, month_figures)| MonthlyRevenue {
                    month,
                    figures: Some(figures(month_figures)),
                })
                .collect(),
            chart_svg: annual.chart_svg.clone().unwrap_or_default(),
            generated_at: Some(timestamp(annual.generated_at)),
        }))
    }

    pub(super) async fn get_annual_report_chart_rpc(
        &self,
        request: Request<GetAnnualReportChartRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let input = request.get_ref();
        let annual = self
            .annual(&request, input.year, &input.currency, true)
            .await?;
        Ok(Response::new(HttpBody {
            content_type: "image/svg+xml".to_owned(),
            data: annual.chart_svg.unwrap_or_default().into_bytes(),
            extensions: Vec::new(),
        }))
    }

    /// The annual report of both annual RPCs, from their year and currency fields.
    async fn annual<T>(
        &self,
        request: &Request<T>,
        year: i32,
        currency: &str,
        with_chart: bool,
    ) -> Result<Annual, Status> {
        let caller = caller(request)?;
        let year = check_year(year)?;
        let currency = parse_currency(currency)?;
        Ok(self
            .state
            .reports
            .annual(caller, year, currency, with_chart)
            .await?)
    }
}
