//! A real grpc-web client, `@connectrpc/connect-web` with its grpc-web transport running in
//! Node, calls BookingService through the real gateway binary: answers and error codes arrive
//! as the client library understands them. Against the stand-in BookingService (for answers
//! and every error path) and against the real mesh (the real service's own answer).

use std::path::PathBuf;

use astro_e2e::{Mesh, MeshOptions, TestServers, standin};
use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the Node client with `calls`; one JSON value per call. (Async: the stand-in runs on
/// this test's runtime and must keep serving while Node waits.)
async fn run_client(base_url: &str, calls: &Value) -> anyhow::Result<Vec<Value>> {
    let descriptors = std::env::temp_dir().join(format!(
        "astro-descriptors-{}.bin",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&descriptors, astro_proto::FILE_DESCRIPTOR_SET)?;
    let output = tokio::process::Command::new("node")
        .current_dir(repo_root())
        .arg("tests/js/grpc_web_client.mjs")
        .arg(base_url)
        .arg(&descriptors)
        .arg(calls.to_string())
        .output()
        .await?;
    let _ = std::fs::remove_file(&descriptors);
    anyhow::ensure!(
        output.status.success(),
        "node client failed (run `npm install` / ./dev up): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)?
        .lines()
        .map(|line| Ok(serde_json::from_str(line)?))
        .collect()
}

#[tokio::test]
async fn connect_web_gets_answers_and_error_codes_through_the_gateway() -> anyhow::Result<()> {
    let servers = TestServers::from_env();
    let booking = standin::start_booking_stand_in().await?;
    let gateway = standin::spawn_gateway_with_stand_in(&servers, booking, &[]).await?;
    let authorization = gateway.traveler_authorization();
    let results = run_client(
        &format!("http://{}", gateway.address),
        &json!([
            {"method": "getLaunch", "request": {"idOrSlug": "falcon-x"}},
            {"method": "getBooking", "request": {"id": "code-5"}, "headers": {"authorization": authorization}},
            {"method": "getBooking", "request": {"id": "code-9"}, "headers": {"authorization": authorization}},
            {"method": "getBooking", "request": {"id": "b1"}},
            {"method": "cancelBooking", "request": {"id": "b1"}, "headers": {"authorization": authorization}},
        ]),
    )
    .await?;
    assert_eq!(results[0]["ok"]["launch"]["id"], "falcon-x", "{results:?}");
    assert_eq!(results[0]["ok"]["launch"]["capacity"], 10);
    assert_eq!(results[1]["code"], "NotFound", "{results:?}");
    assert_eq!(results[1]["message"], "stand-in answers code 5");
    assert_eq!(results[2]["code"], "FailedPrecondition");
    assert_eq!(
        results[3]["code"], "Unauthenticated",
        "edge auth applies to grpc-web too"
    );
    assert_eq!(results[4]["code"], "Unimplemented");
    Ok(())
}

#[tokio::test]
async fn connect_web_reaches_the_real_booking_service_through_the_mesh() -> anyhow::Result<()> {
    let servers = TestServers::from_env();
    let mesh = Mesh::start(&servers, MeshOptions::default()).await?;
    let results = run_client(
        &mesh.gateway_url(),
        &json!([
            {"method": "listLaunches", "request": {"pageSize": 5}},
            {"method": "getBooking", "request": {"id": "b1"}},
        ]),
    )
    .await?;
    // Whatever the real service answers (a catalogue page once built, UNIMPLEMENTED before),
    // the client must see a decoded answer or a proper gRPC code, never a transport error.
    let first = &results[0];
    assert!(
        first["ok"].is_object() || first["code"] == "Unimplemented",
        "{first}"
    );
    assert_eq!(results[1]["code"], "Unauthenticated", "{results:?}");
    Ok(())
}
