//! schemathesis fuzzes every public operation of `/openapi.json` through the real gateway in
//! front of the real mesh, with a real access token of a role each operation allows (one user
//! per role, made through the real RPCs): no server error and no response that violates the
//! document. The one written-down exception (see `gateway/tests/schemathesis/hooks.py`):
//! an RPC its service has not built yet answers 501 UNIMPLEMENTED (gRPC code 12). The check
//! that every schema-valid request is accepted is off: the document states the proto types,
//! while the services also enforce domain rules (e-mail format, password length), which are
//! rightly INVALID_ARGUMENT (400).

use std::path::PathBuf;

use astro_e2e::{
    Mesh, MeshOptions, Service, TestServers,
    accounts::{
        PASSWORD, access_token, login, register_and_login, system_client, unique_email, with_token,
    },
};
use astro_proto::astrobookings::{common::v1::Role, system::v1::CreateEmployeeRequest};

/// A logged-in user of every role, as `{"ROLE_X": "<access token>"}`.
async fn tokens_by_role(mesh: &Mesh) -> anyhow::Result<String> {
    let mut system = system_client(mesh.address(Service::Gateway));
    let mut tokens = serde_json::Map::new();
    for role in [Role::Traveler, Role::Agency] {
        let (_, session) = register_and_login(&mut system, "fuzz", role).await;
        tokens.insert(role.as_str_name().to_owned(), access_token(&session).into());
    }
    let admin = login(&mut system, &mesh.admin_email, &mesh.admin_password).await?;
    tokens.insert(
        Role::Admin.as_str_name().to_owned(),
        access_token(&admin).into(),
    );
    for role in [Role::Finance, Role::It] {
        let email = unique_email("fuzz-employee");
        system
            .create_employee(with_token(
                CreateEmployeeRequest {
                    email: email.clone(),
                    password: PASSWORD.to_owned(),
                    name: "Fuzz employee".to_owned(),
                    role: role.into(),
                },
                &access_token(&admin),
            ))
            .await?;
        let session = login(&mut system, &email, PASSWORD).await?;
        tokens.insert(role.as_str_name().to_owned(), access_token(&session).into());
    }
    Ok(serde_json::Value::Object(tokens).to_string())
}

/// How many operations (path and method) `/openapi.json` lists.
async fn document_operations(mesh: &Mesh) -> anyhow::Result<usize> {
    let url = format!("{}/openapi.json", mesh.gateway_url());
    let (status, body) = astro_e2e::grpc_web::http_get(&url).await?;
    anyhow::ensure!(status == 200, "GET /openapi.json answered {status}");
    let document: serde_json::Value = serde_json::from_str(&body)?;
    let paths = document["paths"]
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("the document has no paths"))?;
    let methods = ["get", "put", "post", "delete", "patch"];
    let operations = paths
        .values()
        .filter_map(serde_json::Value::as_object)
        .flat_map(|item| item.keys())
        .filter(|method| methods.contains(&method.as_str()))
        .count();
    anyhow::ensure!(operations > 0, "the document lists no operation");
    Ok(operations)
}

#[tokio::test]
async fn schemathesis_finds_no_server_errors_and_no_schema_violations() -> anyhow::Result<()> {
    let servers = TestServers::from_env();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var("ASTRO_TEST_PYTHON")
        .map_or_else(|_| root.join(".venv/bin/python"), PathBuf::from);
    let schemathesis = python.with_file_name("schemathesis");
    anyhow::ensure!(
        schemathesis.exists(),
        "{} is missing: ./dev installs requirements-dev.txt",
        schemathesis.display()
    );
    let mesh = Mesh::start(&servers, MeshOptions::default()).await?;
    let examples =
        std::env::var("ASTRO_TEST_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".into());
    let config = root.join("gateway/tests/schemathesis/schemathesis.toml");
    let output = tokio::process::Command::new(&schemathesis)
        .arg("--config-file")
        .arg(&config)
        // Whatever schemathesis writes stays out of the repository.
        .current_dir(std::env::temp_dir())
        .env("PYTHONPATH", root.join("gateway/tests/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("ASTRO_SCHEMATHESIS_TOKENS", tokens_by_role(&mesh).await?)
        .args([
            "run",
            &format!("{}/openapi.json", mesh.gateway_url()),
            "--max-examples",
            &examples,
            // not_a_server_error: replaced by the hook's check (unbuilt RPCs answer 501).
            // positive_data_acceptance: the schema states the proto types, not each service's
            // domain rules, so a schema-valid body may rightly be INVALID_ARGUMENT (400).
            // ignored_auth: the hook swaps a valid token of the right role into every
            // authenticated request, so this check's own invalid token would be swapped too;
            // refusing bad tokens is tested by system_auth's twelve forged tokens instead.
            "--exclude-checks",
            "not_a_server_error,positive_data_acceptance,ignored_auth",
            // Deterministic: the same cases every run, and no example database on disk.
            "--generation-deterministic",
            "--no-color",
        ])
        .output()
        .await?;
    let report = String::from_utf8_lossy(&output.stdout);
    let summary: String = report
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Warnings (schema/domain mismatches, an operation whose token a fuzzed Logout revoked)
    // are allowed; failures are not.
    assert!(!report.contains(" FAILURES "), "{summary}");
    // The numbers (operations, cases, warnings) for whoever reads the test output.
    println!("{summary}");
    // Every operation of the document was selected and tested, none skipped.
    let operations = document_operations(&mesh).await?;
    let lines: Vec<&str> = report.lines().map(str::trim).collect();
    for expected in [
        format!("Selected: {operations}/{operations}"),
        format!("Tested: {operations}"),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "{expected} in\n{summary}"
        );
    }
    Ok(())
}
