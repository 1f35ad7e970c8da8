//! Launches: an agency schedules its own, lists and reads them with their history, and moves
//! them along the status machine; the other services read any launch.

use std::collections::HashSet;

use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::Caller,
    paging::{Page, QueryKey, read_limit},
};
use chrono::Utc;
use uuid::Uuid;

use super::{PageRequest, agency_id, origin};
use crate::{
    domain::launch::{LaunchFilter, LaunchSort, NewLaunch, StatusAction},
    store::{
        Slice, Store,
        launches::{LaunchRow, StatusChangeRow},
    },
};

/// A page of launches and how many match the filter in all.
#[derive(Debug, Clone)]
pub struct LaunchList {
    pub page: Page<LaunchRow>,
    pub total: i64,
}

/// A launch with its status history, oldest first.
#[derive(Debug, Clone)]
pub struct LaunchDetail {
    pub launch: LaunchRow,
    pub history: Vec<StatusChangeRow>,
}

/// The launches a batch read found, and the ids it did not (unknown or malformed), in the
/// order asked.
#[derive(Debug, Clone)]
pub struct LaunchBatch {
    pub found: Vec<LaunchRow>,
    pub missing: Vec<String>,
}

/// Launches and their status history.
#[derive(Clone)]
pub struct Launches {
    store: Store,
    activity: ActivityLog,
}

impl Launches {
    pub fn new(store: Store, activity: ActivityLog) -> Self {
        Self { store, activity }
    }

    /// Schedules a launch on one of the caller's rockets.
    pub async fn schedule(
        &self,
        caller: &Caller,
        launch: &NewLaunch,
    ) -> Result<LaunchRow, AppError> {
        let row = self
            .store
            .schedule_launch(agency_id(caller)?, launch, &origin(caller))
            .await?;
        self.activity.info(
            "launch.scheduled",
            Some(&caller.user_id),
            format!("launch {} scheduled", row.slug),
            &[("launch_id", &row.id.to_string()), ("slug", &row.slug)],
        );
        Ok(row)
    }

    /// A page of the caller's launches; whatever `filter.agency_id` says, only its own.
    pub async fn list_own(
        &self,
        caller: &Caller,
        filter: LaunchFilter,
        sort: LaunchSort,
        descending: bool,
        page: &PageRequest,
    ) -> Result<LaunchList, AppError> {
        let filter = LaunchFilter {
            agency_id: Some(agency_id(caller)?),
            ..filter
        };
        let order = format!("{sort:?} {}", if descending { "DESC" } else { "ASC" });
        let query = launch_query("ListAgencyLaunches", &filter, &order);
        self.list_page(&filter, sort, descending, query, page).await
    }

    /// One of the caller's launches with its history.
    pub async fn get_own(&self, caller: &Caller, id: Uuid) -> Result<LaunchDetail, AppError> {
        let launch = self.store.launch(Some(agency_id(caller)?), id).await?;
        let history = self.store.launch_history(id).await?;
        Ok(LaunchDetail { launch, history })
    }

    /// Applies a status action to one of the caller's launches, and logs it when it changed
    /// something (a repeated final step changes nothing).
    pub async fn change_status(
        &self,
        caller: &Caller,
        id: Uuid,
        action: &StatusAction,
    ) -> Result<LaunchRow, AppError> {
        let (row, changed) = self
            .store
            .change_launch_status(agency_id(caller)?, id, action, Utc::now(), &origin(caller))
            .await?;
        if changed {
            self.activity.info(
                &format!("launch.{}", row.status.to_lowercase()),
                Some(&caller.user_id),
                format!("launch {} is now {}", row.slug, row.status),
                &[("launch_id", &row.id.to_string()), ("status", &row.status)],
            );
        }
        Ok(row)
    }

    /// Any launch, for the other services.
    pub async fn get(&self, id: Uuid) -> Result<LaunchRow, AppError> {
        self.store.launch(None, id).await
    }

    /// The launches of `requested` (distinct ids, see `domain::launch::batch_ids`).
    pub async fn batch_get(&self, requested: Vec<String>) -> Result<LaunchBatch, AppError> {
        let ids: Vec<Uuid> = requested
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok())
            .collect();
        let found = self.store.launches_by_id(&ids).await?;
        let found_ids: HashSet<String> = found.iter().map(|row| row.id.to_string()).collect();
        let missing = requested
            .into_iter()
            .filter(|id| {
                Uuid::parse_str(id).map_or(true, |uuid| !found_ids.contains(&uuid.to_string()))
            })
            .collect();
        Ok(LaunchBatch { found, missing })
    }

    /// A page of any agency's launches by date, for the other services.
    pub async fn list(
        &self,
        filter: &LaunchFilter,
        page: &PageRequest,
    ) -> Result<LaunchList, AppError> {
        let query = launch_query("ListLaunches", filter, "");
        self.list_page(filter, LaunchSort::ScheduledAt, false, query, page)
            .await
    }

    /// A launch's status history, oldest first; NOT_FOUND for an unknown launch rather than an
    /// empty history.
    pub async fn status_changes(&self, id: Uuid) -> Result<Vec<StatusChangeRow>, AppError> {
        self.store.launch(None, id).await?;
        self.store.launch_history(id).await
    }

    async fn list_page(
        &self,
        filter: &LaunchFilter,
        sort: LaunchSort,
        descending: bool,
        query: QueryKey,
        page: &PageRequest,
    ) -> Result<LaunchList, AppError> {
        let offset = query.offset(&page.token)?;
        let (rows, total) = self
            .store
            .launches(
                filter,
                sort,
                descending,
                Slice {
                    limit: read_limit(page.limit),
                    offset,
                },
            )
            .await?;
        Ok(LaunchList {
            page: Page::from_offset_rows(rows, offset, page.limit, query),
            total,
        })
    }
}

/// The key of a launch list's page tokens: the RPC, every filter and the order.
fn launch_query(rpc: &str, filter: &LaunchFilter, order: &str) -> QueryKey {
    let optional = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    let statuses: Vec<&str> = filter
        .statuses
        .iter()
        .map(|status| status.as_str())
        .collect();
    QueryKey::of(&[
        rpc,
        &optional(filter.agency_id),
        &statuses.join(","),
        &format!("{:?}", filter.viable),
        &format!("{:?}", filter.scheduled_after),
        &format!("{:?}", filter.scheduled_before),
        &format!("{:?}", filter.status_changed_after),
        &format!("{:?}", filter.status_changed_before),
        &optional(filter.rocket_id),
        order,
    ])
}
