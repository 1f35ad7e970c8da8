//! AgencyAPI through the real mesh: profile, rockets and launches validation, the launch status
//! machine and its history, the change log written by every write (and by no failed one),
//! agencies isolated from each other, and the bookings report for the agency and FINANCE.

use astro_e2e::{
    Mesh, Service,
    accounts::{
        PASSWORD, access_token, login, register_and_login, system_client, unique_email, with_token,
    },
    fixtures::{self, Actor, agency_client, agency_profile, in_days},
    mesh,
};
use astro_proto::astrobookings::{
    agency::v1::{
        AbortLaunchRequest, CreateRocketRequest, DelayLaunchRequest, DeleteRocketRequest,
        FailLaunchRequest, GetAgencyLaunchRequest, GetAgencyProfileRequest,
        GetBookingsReportRequest, GetRocketRequest, Launch, ListAgencyLaunchesRequest,
        ListRocketsRequest, RetireRocketRequest, Rocket, ScheduleLaunchRequest,
        SucceedLaunchRequest, UpdateRocketRequest, Viability,
    },
    common::v1::{LaunchStatus, Money, RocketRange, Role},
    system::v1::CreateEmployeeRequest,
};
use tonic::Code;

async fn database(mesh: &Mesh) -> sqlx::PgPool {
    sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB of the mesh")
}

/// A signed-in agency account without a profile yet.
async fn agency_account(mesh: &Mesh, label: &str) -> Actor {
    let mut system = system_client(mesh.address(Service::Gateway));
    let (user, session) = register_and_login(&mut system, label, Role::Agency).await;
    Actor {
        id: user.id,
        email: user.email,
        token: access_token(&session),
    }
}

async fn create_rocket(mesh: &Mesh, agency: &Actor, name: &str, capacity: i32) -> Rocket {
    agency_client(mesh.address(Service::Gateway))
        .create_rocket(with_token(
            CreateRocketRequest {
                name: name.to_owned(),
                passenger_capacity: capacity,
                range: RocketRange::Interplanetary.into(),
            },
            &agency.token,
        ))
        .await
        .expect("rocket created")
        .into_inner()
        .rocket
        .expect("rocket")
}

fn launch_request(rocket_id: &str, destination: &str, days: i64) -> ScheduleLaunchRequest {
    ScheduleLaunchRequest {
        rocket_id: rocket_id.to_owned(),
        spaceport: "Cape Canaveral".to_owned(),
        destination: destination.to_owned(),
        scheduled_at: Some(in_days(days)),
        price_per_seat: Some(Money {
            amount_minor: 25_000_000,
            currency: String::new(),
        }),
        minimum_occupancy: 2,
    }
}

async fn schedule(mesh: &Mesh, agency: &Actor, rocket: &Rocket, destination: &str) -> Launch {
    agency_client(mesh.address(Service::Gateway))
        .schedule_launch(with_token(
            launch_request(&rocket.id, destination, 60),
            &agency.token,
        ))
        .await
        .expect("launch scheduled")
        .into_inner()
        .launch
        .expect("launch")
}

/// Moves a launch's date into the past, as time passing would: only the test's own database is
/// touched, never through an RPC.
async fn move_into_past(db: &sqlx::PgPool, launch_id: &str) {
    sqlx::query("UPDATE launches SET scheduled_at = now() - interval '1 hour' WHERE id = $1::uuid")
        .bind(launch_id)
        .execute(db)
        .await
        .expect("launch moved into the past");
}

/// `message` with a token and the caller's own trace context.
fn traced<T>(message: T, token: &str, trace_id: &str) -> tonic::Request<T> {
    let mut request = with_token(message, token);
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .expect("ASCII"),
    );
    request
}

/// The code of a failed call.
fn code<T>(outcome: Result<tonic::Response<T>, tonic::Status>) -> Code {
    outcome.map_or_else(|status| status.code(), |_| Code::Ok)
}

#[derive(sqlx::FromRow)]
struct ChangeLogRow {
    entity: String,
    entity_id: String,
    event_type: String,
    origin_service: String,
    origin_user_id: Option<String>,
    origin_trace_id: Option<String>,
    origin_traceparent: Option<String>,
    payload: serde_json::Value,
}

/// Rows of AgencyAPI's own entities: what other services write in reaction (an aborted
/// launch's invoice) comes asynchronously and is theirs to count.
async fn change_log_count(db: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM change_log WHERE entity IN ('agency', 'rocket', 'launch')",
    )
    .fetch_one(db)
    .await
    .expect("change log count")
}

#[tokio::test]
async fn invalid_profiles_rockets_and_launches_are_refused_naming_the_field() {
    let mesh = mesh().await;
    let mut agency = agency_client(mesh.address(Service::Gateway));
    let a = agency_account(&mesh, "valid").await;

    let empty = agency
        .get_agency_profile(with_token(GetAgencyProfileRequest {}, &a.token))
        .await
        .expect("an AGENCY account without a profile reads an empty one")
        .into_inner()
        .agency
        .expect("agency");
    assert_eq!(empty.id, a.id);
    assert!(!empty.profile_complete);

    let early = agency
        .create_rocket(with_token(
            CreateRocketRequest {
                name: "Early".to_owned(),
                passenger_capacity: 4,
                range: RocketRange::Suborbital.into(),
            },
            &a.token,
        ))
        .await
        .expect_err("no rocket before the profile");
    assert_eq!(early.code(), Code::FailedPrecondition);

    let mut no_tax_id = agency_profile("Valid Space");
    no_tax_id.tax_id = String::new();
    let refused = agency
        .update_agency_profile(with_token(no_tax_id, &a.token))
        .await
        .expect_err("tax id is required");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(astro_e2e::violated_field(&refused), "tax_id");

    let mut no_address = agency_profile("Valid Space");
    no_address.legal_address = None;
    let refused = agency
        .update_agency_profile(with_token(no_address, &a.token))
        .await
        .expect_err("legal address is required");
    assert_eq!(astro_e2e::violated_field(&refused), "legal_address");

    let mut no_contact = agency_profile("Valid Space");
    no_contact.contact_email = String::new();
    let refused = agency
        .update_agency_profile(with_token(no_contact, &a.token))
        .await
        .expect_err("contact e-mail is required");
    assert_eq!(astro_e2e::violated_field(&refused), "contact_email");
    let mut no_phone = agency_profile("Valid Space");
    no_phone.contact_phone = String::new();
    let refused = agency
        .update_agency_profile(with_token(no_phone, &a.token))
        .await
        .expect_err("contact phone is required");
    assert_eq!(astro_e2e::violated_field(&refused), "contact_phone");

    let written = agency
        .update_agency_profile(with_token(agency_profile("Valid Space"), &a.token))
        .await
        .expect("a complete profile")
        .into_inner()
        .agency
        .expect("agency");
    assert!(written.profile_complete);
    assert_eq!(written.tax_id, "US-12-3456789");
    let audit = written.audit.expect("audit");
    assert_eq!(audit.created.expect("created").service, "agency-api");

    for capacity in [0, 101] {
        let refused = agency
            .create_rocket(with_token(
                CreateRocketRequest {
                    name: "Too odd".to_owned(),
                    passenger_capacity: capacity,
                    range: RocketRange::Suborbital.into(),
                },
                &a.token,
            ))
            .await
            .expect_err("capacity outside 1-100");
        assert_eq!(refused.code(), Code::InvalidArgument, "capacity {capacity}");
        assert_eq!(astro_e2e::violated_field(&refused), "passenger_capacity");
    }
    let no_range = agency
        .create_rocket(with_token(
            CreateRocketRequest {
                name: "Nowhere".to_owned(),
                passenger_capacity: 3,
                range: RocketRange::Unspecified.into(),
            },
            &a.token,
        ))
        .await
        .expect_err("range is required");
    assert_eq!(astro_e2e::violated_field(&no_range), "range");

    let rocket = create_rocket(&mesh, &a, "Falcon X", 10).await;
    assert_eq!(rocket.passenger_capacity, 10);
    let same_name = agency
        .create_rocket(with_token(
            CreateRocketRequest {
                name: "falcon x".to_owned(),
                passenger_capacity: 3,
                range: RocketRange::Suborbital.into(),
            },
            &a.token,
        ))
        .await
        .expect_err("rocket names are unique per agency");
    assert_eq!(same_name.code(), Code::AlreadyExists);

    let mut past = launch_request(&rocket.id, "Moon", 0);
    past.scheduled_at = Some(in_days(-1));
    let refused = agency
        .schedule_launch(with_token(past, &a.token))
        .await
        .expect_err("a launch in the past");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(astro_e2e::violated_field(&refused), "scheduled_at");

    let mut too_many = launch_request(&rocket.id, "Moon", 30);
    too_many.minimum_occupancy = 11;
    let refused = agency
        .schedule_launch(with_token(too_many, &a.token))
        .await
        .expect_err("minimum occupancy above capacity");
    assert_eq!(astro_e2e::violated_field(&refused), "minimum_occupancy");

    let b = fixtures::agency(mesh.address(Service::Gateway), "other").await;
    let b_rocket = create_rocket(&mesh, &b, "Other Rocket", 5).await;
    let refused = agency
        .schedule_launch(with_token(
            launch_request(&b_rocket.id, "Mars", 30),
            &a.token,
        ))
        .await
        .expect_err("another agency's rocket");
    assert_eq!(refused.code(), Code::NotFound);
    assert!(
        refused.message().contains("rocket"),
        "{}",
        refused.message()
    );

    let launch = schedule(&mesh, &a, &rocket, "Moon").await;
    assert_eq!(launch.status(), LaunchStatus::Scheduled);
    assert!(
        launch.slug.starts_with("falcon-x-cape-canaveral-moon-"),
        "{}",
        launch.slug
    );
    assert_eq!(launch.price_per_seat.expect("price").currency, "USD");
    assert_eq!(launch.capacity, 10);
    let duplicate = agency
        .schedule_launch(with_token(
            ScheduleLaunchRequest {
                // The very same date: the slug cannot differ even across midnight.
                scheduled_at: launch.scheduled_at,
                ..launch_request(&rocket.id, "Moon", 60)
            },
            &a.token,
        ))
        .await
        .expect_err("the same slug twice");
    assert_eq!(duplicate.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn the_status_machine_allows_what_domain_allows_and_keeps_the_history_in_order() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let mut agency = agency_client(mesh.address(Service::Gateway));
    let a = fixtures::agency(mesh.address(Service::Gateway), "status").await;
    let rocket = create_rocket(&mesh, &a, "Status Rocket", 6).await;

    // SCHEDULED -> DELAYED -> DELAYED -> SUCCESSFUL.
    let flight = schedule(&mesh, &a, &rocket, "Moon").await;
    let first_delay = in_days(70);
    let delayed = agency
        .delay_launch(with_token(
            DelayLaunchRequest {
                id: flight.id.clone(),
                new_scheduled_at: Some(first_delay),
                reason: "weather".to_owned(),
            },
            &a.token,
        ))
        .await
        .expect("a scheduled launch may be delayed")
        .into_inner()
        .launch
        .expect("launch");
    assert_eq!(delayed.status(), LaunchStatus::Delayed);
    assert_eq!(
        delayed.slug, flight.slug,
        "the slug keeps its original date"
    );
    assert_eq!(delayed.original_scheduled_at, flight.scheduled_at);
    let not_later = agency
        .delay_launch(with_token(
            DelayLaunchRequest {
                id: flight.id.clone(),
                new_scheduled_at: Some(in_days(65)),
                reason: "earlier?".to_owned(),
            },
            &a.token,
        ))
        .await
        .expect_err("a delay moves the date later");
    assert_eq!(not_later.code(), Code::InvalidArgument);
    assert_eq!(astro_e2e::violated_field(&not_later), "new_scheduled_at");
    agency
        .delay_launch(with_token(
            DelayLaunchRequest {
                id: flight.id.clone(),
                new_scheduled_at: Some(in_days(80)),
                reason: "engine check".to_owned(),
            },
            &a.token,
        ))
        .await
        .expect("a delayed launch may be delayed again");
    for refused in [
        agency
            .succeed_launch(with_token(
                SucceedLaunchRequest {
                    id: flight.id.clone(),
                    reason: String::new(),
                },
                &a.token,
            ))
            .await
            .expect_err("not before the launch date"),
        agency
            .fail_launch(with_token(
                FailLaunchRequest {
                    id: flight.id.clone(),
                    reason: String::new(),
                },
                &a.token,
            ))
            .await
            .expect_err("not before the launch date"),
    ] {
        assert_eq!(refused.code(), Code::FailedPrecondition);
    }
    move_into_past(&db, &flight.id).await;
    let succeeded = agency
        .succeed_launch(with_token(
            SucceedLaunchRequest {
                id: flight.id.clone(),
                reason: "nominal".to_owned(),
            },
            &a.token,
        ))
        .await
        .expect("at or after the date")
        .into_inner()
        .launch
        .expect("launch");
    assert_eq!(succeeded.status(), LaunchStatus::Successful);
    let before = change_log_count(&db).await;
    let again = agency
        .succeed_launch(with_token(
            SucceedLaunchRequest {
                id: flight.id.clone(),
                reason: String::new(),
            },
            &a.token,
        ))
        .await
        .expect("repeating the final step returns the launch unchanged")
        .into_inner()
        .launch
        .expect("launch");
    assert_eq!(again.status(), LaunchStatus::Successful);
    assert_eq!(
        change_log_count(&db).await,
        before,
        "an unchanged launch logs nothing"
    );
    let abort_final = agency
        .abort_launch(with_token(
            AbortLaunchRequest {
                id: flight.id.clone(),
                reason: "too late".to_owned(),
            },
            &a.token,
        ))
        .await;
    assert_eq!(code(abort_final), Code::FailedPrecondition);
    let fail_final = agency
        .fail_launch(with_token(
            FailLaunchRequest {
                id: flight.id.clone(),
                reason: String::new(),
            },
            &a.token,
        ))
        .await;
    assert_eq!(code(fail_final), Code::FailedPrecondition);
    let delay_final = agency
        .delay_launch(with_token(
            DelayLaunchRequest {
                id: flight.id.clone(),
                new_scheduled_at: Some(in_days(90)),
                reason: "again".to_owned(),
            },
            &a.token,
        ))
        .await
        .expect_err("final");
    assert_eq!(delay_final.code(), Code::FailedPrecondition);

    let details = agency
        .get_agency_launch(with_token(
            GetAgencyLaunchRequest {
                id: flight.id.clone(),
            },
            &a.token,
        ))
        .await
        .expect("own launch")
        .into_inner();
    let statuses: Vec<(LaunchStatus, LaunchStatus, String)> = details
        .history
        .iter()
        .map(|change| {
            (
                change.status(),
                change.previous_status(),
                change.reason.clone(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (
                LaunchStatus::Scheduled,
                LaunchStatus::Unspecified,
                String::new()
            ),
            (
                LaunchStatus::Delayed,
                LaunchStatus::Scheduled,
                "weather".to_owned()
            ),
            (
                LaunchStatus::Delayed,
                LaunchStatus::Delayed,
                "engine check".to_owned()
            ),
            (
                LaunchStatus::Successful,
                LaunchStatus::Delayed,
                "nominal".to_owned()
            ),
        ]
    );
    for change in &details.history {
        let origin = change.origin.as_ref().expect("origin");
        assert_eq!(origin.user_id, a.id);
        assert_eq!(origin.service, "agency-api");
    }
    assert_eq!(
        details.history[1].previous_scheduled_at,
        flight.scheduled_at
    );
    assert_eq!(details.history[1].scheduled_at, Some(first_delay));

    // SCHEDULED -> ABORTED, final.
    let aborted = schedule(&mesh, &a, &rocket, "Mars").await;
    let missing_reason = agency
        .abort_launch(with_token(
            AbortLaunchRequest {
                id: aborted.id.clone(),
                reason: " ".to_owned(),
            },
            &a.token,
        ))
        .await
        .expect_err("an abort needs a reason");
    assert_eq!(astro_e2e::violated_field(&missing_reason), "reason");
    for _ in 0..2 {
        let launch = agency
            .abort_launch(with_token(
                AbortLaunchRequest {
                    id: aborted.id.clone(),
                    reason: "budget".to_owned(),
                },
                &a.token,
            ))
            .await
            .expect("abort, and abort again unchanged")
            .into_inner()
            .launch
            .expect("launch");
        assert_eq!(launch.status(), LaunchStatus::Aborted);
        assert_eq!(launch.status_reason, "budget");
    }
    move_into_past(&db, &aborted.id).await;
    let succeed_aborted = agency
        .succeed_launch(with_token(
            SucceedLaunchRequest {
                id: aborted.id.clone(),
                reason: String::new(),
            },
            &a.token,
        ))
        .await
        .expect_err("an aborted launch stays aborted");
    assert_eq!(succeed_aborted.code(), Code::FailedPrecondition);

    // SCHEDULED -> FAILED at the date.
    let failed = schedule(&mesh, &a, &rocket, "Venus").await;
    move_into_past(&db, &failed.id).await;
    let launch = agency
        .fail_launch(with_token(
            FailLaunchRequest {
                id: failed.id.clone(),
                reason: "lost telemetry".to_owned(),
            },
            &a.token,
        ))
        .await
        .expect("fail at or after the date")
        .into_inner()
        .launch
        .expect("launch");
    assert_eq!(launch.status(), LaunchStatus::Failed);

    let profile = agency
        .get_agency_profile(with_token(GetAgencyProfileRequest {}, &a.token))
        .await
        .expect("profile")
        .into_inner()
        .agency
        .expect("agency");
    assert_eq!(profile.successful_launch_count, 1);
    assert!(!profile.reliable);
}

#[tokio::test]
async fn every_write_leaves_exactly_one_change_log_row_and_a_failed_write_none() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let mut agency = agency_client(mesh.address(Service::Gateway));
    let a = agency_account(&mesh, "changes").await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    // Every request carries the caller's trace context.
    macro_rules! traced {
        ($message:expr) => {
            traced($message, &a.token, trace_id)
        };
    }
    struct Step {
        entity: &'static str,
        event_type: &'static str,
    }
    let mut expected: Vec<Step> = Vec::new();
    agency
        .update_agency_profile(traced!(agency_profile("Changes Space")))
        .await
        .expect("profile");
    expected.push(Step {
        entity: "agency",
        event_type: "AGENCY_PROFILE_CREATED",
    });
    assert_eq!(
        change_log_count(&db).await,
        i64::try_from(expected.len()).expect("fits")
    );
    agency
        .update_agency_profile(traced!(agency_profile("Changes Space 2")))
        .await
        .expect("profile again");
    expected.push(Step {
        entity: "agency",
        event_type: "AGENCY_PROFILE_UPDATED",
    });

    let rocket = agency
        .create_rocket(traced!(CreateRocketRequest {
            name: "Logger".to_owned(),
            passenger_capacity: 8,
            range: RocketRange::LowEarthOrbit.into(),
        }))
        .await
        .expect("rocket")
        .into_inner()
        .rocket
        .expect("rocket");
    expected.push(Step {
        entity: "rocket",
        event_type: "ROCKET_CREATED",
    });
    agency
        .update_rocket(traced!(UpdateRocketRequest {
            id: rocket.id.clone(),
            passenger_capacity: Some(9),
            ..UpdateRocketRequest::default()
        }))
        .await
        .expect("rocket edited");
    expected.push(Step {
        entity: "rocket",
        event_type: "ROCKET_UPDATED",
    });
    let launch = agency
        .schedule_launch(traced!(launch_request(&rocket.id, "Moon", 30)))
        .await
        .expect("launch")
        .into_inner()
        .launch
        .expect("launch");
    assert_eq!(launch.capacity, 9);
    expected.push(Step {
        entity: "launch",
        event_type: "LAUNCH_SCHEDULED",
    });
    agency
        .delay_launch(traced!(DelayLaunchRequest {
            id: launch.id.clone(),
            new_scheduled_at: Some(in_days(40)),
            reason: "winds".to_owned(),
        }))
        .await
        .expect("delay");
    expected.push(Step {
        entity: "launch",
        event_type: "LAUNCH_DELAYED",
    });
    agency
        .abort_launch(traced!(AbortLaunchRequest {
            id: launch.id.clone(),
            reason: "budget".to_owned(),
        }))
        .await
        .expect("abort");
    expected.push(Step {
        entity: "launch",
        event_type: "LAUNCH_ABORTED",
    });
    agency
        .retire_rocket(traced!(RetireRocketRequest {
            id: rocket.id.clone(),
        }))
        .await
        .expect("retire");
    expected.push(Step {
        entity: "rocket",
        event_type: "ROCKET_RETIRED",
    });
    assert_eq!(
        change_log_count(&db).await,
        i64::try_from(expected.len()).expect("fits")
    );

    // Failed writes leave nothing: a duplicate slug (refused by the database mid-transaction),
    // a capacity below the minimum occupancy of an open launch, a final launch, a retired rocket.
    let spare = agency
        .create_rocket(traced!(CreateRocketRequest {
            name: "Spare".to_owned(),
            passenger_capacity: 4,
            range: RocketRange::Suborbital.into(),
        }))
        .await
        .expect("spare rocket")
        .into_inner()
        .rocket
        .expect("rocket");
    expected.push(Step {
        entity: "rocket",
        event_type: "ROCKET_CREATED",
    });
    let orbit = launch_request(&spare.id, "Orbit", 30);
    agency
        .schedule_launch(traced!(orbit.clone()))
        .await
        .expect("launch on the spare");
    expected.push(Step {
        entity: "launch",
        event_type: "LAUNCH_SCHEDULED",
    });
    let before = change_log_count(&db).await;
    let duplicate = agency
        .schedule_launch(traced!(orbit.clone()))
        .await
        .expect_err("same slug");
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let shrink = agency
        .update_rocket(traced!(UpdateRocketRequest {
            id: spare.id.clone(),
            name: Some("Spare Renamed".to_owned()),
            passenger_capacity: Some(1),
            ..UpdateRocketRequest::default()
        }))
        .await
        .expect_err("capacity below an open launch's minimum occupancy");
    assert_eq!(shrink.code(), Code::FailedPrecondition);
    let kept = agency
        .get_rocket(with_token(
            GetRocketRequest {
                id: spare.id.clone(),
            },
            &a.token,
        ))
        .await
        .expect("rocket")
        .into_inner()
        .rocket
        .expect("rocket");
    assert_eq!(kept.name, "Spare", "the failed edit rolled back entirely");
    let delete = agency
        .delete_rocket(traced!(DeleteRocketRequest {
            id: spare.id.clone(),
        }))
        .await
        .expect_err("a rocket with an upcoming launch");
    assert_eq!(delete.code(), Code::FailedPrecondition);
    let on_retired = agency
        .schedule_launch(traced!(launch_request(&rocket.id, "Mars", 30)))
        .await
        .expect_err("retired rocket");
    assert_eq!(on_retired.code(), Code::FailedPrecondition);
    assert_eq!(
        change_log_count(&db).await,
        before,
        "failed writes leave no row"
    );

    let rows: Vec<ChangeLogRow> = sqlx::query_as(
        "SELECT entity, entity_id, event_type, origin_service, origin_user_id, \
         origin_trace_id, origin_traceparent, payload FROM change_log \
         WHERE entity IN ('agency', 'rocket', 'launch') ORDER BY id",
    )
    .fetch_all(&db)
    .await
    .expect("change log");
    assert_eq!(rows.len(), expected.len());
    for (row, step) in rows.iter().zip(&expected) {
        assert_eq!(
            (row.entity.as_str(), row.event_type.as_str()),
            (step.entity, step.event_type)
        );
        assert!(!row.entity_id.is_empty());
        assert_eq!(row.origin_service, "agency-api");
        assert_eq!(row.origin_user_id.as_deref(), Some(a.id.as_str()));
        assert_eq!(
            row.origin_trace_id.as_deref(),
            Some(trace_id),
            "{}",
            row.event_type
        );
        assert!(
            row.origin_traceparent
                .as_deref()
                .is_some_and(|traceparent| traceparent.contains(trace_id)),
            "the traceparent is kept so relays join the trace"
        );
    }
    let delayed = &rows[5];
    assert_eq!(delayed.entity_id, launch.id);
    assert_eq!(delayed.payload["previous_status"], "SCHEDULED");
    assert_eq!(delayed.payload["reason"], "winds");
}

#[tokio::test]
async fn an_agency_cannot_see_change_or_report_on_another_agencys_rockets_and_launches() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let mut agency = agency_client(mesh.address(Service::Gateway));
    let a = fixtures::agency(mesh.address(Service::Gateway), "owner").await;
    let b = fixtures::agency(mesh.address(Service::Gateway), "intruder").await;
    let rocket = create_rocket(&mesh, &a, "Private", 4).await;
    let launch = schedule(&mesh, &a, &rocket, "Moon").await;
    let flown = schedule(&mesh, &a, &rocket, "Mars").await;
    move_into_past(&db, &flown.id).await;
    agency
        .succeed_launch(with_token(
            SucceedLaunchRequest {
                id: flown.id.clone(),
                reason: String::new(),
            },
            &a.token,
        ))
        .await
        .expect("success");
    let before = change_log_count(&db).await;

    fn not_found<T>(outcome: Result<tonic::Response<T>, tonic::Status>, what: &str) {
        assert_eq!(code(outcome), Code::NotFound, "{what}");
    }
    let t = &b.token;
    not_found(
        agency
            .get_rocket(with_token(
                GetRocketRequest {
                    id: rocket.id.clone(),
                },
                t,
            ))
            .await,
        "get rocket",
    );
    not_found(
        agency
            .update_rocket(with_token(
                UpdateRocketRequest {
                    id: rocket.id.clone(),
                    name: Some("Mine".to_owned()),
                    ..UpdateRocketRequest::default()
                },
                t,
            ))
            .await,
        "update rocket",
    );
    not_found(
        agency
            .retire_rocket(with_token(
                RetireRocketRequest {
                    id: rocket.id.clone(),
                },
                t,
            ))
            .await,
        "retire rocket",
    );
    not_found(
        agency
            .delete_rocket(with_token(
                DeleteRocketRequest {
                    id: rocket.id.clone(),
                },
                t,
            ))
            .await,
        "delete rocket",
    );
    not_found(
        agency
            .get_agency_launch(with_token(
                GetAgencyLaunchRequest {
                    id: launch.id.clone(),
                },
                t,
            ))
            .await,
        "get launch",
    );
    not_found(
        agency
            .delay_launch(with_token(
                DelayLaunchRequest {
                    id: launch.id.clone(),
                    new_scheduled_at: Some(in_days(90)),
                    reason: "mine".to_owned(),
                },
                t,
            ))
            .await,
        "delay",
    );
    not_found(
        agency
            .abort_launch(with_token(
                AbortLaunchRequest {
                    id: launch.id.clone(),
                    reason: "mine".to_owned(),
                },
                t,
            ))
            .await,
        "abort",
    );
    not_found(
        agency
            .fail_launch(with_token(
                FailLaunchRequest {
                    id: flown.id.clone(),
                    reason: String::new(),
                },
                t,
            ))
            .await,
        "fail",
    );
    not_found(
        agency
            .get_bookings_report(with_token(
                GetBookingsReportRequest {
                    id: flown.id.clone(),
                    format: String::new(),
                },
                t,
            ))
            .await,
        "report",
    );
    not_found(
        agency
            .schedule_launch(with_token(launch_request(&rocket.id, "Venus", 30), t))
            .await,
        "schedule on another's rocket",
    );
    assert_eq!(change_log_count(&db).await, before, "nothing was written");

    let b_rockets = agency
        .list_rockets(with_token(ListRocketsRequest::default(), t))
        .await
        .expect("own rockets")
        .into_inner();
    assert!(b_rockets.rockets.is_empty());
    let b_launches = agency
        .list_agency_launches(with_token(ListAgencyLaunchesRequest::default(), t))
        .await
        .expect("own launches")
        .into_inner();
    assert!(b_launches.launches.is_empty());
    assert_eq!(b_launches.total_size, 0);

    // The owner and FINANCE read the report; it is empty until bookings exist.
    let report = agency
        .get_bookings_report(with_token(
            GetBookingsReportRequest {
                id: flown.id.clone(),
                format: String::new(),
            },
            &a.token,
        ))
        .await
        .expect("the owner's report")
        .into_inner();
    assert!(report.rows.is_empty());
    let totals = report.totals.expect("totals");
    assert_eq!(totals.net_revenue.expect("net").amount_minor, 0);
    let not_successful = agency
        .get_bookings_report(with_token(
            GetBookingsReportRequest {
                id: launch.id.clone(),
                format: String::new(),
            },
            &a.token,
        ))
        .await
        .expect_err("only a SUCCESSFUL launch has a report");
    assert_eq!(not_successful.code(), Code::FailedPrecondition);

    let mut system = system_client(mesh.address(Service::Gateway));
    let admin = login(&mut system, &mesh.admin_email, &mesh.admin_password)
        .await
        .expect("admin");
    let finance_email = unique_email("finance");
    system
        .create_employee(with_token(
            CreateEmployeeRequest {
                email: finance_email.clone(),
                password: PASSWORD.to_owned(),
                name: "Fin Ance".to_owned(),
                role: Role::Finance.into(),
            },
            &access_token(&admin),
        ))
        .await
        .expect("finance employee");
    let finance = access_token(
        &login(&mut system, &finance_email, PASSWORD)
            .await
            .expect("login"),
    );
    let csv = agency
        .get_bookings_report(with_token(
            GetBookingsReportRequest {
                id: flown.id.clone(),
                format: "CSV".to_owned(),
            },
            &finance,
        ))
        .await
        .expect("FINANCE reads any agency's report")
        .into_inner();
    assert_eq!(csv.content_type, "text/csv; charset=utf-8");
    assert_eq!(csv.filename, format!("bookings-{}.csv", flown.slug));
    let text = String::from_utf8(csv.csv).expect("UTF-8");
    assert!(text.starts_with("booking_id,traveler_id,"), "{text}");
    assert!(text.ends_with("TOTAL,,,,0,0,0,0,0,USD\r\n"), "{text}");
    let bad_format = agency
        .get_bookings_report(with_token(
            GetBookingsReportRequest {
                id: flown.id.clone(),
                format: "xml".to_owned(),
            },
            &finance,
        ))
        .await
        .expect_err("unknown format");
    assert_eq!(astro_e2e::violated_field(&bad_format), "format");
    let denied = agency
        .list_rockets(with_token(ListRocketsRequest::default(), &finance))
        .await
        .expect_err("FINANCE is not an agency");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn launches_list_with_occupancy_filtered_sorted_and_paged_and_rockets_are_deleted_or_hidden()
{
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let mut agency = agency_client(mesh.address(Service::Gateway));
    let a = fixtures::agency(mesh.address(Service::Gateway), "lister").await;
    let rocket = create_rocket(&mesh, &a, "Lister", 10).await;
    let mut launches = Vec::new();
    for (destination, days) in [("Moon", 30), ("Mars", 10), ("Venus", 20)] {
        let launch = agency
            .schedule_launch(with_token(
                launch_request(&rocket.id, destination, days),
                &a.token,
            ))
            .await
            .expect("launch")
            .into_inner()
            .launch
            .expect("launch");
        launches.push(launch);
    }
    // Seats come from BookingAPI; set them directly as its bookings would.
    sqlx::query("UPDATE launches SET seats_booked = 5 WHERE id = $1::uuid")
        .bind(&launches[0].id)
        .execute(&db)
        .await
        .expect("seats booked");

    let page = agency
        .list_agency_launches(with_token(
            ListAgencyLaunchesRequest {
                page_size: 2,
                ..ListAgencyLaunchesRequest::default()
            },
            &a.token,
        ))
        .await
        .expect("first page")
        .into_inner();
    let destinations: Vec<String> = page
        .launches
        .iter()
        .map(|item| item.launch.as_ref().expect("launch").destination.clone())
        .collect();
    assert_eq!(destinations, ["Mars", "Venus"], "by date by default");
    assert_eq!(page.total_size, 3);
    assert!(!page.next_page_token.is_empty());
    let rest = agency
        .list_agency_launches(with_token(
            ListAgencyLaunchesRequest {
                page_size: 2,
                page_token: page.next_page_token.clone(),
                ..ListAgencyLaunchesRequest::default()
            },
            &a.token,
        ))
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(rest.launches.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let occupancy = rest.launches[0].occupancy.expect("occupancy");
    assert_eq!(occupancy.seats_booked, 5);
    assert_eq!(occupancy.seats_available, 5);
    assert_eq!(occupancy.viability(), Viability::Viable);
    assert!((occupancy.occupancy_percent - 50.0).abs() < f64::EPSILON);
    let mismatched = agency
        .list_agency_launches(with_token(
            ListAgencyLaunchesRequest {
                page_size: 2,
                page_token: page.next_page_token,
                viability: Viability::Viable.into(),
                ..ListAgencyLaunchesRequest::default()
            },
            &a.token,
        ))
        .await
        .expect_err("a token of another query");
    assert_eq!(astro_e2e::violated_field(&mismatched), "page_token");

    let not_viable = agency
        .list_agency_launches(with_token(
            ListAgencyLaunchesRequest {
                viability: Viability::NotViable.into(),
                sort_by: astro_proto::astrobookings::agency::v1::AgencyLaunchSortField::ScheduledAt
                    .into(),
                order: astro_proto::astrobookings::common::v1::SortOrder::Descending.into(),
                ..ListAgencyLaunchesRequest::default()
            },
            &a.token,
        ))
        .await
        .expect("filtered")
        .into_inner();
    let destinations: Vec<String> = not_viable
        .launches
        .iter()
        .map(|item| item.launch.as_ref().expect("launch").destination.clone())
        .collect();
    assert_eq!(destinations, ["Venus", "Mars"]);
    let by_occupancy = agency
        .list_agency_launches(with_token(
            ListAgencyLaunchesRequest {
                sort_by:
                    astro_proto::astrobookings::agency::v1::AgencyLaunchSortField::OccupancyPercent
                        .into(),
                order: astro_proto::astrobookings::common::v1::SortOrder::Descending.into(),
                statuses: vec![LaunchStatus::Scheduled.into()],
                ..ListAgencyLaunchesRequest::default()
            },
            &a.token,
        ))
        .await
        .expect("sorted by occupancy")
        .into_inner();
    assert_eq!(
        by_occupancy.launches[0]
            .launch
            .as_ref()
            .expect("launch")
            .destination,
        "Moon"
    );
    let shrink = agency
        .update_rocket(with_token(
            UpdateRocketRequest {
                id: rocket.id.clone(),
                passenger_capacity: Some(4),
                ..UpdateRocketRequest::default()
            },
            &a.token,
        ))
        .await
        .expect_err("5 seats are booked on an upcoming launch");
    assert_eq!(shrink.code(), Code::FailedPrecondition);

    // A rocket that never flew is deleted; one with past launches is hidden.
    let unused = create_rocket(&mesh, &a, "Unused", 3).await;
    agency
        .delete_rocket(with_token(
            DeleteRocketRequest {
                id: unused.id.clone(),
            },
            &a.token,
        ))
        .await
        .expect("an unused rocket is deleted");
    for launch in &launches {
        agency
            .abort_launch(with_token(
                AbortLaunchRequest {
                    id: launch.id.clone(),
                    reason: "season over".to_owned(),
                },
                &a.token,
            ))
            .await
            .expect("abort");
    }
    agency
        .delete_rocket(with_token(
            DeleteRocketRequest {
                id: rocket.id.clone(),
            },
            &a.token,
        ))
        .await
        .expect("no upcoming launch any more");
    let gone = agency
        .get_rocket(with_token(
            GetRocketRequest {
                id: rocket.id.clone(),
            },
            &a.token,
        ))
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
    let kept = agency
        .get_agency_launch(with_token(
            GetAgencyLaunchRequest {
                id: launches[0].id.clone(),
            },
            &a.token,
        ))
        .await
        .expect("its launches keep their history")
        .into_inner();
    assert_eq!(kept.launch.expect("launch").rocket_name, "Lister");
    let rockets = agency
        .list_rockets(with_token(
            ListRocketsRequest {
                include_retired: true,
                ..ListRocketsRequest::default()
            },
            &a.token,
        ))
        .await
        .expect("rockets")
        .into_inner();
    assert!(rockets.rockets.is_empty());
}

/// RFC 3339 of a time `days` from now, as REST clients send it.
fn rfc3339_in_days(days: i64) -> String {
    let time = in_days(days);
    chrono::DateTime::from_timestamp(time.seconds, 0)
        .expect("valid time")
        .to_rfc3339()
}

#[tokio::test]
async fn the_gateways_rest_paths_reach_agency_api() {
    let mesh = mesh().await;
    let db = database(&mesh).await;
    let a = agency_account(&mesh, "rest").await;
    let base = mesh.gateway_url();
    let bearer = format!("Bearer {}", a.token);
    let auth = [("authorization", bearer.as_str())];
    let send = |method: &'static str, path: String, body: Option<serde_json::Value>| {
        let url = format!("{base}{path}");
        let body = body.map(|body| body.to_string());
        async move {
            astro_e2e::rest::send(method, &url, &auth, body.as_deref())
                .await
                .expect("the gateway answers")
        }
    };

    let profile = send(
        "PUT",
        "/v1/agency/profile".to_owned(),
        Some(serde_json::json!({
            "name": "Rest Space", "taxId": "US-99", "contactPhone": "+14155550100",
            "contactEmail": "ops@rest-space.example",
            "legalAddress": {"line1": "1 Main St", "city": "Austin", "countryCode": "US"},
        })),
    )
    .await;
    assert_eq!(profile.status, 200, "{}", profile.json);
    assert_eq!(profile.json["agency"]["profileComplete"], true);

    let invalid = send(
        "POST",
        "/v1/rockets".to_owned(),
        Some(serde_json::json!({"name": "Big", "passengerCapacity": 101, "range": "ROCKET_RANGE_SUBORBITAL"})),
    )
    .await;
    assert_eq!(invalid.status, 400, "{}", invalid.json);

    let rocket = send(
        "POST",
        "/v1/rockets".to_owned(),
        Some(serde_json::json!({"name": "Rest Rocket", "passengerCapacity": 6, "range": "ROCKET_RANGE_LOW_EARTH_ORBIT"})),
    )
    .await;
    assert_eq!(rocket.status, 200, "{}", rocket.json);
    let rocket_id = rocket.json["rocket"]["id"]
        .as_str()
        .expect("rocket id")
        .to_owned();

    let launch = send(
        "POST",
        "/v1/launches".to_owned(),
        Some(serde_json::json!({
            "rocketId": rocket_id, "spaceport": "Boca Chica", "destination": "Orbit",
            "scheduledAt": rfc3339_in_days(30),
            "pricePerSeat": {"amountMinor": "150000", "currency": "EUR"},
            "minimumOccupancy": 2,
        })),
    )
    .await;
    assert_eq!(launch.status, 200, "{}", launch.json);
    let launch_id = launch.json["launch"]["id"]
        .as_str()
        .expect("launch id")
        .to_owned();
    assert_eq!(launch.json["launch"]["status"], "LAUNCH_STATUS_SCHEDULED");

    let delayed = send(
        "POST",
        format!("/v1/launches/{launch_id}:delay"),
        Some(serde_json::json!({"newScheduledAt": rfc3339_in_days(40), "reason": "parts"})),
    )
    .await;
    assert_eq!(delayed.status, 200, "{}", delayed.json);
    assert_eq!(delayed.json["launch"]["status"], "LAUNCH_STATUS_DELAYED");

    let early = send(
        "POST",
        format!("/v1/launches/{launch_id}:succeed"),
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(early.status, 400, "FAILED_PRECONDITION: {}", early.json);

    let listed = send(
        "GET",
        "/v1/agency/launches?viability=VIABILITY_NOT_VIABLE".to_owned(),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    assert_eq!(
        listed.json["launches"][0]["launch"]["id"],
        launch_id.as_str()
    );
    assert_eq!(listed.json["launches"][0]["occupancy"]["capacity"], 6);

    move_into_past(&db, &launch_id).await;
    let succeeded = send(
        "POST",
        format!("/v1/launches/{launch_id}:succeed"),
        Some(serde_json::json!({"reason": "nominal"})),
    )
    .await;
    assert_eq!(succeeded.status, 200, "{}", succeeded.json);

    let csv = send(
        "GET",
        format!("/v1/launches/{launch_id}/bookings-report?format=csv"),
        None,
    )
    .await;
    assert_eq!(csv.status, 200, "{}", csv.json);
    assert_eq!(
        csv.headers
            .get("content-type")
            .and_then(|value| value.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    assert!(
        csv.headers
            .get("content-disposition")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.contains("attachment") && value.contains(".csv")),
        "{:?}",
        csv.headers
    );
    let text = csv.json.as_str().expect("CSV text");
    assert!(text.starts_with("booking_id,"), "{text}");
    assert!(text.ends_with("TOTAL,,,,0,0,0,0,0,EUR\r\n"), "{text}");

    let other = fixtures::agency(mesh.address(Service::Gateway), "rest-other").await;
    let other_bearer = format!("Bearer {}", other.token);
    let hidden = astro_e2e::rest::send(
        "GET",
        &format!("{base}/v1/launches/{launch_id}/bookings-report"),
        &[("authorization", other_bearer.as_str())],
        None,
    )
    .await
    .expect("the gateway answers");
    assert_eq!(hidden.status, 404, "{}", hidden.json);
}
