//! FINANCE's reports: an agency's revenue over a period and the platform's annual fee
//! revenue with its chart. Launch facts come from AgencyAPI, revenue from BookingAPI, fees
//! and payments from the invoices; the arithmetic is `domain::report`'s.

use std::collections::HashMap;

use astro_proto::astrobookings::common::v1::Role;
use astro_shared::{AppError, auth::Caller};
use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    clients::{Directory, LaunchFacts},
    domain::{
        annual_chart,
        invoice::{Calendar, Period, RELIABLE_AFTER, fee_minor, rate_basis_points},
        report::{AgencyRevenueRow, AgencyRevenueTotals, AnnualReport, Figures, MonthFact},
    },
    store::Store,
};

/// An agency revenue report.
#[derive(Debug, Clone)]
pub struct AgencyRevenue {
    pub agency_id: Uuid,
    pub agency_name: String,
    pub period: Period,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub currency: String,
    /// Each row with the launch as AgencyAPI described it.
    pub rows: Vec<(AgencyRevenueRow, Value)>,
    pub totals: AgencyRevenueTotals,
    pub successful_launches_to_date: i32,
    pub reliable: bool,
    pub generated_at: DateTime<Utc>,
}

/// An annual report and when it was computed.
#[derive(Debug, Clone)]
pub struct Annual {
    pub year: i32,
    pub currency: String,
    pub report: AnnualReport,
    /// The chart, when asked for.
    pub chart_svg: Option<String>,
    pub generated_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Reports {
    store: Store,
    directory: Directory,
    calendar: Calendar,
}

impl Reports {
    pub fn new(store: Store, directory: Directory, calendar: Calendar) -> Self {
        Self {
            store,
            directory,
            calendar,
        }
    }

    /// GetAgencyRevenueReport: the agency's launches scheduled in the period (platform time
    /// zone), with what each earned and what its invoice asks and got.
    pub async fn agency_revenue(
        &self,
        caller: &Caller,
        agency_id: Uuid,
        period: Period,
        currency: String,
    ) -> Result<AgencyRevenue, AppError> {
        require_finance(caller)?;
        let bill_to = self
            .directory
            .bill_to(agency_id)
            .await?
            .ok_or_else(|| AppError::NotFound("agency".into()))?;
        let (period_start, period_end) = self.bounds(&period);
        let launches = self
            .directory
            .agency_launches(agency_id, (period_start, period_end))
            .await?;
        let launch_ids: Vec<Uuid> = launches.iter().map(|launch| launch.id).collect();
        let revenues = self.directory.revenues(&launch_ids).await?;
        let invoices: HashMap<Uuid, _> = self
            .store
            .invoices_of_launches(&launch_ids)
            .await?
            .into_iter()
            .map(|invoice| (invoice.launch_id, invoice))
            .collect();
        let today = self.calendar.today();
        let rows: Vec<(AgencyRevenueRow, Value)> = launches
            .into_iter()
            .filter_map(|launch| {
                let revenue = revenues
                    .get(&launch.id)
                    .filter(|revenue| revenue.currency == currency);
                let invoice = invoices
                    .get(&launch.id)
                    .filter(|invoice| invoice.currency == currency);
                if launch.detail("currency") != currency && invoice.is_none() {
                    return None;
                }
                let row = AgencyRevenueRow {
                    launch_id: launch.id,
                    launch_slug: launch.detail("slug").to_owned(),
                    scheduled_at: launch.detail("scheduled_at").to_owned(),
                    launch_status: launch.detail("status").to_owned(),
                    net_revenue_minor: revenue.map(|revenue| revenue.net_minor()).unwrap_or(0),
                    fee_invoiced_minor: invoice.map(|invoice| invoice.amount_minor).unwrap_or(0),
                    fee_credited_minor: invoice
                        .map(|invoice| invoice.amount_credited_minor)
                        .unwrap_or(0),
                    fee_paid_minor: invoice
                        .map(|invoice| invoice.amount_paid_minor)
                        .unwrap_or(0),
                    invoice_id: invoice.map(|invoice| invoice.id),
                    invoice_number: invoice
                        .map(|invoice| invoice.number.clone())
                        .unwrap_or_default(),
                    invoice_status: invoice
                        .map(|invoice| invoice.status(today).as_str().to_owned())
                        .unwrap_or_default(),
                };
                Some((row, launch.snapshot))
            })
            .collect();
        let plain: Vec<AgencyRevenueRow> = rows.iter().map(|(row, _)| row.clone()).collect();
        let successful_to_date = self
            .directory
            .successful_launches(agency_id)
            .await?
            .iter()
            .filter(|launch| launch.scheduled_at < period_end)
            .count();
        Ok(AgencyRevenue {
            agency_id,
            agency_name: bill_to.snapshot["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            period,
            period_start,
            period_end,
            currency,
            totals: AgencyRevenueTotals::of(&plain),
            rows,
            successful_launches_to_date: i32::try_from(successful_to_date).unwrap_or(i32::MAX),
            reliable: successful_to_date >= RELIABLE_AFTER,
            generated_at: self.calendar.now(),
        })
    }

    /// GetAnnualReport: the year's invoices (by legal date) and the fees its upcoming
    /// launches would bring at their bookings now, by agency and month; with its chart when
    /// `with_chart`.
    pub async fn annual(
        &self,
        caller: &Caller,
        year: i32,
        currency: String,
        with_chart: bool,
    ) -> Result<Annual, AppError> {
        require_finance(caller)?;
        let period = Period::parse("year", &year.to_string())?;
        let mut facts: Vec<MonthFact> = self
            .store
            .invoice_months(period.start, period.end, &currency)
            .await?
            .into_iter()
            .map(|row| MonthFact {
                agency_id: row.agency_id,
                agency_name: row.agency_name,
                month: u32::try_from(row.month).unwrap_or(0),
                figures: Figures {
                    invoiced_minor: row.invoiced_minor,
                    credited_minor: row.credited_minor,
                    received_minor: row.paid_minor,
                    ..Figures::default()
                },
            })
            .collect();
        facts.extend(self.projections(&period, &currency).await?);
        let report = AnnualReport::of(&facts);
        let chart_svg = with_chart
            .then(|| annual_chart::render(year, &currency, &report.by_month))
            .transpose()
            .map_err(AppError::internal)?;
        Ok(Annual {
            year,
            currency,
            report,
            chart_svg,
            generated_at: self.calendar.now(),
        })
    }

    /// The fee each SCHEDULED or DELAYED launch of the period would be invoiced if it flew
    /// with its bookings now, at its agency's rate now.
    async fn projections(
        &self,
        period: &Period,
        currency: &str,
    ) -> Result<Vec<MonthFact>, AppError> {
        let upcoming = self
            .directory
            .upcoming_launches(self.bounds(period))
            .await?;
        if upcoming.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = upcoming.iter().map(|launch| launch.id).collect();
        let revenues = self.directory.revenues(&ids).await?;
        let mut successful: HashMap<Uuid, usize> = HashMap::new();
        for launch in self.directory.all_successful_launches().await? {
            *successful.entry(launch.agency_id).or_default() += 1;
        }
        Ok(upcoming
            .iter()
            .filter_map(|launch: &LaunchFacts| {
                let revenue = revenues
                    .get(&launch.id)
                    .filter(|revenue| revenue.currency == currency)?;
                let rate =
                    rate_basis_points(successful.get(&launch.agency_id).copied().unwrap_or(0));
                Some(MonthFact {
                    agency_id: launch.agency_id,
                    agency_name: launch.detail("agency_name").to_owned(),
                    month: self.calendar.date_of(launch.scheduled_at).month(),
                    figures: Figures {
                        projected_minor: fee_minor(revenue.net_minor(), rate),
                        ..Figures::default()
                    },
                })
            })
            .collect())
    }

    /// The period's first instant and the next period's, in the platform time zone.
    fn bounds(&self, period: &Period) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            self.calendar.start_of(period.start),
            self.calendar.start_of(period.end),
        )
    }
}

fn require_finance(caller: &Caller) -> Result<(), AppError> {
    if caller.role == Role::Finance {
        Ok(())
    } else {
        Err(AppError::PermissionDenied("reports are for FINANCE".into()))
    }
}
