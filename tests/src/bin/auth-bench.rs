//! Load for SystemAPI through the gateway: login and authenticated GetCurrentUser
//! throughput and latency, known vs unknown e-mail login times, and the bare argon2id hash
//! time on this machine. Prints numbers; asserts nothing (benchmarks are not tests).
//!
//! Usage: `auth-bench <gateway host:port | --spawn> [concurrency] [seconds]`: against a running
//! mesh (`./dev up`), or `--spawn` to start one with the test harness (needs the `ASTRO_TEST_*`
//! variables of `.data/<env>/env`). It registers its own traveler.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use astro_e2e::accounts::{
    PASSWORD, access_token, login, register_and_login, system_client, unique_email, with_token,
};
use astro_proto::astrobookings::{common::v1::Role, system::v1::GetCurrentUserRequest};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    // Kept alive for the whole run when spawned.
    let mut _mesh = None;
    let gateway: SocketAddr = if target == "--spawn" {
        let options = astro_e2e::MeshOptions {
            // The failure series fail on purpose; keep the failure budgets out of the way.
            extra_env: std::collections::HashMap::from([
                (
                    "ASTRO_SYSTEM_LOGIN_MAX_FAILURES_PER_CLIENT".to_owned(),
                    "100000".to_owned(),
                ),
                (
                    "ASTRO_SYSTEM_LOGIN_MAX_FAILURES_PER_EMAIL".to_owned(),
                    "100000".to_owned(),
                ),
            ]),
            ..astro_e2e::MeshOptions::default()
        };
        let mesh = astro_e2e::Mesh::start(&astro_e2e::TestServers::from_env(), options).await?;
        let address = mesh.address(astro_e2e::Service::Gateway);
        _mesh = Some(mesh);
        address
    } else {
        target.parse()?
    };
    let concurrency: usize = args.next().map_or(Ok(16), |value| value.parse())?;
    let seconds: u64 = args.next().map_or(Ok(10), |value| value.parse())?;
    let duration = Duration::from_secs(seconds);

    let hashes = time_each(20, || async {
        astro_system::passwords::hash(PASSWORD.to_owned())
            .await
            .map(drop)
            .map_err(anyhow::Error::from)
    })
    .await?;
    report("argon2id hash (m=19456,t=2,p=1), sequential", &hashes, None);

    let mut client = system_client(gateway);
    let (user, session) = register_and_login(&mut client, "bench", Role::Traveler).await;
    let token = access_token(&session);

    let known = time_each(30, || {
        let mut client = client.clone();
        let email = user.email.clone();
        async move {
            login(&mut client, &email, PASSWORD)
                .await
                .map(drop)
                .map_err(anyhow::Error::from)
        }
    })
    .await?;
    report("login, known e-mail, sequential", &known, None);
    // The pair that matters for account enumeration: both fail, one for a known e-mail.
    // Interleaved, so a change of machine load hits both series alike.
    let mut wrong_password = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..40 {
        let started = Instant::now();
        let refused = login(&mut client, &user.email, "not the password at all").await;
        wrong_password.push(started.elapsed());
        let started = Instant::now();
        let missing = login(&mut client, &unique_email("ghost"), PASSWORD).await;
        unknown.push(started.elapsed());
        for outcome in [refused, missing] {
            match outcome {
                Err(status) if status.code() == tonic::Code::Unauthenticated => {}
                other => anyhow::bail!("unexpected {other:?}"),
            }
        }
    }
    report(
        "login, known e-mail, wrong password (interleaved)",
        &wrong_password,
        None,
    );
    report("login, unknown e-mail (interleaved)", &unknown, None);
    // A success forgives the e-mail's failures before the load runs.
    login(&mut client, &user.email, PASSWORD).await?;

    let (login_client, email) = (client.clone(), user.email.clone());
    let (latencies, errors, elapsed) = load(concurrency, duration, move || {
        let mut client = login_client.clone();
        let email = email.clone();
        async move { login(&mut client, &email, PASSWORD).await.is_ok() }
    })
    .await;
    report(
        &format!("login, {concurrency} concurrent, {seconds} s"),
        &latencies,
        Some((errors, elapsed)),
    );

    let (latencies, errors, elapsed) = load(concurrency, duration, move || {
        let mut client = client.clone();
        let token = token.clone();
        async move {
            client
                .get_current_user(with_token(GetCurrentUserRequest {}, &token))
                .await
                .is_ok()
        }
    })
    .await;
    report(
        &format!("GetCurrentUser, {concurrency} concurrent, {seconds} s"),
        &latencies,
        Some((errors, elapsed)),
    );
    Ok(())
}

async fn time_each<F, Fut>(count: usize, mut call: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        call().await?;
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

/// `concurrency` workers call for `duration`; returns every latency, the error count and the
/// wall time.
async fn load<F, Fut>(
    concurrency: usize,
    duration: Duration,
    call: F,
) -> (Vec<Duration>, usize, Duration)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                while started.elapsed() < duration {
                    let begin = Instant::now();
                    if call().await {
                        latencies.push(begin.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        if let Ok((worker_latencies, worker_errors)) = worker.await {
            latencies.extend(worker_latencies);
            errors += worker_errors;
        }
    }
    (latencies, errors, started.elapsed())
}

fn report(what: &str, latencies: &[Duration], throughput: Option<(usize, Duration)>) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let percentile = |p: f64| -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    };
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let rate = throughput.map_or(String::new(), |(errors, elapsed)| {
        format!(
            "  {:.0} req/s  errors {errors}",
            latencies.len() as f64 / elapsed.as_secs_f64()
        )
    });
    println!(
        "{what}: n={}  p50 {:.1} ms  p99 {:.1} ms{rate}",
        sorted.len(),
        ms(percentile(50.0)),
        ms(percentile(99.0)),
    );
}
