//! `AgencyInternalService`: agency and launch data for the other services, whatever the
//! agency, and the account data SystemAPI mirrors into agencies (ApplyUserProfiles).

use astro_proto::astrobookings::{
    agency::v1::{
        ApplyUserProfilesRequest, ApplyUserProfilesResponse, BatchGetLaunchesRequest,
        BatchGetLaunchesResponse, GetAgencyContactRequest, GetAgencyContactResponse,
        GetLaunchRequest, GetLaunchResponse, ListLaunchStatusChangesRequest,
        ListLaunchStatusChangesResponse, ListLaunchesRequest, ListLaunchesResponse,
        agency_internal_service_server::AgencyInternalService,
    },
    common::v1::{Contact, Role},
};
use astro_shared::{accounts::mirrors_of, paging::page_size};
use tonic::{Request, Response, Status};

use super::{AgencyApi, convert, path_id};
use crate::{
    app::PageRequest,
    domain::launch::{LaunchFilter, batch_ids, parse_id},
};

const LIST_PAGE_DEFAULT: u32 = 100;
const LIST_PAGE_MAX: u32 = 500;

#[tonic::async_trait]
impl AgencyInternalService for AgencyApi {
    async fn apply_user_profiles(
        &self,
        request: Request<ApplyUserProfilesRequest>,
    ) -> Result<Response<ApplyUserProfilesResponse>, Status> {
        let batch = mirrors_of(Role::Agency, &request.get_ref().profiles)?;
        let applied = self.state.profiles.mirror_accounts(&batch.mirrors).await?;
        let (applied, skipped) = batch.counts(applied);
        Ok(Response::new(ApplyUserProfilesResponse {
            applied,
            skipped,
        }))
    }

    async fn get_agency_contact(
        &self,
        request: Request<GetAgencyContactRequest>,
    ) -> Result<Response<GetAgencyContactResponse>, Status> {
        let id = path_id(&request.get_ref().agency_id, "agency")?;
        let found = self.state.profiles.contact(id).await?;
        let agency = convert::agency(&found.agency);
        Ok(Response::new(GetAgencyContactResponse {
            contact: Some(Contact {
                user_id: agency.id.clone(),
                name: agency.name.clone(),
                email: found.email,
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
        let row = self.state.launches.get(id).await?;
        Ok(Response::new(GetLaunchResponse {
            launch: Some(convert::launch(&row)),
            occupancy: Some(convert::occupancy(&row)),
        }))
    }

    async fn batch_get_launches(
        &self,
        request: Request<BatchGetLaunchesRequest>,
    ) -> Result<Response<BatchGetLaunchesResponse>, Status> {
        let requested = batch_ids(&request.get_ref().launch_ids)?;
        let batch = self.state.launches.batch_get(requested).await?;
        Ok(Response::new(BatchGetLaunchesResponse {
            launches: batch.found.iter().map(convert::with_occupancy).collect(),
            missing_launch_ids: batch.missing,
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
            Some(parse_id("agency_id", &input.agency_id)?)
        };
        let filter = LaunchFilter {
            agency_id,
            statuses: convert::statuses_from_proto("statuses", &input.statuses)?,
            scheduled_after: convert::optional_time(
                "scheduled_after",
                input.scheduled_after.as_ref(),
            )?,
            scheduled_before: convert::optional_time(
                "scheduled_before",
                input.scheduled_before.as_ref(),
            )?,
            status_changed_after: convert::optional_time(
                "status_changed_after",
                input.status_changed_after.as_ref(),
            )?,
            status_changed_before: convert::optional_time(
                "status_changed_before",
                input.status_changed_before.as_ref(),
            )?,
            ..LaunchFilter::default()
        };
        let page = PageRequest {
            limit,
            token: input.page_token.clone(),
        };
        let list = self.state.launches.list(&filter, &page).await?;
        Ok(Response::new(ListLaunchesResponse {
            launches: list.page.items.iter().map(convert::launch).collect(),
            next_page_token: list.page.next_page_token,
            total_size: convert::total_size(list.total),
        }))
    }

    async fn list_launch_status_changes(
        &self,
        request: Request<ListLaunchStatusChangesRequest>,
    ) -> Result<Response<ListLaunchStatusChangesResponse>, Status> {
        let id = path_id(&request.get_ref().launch_id, "launch")?;
        let history = self.state.launches.status_changes(id).await?;
        Ok(Response::new(ListLaunchStatusChangesResponse {
            changes: convert::history(&history),
        }))
    }
}
