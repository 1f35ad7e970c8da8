//! Configuration comes from the services' `Config` definitions only: a variable with a
//! service's prefix that its Config does not read stops the process at start-up, naming it, and
//! `--print-config` lists every setting (what `./dev` writes its env file from).

use astro_e2e::{Mesh, MeshOptions, MeshProcess, Service, TestServers};

#[tokio::test]
async fn a_service_refuses_a_variable_it_does_not_know_and_names_it() {
    let servers = TestServers::from_env();
    let mesh = Mesh::start(&servers, MeshOptions::default())
        .await
        .expect("mesh starts");
    for (service, unknown) in [
        // Written by ./dev until now, read by nothing.
        (Service::Booking, "ASTRO_BOOKING_AGENCY_URL"),
        (Service::Finance, "ASTRO_FINANCE_NOTIFY_URL"),
        // A typo.
        (Service::Gateway, "ASTRO_GATEWAY_RATE_LIMITS_AUTH"),
    ] {
        let mut env = mesh.env(service).clone();
        // Its own port: the mesh's process keeps the one it has.
        env.remove(&format!(
            "ASTRO_{}_LISTEN_ADDR",
            service.name().to_uppercase()
        ));
        env.insert(unknown.to_owned(), "http://127.0.0.1:9".to_owned());
        let refused = MeshProcess::spawn(&servers, service, &env)
            .await
            .err()
            .unwrap_or_else(|| panic!("{} started with {unknown}", service.name()));
        let message = format!("{refused:#}");
        assert!(
            message.contains(&format!("{unknown} is set but is not a setting")),
            "{message}"
        );
    }
}

#[tokio::test]
async fn print_config_lists_every_setting_a_process_reads_and_nothing_else() {
    let servers = TestServers::from_env();
    let mesh = Mesh::start(&servers, MeshOptions::default())
        .await
        .expect("mesh starts");
    for service in Service::BACKENDS.into_iter().chain([Service::Gateway]) {
        let env = mesh.env(service);
        let output =
            std::process::Command::new(servers.bin_dir.join(format!("astro-{}", service.name())))
                .arg("--print-config")
                .env_clear()
                .envs(env)
                .output()
                .expect("the binary runs");
        assert!(output.status.success(), "{}: {output:?}", service.name());
        let printed = String::from_utf8_lossy(&output.stdout);
        let prefix = format!("ASTRO_{}_", service.name().to_uppercase());
        let settings: Vec<&str> = printed
            .lines()
            .filter_map(|line| {
                line.strip_prefix("export ")
                    .and_then(|rest| rest.split_once('='))
                    .map(|(name, _)| name)
                    .or_else(|| {
                        line.strip_prefix("# ")
                            .and_then(|rest| rest.split_once(' '))
                            .map(|(name, _)| name)
                    })
            })
            .filter(|name| name.starts_with(&prefix))
            .collect();
        // Every variable the mesh set is printed as set, with its value.
        for (name, value) in env.iter().filter(|(name, _)| name.starts_with(&prefix)) {
            let line = format!("export {name}='{value}'");
            assert!(
                printed.lines().any(|printed| printed == line),
                "{line} in\n{printed}"
            );
        }
        // Settings the mesh leaves alone show with their default, e.g. the request timeout.
        let timeout = format!(
            "# {prefix}{} (default: ",
            if service == Service::Gateway {
                "UPSTREAM_TIMEOUT_MS"
            } else {
                "REQUEST_TIMEOUT_MS"
            }
        );
        assert!(
            printed.lines().any(|line| line.starts_with(&timeout)),
            "{timeout} in\n{printed}"
        );
        assert!(
            settings.len() > env.len() / 2,
            "{}: {settings:?}",
            service.name()
        );
    }
}

/// The names a README table cell stands for: `ASTRO_{A,B}_X` is two, `ASTRO_<SVC>_X` one per
/// backend service.
fn expand(name: &str) -> Vec<String> {
    let name = name.replace("<SVC>", "{SYSTEM,AGENCY,BOOKING,FINANCE,NOTIFY}");
    match (name.find('{'), name.find('}')) {
        (Some(open), Some(close)) if open < close => name[open + 1..close]
            .split(',')
            .flat_map(|choice| expand(&format!("{}{choice}{}", &name[..open], &name[close + 1..])))
            .collect(),
        _ => vec![name],
    }
}

/// Whether `row` holds `value` as a word of its own (`10` is not found in `100`).
fn holds(row: &str, value: &str) -> bool {
    row.match_indices(value).any(|(at, _)| {
        let before = row[..at].chars().next_back();
        let after = row[at + value.len()..].chars().next();
        let apart =
            |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != '.');
        apart(before) && apart(after)
    })
}

#[tokio::test]
async fn the_readme_names_every_setting_with_its_default() {
    let servers = TestServers::from_env();
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .expect("README.md");
    let mut documented: std::collections::HashMap<String, Vec<&str>> =
        std::collections::HashMap::new();
    for row in readme.lines().filter(|line| line.starts_with("| `")) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for name in first_cell.split('`').skip(1).step_by(2) {
            for name in expand(name) {
                documented.entry(name).or_default().push(row);
            }
        }
    }
    let mesh = Mesh::start(&servers, MeshOptions::default())
        .await
        .expect("mesh starts");
    let mut problems = Vec::new();
    for service in Service::BACKENDS.into_iter().chain([Service::Gateway]) {
        let output =
            std::process::Command::new(servers.bin_dir.join(format!("astro-{}", service.name())))
                .arg("--print-config")
                .env_clear()
                .envs(mesh.env(service))
                .output()
                .expect("the binary runs");
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Some(setting) = line
                .strip_prefix("export ")
                .or_else(|| line.strip_prefix("# "))
                .filter(|rest| rest.starts_with("ASTRO_"))
            else {
                continue;
            };
            let name: String = setting
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let Some(rows) = documented.get(&name) else {
                problems.push(format!("{name} is not in the README's configuration table"));
                continue;
            };
            let default = setting
                .split_once(" (default: ")
                .map(|(_, default)| default.trim_end_matches(')'))
                .filter(|default| !default.is_empty() && uuid::Uuid::parse_str(default).is_err());
            if let Some(default) = default
                && !rows.iter().any(|row| holds(row, default))
            {
                problems.push(format!(
                    "{name}: the README does not give its default {default}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
