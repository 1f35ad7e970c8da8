//! The other services as FinanceAPI's invoices read them: AgencyAPI knows launches and the
//! agency to bill, BookingAPI a launch's revenue. Answers come back as plain values; a launch
//! or agency that is not there is `None`, any other failure an error naming the dependency.

use std::collections::HashMap;

use astro_proto::astrobookings::{
    agency::v1::{
        GetAgencyContactRequest, GetLaunchRequest, Launch, ListLaunchesRequest,
        agency_internal_service_client::AgencyInternalServiceClient,
    },
    booking::v1::{
        BatchGetLaunchRevenueRequest, booking_internal_service_client::BookingInternalServiceClient,
    },
    common::v1::LaunchStatus,
};
use astro_shared::{
    AppError,
    convert::{from_timestamp, timestamp},
    grpc_client::TracedChannel,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::invoice::Revenue;

const AGENCY: &str = "AgencyAPI";
const BOOKING: &str = "BookingAPI";

/// Page size of AgencyAPI's launch listing: its maximum.
const LAUNCH_PAGE_SIZE: i32 = 500;

/// Launches per BatchGetLaunchRevenue: its maximum.
const REVENUE_BATCH: usize = 100;

/// How a launch ended, for billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Successful,
    Aborted,
    /// Not billed (yet): scheduled, delayed or failed.
    Other,
}

/// A launch as an invoice needs it.
#[derive(Debug, Clone)]
pub struct LaunchFacts {
    pub id: Uuid,
    pub agency_id: Uuid,
    pub scheduled_at: DateTime<Utc>,
    pub outcome: Outcome,
    /// `common.v1.LaunchSummary` fields as JSON: kept on the invoice as it was at issue.
    pub snapshot: Value,
}

/// The agency an invoice is addressed to.
#[derive(Debug, Clone)]
pub struct BillTo {
    /// Name, tax id, legal address and e-mail, as JSON (kept on the invoice).
    pub snapshot: Value,
}

#[derive(Clone)]
pub struct Directory {
    pub agency: AgencyInternalServiceClient<TracedChannel>,
    pub booking: BookingInternalServiceClient<TracedChannel>,
}

impl Directory {
    pub async fn launch(&self, launch_id: Uuid) -> Result<Option<LaunchFacts>, AppError> {
        match self
            .agency
            .clone()
            .get_launch(GetLaunchRequest {
                launch_id: launch_id.to_string(),
            })
            .await
        {
            Ok(response) => Ok(response.into_inner().launch.as_ref().and_then(facts)),
            Err(status) => unless_gone(AGENCY, status),
        }
    }

    pub async fn bill_to(&self, agency_id: Uuid) -> Result<Option<BillTo>, AppError> {
        let answer = match self
            .agency
            .clone()
            .get_agency_contact(GetAgencyContactRequest {
                agency_id: agency_id.to_string(),
            })
            .await
        {
            Ok(response) => response.into_inner(),
            Err(status) => return unless_gone(AGENCY, status),
        };
        let Some(agency) = answer.agency else {
            return Ok(None);
        };
        let address = agency.legal_address.unwrap_or_default();
        let email = answer
            .contact
            .map(|contact| contact.email)
            .filter(|email| !email.is_empty())
            .unwrap_or(agency.account_email);
        Ok(Some(BillTo {
            snapshot: json!({
                "name": agency.name,
                "tax_id": agency.tax_id,
                "email": email,
                "legal_address": {
                    "line1": address.line1,
                    "line2": address.line2,
                    "city": address.city,
                    "region": address.region,
                    "postal_code": address.postal_code,
                    "country_code": address.country_code,
                },
            }),
        }))
    }

    /// The agency's SUCCESSFUL launches, oldest first.
    pub async fn successful_launches(&self, agency_id: Uuid) -> Result<Vec<LaunchFacts>, AppError> {
        self.launches(ListLaunchesRequest {
            agency_id: agency_id.to_string(),
            statuses: vec![LaunchStatus::Successful.into()],
            ..ListLaunchesRequest::default()
        })
        .await
    }

    /// Every SUCCESSFUL or ABORTED launch, scheduled within `[from, to)` when given.
    pub async fn billable(
        &self,
        scheduled: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Vec<LaunchFacts>, AppError> {
        self.launches(ListLaunchesRequest {
            statuses: vec![
                LaunchStatus::Successful.into(),
                LaunchStatus::Aborted.into(),
            ],
            scheduled_after: scheduled.map(|(from, _)| timestamp(from)),
            scheduled_before: scheduled.map(|(_, to)| timestamp(to)),
            ..ListLaunchesRequest::default()
        })
        .await
    }

    /// The agency's launches in every status, scheduled within `[from, to)`.
    pub async fn agency_launches(
        &self,
        agency_id: Uuid,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Vec<LaunchFacts>, AppError> {
        self.launches(ListLaunchesRequest {
            agency_id: agency_id.to_string(),
            scheduled_after: Some(timestamp(from)),
            scheduled_before: Some(timestamp(to)),
            ..ListLaunchesRequest::default()
        })
        .await
    }

    /// Every agency's launches still to fly (SCHEDULED or DELAYED), scheduled within
    /// `[from, to)`.
    pub async fn upcoming_launches(
        &self,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Vec<LaunchFacts>, AppError> {
        self.launches(ListLaunchesRequest {
            statuses: vec![LaunchStatus::Scheduled.into(), LaunchStatus::Delayed.into()],
            scheduled_after: Some(timestamp(from)),
            scheduled_before: Some(timestamp(to)),
            ..ListLaunchesRequest::default()
        })
        .await
    }

    /// Every agency's SUCCESSFUL launches, oldest first.
    pub async fn all_successful_launches(&self) -> Result<Vec<LaunchFacts>, AppError> {
        self.launches(ListLaunchesRequest {
            statuses: vec![LaunchStatus::Successful.into()],
            ..ListLaunchesRequest::default()
        })
        .await
    }

    /// Every page of a launch listing, in its order (scheduled time, then id).
    async fn launches(&self, request: ListLaunchesRequest) -> Result<Vec<LaunchFacts>, AppError> {
        let mut found = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .agency
                .clone()
                .list_launches(ListLaunchesRequest {
                    page_size: LAUNCH_PAGE_SIZE,
                    page_token: page_token.clone(),
                    ..request.clone()
                })
                .await
                .map_err(|status| AppError::upstream(AGENCY, AppError::from(status)))?
                .into_inner();
            found.extend(page.launches.iter().filter_map(facts));
            if page.next_page_token.is_empty() {
                return Ok(found);
            }
            page_token = page.next_page_token;
        }
    }

    /// The launches' revenue now, in as few calls as BookingAPI's batch size allows.
    pub async fn revenues(&self, launch_ids: &[Uuid]) -> Result<HashMap<Uuid, Revenue>, AppError> {
        let mut found = HashMap::with_capacity(launch_ids.len());
        for batch in launch_ids.chunks(REVENUE_BATCH) {
            let answer = self
                .booking
                .clone()
                .batch_get_launch_revenue(BatchGetLaunchRevenueRequest {
                    launch_ids: batch.iter().map(Uuid::to_string).collect(),
                })
                .await
                .map_err(|status| AppError::upstream(BOOKING, AppError::from(status)))?
                .into_inner();
            for revenue in answer.revenues {
                let Ok(launch_id) = Uuid::parse_str(&revenue.launch_id) else {
                    continue;
                };
                let gross = revenue.gross_revenue.unwrap_or_default();
                let refunds = revenue.refunds.unwrap_or_default();
                found.insert(
                    launch_id,
                    Revenue {
                        currency: gross.currency,
                        gross_minor: gross.amount_minor,
                        refunds_minor: refunds.amount_minor,
                        seats_sold: revenue.seats_sold,
                        passengers: revenue.passengers,
                    },
                );
            }
        }
        if let Some(missing) = launch_ids.iter().find(|id| !found.contains_key(id)) {
            return Err(AppError::upstream(
                BOOKING,
                AppError::internal(anyhow::anyhow!("no revenue for launch {missing}")),
            ));
        }
        Ok(found)
    }
}

fn facts(launch: &Launch) -> Option<LaunchFacts> {
    let id = Uuid::parse_str(&launch.id).ok()?;
    let agency_id = Uuid::parse_str(&launch.agency_id).ok()?;
    let scheduled_at = from_timestamp(launch.scheduled_at.as_ref())?;
    let price = launch.price_per_seat.clone().unwrap_or_default();
    let outcome = match launch.status() {
        LaunchStatus::Successful => Outcome::Successful,
        LaunchStatus::Aborted => Outcome::Aborted,
        _ => Outcome::Other,
    };
    Some(LaunchFacts {
        id,
        agency_id,
        scheduled_at,
        outcome,
        snapshot: json!({
            "id": launch.id,
            "slug": launch.slug,
            "agency_id": launch.agency_id,
            "agency_name": launch.agency_name,
            "rocket_name": launch.rocket_name,
            "range": launch.range().as_str_name(),
            "spaceport": launch.spaceport,
            "destination": launch.destination,
            "scheduled_at": scheduled_at.to_rfc3339(),
            "status": launch.status().as_str_name(),
            "price_minor": price.amount_minor,
            "currency": price.currency,
        }),
    })
}

impl LaunchFacts {
    /// A field of the launch as AgencyAPI described it (see [`facts`]).
    pub fn detail(&self, key: &str) -> &str {
        self.snapshot[key].as_str().unwrap_or_default()
    }
}

fn unless_gone<T>(dependency: &'static str, status: tonic::Status) -> Result<Option<T>, AppError> {
    match AppError::from(status) {
        AppError::NotFound(_) | AppError::InvalidArgument { .. } => Ok(None),
        other => Err(AppError::upstream(dependency, other)),
    }
}
