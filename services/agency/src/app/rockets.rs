//! An agency's fleet: adding, listing, editing, retiring and deleting its own rockets.

use astro_shared::{
    AppError,
    activity::ActivityLog,
    auth::Caller,
    paging::{Page, QueryKey, read_limit},
};
use uuid::Uuid;

use super::{PageRequest, agency_id, origin};
use crate::{
    domain::rocket::{NewRocket, RocketChanges, RocketRange},
    store::{Slice, Store, rockets::RocketRow},
};

/// Which of the caller's rockets a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct RocketFilter {
    pub include_retired: bool,
    /// `None`: any range.
    pub range: Option<RocketRange>,
}

/// The caller's rockets.
#[derive(Clone)]
pub struct Rockets {
    store: Store,
    activity: ActivityLog,
}

impl Rockets {
    pub fn new(store: Store, activity: ActivityLog) -> Self {
        Self { store, activity }
    }

    /// Adds a rocket to the caller's fleet (its profile must be complete).
    pub async fn create(&self, caller: &Caller, rocket: &NewRocket) -> Result<RocketRow, AppError> {
        let row = self
            .store
            .create_rocket(agency_id(caller)?, rocket, &origin(caller))
            .await?;
        self.activity.info(
            "rocket.created",
            Some(&caller.user_id),
            format!("rocket {} added", row.name),
            &[("rocket_id", &row.id.to_string())],
        );
        Ok(row)
    }

    /// A page of the caller's rockets by name.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: RocketFilter,
        page: &PageRequest,
    ) -> Result<Page<RocketRow>, AppError> {
        let query = QueryKey::of(&[
            "ListRockets",
            &caller.user_id,
            &filter.include_retired.to_string(),
            filter.range.map_or("", RocketRange::as_str),
        ]);
        let offset = query.offset(&page.token)?;
        let rows = self
            .store
            .rockets(
                agency_id(caller)?,
                filter.include_retired,
                filter.range,
                Slice {
                    limit: read_limit(page.limit),
                    offset,
                },
            )
            .await?;
        Ok(Page::from_offset_rows(rows, offset, page.limit, query))
    }

    /// One of the caller's rockets.
    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<RocketRow, AppError> {
        self.store.rocket(agency_id(caller)?, id).await
    }

    /// Edits the fields `changes` sets.
    pub async fn update(
        &self,
        caller: &Caller,
        id: Uuid,
        changes: &RocketChanges,
    ) -> Result<RocketRow, AppError> {
        let row = self
            .store
            .update_rocket(agency_id(caller)?, id, changes, &origin(caller))
            .await?;
        self.activity.info(
            "rocket.updated",
            Some(&caller.user_id),
            format!("rocket {} edited", row.name),
            &[("rocket_id", &row.id.to_string())],
        );
        Ok(row)
    }

    /// Deletes a rocket without upcoming launches.
    pub async fn delete(&self, caller: &Caller, id: Uuid) -> Result<(), AppError> {
        self.store
            .delete_rocket(agency_id(caller)?, id, &origin(caller))
            .await?;
        self.activity.info(
            "rocket.deleted",
            Some(&caller.user_id),
            "rocket deleted",
            &[("rocket_id", &id.to_string())],
        );
        Ok(())
    }

    /// Retires a rocket: it keeps its launches and takes no new ones.
    pub async fn retire(&self, caller: &Caller, id: Uuid) -> Result<RocketRow, AppError> {
        let row = self
            .store
            .retire_rocket(agency_id(caller)?, id, &origin(caller))
            .await?;
        self.activity.info(
            "rocket.retired",
            Some(&caller.user_id),
            format!("rocket {} retired", row.name),
            &[("rocket_id", &id.to_string())],
        );
        Ok(row)
    }
}
