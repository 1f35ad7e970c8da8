//! Synchronization jobs through a real mesh: IT starts them through the gateway, SystemAPI's
//! worker runs them against AgencyAPI and BookingAPI, and what was out of step in OperationsDB
//! and CacheDB is repaired (and counted); one job per data set at a time, across starts; a job
//! whose SystemAPI is killed fails when its lease ends and IT gets the e-mail.

use std::{collections::HashMap, time::Duration};

use astro_e2e::{
    Mesh, Service,
    accounts::{system_client, with_token},
    fixtures::{self, Actor},
    mesh_with, mesh_with_catcher,
};
use astro_proto::astrobookings::{
    common::v1::Role,
    system::v1::{
        GetSyncJobRequest, ListSyncJobsRequest, StartSyncJobRequest, SyncDataSet, SyncJob,
        SyncJobState, WatchSyncJobRequest,
    },
};
use fred::prelude::{ClientLike as _, HashesInterface as _, KeysInterface as _};
use mongodb::bson::doc;
use tonic::Code;

/// Small batches with a rest between them, so that a job lasts long enough to be watched,
/// raced and killed.
fn slow_jobs(pause_ms: &str) -> HashMap<String, String> {
    HashMap::from([
        ("ASTRO_SYSTEM_SYNC_BATCH_SIZE".to_owned(), "1".to_owned()),
        (
            "ASTRO_SYSTEM_SYNC_BATCH_PAUSE_MS".to_owned(),
            pause_ms.to_owned(),
        ),
    ])
}

async fn start(
    mesh: &Mesh,
    it: &Actor,
    data_sets: &[SyncDataSet],
) -> Result<Vec<SyncJob>, tonic::Status> {
    let answer = system_client(mesh.address(Service::Gateway))
        .start_sync_job(with_token(
            StartSyncJobRequest {
                data_sets: data_sets.iter().map(|&data_set| data_set.into()).collect(),
            },
            &it.token,
        ))
        .await?
        .into_inner();
    Ok(answer.started_jobs)
}

async fn start_one(mesh: &Mesh, it: &Actor, data_set: SyncDataSet) -> SyncJob {
    let mut started = start(mesh, it, &[data_set]).await.expect("job started");
    assert_eq!(started.len(), 1, "{started:?}");
    let job = started.remove(0);
    assert_eq!(job.state(), SyncJobState::Queued);
    assert_eq!(job.data_set(), data_set);
    job
}

async fn get(mesh: &Mesh, it: &Actor, id: &str) -> SyncJob {
    system_client(mesh.address(Service::Gateway))
        .get_sync_job(with_token(
            GetSyncJobRequest { id: id.to_owned() },
            &it.token,
        ))
        .await
        .expect("job read")
        .into_inner()
        .job
        .expect("a job")
}

/// The job once `done` holds for it (within `timeout`), or the last one read.
async fn wait_for(
    mesh: &Mesh,
    it: &Actor,
    id: &str,
    timeout: Duration,
    done: impl Fn(&SyncJob) -> bool,
) -> SyncJob {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = get(mesh, it, id).await;
        if done(&job) || tokio::time::Instant::now() >= deadline {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn finished(mesh: &Mesh, it: &Actor, id: &str) -> SyncJob {
    let job = wait_for(mesh, it, id, Duration::from_secs(60), |job| {
        matches!(job.state(), SyncJobState::Succeeded | SyncJobState::Failed)
    })
    .await;
    assert!(
        matches!(job.state(), SyncJobState::Succeeded | SyncJobState::Failed),
        "job {id} did not finish: {job:?}"
    );
    job
}

async fn run_to_success(mesh: &Mesh, it: &Actor, data_set: SyncDataSet) -> SyncJob {
    let job = start_one(mesh, it, data_set).await;
    let done = finished(mesh, it, &job.id).await;
    assert_eq!(done.state(), SyncJobState::Succeeded, "{done:?}");
    assert_eq!(done.percent_done, 100);
    assert!(
        done.started_at.is_some() && done.finished_at.is_some(),
        "{done:?}"
    );
    done
}

async fn operations_db(mesh: &Mesh) -> sqlx::PgPool {
    sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB of the mesh")
}

#[tokio::test]
async fn a_profile_job_repairs_exactly_what_disagrees_and_a_second_changes_nothing() {
    let mesh = mesh_with(HashMap::from([(
        "ASTRO_SYSTEM_SYNC_BATCH_SIZE".to_owned(),
        "2".to_owned(),
    )]))
    .await;
    let gateway = mesh.address(Service::Gateway);
    let it = fixtures::employee(&mesh, Role::It).await;
    let agency = fixtures::agency(gateway, "drift").await;
    let renamed = fixtures::traveler(gateway, "drift-renamed").await;
    let edited = fixtures::traveler(gateway, "drift-edited").await;
    let untouched = fixtures::traveler(gateway, "drift-untouched").await;
    let db = operations_db(&mesh).await;
    let users = astro_e2e::system_db(&mesh)
        .await
        .collection::<mongodb::bson::Document>("users");
    let accounts = users
        .count_documents(doc! {})
        .await
        .expect("accounts counted");

    // Whatever registration left out of step is repaired first.
    let first = run_to_success(&mesh, &it, SyncDataSet::UserProfiles).await;
    assert_eq!(first.items_total, i64::try_from(accounts).expect("a count"));
    assert_eq!(first.items_processed, first.items_total);
    assert_eq!(first.items_failed, 0);

    // Three records disagree: an agency's login e-mail and a traveler's name changed behind
    // SystemDB's back, and a rename in SystemDB that never reached OperationsDB.
    sqlx::query("UPDATE agencies SET account_email = 'drifted@example.com' WHERE id = $1::uuid")
        .bind(&agency.id)
        .execute(&db)
        .await
        .expect("agency drifted");
    sqlx::query("UPDATE travelers SET name = 'Drifted Name' WHERE id = $1::uuid")
        .bind(&edited.id)
        .execute(&db)
        .await
        .expect("traveler drifted");
    users
        .update_one(
            doc! { "_id": &renamed.id },
            doc! { "$set": { "name": "Renamed In SystemDB" }, "$inc": { "profile_version": 1 } },
        )
        .await
        .expect("account renamed");

    let repair = run_to_success(&mesh, &it, SyncDataSet::UserProfiles).await;
    assert_eq!(repair.items_changed, 3, "{repair:?}");
    assert_eq!(repair.items_processed, first.items_processed);
    let (account_email,): (String,) =
        sqlx::query_as("SELECT account_email FROM agencies WHERE id = $1::uuid")
            .bind(&agency.id)
            .fetch_one(&db)
            .await
            .expect("agency read");
    assert_eq!(account_email, agency.email);
    let name_of = |id: String| {
        let db = db.clone();
        async move {
            let (name,): (String,) =
                sqlx::query_as("SELECT name FROM travelers WHERE id = $1::uuid")
                    .bind(&id)
                    .fetch_one(&db)
                    .await
                    .expect("traveler read");
            name
        }
    };
    assert_eq!(name_of(edited.id.clone()).await, "Traveler drift-edited");
    assert_eq!(name_of(renamed.id.clone()).await, "Renamed In SystemDB");
    assert_eq!(
        name_of(untouched.id.clone()).await,
        "Traveler drift-untouched"
    );

    let again = run_to_success(&mesh, &it, SyncDataSet::UserProfiles).await;
    assert_eq!(again.items_changed, 0, "{again:?}");
    assert_eq!(again.items_processed, first.items_processed);

    let listed = system_client(gateway)
        .list_sync_jobs(with_token(
            ListSyncJobsRequest {
                data_set: SyncDataSet::UserProfiles.into(),
                page_size: 2,
                ..Default::default()
            },
            &it.token,
        ))
        .await
        .expect("jobs listed")
        .into_inner();
    let ids: Vec<&str> = listed.jobs.iter().map(|job| job.id.as_str()).collect();
    assert_eq!(ids, [again.id.as_str(), repair.id.as_str()], "newest first");
    assert!(!listed.next_page_token.is_empty());
}

async fn cached_launches(mesh: &Mesh) -> i64 {
    let client = astro_e2e::redis().await;
    let count: i64 = client
        .hlen(format!("{}catalogue:entries", mesh.redis_key_prefix))
        .await
        .expect("entries counted");
    let _ = client.quit().await;
    count
}

#[tokio::test]
async fn a_catalogue_job_rebuilds_the_entries_cachedb_lost() {
    let mesh = mesh_with(HashMap::new()).await;
    let gateway = mesh.address(Service::Gateway);
    let it = fixtures::employee(&mesh, Role::It).await;
    let agency = fixtures::agency(gateway, "rebuilt").await;
    let rocket = fixtures::rocket(gateway, &agency, 4).await;
    for days in [30, 40, 50] {
        fixtures::launch(gateway, &agency, &rocket, days, 10_000).await;
    }
    assert!(
        astro_e2e::eventually(Duration::from_secs(10), || async {
            cached_launches(&mesh).await == 3
        })
        .await,
        "the change feed caches the launches"
    );
    // The feed may still be applying the launches' later changes: let it go quiet first.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // CacheDB loses the entries. The marker that the catalogue was built stays, so BookingAPI
    // does not notice on its own before its periodic rebuild, a minute after its first.
    let client = astro_e2e::redis().await;
    let _: i64 = client
        .del(vec![
            format!("{}catalogue:entries", mesh.redis_key_prefix),
            format!("{}catalogue:slugs", mesh.redis_key_prefix),
        ])
        .await
        .expect("entries deleted");
    let _ = client.quit().await;
    assert_eq!(cached_launches(&mesh).await, 0);

    let rebuilt = run_to_success(&mesh, &it, SyncDataSet::Catalogue).await;
    assert_eq!(
        (
            rebuilt.items_total,
            rebuilt.items_processed,
            rebuilt.items_changed
        ),
        (3, 3, 3),
        "{rebuilt:?}"
    );
    assert_eq!(cached_launches(&mesh).await, 3);
    let again = run_to_success(&mesh, &it, SyncDataSet::Catalogue).await;
    assert_eq!(
        (again.items_processed, again.items_changed),
        (3, 0),
        "{again:?}"
    );
}

#[tokio::test]
async fn one_job_per_data_set_runs_at_a_time_whoever_starts_it() {
    let mesh = mesh_with(slow_jobs("400")).await;
    let gateway = mesh.address(Service::Gateway);
    let it = fixtures::employee(&mesh, Role::It).await;
    let agency = fixtures::agency(gateway, "one-at-a-time").await;
    let rocket = fixtures::rocket(gateway, &agency, 4).await;
    for days in [30, 40, 50] {
        fixtures::launch(gateway, &agency, &rocket, days, 10_000).await;
    }
    for label in ["one", "two", "three"] {
        fixtures::traveler(gateway, label).await;
    }

    // Two starts at once on one data set: one job.
    let (left, right) = tokio::join!(
        start(&mesh, &it, &[SyncDataSet::UserProfiles]),
        start(&mesh, &it, &[SyncDataSet::UserProfiles]),
    );
    let (job, refused) = match (left, right) {
        (Ok(mut started), Err(refused)) | (Err(refused), Ok(mut started)) => {
            (started.remove(0), refused)
        }
        other => panic!("expected one start and one refusal, got {other:?}"),
    };
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    assert!(refused.message().contains(&job.id), "{}", refused.message());

    // "All" starts only what has no job; then the catalogue is taken too.
    let all = system_client(gateway)
        .start_sync_job(with_token(StartSyncJobRequest::default(), &it.token))
        .await
        .expect("all started")
        .into_inner();
    let started: Vec<SyncDataSet> = all.started_jobs.iter().map(SyncJob::data_set).collect();
    assert_eq!(started, [SyncDataSet::Catalogue]);
    let running: Vec<&str> = all.running_jobs.iter().map(|job| job.id.as_str()).collect();
    assert_eq!(running, [job.id.as_str()]);
    let catalogue = start(&mesh, &it, &[SyncDataSet::Catalogue])
        .await
        .expect_err("the catalogue has its job");
    assert_eq!(catalogue.code(), Code::AlreadyExists);
    assert!(catalogue.message().contains(&all.started_jobs[0].id));

    // Both finish, and the data sets are free again.
    for id in [&job.id, &all.started_jobs[0].id] {
        assert_eq!(
            finished(&mesh, &it, id).await.state(),
            SyncJobState::Succeeded
        );
    }
    start_one(&mesh, &it, SyncDataSet::Catalogue).await;
}

#[tokio::test]
async fn watching_a_job_shows_its_progress_rise_to_100() {
    let mesh = mesh_with(slow_jobs("300")).await;
    let gateway = mesh.address(Service::Gateway);
    let it = fixtures::employee(&mesh, Role::It).await;
    for label in ["watch-one", "watch-two", "watch-three", "watch-four"] {
        fixtures::traveler(gateway, label).await;
    }
    let job = start_one(&mesh, &it, SyncDataSet::UserProfiles).await;
    let mut updates = system_client(gateway)
        .watch_sync_job(with_token(
            WatchSyncJobRequest { id: job.id.clone() },
            &it.token,
        ))
        .await
        .expect("watch started")
        .into_inner();
    let mut seen = Vec::new();
    while let Some(update) = tokio::time::timeout(Duration::from_secs(30), updates.message())
        .await
        .expect("an update within 30 s")
        .expect("a healthy stream")
    {
        seen.push(update.job.expect("a job"));
    }
    let percents: Vec<i32> = seen.iter().map(|job| job.percent_done).collect();
    assert!(
        percents.windows(2).all(|pair| pair[0] <= pair[1]),
        "{percents:?}"
    );
    let mut distinct = percents.clone();
    distinct.dedup();
    assert!(distinct.len() >= 3, "progress seen rising: {percents:?}");
    let last = seen.last().expect("updates");
    assert_eq!(
        (last.state(), last.percent_done),
        (SyncJobState::Succeeded, 100)
    );
    assert!(
        seen[..seen.len() - 1]
            .iter()
            .all(|job| job.percent_done < 100)
    );

    let unknown = system_client(gateway)
        .watch_sync_job(with_token(
            WatchSyncJobRequest {
                id: uuid::Uuid::now_v7().to_string(),
            },
            &it.token,
        ))
        .await
        .expect_err("no such job");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn a_job_whose_systemapi_is_killed_fails_when_its_lease_ends_and_it_is_told() {
    let (catcher, mut mesh) = mesh_with_catcher(&[
        ("ASTRO_SYSTEM_SYNC_BATCH_SIZE", "1"),
        ("ASTRO_SYSTEM_SYNC_BATCH_PAUSE_MS", "700"),
        ("ASTRO_SYSTEM_SYNC_LEASE_MS", "2000"),
    ])
    .await;
    let gateway = mesh.address(Service::Gateway);
    let it = fixtures::employee(&mesh, Role::It).await;
    for label in ["crash-one", "crash-two", "crash-three", "crash-four"] {
        fixtures::traveler(gateway, label).await;
    }
    let job = start_one(&mesh, &it, SyncDataSet::UserProfiles).await;
    let running = wait_for(&mesh, &it, &job.id, Duration::from_secs(20), |job| {
        job.state() == SyncJobState::Running && job.items_processed >= 1
    })
    .await;
    assert_eq!(running.state(), SyncJobState::Running, "{running:?}");

    mesh.kill(Service::System).await.expect("SystemAPI killed");
    mesh.restart(Service::System).await.expect("SystemAPI back");
    let failed = wait_for(&mesh, &it, &job.id, Duration::from_secs(30), |job| {
        job.state() != SyncJobState::Running
    })
    .await;
    assert_eq!(failed.state(), SyncJobState::Failed, "{failed:?}");
    assert!(
        failed.failure_message.contains("worker stopped"),
        "{failed:?}"
    );
    assert_eq!(failed.percent_done, 100);
    assert!(failed.finished_at.is_some());

    let alert = |mail: &astro_e2e::mail::Mail| {
        mail.rcpt_tos.contains(&it.email) && mail.subject == "Synchronization failed: user_profiles"
    };
    let mails = catcher
        .wait_until(Duration::from_secs(30), |mails| mails.iter().any(alert))
        .await
        .expect("catcher read");
    let mail = mails
        .iter()
        .find(|mail| alert(mail))
        .unwrap_or_else(|| panic!("no SYNC_JOB_FAILED e-mail to IT: {mails:?}"));
    assert!(mail.text.contains("worker stopped"), "{}", mail.text);
    assert_eq!(
        mails.iter().filter(|mail| alert(mail)).count(),
        1,
        "one e-mail per failure"
    );

    // Its data set is free: the job can be started again, and runs.
    let retried = start_one(&mesh, &it, SyncDataSet::UserProfiles).await;
    assert_eq!(
        finished(&mesh, &it, &retried.id).await.state(),
        SyncJobState::Succeeded
    );
}

#[tokio::test]
async fn sync_job_routes_refuse_travelers_and_agencies_and_answer_it_over_rest() {
    let mesh = mesh_with(slow_jobs("300")).await;
    let gateway = mesh.address(Service::Gateway);
    let base = mesh.gateway_url();
    let it = fixtures::employee(&mesh, Role::It).await;
    let traveler = fixtures::traveler(gateway, "no-sync").await;
    let agency = fixtures::agency(gateway, "no-sync").await;
    let job = uuid::Uuid::now_v7().to_string();
    let routes = [
        ("POST", "/v1/sync-jobs".to_owned(), Some("{}")),
        ("GET", "/v1/sync-jobs".to_owned(), None),
        ("GET", format!("/v1/sync-jobs/{job}"), None),
        ("GET", format!("/v1/sync-jobs/{job}:watch"), None),
    ];
    for actor in [&traveler, &agency] {
        let bearer = format!("Bearer {}", actor.token);
        for (method, path, body) in &routes {
            let answer = astro_e2e::rest::send(
                method,
                &format!("{base}{path}"),
                &[("authorization", bearer.as_str())],
                *body,
            )
            .await
            .expect("the gateway answers");
            assert_eq!(answer.status, 403, "{method} {path}: {}", answer.json);
        }
    }

    let bearer = format!("Bearer {}", it.token);
    let send = |method: &'static str, path: String, body: Option<&'static str>| {
        let url = format!("{base}{path}");
        let bearer = bearer.clone();
        async move {
            astro_e2e::rest::send(method, &url, &[("authorization", bearer.as_str())], body)
                .await
                .expect("the gateway answers")
        }
    };
    let body = r#"{"dataSets":["SYNC_DATA_SET_USER_PROFILES"]}"#;
    let started = send("POST", "/v1/sync-jobs".to_owned(), Some(body)).await;
    assert_eq!(started.status, 200, "{}", started.json);
    let id = started.json["startedJobs"][0]["id"]
        .as_str()
        .expect("a job id")
        .to_owned();
    let again = send("POST", "/v1/sync-jobs".to_owned(), Some(body)).await;
    assert_eq!(again.status, 409, "{}", again.json);
    let unknown = send(
        "POST",
        "/v1/sync-jobs".to_owned(),
        Some(r#"{"dataSets":[7]}"#),
    )
    .await;
    assert_eq!(unknown.status, 400, "{}", unknown.json);
    let watched = send("GET", format!("/v1/sync-jobs/{id}:watch"), None).await;
    assert_eq!(watched.status, 200, "{}", watched.json);
    let updates = watched
        .json
        .as_array()
        .expect("the updates as a JSON array");
    let last = &updates.last().expect("updates")["job"];
    assert_eq!(last["state"], "SYNC_JOB_STATE_SUCCEEDED", "{last}");
    assert_eq!(last["percentDone"], 100);
    let read = send("GET", format!("/v1/sync-jobs/{id}"), None).await;
    assert_eq!(read.json["job"]["state"], "SYNC_JOB_STATE_SUCCEEDED");
    let missing = send("GET", format!("/v1/sync-jobs/{job}"), None).await;
    assert_eq!(missing.status, 404, "{}", missing.json);
    let malformed = send("GET", "/v1/sync-jobs/not-a-job".to_owned(), None).await;
    assert_eq!(malformed.status, 400, "{}", malformed.json);
    let listed = send(
        "GET",
        "/v1/sync-jobs?states=SYNC_JOB_STATE_SUCCEEDED".to_owned(),
        None,
    )
    .await;
    assert_eq!(listed.json["jobs"][0]["id"], id.as_str(), "{}", listed.json);
}
