//! BookingAPI's public catalogue through the real mesh: filters, sorts and pages over launches
//! scheduled through AgencyAPI; bookings, status, rocket and agency changes showing within a
//! second; the internal refresh and sync RPCs; REST through the gateway; and, with CacheDB
//! down, answers from OperationsDB that stay correct until CacheDB is back and catches up.

use astro_shared::grpc_client::TracedChannel;
use std::{
    collections::HashMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use astro_e2e::{
    Mesh, Service, TestServers,
    accounts::with_token,
    channel, eventually,
    fixtures::{self, Actor, LaunchPlan, agency_client, agency_profile, in_days},
    forwarder::Forwarder,
    mesh, mesh_with,
    rest::send,
    with_address,
};
use astro_proto::astrobookings::{
    agency::v1::{AbortLaunchRequest, DelayLaunchRequest, Launch, UpdateRocketRequest},
    booking::v1::{
        CatalogueLaunch, CatalogueSortField, GetLaunchRequest, ListLaunchesRequest,
        ListLaunchesResponse, RefreshCatalogueEntriesRequest, SyncCatalogueRequest,
        booking_internal_service_client::BookingInternalServiceClient,
        booking_service_client::BookingServiceClient,
    },
    common::v1::{LaunchStatus, RocketRange, SortOrder},
};
use fred::prelude::{ClientLike as _, HashesInterface as _, KeysInterface as _};
use tonic::{Code, transport::Channel};

/// How soon a change must show in the catalogue.
const FRESHNESS: Duration = Duration::from_secs(1);

fn gateway(mesh: &Mesh) -> SocketAddr {
    mesh.address(Service::Gateway)
}

/// The catalogue as clients reach it: through the gateway, without a token.
fn catalogue(mesh: &Mesh) -> BookingServiceClient<Channel> {
    BookingServiceClient::new(channel(mesh.address(Service::Gateway)))
}

/// BookingAPI's internal service, as other services of the mesh call it.
/// BookingAPI's internal RPCs as `caller` calls them (AgencyAPI refreshes entries, SystemAPI's
/// job runner syncs the catalogue).
fn internal(mesh: &Mesh, caller: Service) -> BookingInternalServiceClient<TracedChannel> {
    BookingInternalServiceClient::new(mesh.internal_channel(Service::Booking, caller))
}

async fn database(mesh: &Mesh) -> sqlx::PgPool {
    sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB of the mesh")
}

/// A plain USD launch from Cape Canaveral.
fn plan(destination: &str, days: i64) -> LaunchPlan<'_> {
    LaunchPlan::usd(destination, days, 25_000_000)
}

/// Delays a launch by AgencyAPI to `days` from now; returns the new date.
async fn delay(
    mesh: &Mesh,
    agency: &Actor,
    launch: &Launch,
    days: i64,
) -> Option<prost_types::Timestamp> {
    let new_date = Some(in_days(days));
    agency_client(gateway(mesh))
        .delay_launch(with_token(
            DelayLaunchRequest {
                id: launch.id.clone(),
                new_scheduled_at: new_date,
                reason: "weather".to_owned(),
            },
            &agency.token,
        ))
        .await
        .expect("launch delayed");
    new_date
}

async fn abort(mesh: &Mesh, agency: &Actor, launch: &Launch) {
    agency_client(gateway(mesh))
        .abort_launch(with_token(
            AbortLaunchRequest {
                id: launch.id.clone(),
                reason: "budget".to_owned(),
            },
            &agency.token,
        ))
        .await
        .expect("launch aborted");
}

/// Takes `seats` seats on a launch the way BookingAPI's booking code does: the seat counter and
/// a `booking` change naming the launch, in one transaction. (The catalogue only reads the
/// counter; how a booking is paid is not its business.)
async fn take_seats<'e>(db: impl sqlx::PgExecutor<'e>, launch_id: &str, seats: i32) {
    let updated = sqlx::query(
        "WITH taken AS (UPDATE launches SET seats_booked = seats_booked + $2 \
                        WHERE id = $1::uuid RETURNING id) \
         INSERT INTO change_log (entity, entity_id, event_type, payload, origin_service) \
         SELECT 'booking', gen_random_uuid()::text, 'BOOKING_CONFIRMED', \
                jsonb_build_object('launch_id', $1::text, 'seats', $2), 'e2e-test' FROM taken",
    )
    .bind(launch_id)
    .bind(seats)
    .execute(db)
    .await
    .expect("seats taken");
    assert_eq!(updated.rows_affected(), 1, "launch {launch_id} exists");
}

async fn list(mesh: &Mesh, request: ListLaunchesRequest) -> ListLaunchesResponse {
    catalogue(mesh)
        .list_launches(request)
        .await
        .expect("catalogue answers")
        .into_inner()
}

async fn get(mesh: &Mesh, id_or_slug: &str) -> Result<CatalogueLaunch, tonic::Status> {
    catalogue(mesh)
        .get_launch(GetLaunchRequest {
            id_or_slug: id_or_slug.to_owned(),
        })
        .await
        .map(|response| response.into_inner().launch.expect("launch"))
}

fn ids(response: &ListLaunchesResponse) -> Vec<String> {
    response
        .launches
        .iter()
        .map(|launch| launch.id.clone())
        .collect()
}

fn id_list(launches: &[&Launch]) -> Vec<String> {
    launches.iter().map(|launch| launch.id.clone()).collect()
}

/// The launch with `id` in the whole catalogue, if listed.
async fn listed(mesh: &Mesh, id: &str) -> Option<CatalogueLaunch> {
    list(
        mesh,
        ListLaunchesRequest {
            page_size: 100,
            ..Default::default()
        },
    )
    .await
    .launches
    .into_iter()
    .find(|launch| launch.id == id)
}

/// Waits until `check` holds and returns how long it took, failing the test after `budget`.
async fn within<F, Fut>(what: &str, budget: Duration, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    assert!(
        eventually(budget, check).await,
        "{what}: not within {budget:?}"
    );
    let latency = started.elapsed();
    println!("{what}: {} ms", latency.as_millis());
    latency
}

/// The catalogue entries CacheDB holds for the mesh, launch id → stored JSON.
async fn cached_entries(mesh: &Mesh) -> HashMap<String, serde_json::Value> {
    let client = astro_e2e::redis().await;
    let stored: HashMap<String, String> = client
        .hgetall(format!("{}catalogue:entries", mesh.redis_key_prefix))
        .await
        .expect("catalogue entries");
    let _ = client.quit().await;
    stored
        .into_iter()
        .map(|(id, json)| (id, serde_json::from_str(&json).expect("JSON entry")))
        .collect()
}

/// Overwrites one catalogue entry in CacheDB, as if it had been written so.
async fn set_cached_entry(mesh: &Mesh, id: &str, entry: &serde_json::Value) {
    let client = astro_e2e::redis().await;
    let _: i64 = client
        .hset(
            format!("{}catalogue:entries", mesh.redis_key_prefix),
            (id, entry.to_string().as_str()),
        )
        .await
        .expect("entry written");
    // Every writer bumps the version, which tells readers their copy is stale.
    let _: i64 = client
        .incr(format!("{}catalogue:version", mesh.redis_key_prefix))
        .await
        .expect("version bumped");
    let _ = client.quit().await;
}

#[tokio::test]
async fn the_catalogue_filters_sorts_pages_and_finds_launches_by_id_or_slug() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let gateway = gateway(&mesh);
    let orbit = fixtures::agency_named(gateway, "catalogue", "Orbit Tours").await;
    let lunar = fixtures::agency_named(gateway, "catalogue", "Lunar Lines").await;
    let falcon =
        fixtures::rocket_named(gateway, &orbit, "Falcon X", 10, RocketRange::Interplanetary).await;
    let hopper =
        fixtures::rocket_named(gateway, &orbit, "Hopper", 4, RocketRange::Suborbital).await;
    let selene =
        fixtures::rocket_named(gateway, &lunar, "Selene", 6, RocketRange::LowEarthOrbit).await;

    let moon = fixtures::schedule(gateway, &orbit, &falcon, plan("Moon", 30)).await;
    let mars = fixtures::schedule(
        gateway,
        &orbit,
        &falcon,
        LaunchPlan {
            price_minor: 80_000_000,
            ..plan("Mars", 90)
        },
    )
    .await;
    let hop = fixtures::schedule(
        gateway,
        &orbit,
        &hopper,
        LaunchPlan {
            price_minor: 500_000,
            ..plan("Karman Line", 10)
        },
    )
    .await;
    let kourou = fixtures::schedule(
        gateway,
        &lunar,
        &selene,
        LaunchPlan {
            spaceport: "Kourou",
            price_minor: 20_000_000,
            currency: "EUR",
            ..plan("Moon", 60)
        },
    )
    .await;
    let aborted = fixtures::schedule(gateway, &lunar, &selene, plan("Moon", 120)).await;
    let sold_out = fixtures::schedule(gateway, &orbit, &hopper, plan("Karman Line", 20)).await;
    let past = fixtures::schedule(gateway, &orbit, &hopper, plan("Karman Line", 15)).await;
    abort(&mesh, &lunar, &aborted).await;
    take_seats(&db, &sold_out.id, 4).await;

    let by_date = id_list(&[&hop, &past, &moon, &kourou, &mars]);
    within(
        "scheduled launches listed",
        Duration::from_secs(5),
        || async { ids(&list(&mesh, ListLaunchesRequest::default()).await) == by_date },
    )
    .await;
    // Time passes: no change-log row says so, the catalogue holds the launch still, yet it is
    // no longer shown, because "in the future" is decided when reading.
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    sqlx::query("UPDATE launches SET scheduled_at = $2 WHERE id = $1::uuid")
        .bind(&past.id)
        .bind(an_hour_ago)
        .execute(&db)
        .await
        .expect("launch moved into the past");
    let mut entry = cached_entries(&mesh).await[&past.id].clone();
    entry["scheduled_at_us"] = an_hour_ago.timestamp_micros().into();
    set_cached_entry(&mesh, &past.id, &entry).await;
    // BookingAPI serves its snapshot from memory for up to NEAR_CACHE_RECHECK (100 ms) after
    // another writer bumped the version. A late refresh (a change-log row retried after a
    // failed write) may meanwhile re-read the launch and drop it from CacheDB: then it is put
    // back, since what is shown here is that a launch CacheDB holds is hidden when it is past.
    let upcoming = id_list(&[&hop, &moon, &kourou, &mars]);
    within(
        "the launch now in the past held by CacheDB, yet no longer listed",
        Duration::from_secs(2),
        || async {
            let held = || async { cached_entries(&mesh).await.contains_key(&past.id) };
            if !held().await {
                set_cached_entry(&mesh, &past.id, &entry).await;
                return false;
            }
            // Held before and after the list: the list was read while CacheDB held it.
            let listed = ids(&list(&mesh, ListLaunchesRequest::default()).await);
            listed == upcoming && held().await
        },
    )
    .await;
    let everything = list(&mesh, ListLaunchesRequest::default()).await;
    assert_eq!(ids(&everything), upcoming);
    assert_eq!(everything.total_size, 4);
    assert!(everything.next_page_token.is_empty());
    let first = &everything.launches[1];
    assert_eq!(first.slug, moon.slug);
    assert_eq!(first.agency_id, orbit.id);
    assert_eq!(first.agency_name, "Orbit Tours");
    assert_eq!(first.rocket_name, "Falcon X");
    assert_eq!(first.range(), RocketRange::Interplanetary);
    assert_eq!(first.spaceport, "Cape Canaveral");
    assert_eq!(first.destination, "Moon");
    assert_eq!(first.scheduled_at, moon.scheduled_at);
    assert_eq!(first.price_per_seat, moon.price_per_seat);
    assert_eq!(first.status(), LaunchStatus::Scheduled);
    assert_eq!((first.capacity, first.seats_available), (10, 10));
    assert!(first.bookable);
    assert!(first.refreshed_at.is_some());

    let cases: Vec<(&str, ListLaunchesRequest, Vec<String>)> = vec![
        (
            "destination, case-insensitive",
            ListLaunchesRequest {
                destination: "mOON".into(),
                ..Default::default()
            },
            id_list(&[&moon, &kourou]),
        ),
        (
            "spaceport",
            ListLaunchesRequest {
                spaceport: "kourou".into(),
                ..Default::default()
            },
            id_list(&[&kourou]),
        ),
        (
            "range",
            ListLaunchesRequest {
                range: RocketRange::Suborbital.into(),
                ..Default::default()
            },
            id_list(&[&hop]),
        ),
        (
            "date window",
            ListLaunchesRequest {
                departs_after: Some(in_days(25)),
                departs_before: Some(in_days(70)),
                ..Default::default()
            },
            id_list(&[&moon, &kourou]),
        ),
        (
            "price in USD (the default currency)",
            ListLaunchesRequest {
                max_price_minor: Some(30_000_000),
                ..Default::default()
            },
            id_list(&[&hop, &moon]),
        ),
        (
            "price in EUR",
            ListLaunchesRequest {
                min_price_minor: Some(0),
                currency: "EUR".into(),
                ..Default::default()
            },
            id_list(&[&kourou]),
        ),
        (
            "seats available",
            ListLaunchesRequest {
                min_seats_available: 5,
                ..Default::default()
            },
            id_list(&[&moon, &kourou, &mars]),
        ),
        (
            "by date, latest first",
            ListLaunchesRequest {
                order: SortOrder::Descending.into(),
                ..Default::default()
            },
            id_list(&[&mars, &kourou, &moon, &hop]),
        ),
        (
            "by price, cheapest first",
            ListLaunchesRequest {
                sort_by: CatalogueSortField::Price.into(),
                ..Default::default()
            },
            id_list(&[&hop, &kourou, &moon, &mars]),
        ),
        (
            "by price, dearest first",
            ListLaunchesRequest {
                sort_by: CatalogueSortField::Price.into(),
                order: SortOrder::Descending.into(),
                ..Default::default()
            },
            id_list(&[&mars, &moon, &kourou, &hop]),
        ),
    ];
    for (name, request, expected) in cases {
        let answer = list(&mesh, request).await;
        assert_eq!(ids(&answer), expected, "{name}");
        assert_eq!(answer.total_size as usize, expected.len(), "{name}");
    }

    // Pages: keyset tokens that follow the order, and the total of every page.
    let mut request = ListLaunchesRequest {
        sort_by: CatalogueSortField::Price.into(),
        order: SortOrder::Descending.into(),
        page_size: 3,
        ..Default::default()
    };
    let page_one = list(&mesh, request.clone()).await;
    assert_eq!(ids(&page_one), id_list(&[&mars, &moon, &kourou]));
    assert_eq!(page_one.total_size, 4);
    assert!(!page_one.next_page_token.is_empty());
    request.page_token = page_one.next_page_token.clone();
    let page_two = list(&mesh, request.clone()).await;
    assert_eq!(ids(&page_two), id_list(&[&hop]));
    assert_eq!(page_two.total_size, 4);
    assert!(page_two.next_page_token.is_empty());

    // Client mistakes are INVALID_ARGUMENT naming the field, never a server error.
    let refusals = [
        (
            ListLaunchesRequest {
                destination: "Mars".into(),
                page_token: page_one.next_page_token.clone(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            ListLaunchesRequest {
                page_token: "not-a-token".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            ListLaunchesRequest {
                departs_after: Some(in_days(70)),
                departs_before: Some(in_days(25)),
                ..Default::default()
            },
            "departs_before",
        ),
        (
            ListLaunchesRequest {
                min_price_minor: Some(10),
                max_price_minor: Some(5),
                ..Default::default()
            },
            "max_price_minor",
        ),
        (
            ListLaunchesRequest {
                max_price_minor: Some(5),
                currency: "dollars".into(),
                ..Default::default()
            },
            "currency",
        ),
        (
            ListLaunchesRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
    ];
    for (request, field) in refusals {
        let refused = catalogue(&mesh)
            .list_launches(request)
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), Code::InvalidArgument, "{field}");
        assert_eq!(astro_e2e::violated_field(&refused), field);
    }

    // One launch by id or by slug; launches that left the catalogue still answer.
    // The same entry, whenever it was last refreshed (the feed may refresh it again between the
    // two reads, with nothing changed).
    let unstamped = |launch: &CatalogueLaunch| CatalogueLaunch {
        refreshed_at: None,
        ..launch.clone()
    };
    let by_id = get(&mesh, &moon.id).await.expect("by id");
    assert_eq!(unstamped(&by_id), unstamped(&everything.launches[1]));
    let by_slug = get(&mesh, &kourou.slug.to_uppercase())
        .await
        .expect("by slug, any case");
    assert_eq!(by_slug.id, kourou.id);
    assert_eq!(by_slug.price_per_seat.expect("price").currency, "EUR");
    assert!(by_slug.bookable);
    let gone = get(&mesh, &aborted.slug).await.expect("an aborted launch");
    assert_eq!(gone.status(), LaunchStatus::Aborted);
    assert!(!gone.bookable);
    let full = get(&mesh, &sold_out.id).await.expect("a sold-out launch");
    assert_eq!((full.seats_available, full.bookable), (0, false));
    let flown = get(&mesh, &past.id).await.expect("a past launch");
    assert!(!flown.bookable);
    for unknown in ["no-such-launch", &uuid::Uuid::new_v4().to_string()] {
        let missing = get(&mesh, unknown).await.expect_err("unknown");
        assert_eq!(missing.code(), Code::NotFound, "{unknown}");
    }
    let empty = get(&mesh, " ").await.expect_err("no key");
    assert_eq!(astro_e2e::violated_field(&empty), "id_or_slug");

    // REST through the gateway, as browsers and curl call it.
    let base = mesh.gateway_url();
    let answer = send(
        "GET",
        &format!(
            "{base}/v1/launches?destination=Moon&sortBy=CATALOGUE_SORT_FIELD_PRICE\
             &order=SORT_ORDER_DESCENDING&pageSize=1"
        ),
        &[],
        None,
    )
    .await
    .expect("REST list");
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["launches"][0]["id"], moon.id.as_str());
    assert_eq!(answer.json["launches"][0]["bookable"], true);
    assert_eq!(answer.json["totalSize"], 2);
    let token = answer.json["nextPageToken"].as_str().expect("a next page");
    let answer = send(
        "GET",
        &format!(
            "{base}/v1/launches?destination=Moon&sort_by=CATALOGUE_SORT_FIELD_PRICE\
             &order=SORT_ORDER_DESCENDING&page_size=1&page_token={token}"
        ),
        &[],
        None,
    )
    .await
    .expect("REST second page");
    assert_eq!(answer.json["launches"][0]["id"], kourou.id.as_str());
    let answer = send(
        "GET",
        &format!("{base}/v1/launches/{}", mars.slug),
        &[],
        None,
    )
    .await
    .expect("REST get by slug");
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["launch"]["id"], mars.id.as_str());
    assert_eq!(answer.json["launch"]["rocketName"], "Falcon X");
    let answer = send(
        "GET",
        &format!(
            "{base}/v1/launches?departsAfter=2030-01-02T00:00:00Z&departsBefore=2030-01-01T00:00:00Z"
        ),
        &[],
        None,
    )
    .await
    .expect("REST bad window");
    assert_eq!(answer.status, 400, "{}", answer.json);
    let answer = send(
        "GET",
        &format!("{base}/v1/launches/no-such-launch"),
        &[],
        None,
    )
    .await
    .expect("REST unknown slug");
    assert_eq!(answer.status, 404, "{}", answer.json);
}

/// An agency named `agency_name` with a rocket of `capacity` seats and two launches on it, to
/// the Moon in 40 days and to Mars in 50, once the catalogue lists both.
async fn moon_and_mars_listed(
    mesh: &Mesh,
    agency_name: &str,
    capacity: i32,
) -> (Actor, String, Launch, Launch) {
    let gateway = gateway(mesh);
    let agency = fixtures::agency_named(gateway, "catalogue", agency_name).await;
    let rocket = fixtures::rocket_named(
        gateway,
        &agency,
        "Swift",
        capacity,
        RocketRange::LowEarthOrbit,
    )
    .await;
    let moon = fixtures::schedule(gateway, &agency, &rocket, plan("Moon", 40)).await;
    let mars = fixtures::schedule(gateway, &agency, &rocket, plan("Mars", 50)).await;
    within(
        "scheduled launches listed",
        Duration::from_secs(5),
        || async {
            listed(mesh, &moon.id).await.is_some() && listed(mesh, &mars.id).await.is_some()
        },
    )
    .await;
    (agency, rocket, moon, mars)
}

/// Change-log ids are handed out at insert, not at commit: a transaction that commits after
/// newer rows leaves its row below the feed's cursor. The feed asks for exactly the ids it
/// found missing on each poll, so such a row shows within a poll too, long before the full
/// rescan of the look-back window (every 60 s) would find it.
#[tokio::test]
async fn a_change_committed_after_newer_ones_shows_as_fast_as_they_do() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let (_, _, held, quick) = moon_and_mars_listed(&mesh, "Late Space", 6).await;

    // A booking whose transaction stays open: its change-log id is taken now.
    let mut slow = db.begin().await.expect("transaction");
    take_seats(&mut *slow, &held.id, 2).await;
    // Newer rows commit first and are handled: the feed's cursor passes the open one.
    take_seats(&db, &quick.id, 1).await;
    within("the newer booking shown", FRESHNESS, || async {
        listed(&mesh, &quick.id)
            .await
            .is_some_and(|launch| launch.seats_available == 5)
    })
    .await;
    assert_eq!(
        listed(&mesh, &held.id)
            .await
            .map(|launch| launch.seats_available),
        Some(6),
        "not committed yet"
    );

    slow.commit().await.expect("the late booking commits");
    let latency = within("the late booking shown", FRESHNESS, || async {
        listed(&mesh, &held.id)
            .await
            .is_some_and(|launch| launch.seats_available == 4)
    })
    .await;
    println!("late row shown after {} ms", latency.as_millis());
}

#[tokio::test]
async fn bookings_status_rocket_and_agency_changes_show_within_a_second() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let gateway = gateway(&mesh);
    let (agency, rocket, moon, mars) = moon_and_mars_listed(&mesh, "Swift Space", 5).await;

    let mut latencies = Vec::new();
    let new_date = delay(&mesh, &agency, &moon, 70).await;
    latencies.push(
        within("delay shown", FRESHNESS, || async {
            listed(&mesh, &moon.id).await.is_some_and(|launch| {
                launch.status() == LaunchStatus::Delayed && launch.scheduled_at == new_date
            })
        })
        .await,
    );

    take_seats(&db, &moon.id, 2).await;
    latencies.push(
        within("booking shown", FRESHNESS, || async {
            listed(&mesh, &moon.id)
                .await
                .is_some_and(|launch| launch.seats_available == 3)
        })
        .await,
    );

    take_seats(&db, &moon.id, 3).await;
    latencies.push(
        within("sold-out launch removed", FRESHNESS, || async {
            listed(&mesh, &moon.id).await.is_none()
        })
        .await,
    );
    assert!(
        !get(&mesh, &moon.slug)
            .await
            .expect("still answers")
            .bookable
    );

    agency_client(gateway)
        .update_rocket(with_token(
            UpdateRocketRequest {
                id: rocket.clone(),
                name: Some("Swift II".to_owned()),
                ..Default::default()
            },
            &agency.token,
        ))
        .await
        .expect("rocket renamed");
    latencies.push(
        within("rocket rename shown", FRESHNESS, || async {
            listed(&mesh, &mars.id)
                .await
                .is_some_and(|launch| launch.rocket_name == "Swift II")
        })
        .await,
    );

    agency_client(gateway)
        .update_agency_profile(with_token(
            agency_profile("Swift Space Lines"),
            &agency.token,
        ))
        .await
        .expect("agency renamed");
    latencies.push(
        within("agency rename shown", FRESHNESS, || async {
            listed(&mesh, &mars.id)
                .await
                .is_some_and(|launch| launch.agency_name == "Swift Space Lines")
        })
        .await,
    );

    abort(&mesh, &agency, &mars).await;
    latencies.push(
        within("abort shown", FRESHNESS, || async {
            listed(&mesh, &mars.id).await.is_none()
        })
        .await,
    );
    let aborted = get(&mesh, &mars.id).await.expect("still answers");
    assert_eq!(aborted.status(), LaunchStatus::Aborted);
    assert!(!aborted.bookable);
    assert_eq!(aborted.agency_id, agency.id);
    println!(
        "catalogue refresh latency: max {} ms over {} changes",
        latencies.iter().max().expect("latencies").as_millis(),
        latencies.len()
    );
}

#[tokio::test]
async fn the_internal_refresh_and_sync_rewrite_the_catalogue_from_operations_db() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let gateway = gateway(&mesh);
    let agency = fixtures::agency_named(gateway, "catalogue", "Sync Space").await;
    let rocket =
        fixtures::rocket_named(gateway, &agency, "Syncer", 8, RocketRange::Suborbital).await;
    let mut launches = Vec::new();
    for days in [11, 12, 13] {
        launches.push(fixtures::schedule(gateway, &agency, &rocket, plan("Edge", days)).await);
    }
    within(
        "scheduled launches listed",
        Duration::from_secs(5),
        || async { list(&mesh, ListLaunchesRequest::default()).await.total_size == 3 },
    )
    .await;

    // A write that bypassed the change log is only picked up when asked for.
    sqlx::query("UPDATE launches SET seats_booked = 8 WHERE id = $1::uuid")
        .bind(&launches[0].id)
        .execute(&db)
        .await
        .expect("seats taken behind the catalogue's back");
    let unknown = uuid::Uuid::new_v4().to_string();
    let refreshed = internal(&mesh, Service::Agency)
        .refresh_catalogue_entries(RefreshCatalogueEntriesRequest {
            launch_ids: vec![launches[0].id.clone(), launches[1].id.clone(), unknown],
        })
        .await
        .expect("refreshed")
        .into_inner();
    assert_eq!((refreshed.upserted, refreshed.removed), (1, 2));
    assert_eq!(
        ids(&list(&mesh, ListLaunchesRequest::default()).await),
        id_list(&[&launches[1], &launches[2]])
    );
    let no_ids = internal(&mesh, Service::Agency)
        .refresh_catalogue_entries(RefreshCatalogueEntriesRequest { launch_ids: vec![] })
        .await
        .expect_err("no ids");
    assert_eq!(astro_e2e::violated_field(&no_ids), "launch_ids");
    let too_many = internal(&mesh, Service::Agency)
        .refresh_catalogue_entries(RefreshCatalogueEntriesRequest {
            launch_ids: vec![launches[1].id.clone(); 501],
        })
        .await
        .expect_err("too many ids");
    assert_eq!(too_many.code(), Code::InvalidArgument);
    let bad_id = internal(&mesh, Service::Agency)
        .refresh_catalogue_entries(RefreshCatalogueEntriesRequest {
            launch_ids: vec![launches[1].id.clone(), "nope".into()],
        })
        .await
        .expect_err("not a UUID");
    assert_eq!(astro_e2e::violated_field(&bad_id), "launch_ids[1]");

    // A sync job rewrites everything batch by batch; its last batch drops what no batch saw.
    sqlx::query("UPDATE launches SET seats_booked = 0 WHERE id = $1::uuid")
        .bind(&launches[0].id)
        .execute(&db)
        .await
        .expect("seats released behind the catalogue's back");
    sqlx::query("UPDATE launches SET price_minor = 7 WHERE id = $1::uuid")
        .bind(&launches[2].id)
        .execute(&db)
        .await
        .expect("price changed behind the catalogue's back");
    let stray = uuid::Uuid::new_v4().to_string();
    let mut stray_entry = cached_entries(&mesh).await[&launches[1].id].clone();
    stray_entry["id"] = stray.clone().into();
    set_cached_entry(&mesh, &stray, &stray_entry).await;
    assert!(cached_entries(&mesh).await.contains_key(&stray));

    let job = uuid::Uuid::new_v4().to_string();
    let mut page_token = String::new();
    let mut processed = 0;
    let mut batches = 0;
    loop {
        let batch = internal(&mesh, Service::System)
            .sync_catalogue(SyncCatalogueRequest {
                job_id: job.clone(),
                page_token: page_token.clone(),
                batch_size: 2,
            })
            .await
            .expect("sync batch")
            .into_inner();
        assert_eq!(batch.items_total, 3);
        assert_eq!(batch.items_failed, 0);
        processed += batch.items_processed;
        batches += 1;
        if batch.next_page_token.is_empty() {
            break;
        }
        if batches == 1 {
            let other_job = internal(&mesh, Service::System)
                .sync_catalogue(SyncCatalogueRequest {
                    job_id: "another job".into(),
                    page_token: batch.next_page_token.clone(),
                    batch_size: 2,
                })
                .await
                .expect_err("another job's token");
            assert_eq!(astro_e2e::violated_field(&other_job), "page_token");
        }
        page_token = batch.next_page_token;
    }
    assert_eq!((processed, batches), (3, 2));
    let entries = cached_entries(&mesh).await;
    assert!(!entries.contains_key(&stray), "the stray entry is swept");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[&launches[2].id]["price_minor"], 7);
    let all = list(&mesh, ListLaunchesRequest::default()).await;
    assert_eq!(
        ids(&all),
        id_list(&[&launches[0], &launches[1], &launches[2]])
    );
    assert_eq!(all.launches[0].seats_available, 8);
}

#[tokio::test]
async fn with_cache_db_down_the_catalogue_answers_from_operations_db_and_then_catches_up() {
    let servers = TestServers::from_env();
    let mut switch = Forwarder::closed(servers.redis_address());
    switch.open().await.expect("forwarder open");
    let mesh = mesh_with(HashMap::from([(
        "ASTRO_BOOKING_REDIS_URL".to_owned(),
        with_address(&servers.redis_url, &switch.address.to_string()),
    )]))
    .await;
    let db = database(&mesh).await;
    let gateway = gateway(&mesh);
    let agency = fixtures::agency_named(gateway, "catalogue", "Steady Space").await;
    let rocket =
        fixtures::rocket_named(gateway, &agency, "Steady", 6, RocketRange::Interplanetary).await;
    let delayed = fixtures::schedule(gateway, &agency, &rocket, plan("Moon", 30)).await;
    let aborted = fixtures::schedule(gateway, &agency, &rocket, plan("Mars", 40)).await;
    let booked = fixtures::schedule(gateway, &agency, &rocket, plan("Venus", 50)).await;
    let all = id_list(&[&delayed, &aborted, &booked]);
    within("launches in CacheDB", Duration::from_secs(5), || async {
        cached_entries(&mesh).await.len() == 3
            && ids(&list(&mesh, ListLaunchesRequest::default()).await) == all
    })
    .await;

    switch.close();
    // BookingAPI serves its snapshot from memory for up to NEAR_CACHE_RECHECK (100 ms) before
    // it asks CacheDB again; only then can it find CacheDB gone.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    let answer = list(&mesh, ListLaunchesRequest::default()).await;
    println!(
        "first answer with CacheDB down: {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(ids(&answer), all);

    // Changes while CacheDB is down show at once: the answers come from OperationsDB.
    let new_date = delay(&mesh, &agency, &delayed, 80).await;
    abort(&mesh, &agency, &aborted).await;
    take_seats(&db, &booked.id, 4).await;
    let started = Instant::now();
    let answer = list(&mesh, ListLaunchesRequest::default()).await;
    let elapsed = started.elapsed();
    println!("answer from OperationsDB: {} ms", elapsed.as_millis());
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(ids(&answer), id_list(&[&booked, &delayed]));
    assert_eq!(answer.total_size, 2);
    assert_eq!(answer.launches[0].seats_available, 2);
    assert_eq!(answer.launches[1].status(), LaunchStatus::Delayed);
    assert_eq!(answer.launches[1].scheduled_at, new_date);
    let moon = list(
        &mesh,
        ListLaunchesRequest {
            destination: "moon".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&moon), id_list(&[&delayed]));
    let by_slug = get(&mesh, &delayed.slug).await.expect("by slug");
    assert_eq!(by_slug.status(), LaunchStatus::Delayed);
    let by_id = get(&mesh, &aborted.id).await.expect("by id");
    assert!(!by_id.bookable);
    let refused = catalogue(&mesh)
        .list_launches(ListLaunchesRequest {
            page_size: -5,
            ..Default::default()
        })
        .await
        .expect_err("still a client mistake");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let rest = send(
        "GET",
        &format!("{}/v1/launches?destination=Venus", mesh.gateway_url()),
        &[],
        None,
    )
    .await
    .expect("REST list");
    assert_eq!(rest.status, 200, "{}", rest.json);
    assert_eq!(rest.json["launches"][0]["seatsAvailable"], 2);
    // CacheDB really missed those changes.
    let stale = cached_entries(&mesh).await;
    assert!(stale.contains_key(&aborted.id));
    assert_eq!(stale[&booked.id]["seats_available"], 6);

    // Back up: the rows that could not be handled are retried and the catalogue is rebuilt.
    switch.open().await.expect("forwarder reopened");
    within("CacheDB caught up", Duration::from_secs(15), || async {
        let entries = cached_entries(&mesh).await;
        entries.len() == 2
            && entries[&booked.id]["seats_available"] == 2
            && entries[&delayed.id]["status"] == "DELAYED"
    })
    .await;
    let answer = list(&mesh, ListLaunchesRequest::default()).await;
    assert_eq!(ids(&answer), id_list(&[&booked, &delayed]));
    take_seats(&db, &booked.id, 1).await;
    within(
        "booking shown again from CacheDB",
        FRESHNESS * 3,
        || async {
            listed(&mesh, &booked.id)
                .await
                .is_some_and(|launch| launch.seats_available == 1)
                && cached_entries(&mesh).await[&booked.id]["seats_available"] == 1
        },
    )
    .await;
}
