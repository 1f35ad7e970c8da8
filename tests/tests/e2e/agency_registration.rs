//! RegisterAgency through the real mesh: one call makes the AGENCY account and its complete
//! profile, once per idempotency key; invalid requests and an unreachable OperationsDB leave no
//! account behind.

use std::{collections::HashMap, time::Duration};

use astro_e2e::{
    Mesh, MeshOptions, Service, TestServers,
    accounts::{PASSWORD, access_token, login, system_client, unique_email, with_token},
    eventually,
    fixtures::agency_client,
    forwarder::Forwarder,
    mesh,
};
use astro_proto::astrobookings::{
    agency::v1::{
        CreateRocketRequest, GetAgencyProfileRequest, RegisterAgencyRequest, RegisterAgencyResponse,
    },
    common::v1::{Address, RocketRange},
};
use tonic::Code;

fn registration(email: &str, key: &str) -> RegisterAgencyRequest {
    RegisterAgencyRequest {
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
        contact_name: "Ada Owner".into(),
        agency_name: "Orbital Tours".into(),
        description: "Weekend trips to low orbit".into(),
        contact_email: "Ops@Orbital-Tours.example".into(),
        contact_phone: "+14155550123".into(),
        tax_id: "US-12-3456789".into(),
        legal_address: Some(Address {
            line1: "1 Launch Way".into(),
            city: "Cape Canaveral".into(),
            country_code: "US".into(),
            ..Default::default()
        }),
        idempotency_key: key.to_owned(),
    }
}

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn register(
    mesh: &Mesh,
    request: RegisterAgencyRequest,
) -> Result<RegisterAgencyResponse, tonic::Status> {
    agency_client(mesh.address(Service::Gateway))
        .register_agency(request)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn one_call_registers_the_account_and_the_complete_profile_once_per_key() {
    let mesh = mesh().await;
    let gateway = mesh.address(Service::Gateway);
    let mut system = system_client(gateway);
    let email = unique_email("register-agency");

    // What this service checks is refused before any account exists, naming the request's
    // own field (`agency_name`, not the profile's `name`).
    let cases = [
        ("agency_name", {
            let mut request = registration(&email, &new_key());
            request.agency_name = "  ".into();
            request
        }),
        ("tax_id", {
            let mut request = registration(&email, &new_key());
            request.tax_id = String::new();
            request
        }),
        ("legal_address", {
            let mut request = registration(&email, &new_key());
            request.legal_address = None;
            request
        }),
        ("contact_phone", {
            let mut request = registration(&email, &new_key());
            request.contact_phone = "0415 555".into();
            request
        }),
        ("idempotency_key", registration(&email, "short")),
        // SystemAPI's own checks come back under the same field names.
        ("password", {
            let mut request = registration(&email, &new_key());
            request.password = "short".into();
            request
        }),
    ];
    for (field, request) in cases {
        let refused = register(&mesh, request).await.expect_err(field);
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{field}: {refused:?}"
        );
        assert_eq!(astro_e2e::violated_field(&refused), field, "{refused:?}");
    }
    assert_eq!(
        login(&mut system, &email, PASSWORD)
            .await
            .expect_err("no account was made by a refused registration")
            .code(),
        Code::Unauthenticated
    );

    // Over REST, the Idempotency-Key header is the key: the retry answers the same agency.
    let key = new_key();
    let body = serde_json::json!({
        "email": email, "password": PASSWORD, "contactName": "Ada Owner",
        "agencyName": "Orbital Tours", "contactEmail": "ops@orbital-tours.example",
        "contactPhone": "+14155550123", "taxId": "US-12-3456789",
        "legalAddress": {"line1": "1 Launch Way", "city": "Cape Canaveral", "countryCode": "US"},
    })
    .to_string();
    let url = format!("{}/v1/agencies", mesh.gateway_url());
    let post = || {
        let (url, body, key) = (url.clone(), body.clone(), key.clone());
        async move {
            astro_e2e::rest::send("POST", &url, &[("idempotency-key", &key)], Some(&body))
                .await
                .expect("the gateway answers")
        }
    };
    let first = post().await;
    assert_eq!(first.status, 200, "{}", first.json);
    let agency = &first.json["agency"];
    assert_eq!(agency["profileComplete"], true, "{agency}");
    assert_eq!(agency["accountEmail"], email.as_str());
    assert_eq!(agency["name"], "Orbital Tours");
    let agency_id = agency["id"].as_str().expect("agency id").to_owned();
    let retried = post().await;
    assert_eq!(retried.status, 200, "{}", retried.json);
    assert_eq!(retried.json["agency"]["id"], agency_id.as_str());

    // Another key for the taken e-mail is a conflict, not a second agency.
    let taken = register(&mesh, registration(&email, &new_key()))
        .await
        .expect_err("the e-mail is taken");
    assert_eq!(taken.code(), Code::AlreadyExists, "{taken:?}");

    // The account is an AGENCY that may work at once: its profile is complete.
    let session = login(&mut system, &email, PASSWORD)
        .await
        .expect("the agency logs in");
    let token = access_token(&session);
    let profile = agency_client(gateway)
        .get_agency_profile(with_token(GetAgencyProfileRequest {}, &token))
        .await
        .expect("own profile")
        .into_inner()
        .agency
        .expect("agency");
    assert_eq!(profile.id, agency_id);
    assert_eq!(profile.tax_id, "US-12-3456789");
    assert_eq!(profile.contact_email, "ops@orbital-tours.example");
    assert_eq!(profile.account_email, email);
    agency_client(gateway)
        .create_rocket(with_token(
            CreateRocketRequest {
                name: "First Light".into(),
                passenger_capacity: 4,
                range: RocketRange::LowEarthOrbit.into(),
            },
            &token,
        ))
        .await
        .expect("a registered agency adds a rocket");

    let db = sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB");
    let created: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM change_log WHERE entity_id = $1 \
         AND event_type = 'AGENCY_PROFILE_CREATED'",
    )
    .bind(&agency_id)
    .fetch_one(&db)
    .await
    .expect("change log");
    assert_eq!(created, 1, "one profile, created once");
}

#[tokio::test]
async fn a_registration_whose_profile_cannot_be_stored_leaves_no_agency_account() {
    let servers = TestServers::from_env();
    let mut postgres = Forwarder::closed(servers.pg_address());
    postgres.open().await.expect("forwarder open");
    let mesh = Mesh::start(
        &servers,
        MeshOptions {
            postgres_via: HashMap::from([(Service::Agency, postgres.address.to_string())]),
            ..MeshOptions::default()
        },
    )
    .await
    .expect("mesh starts");
    let email = unique_email("halfmade-agency");
    let key = new_key();

    // OperationsDB is unreachable for AgencyAPI: the account SystemAPI made is deleted again.
    postgres.close();
    let refused = register(&mesh, registration(&email, &key))
        .await
        .expect_err("the profile cannot be stored");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let mut system = system_client(mesh.address(Service::Gateway));
    assert_eq!(
        login(&mut system, &email, PASSWORD)
            .await
            .expect_err("no account is left")
            .code(),
        Code::Unauthenticated
    );

    // Once OperationsDB is back, the same request registers: the e-mail was never left taken.
    postgres.open().await.expect("forwarder reopened");
    let registered = eventually(Duration::from_secs(20), || async {
        register(&mesh, registration(&email, &key)).await.is_ok()
    })
    .await;
    assert!(registered, "the e-mail stayed taken");
    login(&mut system, &email, PASSWORD)
        .await
        .expect("the agency logs in");
}
