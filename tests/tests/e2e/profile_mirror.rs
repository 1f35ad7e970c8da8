//! ApplyUserProfiles through a real mesh: SystemAPI's account snapshots mirrored into the agency
//! and traveler records of OperationsDB, each at most once per version, whatever the order or
//! the number of deliveries, and only for SystemAPI.

use astro_e2e::{Mesh, Service, fixtures, mesh};
use astro_proto::astrobookings::{
    agency::v1::{
        ApplyUserProfilesRequest as AgencyApply,
        agency_internal_service_client::AgencyInternalServiceClient,
    },
    booking::v1::{
        ApplyUserProfilesRequest as BookingApply,
        booking_internal_service_client::BookingInternalServiceClient,
    },
    common::v1::{Role, UserProfileSnapshot},
};
use tonic::Code;

fn snapshot(user_id: &str, role: Role, version: i64, email: &str) -> UserProfileSnapshot {
    UserProfileSnapshot {
        user_id: user_id.to_owned(),
        email: email.to_owned(),
        name: format!("Name v{version}"),
        role: role.into(),
        version,
        ..Default::default()
    }
}

async fn database(mesh: &Mesh) -> sqlx::PgPool {
    sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB of the mesh")
}

async fn apply_to_agencies(
    mesh: &Mesh,
    caller: Service,
    profiles: Vec<UserProfileSnapshot>,
) -> Result<(i32, i32), tonic::Status> {
    let answer = AgencyInternalServiceClient::new(mesh.internal_channel(Service::Agency, caller))
        .apply_user_profiles(AgencyApply { profiles })
        .await?
        .into_inner();
    Ok((answer.applied, answer.skipped))
}

async fn apply_to_travelers(
    mesh: &Mesh,
    caller: Service,
    profiles: Vec<UserProfileSnapshot>,
) -> Result<(i32, i32), tonic::Status> {
    let answer = BookingInternalServiceClient::new(mesh.internal_channel(Service::Booking, caller))
        .apply_user_profiles(BookingApply { profiles })
        .await?
        .into_inner();
    Ok((answer.applied, answer.skipped))
}

#[tokio::test]
async fn account_snapshots_reach_agencies_and_travelers_once_per_version() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let db = database(&mesh).await;
    let agency = fixtures::agency(gateway, "mirrored").await;
    let traveler = fixtures::traveler(gateway, "mirrored").await;
    // A TRAVELER account that never wrote a traveler record.
    let newcomer = uuid::Uuid::now_v7().to_string();
    let unknown_agency = uuid::Uuid::now_v7().to_string();

    // AgencyAPI mirrors AGENCY snapshots of agencies it holds, and skips the rest.
    let batch = vec![
        snapshot(&agency.id, Role::Agency, 5, "Owner@Mirrored.example"),
        snapshot(&traveler.id, Role::Traveler, 5, "t@mirrored.example"),
        snapshot(&unknown_agency, Role::Agency, 1, "nobody@mirrored.example"),
    ];
    assert_eq!(
        apply_to_agencies(&mesh, Service::System, batch.clone())
            .await
            .expect("applied"),
        (1, 2)
    );
    let agency_account = || async {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT account_email, account_version FROM agencies WHERE id = $1::uuid",
        )
        .bind(&agency.id)
        .fetch_one(&db)
        .await
        .expect("the agency")
    };
    assert_eq!(
        agency_account().await,
        ("owner@mirrored.example".to_owned(), 5)
    );
    // A replay and an older version change nothing.
    assert_eq!(
        apply_to_agencies(&mesh, Service::System, batch)
            .await
            .expect("applied"),
        (0, 3)
    );
    assert_eq!(
        apply_to_agencies(
            &mesh,
            Service::System,
            vec![snapshot(
                &agency.id,
                Role::Agency,
                4,
                "old@mirrored.example"
            )]
        )
        .await
        .expect("applied"),
        (0, 1)
    );
    assert_eq!(
        agency_account().await,
        ("owner@mirrored.example".to_owned(), 5)
    );
    let mirrored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM change_log WHERE entity_id = $1 \
         AND event_type = 'AGENCY_ACCOUNT_MIRRORED'",
    )
    .bind(&agency.id)
    .fetch_one(&db)
    .await
    .expect("change log");
    assert_eq!(mirrored, 1, "one change, written once");

    // BookingAPI mirrors TRAVELER snapshots; a traveler without a record gets one.
    let batch = vec![
        snapshot(&traveler.id, Role::Traveler, 2, "Renamed@Mirrored.example"),
        snapshot(&traveler.id, Role::Traveler, 1, "older@mirrored.example"),
        snapshot(&newcomer, Role::Traveler, 1, "new@mirrored.example"),
        snapshot(&agency.id, Role::Agency, 9, "owner@mirrored.example"),
    ];
    assert_eq!(
        apply_to_travelers(&mesh, Service::System, batch.clone())
            .await
            .expect("applied"),
        (2, 2)
    );
    let traveler_account = |id: String| {
        let db = db.clone();
        async move {
            sqlx::query_as::<_, (String, String, i64, bool)>(
                "SELECT name, email, account_version, profile_complete FROM travelers \
                 WHERE id = $1::uuid",
            )
            .bind(id)
            .fetch_one(&db)
            .await
            .expect("the traveler")
        }
    };
    assert_eq!(
        traveler_account(traveler.id.clone()).await,
        (
            "Name v2".to_owned(),
            "renamed@mirrored.example".to_owned(),
            2,
            true
        ),
        "the account data changes, the traveler's own profile stays"
    );
    assert_eq!(
        traveler_account(newcomer.clone()).await,
        (
            "Name v1".to_owned(),
            "new@mirrored.example".to_owned(),
            1,
            false
        )
    );
    assert_eq!(
        apply_to_travelers(&mesh, Service::System, batch)
            .await
            .expect("applied"),
        (0, 4)
    );

    // Only SystemAPI may push account data, and a batch is bounded.
    let snapshots = vec![snapshot(&agency.id, Role::Agency, 6, "x@mirrored.example")];
    let refused = apply_to_agencies(&mesh, Service::Booking, snapshots.clone())
        .await
        .expect_err("BookingAPI is not SystemAPI");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let refused = apply_to_travelers(&mesh, Service::Finance, snapshots)
        .await
        .expect_err("FinanceAPI is not SystemAPI");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let too_many = vec![snapshot(&agency.id, Role::Agency, 7, "x@mirrored.example"); 501];
    for outcome in [
        apply_to_agencies(&mesh, Service::System, too_many.clone()).await,
        apply_to_travelers(&mesh, Service::System, too_many).await,
        apply_to_agencies(&mesh, Service::System, Vec::new()).await,
    ] {
        assert_eq!(
            outcome.expect_err("out of bounds").code(),
            Code::InvalidArgument
        );
    }
    assert_eq!(
        agency_account().await,
        ("owner@mirrored.example".to_owned(), 5)
    );
}
