//! Profile changes made through SystemAPI reach OperationsDB from SystemAPI's outbox, without a
//! sync job: a rename (UpdateCurrentUser) renames the traveler record, a disabled agency
//! account raises its agency's account version, and a change made while the receiver hangs
//! waits in SystemDB's `profile_outbox` and arrives, newest version only, once it answers.

use std::time::Duration;

use astro_e2e::{
    Mesh, Service,
    accounts::{access_token, login, system_client, with_token},
    fixtures::{self, Actor},
    mesh,
};
use astro_proto::astrobookings::system::v1::{DisableUserRequest, UpdateCurrentUserRequest};
use mongodb::bson::{Document, doc};

/// How long a pushed change may take to arrive (the relay polls twice a second).
const ARRIVAL: Duration = Duration::from_secs(20);

async fn operations_db(mesh: &Mesh) -> sqlx::PgPool {
    sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB of the mesh")
}

async fn rename(mesh: &Mesh, traveler: &Actor, name: &str) {
    let renamed = system_client(mesh.address(Service::Gateway))
        .update_current_user(with_token(
            UpdateCurrentUserRequest {
                name: Some(name.to_owned()),
            },
            &traveler.token,
        ))
        .await
        .expect("UpdateCurrentUser")
        .into_inner()
        .user
        .expect("the account");
    assert_eq!(renamed.name, name);
}

async fn traveler_record(db: &sqlx::PgPool, id: &str) -> (String, i64) {
    sqlx::query_as("SELECT name, account_version FROM travelers WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("traveler record")
}

/// Polls `read` until it answers `expected`; panics with the last answer after [`ARRIVAL`].
async fn arrives<T, F, Fut>(what: &str, expected: T, mut read: F)
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + ARRIVAL;
    loop {
        let seen = read().await;
        if seen == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {seen:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn waiting_entry(mesh: &Mesh, user_id: &str) -> Option<Document> {
    astro_e2e::system_db(mesh)
        .await
        .collection::<Document>("profile_outbox")
        .find_one(doc! { "_id": user_id })
        .await
        .expect("profile_outbox read")
}

#[tokio::test]
async fn a_rename_reaches_the_traveler_record_without_a_sync_job() {
    let mesh = mesh().await;
    let db = operations_db(&mesh).await;
    let traveler = fixtures::traveler(mesh.address(Service::Gateway), "outbox-rename").await;
    // Registration writes the record before any snapshot: no account version yet.
    assert_eq!(
        traveler_record(&db, &traveler.id).await,
        ("Traveler outbox-rename".to_owned(), 0)
    );

    rename(&mesh, &traveler, "Valentina Tereshkova").await;
    arrives(
        "the renamed traveler record",
        ("Valentina Tereshkova".to_owned(), 2),
        || traveler_record(&db, &traveler.id),
    )
    .await;
    arrives("the delivered outbox entry", None, || {
        waiting_entry(&mesh, &traveler.id)
    })
    .await;
}

#[tokio::test]
async fn a_disabled_agency_account_reaches_its_agency_record() {
    let mesh = mesh().await;
    let db = operations_db(&mesh).await;
    let gateway = mesh.address(Service::Gateway);
    let agency = fixtures::agency(gateway, "outbox-disable").await;
    let account_version = || {
        let db = db.clone();
        let id = agency.id.clone();
        async move {
            let (version,): (i64,) =
                sqlx::query_as("SELECT account_version FROM agencies WHERE id = $1::uuid")
                    .bind(&id)
                    .fetch_one(&db)
                    .await
                    .expect("agency record");
            version
        }
    };
    assert_eq!(account_version().await, 0);

    let mut system = system_client(gateway);
    let admin = login(&mut system, &mesh.admin_email, &mesh.admin_password)
        .await
        .expect("the first ADMIN");
    system
        .disable_user(with_token(
            DisableUserRequest {
                id: agency.id.clone(),
                reason: "profile outbox test".to_owned(),
            },
            &access_token(&admin),
        ))
        .await
        .expect("DisableUser");
    // Version 1 at registration, 2 once disabled.
    arrives("the agency's account version", 2, account_version).await;
}

#[tokio::test]
async fn changes_made_while_bookingapi_hangs_wait_in_the_outbox_and_arrive_newest_first() {
    let mesh = mesh().await;
    let db = operations_db(&mesh).await;
    let traveler = fixtures::traveler(mesh.address(Service::Gateway), "outbox-frozen").await;

    let booking = &mesh.processes[&Service::Booking];
    booking.freeze().expect("SIGSTOP BookingAPI");
    rename(&mesh, &traveler, "First New Name").await;
    rename(&mesh, &traveler, "Second New Name").await;
    // Both changes wait under one entry that holds the newest version; nothing arrived.
    let entry = waiting_entry(&mesh, &traveler.id).await;
    let record = traveler_record(&db, &traveler.id).await;
    booking.resume().expect("SIGCONT BookingAPI");
    assert_eq!(record, ("Traveler outbox-frozen".to_owned(), 0));
    let entry = entry.expect("the changes wait in the outbox");
    assert_eq!(entry.get_i64("version").ok(), Some(3), "{entry:?}");

    arrives(
        "the traveler record at the newest version",
        ("Second New Name".to_owned(), 3),
        || traveler_record(&db, &traveler.id),
    )
    .await;
    arrives("the delivered outbox entry", None, || {
        waiting_entry(&mesh, &traveler.id)
    })
    .await;
}
