//! The web apps in a real browser: each test starts a mesh of its own whose gateway serves the
//! built apps (`web/dist`, built by `./dev`), makes the data its story needs through the real
//! RPCs, runs one Playwright spec of `web/e2e/` in Debian's Chromium against that gateway, and
//! then checks what the spec did where it landed (OperationsDB, localstripe). Screenshots of
//! every page go to `target/web-tests/<spec>/screenshots/`.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use astro_e2e::{
    Mesh, MeshProcess, Service, TestServers,
    accounts::{PASSWORD, with_token},
    fixtures::{self, Actor, LaunchPlan, agency_client, booking_client, gateway_payment},
    mail::MailCatcher,
    mesh_with,
    rest::{RestAnswer, send},
};
use astro_proto::astrobookings::{
    agency::v1::{GetAgencyLaunchRequest, Launch},
    booking::v1::GetLaunchRequest,
};
use chrono::{DateTime, Utc};

use crate::finance_invoices::{move_into_past, succeed};

/// One spec's longest run: the token-expiry story waits out the verifier's 60 s leeway.
const SPEC_TIMEOUT: Duration = Duration::from_secs(240);

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web")
}

pub(crate) fn gateway(mesh: &Mesh) -> SocketAddr {
    mesh.address(Service::Gateway)
}

/// The variables of a mesh whose gateway serves the built web apps, and `extra`.
fn web_env(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let dist = web_dir().join("dist");
    assert!(
        dist.join("public/index.html").exists(),
        "{} has no built apps: `./dev up` or `./dev test` builds them",
        dist.display()
    );
    let mut env = HashMap::from([(
        "ASTRO_GATEWAY_WEB_DIR".to_owned(),
        dist.to_string_lossy().into_owned(),
    )]);
    for (name, value) in extra {
        env.insert((*name).to_owned(), (*value).to_owned());
    }
    env
}

/// A mesh whose gateway serves the built web apps, with `extra` variables for every process.
pub(crate) async fn web_mesh(extra: &[(&str, &str)]) -> Mesh {
    mesh_with(web_env(extra)).await
}

/// As [`web_mesh`], with NotifyAPI mailing to an SMTP catcher of the test's own.
pub(crate) async fn web_mesh_with_catcher(extra: &[(&str, &str)]) -> (MailCatcher, Mesh) {
    let catcher = MailCatcher::start().await.expect("SMTP catcher starts");
    let mut env = web_env(extra);
    env.extend(catcher.notify_env());
    (catcher, mesh_with(env).await)
}

/// Runs `web/e2e/<spec>` against `mesh` with `given` as `ASTRO_WEB_<NAME>` variables; panics with
/// Playwright's output if the spec fails. Returns what the spec reported (`report()`).
pub(crate) async fn run_spec(
    mesh: &Mesh,
    spec: &str,
    given: &[(&str, String)],
) -> serde_json::Value {
    let name = spec.trim_end_matches(".spec.ts");
    let output = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/web-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output).expect("spec output folder");
    let result_file = output.join("result.json");
    let mut command = tokio::process::Command::new(web_dir().join("node_modules/.bin/playwright"));
    command
        .current_dir(web_dir())
        .args(["test", &format!("e2e/{spec}")])
        .env("ASTRO_WEB_BASE_URL", mesh.gateway_url())
        .env("ASTRO_WEB_OUTPUT_DIR", &output)
        .env("ASTRO_WEB_RESULT_FILE", &result_file)
        .kill_on_drop(true);
    for (key, value) in given {
        command.env(format!("ASTRO_WEB_{key}"), value);
    }
    let run = tokio::time::timeout(SPEC_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{spec} did not finish within {SPEC_TIMEOUT:?}"))
        .expect("playwright runs (web/node_modules is installed by ./dev)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "{spec} failed ({}):\n{stdout}\n{}\nscreenshots and traces: {}",
        run.status,
        String::from_utf8_lossy(&run.stderr),
        output.display()
    );
    std::fs::read_to_string(&result_file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(serde_json::Value::Null)
}

pub(crate) async fn database(mesh: &Mesh) -> sqlx::PgPool {
    sqlx::PgPool::connect(&mesh.database_url)
        .await
        .expect("OperationsDB of the mesh")
}

/// An agency with a rocket of `capacity` seats and one launch to a destination of its own in
/// `days` days, listed in the catalogue.
pub(crate) async fn listed_launch(mesh: &Mesh, capacity: i32, days: i64) -> (Actor, Launch) {
    let gateway = gateway(mesh);
    let agency = fixtures::agency(gateway, "web").await;
    let rocket = fixtures::rocket(gateway, &agency, capacity).await;
    let destination = format!("Titan {}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let launch = fixtures::schedule(
        gateway,
        &agency,
        &rocket,
        LaunchPlan::usd(&destination, days, 2_500_000),
    )
    .await;
    let listed = astro_e2e::eventually(Duration::from_secs(5), || async {
        booking_client(gateway)
            .get_launch(GetLaunchRequest {
                id_or_slug: launch.slug.clone(),
            })
            .await
            .is_ok_and(|answer| answer.into_inner().launch.is_some_and(|l| l.bookable))
    })
    .await;
    assert!(listed, "the launch reaches the catalogue");
    (agency, launch)
}

/// A CONFIRMED booking of `seats` everyday passengers, made through the gateway.
pub(crate) async fn book(mesh: &Mesh, traveler: &Actor, launch: &Launch, seats: usize) {
    booking_client(gateway(mesh))
        .create_booking(with_token(
            fixtures::booking_request(&launch.id, fixtures::passengers(seats)),
            &traveler.token,
        ))
        .await
        .expect("a booking");
}

fn launch_time(launch: &Launch) -> String {
    let at = launch.scheduled_at.as_ref().expect("scheduled_at");
    DateTime::<Utc>::from_timestamp(at.seconds, 0)
        .expect("a time")
        .to_rfc3339()
}

fn reported(result: &serde_json::Value, key: &str) -> String {
    result[key]
        .as_str()
        .unwrap_or_else(|| panic!("the spec reported no {key}: {result}"))
        .to_owned()
}

#[tokio::test]
async fn a_visitor_filters_opens_a_launch_by_slug_registers_and_books_two_seats() {
    let mesh = web_mesh(&[]).await;
    let (_, launch) = listed_launch(&mesh, 6, 60).await;
    let result = run_spec(
        &mesh,
        "visitor-books.spec.ts",
        &[
            ("DESTINATION", launch.destination.clone()),
            ("SLUG", launch.slug.clone()),
            ("LAUNCH_AT", launch_time(&launch)),
        ],
    )
    .await;

    let booking_id = reported(&result, "bookingId");
    let db = database(&mesh).await;
    let (status, seats): (String, i32) =
        sqlx::query_as("SELECT status, seats FROM bookings WHERE id = $1::uuid")
            .bind(&booking_id)
            .fetch_one(&db)
            .await
            .expect("the booking is in OperationsDB");
    assert_eq!((status.as_str(), seats), ("CONFIRMED", 2));
    // The attempt refused for the 17-year-old booked nothing.
    let bookings: i64 =
        sqlx::query_scalar("SELECT count(*) FROM bookings WHERE launch_id = $1::uuid")
            .bind(&launch.id)
            .fetch_one(&db)
            .await
            .expect("bookings of the launch");
    assert_eq!(bookings, 1);
}

#[tokio::test]
async fn a_double_click_on_book_makes_one_booking() {
    let mesh = web_mesh(&[]).await;
    let (_, launch) = listed_launch(&mesh, 6, 60).await;
    let traveler = fixtures::traveler(gateway(&mesh), "double").await;
    run_spec(
        &mesh,
        "double-click.spec.ts",
        &[
            ("SLUG", launch.slug.clone()),
            ("LAUNCH_AT", launch_time(&launch)),
            ("EMAIL", traveler.email.clone()),
        ],
    )
    .await;

    let db = database(&mesh).await;
    let (bookings, seats): (i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(seats), 0)::bigint FROM bookings WHERE traveler_id = $1::uuid",
    )
    .bind(&traveler.id)
    .fetch_one(&db)
    .await
    .expect("the traveler's bookings");
    assert_eq!((bookings, seats), (1, 1), "one booking of one seat");
}

#[tokio::test]
async fn an_agency_schedules_a_launch_the_catalogue_shows_and_a_traveler_sees_its_delay() {
    let mesh = web_mesh(&[]).await;
    let result = run_spec(&mesh, "agency.spec.ts", &[]).await;

    // What the agency did in the browser is what AgencyAPI holds.
    let launch_id = reported(&result, "launchId");
    let db = database(&mesh).await;
    let (status, reason): (String, String) =
        sqlx::query_as("SELECT status, status_reason FROM launches WHERE id = $1::uuid")
            .bind(&launch_id)
            .fetch_one(&db)
            .await
            .expect("the launch is in OperationsDB");
    assert_eq!(status, "DELAYED");
    assert_eq!(reason, "Weather at the pad");
    let agency_token = reported(&result, "agencyToken");
    let history = agency_client(gateway(&mesh))
        .get_agency_launch(with_token(
            GetAgencyLaunchRequest {
                id: launch_id.clone(),
            },
            &agency_token,
        ))
        .await
        .expect("the agency reads its launch")
        .into_inner()
        .history;
    assert!(history.len() >= 2, "scheduled, then delayed: {history:?}");
    println!(
        "catalogue showed the new launch {} ms after ScheduleLaunch answered",
        result["catalogueMillis"]
    );
}

#[tokio::test]
async fn an_agency_reads_and_downloads_the_bookings_report_of_a_launch_that_flew() {
    let mesh = web_mesh(&[]).await;
    let (agency, launch) = listed_launch(&mesh, 6, 30).await;
    let traveler = fixtures::traveler(gateway(&mesh), "report").await;
    book(&mesh, &traveler, &launch, 2).await;
    // Only a launch at or after its date can succeed, and only then has a report.
    move_into_past(&database(&mesh).await, &launch.id, 1).await;
    succeed(&mesh, &agency, &launch.id).await;
    run_spec(
        &mesh,
        "bookings-report.spec.ts",
        &[
            ("LAUNCH_ID", launch.id.clone()),
            ("EMAIL", agency.email.clone()),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_traveler_quotes_and_cancels_a_booking_400_days_out_and_is_refunded_90_percent() {
    let mesh = web_mesh(&[]).await;
    let (_, launch) = listed_launch(&mesh, 6, 400).await;
    let traveler = fixtures::traveler(gateway(&mesh), "cancel").await;
    let result = run_spec(
        &mesh,
        "cancel.spec.ts",
        &[
            ("SLUG", launch.slug.clone()),
            ("LAUNCH_AT", launch_time(&launch)),
            ("EMAIL", traveler.email.clone()),
        ],
    )
    .await;

    let booking_id = reported(&result, "bookingId");
    let db = database(&mesh).await;
    let status: String = sqlx::query_scalar("SELECT status FROM bookings WHERE id = $1::uuid")
        .bind(&booking_id)
        .fetch_one(&db)
        .await
        .expect("the booking");
    assert_eq!(status, "CANCELLED");
    let intent: String =
        sqlx::query_scalar("SELECT gateway_payment_id FROM payments WHERE booking_id = $1::uuid")
            .bind(&booking_id)
            .fetch_one(&db)
            .await
            .expect("the booking's payment");
    let stripe = TestServers::from_env().stripe_url;
    let refunded = astro_e2e::eventually(Duration::from_secs(15), || async {
        gateway_payment(&stripe, &intent)
            .await
            .is_ok_and(|payment| payment.refunded == 2_250_000)
    })
    .await;
    let payment = gateway_payment(&stripe, &intent).await.expect("payment");
    assert!(
        refunded,
        "90 % of 2 500 000 refunded at localstripe: {payment:?}"
    );
}

#[tokio::test]
async fn expired_access_tokens_are_refreshed_without_the_traveler_noticing() {
    // Access tokens live 1 s; the verifiers accept them for their 60 s clock-skew leeway more.
    let mesh = web_mesh(&[("ASTRO_SYSTEM_ACCESS_TOKEN_TTL_SECONDS", "1")]).await;
    let (_, launch) = listed_launch(&mesh, 6, 60).await;
    let traveler = fixtures::traveler(gateway(&mesh), "refresh").await;
    book(&mesh, &traveler, &launch, 1).await;
    let result = run_spec(
        &mesh,
        "token-refresh.spec.ts",
        &[("EMAIL", traveler.email.clone())],
    )
    .await;
    assert!(
        result["refreshes"].as_i64().unwrap_or_default() >= 1,
        "the app refreshed its tokens: {result}"
    );
}

#[tokio::test]
async fn a_traveler_opening_an_agency_page_gets_a_clear_not_allowed_page() {
    let mesh = web_mesh(&[]).await;
    let traveler = fixtures::traveler(gateway(&mesh), "lost").await;
    let agency = fixtures::agency(gateway(&mesh), "lost").await;
    run_spec(
        &mesh,
        "not-allowed.spec.ts",
        &[
            ("EMAIL", traveler.email.clone()),
            ("AGENCY_EMAIL", agency.email.clone()),
            ("PASSWORD", PASSWORD.to_owned()),
        ],
    )
    .await;
}

/// The CSP nonce of an answer: in the header, and the same one in the page it came with.
fn nonce_of(answer: &RestAnswer) -> String {
    let policy = answer
        .headers
        .get("content-security-policy")
        .and_then(|value| value.to_str().ok())
        .expect("a Content-Security-Policy");
    assert!(
        policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a style nonce")
        .to_owned();
    let page = String::from_utf8_lossy(&answer.body);
    assert!(
        page.contains(&format!("ngcspnonce=\"{nonce}\"")),
        "the page carries the nonce its header allows: {page}"
    );
    nonce
}

fn header<'a>(answer: &'a RestAnswer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_gateway_serves_each_app_under_its_base_path_and_never_shadows_the_api() {
    let mesh = web_mesh(&[]).await;
    let base = mesh.gateway_url();
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move { send("GET", &url, &[], None).await.expect("an answer") }
    };

    let root = get("/").await;
    assert_eq!((root.status, header(&root, "location")), (302, "/public/"));
    let bare = get("/agency").await;
    assert_eq!((bare.status, header(&bare, "location")), (302, "/agency/"));

    for app in ["public", "auth", "traveler", "agency", "system"] {
        for path in [format!("/{app}/"), format!("/{app}/some/deep/route")] {
            let page = get(&path).await;
            assert_eq!(page.status, 200, "{path}");
            assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
            assert_eq!(header(&page, "cache-control"), "no-cache", "{path}");
            assert!(
                String::from_utf8_lossy(&page.body).contains(&format!("<base href=\"/{app}/\"")),
                "{path} is the {app} app"
            );
            nonce_of(&page);
        }
    }
    // A fresh nonce for every answer.
    assert_ne!(
        nonce_of(&get("/public/").await),
        nonce_of(&get("/public/").await)
    );

    // Hashed assets are cached for good; a missing one is a plain 404, never index.html.
    let page = get("/public/").await;
    let page_text = String::from_utf8_lossy(&page.body).into_owned();
    let script = page_text
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page names its script");
    let asset = get(&format!("/public/{script}")).await;
    assert_eq!(asset.status, 200);
    assert_eq!(header(&asset, "content-type"), "text/javascript");
    assert_eq!(
        header(&asset, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    let missing = get("/public/main-ZZZZ9999.js").await;
    assert_eq!(missing.status, 404);
    assert!(!String::from_utf8_lossy(&missing.body).contains("<html"));
    let escape = get("/public/..%2F..%2FCargo.toml").await;
    assert_ne!(escape.status, 200, "no file outside the app's folder");

    // HEAD answers the headers of GET without the page.
    let head = send("HEAD", &format!("{base}/auth/login"), &[], None)
        .await
        .expect("HEAD");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        header(&head, "content-length"),
        get("/auth/login").await.body.len().to_string()
    );

    // Anything else is the API's, as before.
    let launches = get("/v1/launches").await;
    assert_eq!(launches.status, 200, "{}", launches.json);
    assert!(launches.json.is_object());
    let jwks = get("/.well-known/jwks.json").await;
    assert_eq!(jwks.status, 200);
    assert!(jwks.json["keys"].is_array(), "{}", jwks.json);
    let posted = send("POST", &format!("{base}/public/"), &[], Some("{}"))
        .await
        .expect("POST");
    assert_eq!(posted.status, 404, "only GET and HEAD reach the apps");
    assert!(
        posted.json["code"].is_number(),
        "a google.rpc.Status: {}",
        posted.json
    );
}

#[tokio::test]
async fn a_gateway_told_to_serve_apps_that_were_not_built_refuses_to_start() {
    let servers = TestServers::from_env();
    let mesh = web_mesh(&[]).await;
    let empty = tempfile_dir();
    let mut env = mesh.env(Service::Gateway).clone();
    env.remove("ASTRO_GATEWAY_LISTEN_ADDR");
    env.insert(
        "ASTRO_GATEWAY_WEB_DIR".to_owned(),
        empty.to_string_lossy().into_owned(),
    );
    let refused = MeshProcess::spawn(&servers, Service::Gateway, &env)
        .await
        .err()
        .expect("the gateway does not start without its apps");
    let message = format!("{refused:#}");
    assert!(
        message.contains("ASTRO_GATEWAY_WEB_DIR") && message.contains("public/index.html"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(empty);
}

/// An empty folder of this test's own.
fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("astro-web-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}
