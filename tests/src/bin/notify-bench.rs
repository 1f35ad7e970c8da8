//! Load for NotifyAPI: a mesh of its own (the test harness) sending to an SMTP catcher of its
//! own. Queues `count` notifications through `NotifyInternalService.EnqueueNotification` with
//! `concurrency` callers, reports the intake's requests/s, p50 and p99, then how long the
//! workers took to put every e-mail into the catcher (e-mails/s, and the delay from queuing to
//! arrival at p50 and p99). Prints numbers; asserts nothing (benchmarks are not tests).
//!
//! Usage: `notify-bench [count] [concurrency] [workers]` (defaults 1000, 16, 4), with the
//! `ASTRO_TEST_*` variables of `.data/<env>/env`.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use astro_e2e::{Mesh, MeshOptions, Service, TestServers, mail::MailCatcher};
use astro_proto::astrobookings::{
    common::v1::Contact,
    notify::v1::{
        EnqueueNotificationRequest, NotificationEventType,
        notify_internal_service_client::NotifyInternalServiceClient,
    },
};
use futures::StreamExt as _;

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "an index"
    )]
    let index = ((sorted.len() - 1) as f64 * share).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse())
        .collect::<Result<_, _>>()?;
    let count = args.first().copied().unwrap_or(1000);
    let concurrency = args.get(1).copied().unwrap_or(16);
    let workers = args.get(2).copied().unwrap_or(4);

    let catcher = MailCatcher::start().await?;
    let mut extra_env = catcher.notify_env();
    extra_env.insert("ASTRO_NOTIFY_WORKERS".to_owned(), workers.to_string());
    extra_env.insert(
        "ASTRO_NOTIFY_SMTP_POOL_SIZE".to_owned(),
        workers.to_string(),
    );
    let mesh = Mesh::start(
        &TestServers::from_env(),
        MeshOptions {
            extra_env,
            ..MeshOptions::default()
        },
    )
    .await?;
    let client =
        NotifyInternalServiceClient::new(mesh.internal_channel(Service::Notify, Service::System));
    let run = uuid::Uuid::new_v4().simple().to_string();

    let started = Instant::now();
    let mut queued_at: HashMap<String, chrono::DateTime<chrono::Utc>> = HashMap::new();
    let results: Vec<(String, chrono::DateTime<chrono::Utc>, Duration, bool)> =
        futures::stream::iter((0..count).map(|index| {
            let mut client = client.clone();
            let email = format!("bench{index}-{run}@mail.example");
            async move {
                let sent = chrono::Utc::now();
                let clock = Instant::now();
                let outcome = client
                    .enqueue_notification(EnqueueNotificationRequest {
                        event_id: uuid::Uuid::now_v7().to_string(),
                        event_type: NotificationEventType::SyncJobFailed.into(),
                        recipient: Some(Contact {
                            name: format!("Bench {index}"),
                            email: email.clone(),
                            ..Contact::default()
                        }),
                        data: HashMap::from([
                            ("data_set".to_owned(), "catalogue".to_owned()),
                            ("failure_message".to_owned(), "bench".to_owned()),
                        ]),
                        ..EnqueueNotificationRequest::default()
                    })
                    .await;
                (email, sent, clock.elapsed(), outcome.is_ok())
            }
        }))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let intake_time = started.elapsed();
    let mut latencies: Vec<Duration> = results.iter().map(|result| result.2).collect();
    latencies.sort_unstable();
    let failed = results.iter().filter(|result| !result.3).count();
    for (email, sent, _, _) in results {
        queued_at.insert(email, sent);
    }
    println!(
        "intake: {count} EnqueueNotification, {concurrency} callers: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {failed} failed",
        count as f64 / intake_time.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );

    // Deliveries, timed by the catcher's own arrival stamps.
    let mut arrived: HashMap<String, chrono::DateTime<chrono::Utc>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while arrived.len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for mail in catcher.messages()? {
            let Ok(at) = chrono::DateTime::parse_from_rfc3339(&mail.received_at) else {
                continue;
            };
            for rcpt in mail.rcpt_tos {
                if queued_at.contains_key(&rcpt) {
                    arrived.entry(rcpt).or_insert(at.to_utc());
                }
            }
        }
    }
    let last = arrived
        .values()
        .max()
        .copied()
        .unwrap_or_else(chrono::Utc::now);
    let first_queued = queued_at
        .values()
        .min()
        .copied()
        .unwrap_or_else(chrono::Utc::now);
    let total = (last - first_queued).to_std().unwrap_or_default();
    let mut delays: Vec<Duration> = arrived
        .iter()
        .filter_map(|(email, at)| {
            queued_at
                .get(email)
                .and_then(|sent| (*at - *sent).to_std().ok())
        })
        .collect();
    delays.sort_unstable();
    println!(
        "delivery: {} of {count} e-mails {:.1} s after the first was queued, {workers} workers: {:.0} e-mails/s, queued-to-arrival p50 {:.0} ms, p99 {:.0} ms",
        arrived.len(),
        total.as_secs_f64(),
        arrived.len() as f64 / total.as_secs_f64(),
        percentile(&delays, 0.5).as_secs_f64() * 1000.0,
        percentile(&delays, 0.99).as_secs_f64() * 1000.0,
    );
    drop(mesh);
    drop(catcher);
    Ok(())
}
