//! `AgencyInternalService`: agency and launch data for the other services, whatever the
//! agency. Reads only; ApplyUserProfiles keeps the generated UNIMPLEMENTED until the
//! user-profile sync issue builds it.

use std::collections::HashSet;

use astro_proto::astrobookings::{
    agency::v1::{
        Agency, BatchGetLaunchesRequest, BatchGetLaunchesResponse, GetAgencyContactRequest,
        GetAgencyContactResponse, GetLaunchRequest, GetLaunchResponse,
        ListLaunchStatusChangesRequest, ListLaunchStatusChangesResponse, ListLaunchesRequest,
        ListLaunchesResponse, agency_internal_service_server::AgencyInternalService,
    },
    common::v1::Contact,
};
use astro_shared::{AppError, paging::page_size};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{AgencyApi, convert, path_id, with_occupancy};
use crate::{
    domain,
    store::{
        Page,
        launches::{LaunchFilter, LaunchSort},
    },
};

const BATCH_MAX: usize = 100;
const LIST_PAGE_DEFAULT: u32 = 100;
const LIST_PAGE_MAX: u32 = 500;

fn optional_time(
    field: &'static str,
    value: Option<&prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    match value {
        None => Ok(None),
        Some(time) => convert::from_timestamp(Some(time))
            .map(Some)
            .ok_or_else(|| AppError::invalid(field, "is not a valid timestamp")),
    }
}

#[tonic::async_trait]
impl AgencyInternalService for AgencyApi {
    async fn get_agency_contact(
        &self,
        request: Request<GetAgencyContactRequest>,
    ) -> Result<Response<GetAgencyContactResponse>, Status> {
        let id = path_id(&request.get_ref().agency_id, "agency")?;
        let row = self
            .state
            .store
            .agency(id)
            .await?
            .ok_or_else(|| AppError::NotFound("agency".into()))?;
        let agency: Agency = convert::agency(&row);
        let email = if row.contact_email.is_empty() {
            row.account_email.clone()
        } else {
            row.contact_email.clone()
        };
        Ok(Response::new(GetAgencyContactResponse {
            contact: Some(Contact {
                user_id: agency.id.clone(),
                name: agency.name.clone(),
                email,
                phone: agency.contact_phone.clone(),
            }),
            agency: Some(agency),
        }))
    }

    async fn get_launch(
        &self,
        request: Request<GetLaunchRequest>,
    ) -> Result<Response<GetLaunchResponse>, Status> {
        let id = path_id(&request.get_ref().launch_id, "launch")?;
        let row = self.state.store.launch(None, id).await?;
        Ok(Response::new(GetLaunchResponse {
            launch: Some(convert::launch(&row)),
            occupancy: Some(convert::occupancy(&row)),
        }))
    }

    async fn batch_get_launches(
        &self,
        request: Request<BatchGetLaunchesRequest>,
    ) -> Result<Response<BatchGetLaunchesResponse>, Status> {
        let requested: Vec<String> = {
            let mut seen = HashSet::new();
            request
                .get_ref()
                .launch_ids
                .iter()
                .filter(|id| seen.insert(id.as_str()))
                .cloned()
                .collect()
        };
        if requested.len() > BATCH_MAX {
            return Err(AppError::invalid("launch_ids", "at most 100 ids").into());
        }
        let ids: Vec<Uuid> = requested
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok())
            .collect();
        let rows = self.state.store.launches_by_id(&ids).await?;
        let found: HashSet<String> = rows.iter().map(|row| row.id.to_string()).collect();
        Ok(Response::new(BatchGetLaunchesResponse {
            launches: rows.iter().map(with_occupancy).collect(),
            missing_launch_ids: requested
                .into_iter()
                .filter(|id| {
                    Uuid::parse_str(id).map_or(true, |uuid| !found.contains(&uuid.to_string()))
                })
                .collect(),
        }))
    }

    async fn list_launches(
        &self,
        request: Request<ListLaunchesRequest>,
    ) -> Result<Response<ListLaunchesResponse>, Status> {
        let input = request.get_ref();
        let limit = page_size(input.page_size, LIST_PAGE_DEFAULT, LIST_PAGE_MAX)?;
        let agency_id = if input.agency_id.is_empty() {
            None
        } else {
            Some(domain::launch::parse_id("agency_id", &input.agency_id)?)
        };
        let statuses = convert::statuses_from_proto("statuses", &input.statuses)?;
        let filter = LaunchFilter {
            agency_id,
            statuses,
            scheduled_after: optional_time("scheduled_after", input.scheduled_after.as_ref())?,
            scheduled_before: optional_time("scheduled_before", input.scheduled_before.as_ref())?,
            status_changed_after: optional_time(
                "status_changed_after",
                input.status_changed_after.as_ref(),
            )?,
            status_changed_before: optional_time(
                "status_changed_before",
                input.status_changed_before.as_ref(),
            )?,
            ..LaunchFilter::default()
        };
        let query = domain::fingerprint(&[
            &input.agency_id,
            &format!("{:?}", input.statuses),
            &format!("{:?}", filter.scheduled_after),
            &format!("{:?}", filter.scheduled_before),
            &format!("{:?}", filter.status_changed_after),
            &format!("{:?}", filter.status_changed_before),
        ]);
        let offset = domain::page_offset(&input.page_token, query)?;
        let (rows, total) = self
            .state
            .store
            .launches(
                &filter,
                LaunchSort::ScheduledAt,
                false,
                Page { limit, offset },
            )
            .await?;
        let next_offset = offset + rows.len() as u64;
        let next_page_token =
            if rows.len() == limit as usize && next_offset < u64::try_from(total).unwrap_or(0) {
                domain::page_token(next_offset, query)
            } else {
                String::new()
            };
        Ok(Response::new(ListLaunchesResponse {
            launches: rows.iter().map(convert::launch).collect(),
            next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn list_launch_status_changes(
        &self,
        request: Request<ListLaunchStatusChangesRequest>,
    ) -> Result<Response<ListLaunchStatusChangesResponse>, Status> {
        let id = path_id(&request.get_ref().launch_id, "launch")?;
        // NOT_FOUND for an unknown launch rather than an empty history.
        self.state.store.launch(None, id).await?;
        let history = self.state.store.launch_history(id).await?;
        Ok(Response::new(ListLaunchStatusChangesResponse {
            changes: history
                .iter()
                .map(astro_shared::launch_history::StatusChangeRow::to_proto)
                .collect(),
        }))
    }
}
