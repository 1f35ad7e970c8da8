//! Adapters of the catalogue RPCs (public ListLaunches/GetLaunch, internal
//! RefreshCatalogueEntries/SyncCatalogue): decode and validate, call the catalogue, encode.

use astro_proto::astrobookings::{
    booking::v1::{
        CatalogueLaunch, GetLaunchRequest, GetLaunchResponse, ListLaunchesRequest,
        ListLaunchesResponse, RefreshCatalogueEntriesRequest, RefreshCatalogueEntriesResponse,
        SyncCatalogueRequest, SyncCatalogueResponse,
    },
    common::v1::{LaunchStatus, RocketRange},
};
use astro_shared::{
    AppError,
    convert::{money, timestamp},
};
use uuid::Uuid;

use crate::{
    State,
    catalogue::{Entry, LaunchKey, ListQuery},
};

/// Most launch ids one RefreshCatalogueEntries call takes.
const REFRESH_MAX_IDS: usize = 500;
/// Launches per SyncCatalogue batch: default and maximum.
const SYNC_BATCH_DEFAULT: u32 = 200;
const SYNC_BATCH_MAX: u32 = 1_000;

fn range(name: &str) -> RocketRange {
    match name {
        "SUBORBITAL" => RocketRange::Suborbital,
        "LOW_EARTH_ORBIT" => RocketRange::LowEarthOrbit,
        "INTERPLANETARY" => RocketRange::Interplanetary,
        _ => RocketRange::Unspecified,
    }
}

fn status(name: &str) -> LaunchStatus {
    match name {
        "SCHEDULED" => LaunchStatus::Scheduled,
        "DELAYED" => LaunchStatus::Delayed,
        "ABORTED" => LaunchStatus::Aborted,
        "SUCCESSFUL" => LaunchStatus::Successful,
        "FAILED" => LaunchStatus::Failed,
        _ => LaunchStatus::Unspecified,
    }
}

fn launch(entry: &Entry, bookable: bool) -> CatalogueLaunch {
    CatalogueLaunch {
        id: entry.id.to_string(),
        slug: entry.slug.clone(),
        agency_id: entry.agency_id.to_string(),
        agency_name: entry.agency_name.clone(),
        rocket_name: entry.rocket_name.clone(),
        range: range(&entry.range).into(),
        spaceport: entry.spaceport.clone(),
        destination: entry.destination.clone(),
        scheduled_at: Some(timestamp(entry.scheduled_at)),
        price_per_seat: Some(money(entry.price_minor, &entry.currency)),
        status: status(&entry.status).into(),
        capacity: entry.capacity,
        seats_available: entry.seats_available.max(0),
        bookable,
        refreshed_at: Some(timestamp(entry.refreshed_at)),
    }
}

pub async fn list_launches(
    state: &State,
    request: ListLaunchesRequest,
) -> Result<ListLaunchesResponse, AppError> {
    let query = ListQuery::parse(&request)?;
    let selection = state.catalogue.list(&query).await?;
    Ok(ListLaunchesResponse {
        launches: selection
            .launches
            .iter()
            .map(|entry| launch(entry, true))
            .collect(),
        next_page_token: selection.next_page_token,
        total_size: i32::try_from(selection.total_size).unwrap_or(i32::MAX),
    })
}

pub async fn get_launch(
    state: &State,
    request: GetLaunchRequest,
) -> Result<GetLaunchResponse, AppError> {
    let key = LaunchKey::parse(&request.id_or_slug)?;
    let (entry, bookable) = state.catalogue.get(&key).await?;
    Ok(GetLaunchResponse {
        launch: Some(launch(&entry, bookable)),
    })
}

pub async fn refresh_catalogue_entries(
    state: &State,
    request: RefreshCatalogueEntriesRequest,
) -> Result<RefreshCatalogueEntriesResponse, AppError> {
    if request.launch_ids.is_empty() {
        return Err(AppError::invalid(
            "launch_ids",
            "at least one id is required",
        ));
    }
    if request.launch_ids.len() > REFRESH_MAX_IDS {
        return Err(AppError::invalid(
            "launch_ids",
            format!("at most {REFRESH_MAX_IDS} ids per call"),
        ));
    }
    let ids = request
        .launch_ids
        .iter()
        .enumerate()
        .map(|(index, id)| {
            id.trim()
                .parse::<Uuid>()
                .map_err(|_| AppError::invalid(format!("launch_ids[{index}]"), "is not a UUID"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (upserted, removed) = state.catalogue.refresh(&ids).await?;
    Ok(RefreshCatalogueEntriesResponse {
        upserted: i32::try_from(upserted).unwrap_or(i32::MAX),
        removed: i32::try_from(removed).unwrap_or(i32::MAX),
    })
}

pub async fn sync_catalogue(
    state: &State,
    request: SyncCatalogueRequest,
) -> Result<SyncCatalogueResponse, AppError> {
    let job_id = request.job_id.trim();
    if job_id.is_empty() {
        return Err(AppError::invalid("job_id", "is required"));
    }
    let batch_size = match u32::try_from(request.batch_size) {
        Err(_) => return Err(AppError::invalid("batch_size", "must not be negative")),
        Ok(0) => SYNC_BATCH_DEFAULT,
        Ok(size) => size.min(SYNC_BATCH_MAX),
    };
    let batch = state
        .catalogue
        .sync_batch(job_id, &request.page_token, batch_size)
        .await?;
    Ok(SyncCatalogueResponse {
        items_total: batch.items_total,
        items_processed: i32::try_from(batch.items_processed).unwrap_or(i32::MAX),
        // A batch is written atomically: it fails as a whole (and is retried with the same
        // token), never launch by launch.
        items_failed: 0,
        errors: Vec::new(),
        next_page_token: batch.next_page_token,
    })
}
