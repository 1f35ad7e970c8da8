//! NotifyAPI through the real mesh: events from OperationsDB's change log and SystemAPI's outbox
//! become e-mails in an SMTP server of the test's own (the catcher, over real SMTP), once per
//! event and recipient even when NotifyAPI is killed; transient SMTP failures are retried,
//! permanent ones wait for IT; VIP travelers hear of new launches first; IT operates the queue
//! and nobody else may; and the trace of a booking request reaches the span that sends its
//! e-mail.

use astro_shared::grpc_client::TracedChannel;
use std::{
    collections::{BTreeSet, HashMap},
    net::SocketAddr,
    time::Duration,
};

use astro_e2e::{
    Mesh, Service,
    accounts::with_token,
    channel,
    collector::{CallerTrace, traced_mesh},
    fixtures::{self, Actor, LaunchPlan, booking_client, passengers},
    mail::{Mail, MailCatcher},
    mesh_with_catcher, rest,
};
use astro_proto::astrobookings::{
    agency::v1::DelayLaunchRequest,
    booking::v1::{CancelBookingRequest, CreateBookingResponse},
    common::v1::{Contact, RocketRange, Role, SortOrder},
    notify::v1::{
        CancelNotificationRequest, EnqueueNotificationRequest, GetQueueStatusRequest,
        GetServiceStatusRequest, ListMyNotificationsRequest, ListNotificationsRequest,
        MarkNotificationSentRequest, Notification, NotificationEventType, NotificationPriority,
        NotificationSortField, NotificationStatus, NotificationSubject, PublishEventRequest,
        RetryNotificationRequest, notify_internal_service_client::NotifyInternalServiceClient,
        notify_service_client::NotifyServiceClient,
    },
};
use futures::StreamExt as _;
use tonic::{Code, transport::Channel};

/// Every agency of the fixtures is reached at its profile's contact address.
const AGENCY_EMAIL: &str = "ops@agency.example";
const PRICE: i64 = 1_250_000;

/// A catcher of the test's own and a mesh whose NotifyAPI sends to it.
/// Every message, once whatever was on its way has had a second to arrive: for counting that
/// something came exactly once.
async fn settled(catcher: &MailCatcher) -> Vec<Mail> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    catcher.messages().expect("mails read")
}

fn gateway(mesh: &Mesh) -> SocketAddr {
    mesh.address(Service::Gateway)
}

pub(crate) fn notify(mesh: &Mesh) -> NotifyServiceClient<Channel> {
    NotifyServiceClient::new(channel(gateway(mesh)))
}

/// NotifyAPI's intake as SystemAPI calls it.
fn notify_internal(mesh: &Mesh) -> NotifyInternalServiceClient<TracedChannel> {
    NotifyInternalServiceClient::new(mesh.internal_channel(Service::Notify, Service::System))
}

/// "USD 12,500.00", written independently of the service's formatter.
fn usd(minor: i64) -> String {
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("USD {grouped}.{:02}", minor % 100)
}

async fn book(
    mesh: &Mesh,
    traveler: &Actor,
    launch_id: &str,
    seats: usize,
) -> CreateBookingResponse {
    book_at(gateway(mesh), traveler, launch_id, seats).await
}

async fn book_at(
    gateway: SocketAddr,
    traveler: &Actor,
    launch_id: &str,
    seats: usize,
) -> CreateBookingResponse {
    let request = fixtures::booking_request(launch_id, passengers(seats));
    // As a careful client does: under the full suite's load on 2 cores a booking can outlast the
    // gateway's deadline, and the contract makes a retry with the same key safe (the first
    // answer, or ABORTED while that one is still being worked on). A second booking would show
    // as extra e-mails, which the tests count.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let answer = booking_client(gateway)
            .create_booking(with_token(request.clone(), &traveler.token))
            .await;
        match answer {
            Ok(response) => return response.into_inner(),
            Err(status)
                if attempts < 10
                    && matches!(
                        status.code(),
                        Code::DeadlineExceeded | Code::Unavailable | Code::Aborted
                    ) =>
            {
                eprintln!("booking attempt {attempts} answered {status:?}; retrying with its key");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(status) => panic!("booking accepted: {status:?}"),
        }
    }
}

fn to(mail: &Mail, address: &str) -> bool {
    mail.rcpt_tos
        .iter()
        .any(|rcpt| rcpt.eq_ignore_ascii_case(address))
}

fn subjects_to<'a>(mails: &'a [Mail], address: &str, prefix: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|mail| to(mail, address) && mail.subject.starts_with(prefix))
        .collect()
}

/// Lists the queue as IT until `done` holds (15 s at most); returns the last listing.
async fn queue_until(
    mesh: &Mesh,
    it: &Actor,
    request: ListNotificationsRequest,
    done: impl Fn(&[Notification]) -> bool,
) -> Vec<Notification> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listed = notify(mesh)
            .list_notifications(with_token(request.clone(), &it.token))
            .await
            .expect("IT lists the queue")
            .into_inner()
            .notifications;
        if done(&listed) || tokio::time::Instant::now() >= deadline {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmed_booking_emails_the_traveler_and_the_agency_and_a_cancellation_its_refund() {
    let (catcher, mesh) = mesh_with_catcher(&[]).await;
    let agency = fixtures::agency(gateway(&mesh), "mailer").await;
    let rocket = format!("Comet {}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let rocket_id = fixtures::rocket_named(
        gateway(&mesh),
        &agency,
        &rocket,
        10,
        RocketRange::LowEarthOrbit,
    )
    .await;
    let launch = fixtures::schedule(
        gateway(&mesh),
        &agency,
        &rocket_id,
        LaunchPlan::usd("Mars", 400, PRICE),
    )
    .await;
    let traveler = fixtures::traveler(gateway(&mesh), "mailed").await;
    let booking = book(&mesh, &traveler, &launch.id, 2)
        .await
        .booking
        .expect("booking");
    let total = booking.total_amount.as_ref().expect("total").amount_minor;
    assert_eq!(total, 2 * PRICE);

    let subject = format!(
        "Booking confirmed: {rocket} to Mars (ref {})",
        &booking.id[..8]
    );
    catcher
        .wait_until(Duration::from_secs(20), |mails| {
            !subjects_to(mails, &traveler.email, "Booking confirmed").is_empty()
                && !subjects_to(mails, AGENCY_EMAIL, "Booking confirmed").is_empty()
        })
        .await
        .expect("mails read");
    // Nothing more is on its way: one e-mail per recipient, not one per retry.
    let mails = settled(&catcher).await;
    let unique = |list: Vec<&Mail>| {
        list.iter()
            .map(|mail| mail.message_id.clone())
            .collect::<BTreeSet<_>>()
    };
    let for_traveler = subjects_to(&mails, &traveler.email, "Booking confirmed");
    let for_agency = subjects_to(&mails, AGENCY_EMAIL, "Booking confirmed");
    assert_eq!(unique(for_traveler.clone()).len(), 1, "{for_traveler:#?}");
    assert_eq!(unique(for_agency.clone()).len(), 1, "{for_agency:#?}");
    for mail in [for_traveler[0], for_agency[0]] {
        assert_eq!(mail.subject, subject);
        for expected in [
            usd(total).as_str(),
            booking.id.as_str(),
            rocket.as_str(),
            "Mars",
        ] {
            assert!(mail.text.contains(expected), "{expected} in {}", mail.text);
            assert!(mail.html.contains(expected), "{expected} in {}", mail.html);
        }
        assert!(mail.text.contains("2 seats"), "{}", mail.text);
    }
    assert!(for_traveler[0].text.contains("Your booking of 2 seats"));
    assert!(for_agency[0].text.contains("A traveler booked 2 seats"));
    // SystemAPI's outbox reached the same queue: the registration e-mail (held back briefly
    // while a registration may still be undone).
    let mails = catcher
        .wait_until(Duration::from_secs(20), |mails| {
            !subjects_to(mails, &traveler.email, "Welcome to AstroBookings").is_empty()
        })
        .await
        .expect("mails read");
    assert_eq!(
        subjects_to(&mails, &traveler.email, "Welcome to AstroBookings").len(),
        1
    );

    // Cancelled more than a year ahead: 90% back, and both are told the amount.
    booking_client(gateway(&mesh))
        .cancel_booking(with_token(
            CancelBookingRequest {
                id: booking.id.clone(),
                reason: "plans changed".to_owned(),
            },
            &traveler.token,
        ))
        .await
        .expect("cancelled");
    let refund = usd(total * 90 / 100);
    let mails = catcher
        .wait_until(Duration::from_secs(20), |mails| {
            !subjects_to(mails, &traveler.email, "Booking cancelled").is_empty()
                && !subjects_to(mails, AGENCY_EMAIL, "Booking cancelled").is_empty()
        })
        .await
        .expect("mails read");
    for address in [traveler.email.as_str(), AGENCY_EMAIL] {
        let cancelled = subjects_to(&mails, address, "Booking cancelled");
        assert_eq!(cancelled.len(), 1, "{cancelled:#?}");
        let text = &cancelled[0].text;
        assert!(
            text.contains(&format!("Refund: {refund} (90% of {})", usd(total))),
            "{text}"
        );
        assert!(text.contains("The seats are released."), "{text}");
    }

    // The traveler sees their own notifications, SENT, without delivery details.
    let mine = notify(&mesh)
        .list_my_notifications(with_token(
            ListMyNotificationsRequest::default(),
            &traveler.token,
        ))
        .await
        .expect("own notifications")
        .into_inner()
        .notifications;
    let types: BTreeSet<_> = mine.iter().map(Notification::event_type).collect();
    assert_eq!(
        types,
        BTreeSet::from([
            NotificationEventType::UserRegistered,
            NotificationEventType::BookingConfirmed,
            NotificationEventType::BookingCancelled
        ])
    );
    assert!(mine.iter().all(|notification| {
        notification.recipient.as_ref().map(|r| r.user_id.as_str()) == Some(traveler.id.as_str())
    }));
}

/// Kills NotifyAPI (SIGKILL) and starts it again.
async fn crash_notify(mesh: &mut Mesh) {
    mesh.kill(Service::Notify).await.expect("notify killed");
    mesh.restart(Service::Notify)
        .await
        .expect("notify restarted");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_events_reach_every_recipient_through_three_crashes() {
    // One message in flight at a time: a crash can then repeat at most one e-mail, which is
    // what "duplicates no more than kills" measures (with N slots, up to N per crash).
    let (catcher, mut mesh) = mesh_with_catcher(&[
        ("ASTRO_NOTIFY_WORKERS", "1"),
        ("ASTRO_NOTIFY_PRIORITY_WORKERS", "1"),
        ("ASTRO_NOTIFY_LEASE_MS", "4000"),
    ])
    .await;
    let gateway_address = gateway(&mesh);
    let agency = fixtures::agency(gateway_address, "bulk").await;
    let rocket_id = fixtures::rocket(gateway_address, &agency, 50).await;
    let mut launches = Vec::new();
    for _ in 0..5 {
        launches.push(fixtures::launch(gateway_address, &agency, &rocket_id, 200, 10_000).await);
    }
    let labels: Vec<String> = (0..10).map(|index| format!("bulk{index}")).collect();
    let travelers = futures::future::join_all(
        labels
            .iter()
            .map(|label| fixtures::traveler(gateway_address, label)),
    )
    .await;
    // 10 travelers x 5 launches x 4 one-seat bookings = 200 BOOKING_CONFIRMED events.
    let plan: Vec<(usize, usize)> = (0..4)
        .flat_map(|_| (0..10).flat_map(|traveler| (0..5).map(move |launch| (traveler, launch))))
        .collect();
    let mut booked: Vec<(String, String)> = Vec::new();
    let mut kills = 0;
    for (round, chunk) in plan.chunks(50).enumerate() {
        // A few at a time: the point is many events, not a load test of BookingAPI.
        let results: Vec<(String, String)> =
            futures::stream::iter(chunk.iter().map(|&(traveler, launch)| {
                let traveler = travelers[traveler].clone();
                let launch = launches[launch].clone();
                async move {
                    let booking = book_at(gateway_address, &traveler, &launch, 1)
                        .await
                        .booking
                        .expect("booking");
                    (booking.id, traveler.email)
                }
            }))
            .buffer_unordered(8)
            .collect()
            .await;
        booked.extend(results);
        if round < 3 {
            // Crash once the previous events are being delivered, so claims are cut short.
            let delivered_before = catcher.messages().expect("mails").len();
            catcher
                .wait_until(Duration::from_secs(20), |mails| {
                    mails.len() > delivered_before + 5
                })
                .await
                .expect("mails read");
            crash_notify(&mut mesh).await;
            kills += 1;
        }
    }
    assert_eq!(booked.len(), 200);
    let expected: BTreeSet<(String, String)> = booked
        .iter()
        .flat_map(|(booking, email)| {
            [
                (booking.clone(), email.to_lowercase()),
                (booking.clone(), AGENCY_EMAIL.to_owned()),
            ]
        })
        .collect();
    assert_eq!(expected.len(), 400);
    let confirmed = |mails: &[Mail]| -> Vec<(String, String, String)> {
        mails
            .iter()
            .filter(|mail| mail.subject.starts_with("Booking confirmed"))
            .filter_map(|mail| {
                let booking = booked
                    .iter()
                    .find(|(booking, _)| mail.text.contains(booking.as_str()))?;
                Some((
                    booking.0.clone(),
                    mail.rcpt_tos.first()?.to_lowercase(),
                    mail.message_id.clone(),
                ))
            })
            .collect()
    };
    let mails = catcher
        .wait_until(Duration::from_secs(300), |mails| {
            let delivered: BTreeSet<_> = confirmed(mails)
                .into_iter()
                .map(|(booking, rcpt, _)| (booking, rcpt))
                .collect();
            delivered == expected
        })
        .await
        .expect("mails read");
    let delivered = confirmed(&mails);
    let pairs: BTreeSet<_> = delivered
        .iter()
        .map(|(booking, rcpt, _)| (booking.clone(), rcpt.clone()))
        .collect();
    assert_eq!(
        pairs.len(),
        400,
        "every (event, recipient) delivered; missing: {:?}",
        expected.difference(&pairs).take(5).collect::<Vec<_>>()
    );
    let messages: BTreeSet<_> = delivered.iter().map(|(_, _, id)| id.clone()).collect();
    assert_eq!(
        messages.len(),
        400,
        "one notification per (event, recipient)"
    );
    let duplicates = delivered.len() - messages.len();
    println!(
        "{} e-mails for 400 notifications through {kills} crashes",
        delivered.len()
    );
    assert!(
        duplicates <= kills,
        "{duplicates} repeated e-mails after {kills} crashes"
    );
}

fn contact(label: &str) -> Contact {
    Contact {
        user_id: String::new(),
        name: format!("Recipient {label}"),
        email: format!("{label}-{}@mail.example", uuid::Uuid::new_v4().simple()),
        phone: String::new(),
    }
}

/// Queues one SYNC_JOB_FAILED e-mail to `recipient` through the internal intake.
async fn enqueue(mesh: &Mesh, recipient: Contact) -> Notification {
    let mut data = HashMap::new();
    data.insert("data_set".to_owned(), "catalogue".to_owned());
    data.insert("failure_message".to_owned(), "timeout".to_owned());
    notify_internal(mesh)
        .enqueue_notification(EnqueueNotificationRequest {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: NotificationEventType::SyncJobFailed.into(),
            recipient: Some(recipient),
            data,
            ..EnqueueNotificationRequest::default()
        })
        .await
        .expect("queued")
        .into_inner()
        .notification
        .expect("notification")
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_failures_lose_nothing_and_failed_mail_waits_for_it() {
    let (catcher, mesh) = mesh_with_catcher(&[]).await;
    let it = fixtures::employee(&mesh, Role::It).await;

    // 10% of messages answered 451 at the end of DATA: every one still arrives, once.
    catcher
        .set_faults(serde_json::json!({ "451_ratio": 0.1 }))
        .expect("faults set");
    let mut queued = Vec::new();
    for index in 0..100 {
        queued.push(enqueue(&mesh, contact(&format!("bulk{index}"))).await);
    }
    let addresses: BTreeSet<String> = queued
        .iter()
        .filter_map(|notification| notification.recipient.as_ref())
        .map(|recipient| recipient.email.to_lowercase())
        .collect();
    let received = |mails: &[Mail]| -> BTreeSet<String> {
        mails
            .iter()
            .flat_map(|mail| mail.rcpt_tos.iter().map(|rcpt| rcpt.to_lowercase()))
            .filter(|rcpt| addresses.contains(rcpt))
            .collect()
    };
    let mails = catcher
        .wait_until(Duration::from_secs(90), |mails| {
            received(mails) == addresses
        })
        .await
        .expect("mails read");
    assert_eq!(received(&mails), addresses, "nothing lost");
    let ids: Vec<String> = queued.iter().map(|n| n.id.clone()).collect();
    let listed = queue_until(
        &mesh,
        &it,
        ListNotificationsRequest {
            event_types: vec![NotificationEventType::SyncJobFailed.into()],
            page_size: 200,
            ..ListNotificationsRequest::default()
        },
        |listed| {
            listed
                .iter()
                .filter(|n| ids.contains(&n.id) && n.status() == NotificationStatus::Sent)
                .count()
                == 100
        },
    )
    .await;
    let retried = listed
        .iter()
        .filter(|n| ids.contains(&n.id) && n.attempts > 1)
        .count();
    assert!(retried > 0, "some messages met a 451 and were retried");
    println!("{retried} of 100 messages needed more than one attempt");

    // 554 is permanent: FAILED at once. A 451 that never clears: FAILED after 5 attempts.
    let blocked = contact("blocked");
    let busy = contact("busy");
    catcher
        .set_faults(serde_json::json!({
            "554_recipients": [blocked.email],
            "451_recipients": [busy.email],
        }))
        .expect("faults set");
    let blocked_id = enqueue(&mesh, blocked.clone()).await.id;
    let busy_id = enqueue(&mesh, busy.clone()).await.id;
    let failed = queue_until(
        &mesh,
        &it,
        ListNotificationsRequest {
            statuses: vec![NotificationStatus::Failed.into()],
            ..ListNotificationsRequest::default()
        },
        |listed| listed.len() == 2,
    )
    .await;
    let find = |id: &str| {
        failed
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("{id} FAILED: {failed:#?}"))
            .clone()
    };
    let blocked_failed = find(&blocked_id);
    assert_eq!(blocked_failed.attempts, 1);
    assert!(
        blocked_failed.last_error.starts_with("smtp 554")
            && blocked_failed.last_error.contains("rejected"),
        "{}",
        blocked_failed.last_error
    );
    let busy_failed = find(&busy_id);
    assert_eq!(busy_failed.attempts, 5);
    assert_eq!(busy_failed.max_attempts, 5);
    assert!(
        busy_failed.last_error.starts_with("smtp 451"),
        "{}",
        busy_failed.last_error
    );
    let status = notify(&mesh)
        .get_queue_status(with_token(GetQueueStatusRequest::default(), &it.token))
        .await
        .expect("queue status")
        .into_inner();
    let reasons: HashMap<_, _> = status
        .failure_reasons
        .iter()
        .map(|reason| (reason.reason.as_str(), reason.count))
        .collect();
    assert_eq!(reasons.get("smtp 554"), Some(&1), "{reasons:?}");
    assert_eq!(reasons.get("smtp 451"), Some(&1), "{reasons:?}");
    assert_eq!(status.failed_last_hour, 2);
    assert!(status.sent_last_hour >= 100);

    // The mail server is fixed; IT puts both back and they are sent.
    catcher
        .set_faults(serde_json::json!({}))
        .expect("faults cleared");
    for id in [&blocked_id, &busy_id] {
        let retried = notify(&mesh)
            .retry_notification(with_token(
                RetryNotificationRequest { id: id.clone() },
                &it.token,
            ))
            .await
            .expect("IT retries a FAILED notification")
            .into_inner()
            .notification
            .expect("notification");
        assert_eq!(retried.status(), NotificationStatus::Pending);
        assert_eq!(retried.attempts, 0);
        assert_eq!(
            retried
                .audit
                .and_then(|audit| audit.updated)
                .map(|origin| origin.user_id),
            Some(it.id.clone())
        );
    }
    catcher
        .wait_until(Duration::from_secs(20), |mails| {
            mails.iter().any(|mail| to(mail, &blocked.email))
                && mails.iter().any(|mail| to(mail, &busy.email))
        })
        .await
        .expect("mails read");
    let sent = queue_until(
        &mesh,
        &it,
        ListNotificationsRequest {
            statuses: vec![NotificationStatus::Sent.into()],
            event_id: String::new(),
            page_size: 200,
            ..ListNotificationsRequest::default()
        },
        |listed| {
            [&blocked_id, &busy_id]
                .iter()
                .all(|id| listed.iter().any(|n| &&n.id == id))
        },
    )
    .await;
    assert!(sent.iter().any(|n| n.id == blocked_id));
    assert!(sent.iter().any(|n| n.id == busy_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_launch_notifies_vip_travelers_only_from_the_priority_queue() {
    let (catcher, mesh) = mesh_with_catcher(&[]).await;
    let gateway_address = gateway(&mesh);
    let agency = fixtures::agency(gateway_address, "vip").await;
    let rocket_id = fixtures::rocket(gateway_address, &agency, 20).await;
    let first = fixtures::launch(gateway_address, &agency, &rocket_id, 200, 10_000).await;
    let second = fixtures::launch(gateway_address, &agency, &rocket_id, 210, 10_000).await;
    let vip = fixtures::traveler(gateway_address, "vip").await;
    let regular = fixtures::traveler(gateway_address, "regular").await;
    let newcomer = fixtures::traveler(gateway_address, "newcomer").await;
    // Two bookings on two launches make a VIP; one booking does not.
    book(&mesh, &vip, &first, 1).await;
    book(&mesh, &vip, &second, 1).await;
    book(&mesh, &regular, &first, 2).await;

    let new_launch = fixtures::schedule(
        gateway_address,
        &agency,
        &rocket_id,
        LaunchPlan::usd("Europa", 300, 99_900),
    )
    .await;
    let link = format!("https://astrobookings.test/launches/{}", new_launch.slug);
    let mails = catcher
        .wait_until(Duration::from_secs(20), |mails| {
            !subjects_to(mails, &vip.email, "Early access for VIPs").is_empty()
        })
        .await
        .expect("mails read");
    let notice = subjects_to(&mails, &vip.email, "Early access for VIPs");
    assert_eq!(notice.len(), 1);
    assert!(
        notice[0].subject.contains("Europa"),
        "{}",
        notice[0].subject
    );
    assert!(notice[0].text.contains(&link), "{}", notice[0].text);
    assert!(
        notice[0].html.contains(&format!("href=\"{link}\"")),
        "{}",
        notice[0].html
    );
    assert!(notice[0].text.contains("USD 999.00"), "{}", notice[0].text);
    // The other travelers (and the agency) hear nothing of it, also a little later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = catcher.messages().expect("mails read");
    let notices: Vec<_> = mails
        .iter()
        .filter(|mail| mail.subject.starts_with("Early access for VIPs"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:#?}");
    for outsider in [&regular.email, &newcomer.email] {
        assert!(subjects_to(&mails, outsider, "Early access").is_empty());
    }
    let mine = notify(&mesh)
        .list_my_notifications(with_token(
            ListMyNotificationsRequest {
                event_types: vec![NotificationEventType::LaunchScheduled.into()],
                ..ListMyNotificationsRequest::default()
            },
            &vip.token,
        ))
        .await
        .expect("own notifications")
        .into_inner()
        .notifications;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].priority(), NotificationPriority::High);
    assert_eq!(
        mine[0]
            .subject
            .as_ref()
            .map(|subject| subject.launch_id.as_str()),
        Some(new_launch.id.as_str())
    );

    // A delay reaches the agency and every traveler booked on the launch, not the others.
    fixtures::agency_client(gateway_address)
        .delay_launch(with_token(
            DelayLaunchRequest {
                id: first.clone(),
                new_scheduled_at: Some(fixtures::in_days(230)),
                reason: "weather on the pad".to_owned(),
            },
            &agency.token,
        ))
        .await
        .expect("delayed");
    let mails = catcher
        .wait_until(Duration::from_secs(20), |mails| {
            [vip.email.as_str(), regular.email.as_str(), AGENCY_EMAIL]
                .iter()
                .all(|address| !subjects_to(mails, address, "Launch delayed").is_empty())
        })
        .await
        .expect("mails read");
    for address in [vip.email.as_str(), regular.email.as_str(), AGENCY_EMAIL] {
        let delayed = subjects_to(&mails, address, "Launch delayed");
        assert_eq!(delayed.len(), 1, "{address}: {delayed:#?}");
        assert!(
            delayed[0].text.contains("weather on the pad"),
            "{}",
            delayed[0].text
        );
    }
    assert!(subjects_to(&mails, &newcomer.email, "Launch delayed").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn it_operates_the_queue_and_nobody_else_may() {
    // Retries an hour apart: a message that met a 451 stays PENDING while the test works.
    let (catcher, mesh) = mesh_with_catcher(&[
        ("ASTRO_NOTIFY_RETRY_BASE_MS", "3600000"),
        ("ASTRO_NOTIFY_RETRY_MAX_MS", "3600000"),
    ])
    .await;
    let it = fixtures::employee(&mesh, Role::It).await;
    let traveler = fixtures::traveler(gateway(&mesh), "nosy").await;
    let busy: Vec<Contact> = (0..3)
        .map(|index| contact(&format!("busy{index}")))
        .collect();
    let blocked = contact("blocked");
    catcher
        .set_faults(serde_json::json!({
            "451_recipients": busy.iter().map(|c| c.email.clone()).collect::<Vec<_>>(),
            "554_recipients": [blocked.email],
        }))
        .expect("faults set");
    let mut pending = Vec::new();
    for recipient in &busy {
        pending.push(enqueue(&mesh, recipient.clone()).await.id);
    }
    let failed_id = enqueue(&mesh, blocked.clone()).await.id;
    let sync_failures = ListNotificationsRequest {
        event_types: vec![NotificationEventType::SyncJobFailed.into()],
        ..ListNotificationsRequest::default()
    };
    let listed = queue_until(&mesh, &it, sync_failures.clone(), |listed| {
        listed.len() == 4
            && listed
                .iter()
                .all(|n| n.attempts == 1 && n.last_error.starts_with("smtp"))
    })
    .await;
    assert_eq!(listed.len(), 4, "{listed:#?}");

    // Filters, sort and pages.
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = notify(&mesh)
            .list_notifications(with_token(
                ListNotificationsRequest {
                    statuses: vec![NotificationStatus::Pending.into()],
                    page_size: 2,
                    page_token: token.clone(),
                    sort_by: NotificationSortField::CreatedAt.into(),
                    order: SortOrder::Ascending.into(),
                    ..sync_failures.clone()
                },
                &it.token,
            ))
            .await
            .expect("a page")
            .into_inner();
        assert_eq!(page.total_size, 3);
        pages.extend(page.notifications.into_iter().map(|n| n.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, pending, "oldest first over two pages");
    let by_recipient = notify(&mesh)
        .list_notifications(with_token(
            ListNotificationsRequest {
                recipient: busy[1].email[..12].to_uppercase(),
                ..ListNotificationsRequest::default()
            },
            &it.token,
        ))
        .await
        .expect("by recipient")
        .into_inner()
        .notifications;
    assert_eq!(
        by_recipient
            .iter()
            .map(|n| n.id.clone())
            .collect::<Vec<_>>(),
        vec![pending[1].clone()]
    );
    // The time window: nothing was queued after an hour from now, all four before it.
    let total_in = |created_after: Option<prost_types::Timestamp>,
                    created_before: Option<prost_types::Timestamp>| {
        let mut client = notify(&mesh);
        let request = with_token(
            ListNotificationsRequest {
                created_after,
                created_before,
                ..sync_failures.clone()
            },
            &it.token,
        );
        async move {
            client
                .list_notifications(request)
                .await
                .expect("by time")
                .into_inner()
                .total_size
        }
    };
    assert_eq!(total_in(Some(fixtures::in_days(1)), None).await, 0);
    assert_eq!(total_in(None, Some(fixtures::in_days(1))).await, 4);
    let status = notify(&mesh)
        .get_queue_status(with_token(GetQueueStatusRequest::default(), &it.token))
        .await
        .expect("queue status")
        .into_inner();
    let count_of = |wanted: NotificationStatus| {
        status
            .by_status
            .iter()
            .find(|count| count.status() == wanted)
            .map(|count| count.count)
    };
    assert_eq!(count_of(NotificationStatus::Failed), Some(1));
    assert_eq!(count_of(NotificationStatus::Cancelled), Some(0));
    assert!(status.queue_depth >= 3 && status.oldest_pending_age_seconds >= 0);

    // Mark sent, idempotently; then it cannot be cancelled.
    let mark = |id: &str| {
        let mut client = notify(&mesh);
        let request = with_token(
            MarkNotificationSentRequest {
                id: id.to_owned(),
                reason: "sent by hand".to_owned(),
            },
            &it.token,
        );
        async move { client.mark_notification_sent(request).await }
    };
    for _ in 0..2 {
        let marked = mark(&pending[0]).await.expect("marked sent").into_inner();
        assert_eq!(
            marked.notification.expect("notification").status(),
            NotificationStatus::Sent
        );
    }
    let cancel = |id: &str| {
        let mut client = notify(&mesh);
        let request = with_token(
            CancelNotificationRequest {
                id: id.to_owned(),
                reason: "duplicate".to_owned(),
            },
            &it.token,
        );
        async move { client.cancel_notification(request).await }
    };
    assert_eq!(
        cancel(&pending[0]).await.expect_err("SENT").code(),
        Code::FailedPrecondition
    );
    // Cancel a PENDING one and the FAILED one; both are never sent.
    for id in [&pending[1], &failed_id] {
        for _ in 0..2 {
            let cancelled = cancel(id).await.expect("cancelled").into_inner();
            assert_eq!(
                cancelled.notification.expect("notification").status(),
                NotificationStatus::Cancelled
            );
        }
    }
    assert_eq!(
        mark(&failed_id).await.expect_err("CANCELLED").code(),
        Code::FailedPrecondition
    );
    let retry = notify(&mesh)
        .retry_notification(with_token(
            RetryNotificationRequest {
                id: pending[2].clone(),
            },
            &it.token,
        ))
        .await
        .expect_err("PENDING is not FAILED");
    assert_eq!(retry.code(), Code::FailedPrecondition);
    let missing = notify(&mesh)
        .retry_notification(with_token(
            RetryNotificationRequest {
                id: uuid::Uuid::now_v7().to_string(),
            },
            &it.token,
        ))
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), Code::NotFound);

    // Service status: the catcher answers, the workers report, the queue depth is counted.
    // The depth counts every PENDING notification, so the test waits for the account
    // confirmations of its employee and traveler (SystemAPI publishes them a moment after the
    // accounts exist) to be sent; busy[2], retried an hour later, stays.
    let service_status = || {
        let mut client = notify(&mesh);
        let request = with_token(GetServiceStatusRequest {}, &it.token);
        async move {
            client
                .get_service_status(request)
                .await
                .expect("service status")
                .into_inner()
                .health
                .expect("health")
        }
    };
    astro_e2e::eventually(Duration::from_secs(15), || async {
        service_status().await.queue_depth <= 1
    })
    .await;
    let health = service_status().await;
    assert!(health.email_server_reachable);
    assert!(health.email_server_checked_at.is_some());
    assert_eq!(health.workers_alive, 4);
    assert_eq!(health.priority_workers_alive, 2);
    let still_pending = notify(&mesh)
        .list_notifications(with_token(
            ListNotificationsRequest {
                statuses: vec![NotificationStatus::Pending.into()],
                ..ListNotificationsRequest::default()
            },
            &it.token,
        ))
        .await
        .expect("pending notifications")
        .into_inner()
        .notifications;
    assert_eq!(
        health.queue_depth,
        1,
        "only busy[2] is still PENDING; pending: {:#?}",
        still_pending
            .iter()
            .map(|n| (
                n.event_type(),
                n.recipient.clone(),
                n.attempts,
                n.last_error.clone()
            ))
            .collect::<Vec<_>>()
    );
    assert!(health.failure_ratio_last_hour > 0.0);

    // The same through REST, as an operator's browser would.
    let answer = rest::send(
        "GET",
        &format!(
            "{}/v1/notifications?statuses=NOTIFICATION_STATUS_CANCELLED",
            mesh.gateway_url()
        ),
        &[("authorization", &format!("Bearer {}", it.token))],
        None,
    )
    .await
    .expect("REST answers");
    let body = &answer.json;
    assert_eq!(answer.status, 200, "{body}");
    assert_eq!(
        body["notifications"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );

    // A traveler may list only their own notifications.
    let denied = [
        notify(&mesh)
            .list_notifications(with_token(
                ListNotificationsRequest::default(),
                &traveler.token,
            ))
            .await
            .map(drop),
        notify(&mesh)
            .get_queue_status(with_token(
                GetQueueStatusRequest::default(),
                &traveler.token,
            ))
            .await
            .map(drop),
        notify(&mesh)
            .retry_notification(with_token(
                RetryNotificationRequest {
                    id: failed_id.clone(),
                },
                &traveler.token,
            ))
            .await
            .map(drop),
        notify(&mesh)
            .get_service_status(with_token(GetServiceStatusRequest {}, &traveler.token))
            .await
            .map(drop),
    ];
    for outcome in denied {
        assert_eq!(outcome.expect_err("IT only").code(), Code::PermissionDenied);
    }
    // The registration e-mail is queued a few seconds after the account is made.
    let mut mine = Vec::new();
    for _ in 0..100 {
        mine = notify(&mesh)
            .list_my_notifications(with_token(
                ListMyNotificationsRequest::default(),
                &traveler.token,
            ))
            .await
            .expect("own notifications")
            .into_inner()
            .notifications;
        if !mine.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(mine.len(), 1, "only the registration e-mail: {mine:#?}");
    assert_eq!(mine[0].event_type(), NotificationEventType::UserRegistered);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_trace_runs_from_the_booking_request_to_the_email_send() {
    let (collector, mesh) = traced_mesh().await;
    let gateway_address = gateway(&mesh);
    let agency = fixtures::agency(gateway_address, "traced").await;
    let rocket_id = fixtures::rocket(gateway_address, &agency, 10).await;
    let launch = fixtures::launch(gateway_address, &agency, &rocket_id, 200, 10_000).await;
    let traveler = fixtures::traveler(gateway_address, "traced").await;
    let trace = CallerTrace::new();
    let mut request = with_token(
        fixtures::booking_request(&launch, passengers(1)),
        &traveler.token,
    );
    request.metadata_mut().insert(
        "traceparent",
        trace.traceparent.parse().expect("traceparent"),
    );
    booking_client(gateway_address)
        .create_booking(request)
        .await
        .expect("booked");
    let sends = |spans: &[astro_e2e::collector::ReceivedSpan]| {
        spans
            .iter()
            .filter(|span| span.service_name == "astro-notify" && span.name == "smtp send")
            .count()
    };
    let found = astro_e2e::eventually(Duration::from_secs(30), || async {
        sends(&collector.spans_of_trace(&trace.trace_id)) >= 2
    })
    .await;
    let spans = collector.spans_of_trace(&trace.trace_id);
    let names: BTreeSet<_> = spans
        .iter()
        .map(|span| format!("{}: {}", span.service_name, span.name))
        .collect();
    assert!(
        found,
        "two e-mail sends (traveler, agency) in the trace: {names:#?}"
    );
    for expected in [
        "astro-gateway",
        "astro-booking",
        "astro-finance",
        "astro-notify",
    ] {
        assert!(
            spans.iter().any(|span| span.service_name == expected),
            "{expected} in {names:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn published_events_find_their_recipients_once() {
    let (catcher, mesh) = mesh_with_catcher(&[]).await;
    let first_it = fixtures::employee(&mesh, Role::It).await;
    let second_it = fixtures::employee(&mesh, Role::It).await;
    let agency = fixtures::agency(gateway(&mesh), "invoiced").await;
    let publish = |request: PublishEventRequest| {
        let mut client = notify_internal(&mesh);
        async move { client.publish_event(request).await }
    };
    let sync_failed = PublishEventRequest {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: NotificationEventType::SyncJobFailed.into(),
        occurred_at: Some(fixtures::in_days(0)),
        subject: Some(NotificationSubject {
            sync_job_id: uuid::Uuid::now_v7().to_string(),
            ..NotificationSubject::default()
        }),
        data: HashMap::from([
            ("data_set".to_owned(), "user profiles".to_owned()),
            (
                "failure_message".to_owned(),
                "SystemDB timed out".to_owned(),
            ),
        ]),
        ..PublishEventRequest::default()
    };
    let invoice_issued = PublishEventRequest {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: NotificationEventType::InvoiceIssued.into(),
        occurred_at: Some(fixtures::in_days(0)),
        subject: Some(NotificationSubject {
            invoice_id: uuid::Uuid::now_v7().to_string(),
            agency_id: agency.id.clone(),
            ..NotificationSubject::default()
        }),
        data: HashMap::from([
            ("invoice_number".to_owned(), "AB-2026-000042".to_owned()),
            ("amount".to_owned(), "USD 1,000.00".to_owned()),
            ("due_date".to_owned(), "2026-12-21".to_owned()),
        ]),
        ..PublishEventRequest::default()
    };
    for event in [&sync_failed, &invoice_issued] {
        let first = publish(event.clone())
            .await
            .expect("published")
            .into_inner();
        assert!(!first.duplicate);
        let again = publish(event.clone())
            .await
            .expect("published again")
            .into_inner();
        assert!(again.duplicate, "the event id makes a repeat a no-op");
    }
    let recipients = [
        (
            first_it.email.as_str(),
            "Synchronization failed: user profiles",
        ),
        (
            second_it.email.as_str(),
            "Synchronization failed: user profiles",
        ),
        (AGENCY_EMAIL, "Invoice AB-2026-000042 issued"),
    ];
    catcher
        .wait_until(Duration::from_secs(20), |mails| {
            recipients
                .iter()
                .all(|(address, subject)| !subjects_to(mails, address, subject).is_empty())
        })
        .await
        .expect("mails read");
    let mails = settled(&catcher).await;
    for (address, subject) in recipients {
        let ids: BTreeSet<_> = subjects_to(&mails, address, subject)
            .iter()
            .map(|mail| mail.message_id.clone())
            .collect();
        assert_eq!(ids.len(), 1, "{address}: {subject}");
    }
    let invoice = subjects_to(&mails, AGENCY_EMAIL, "Invoice AB-2026-000042 issued");
    assert!(invoice[0].text.contains("USD 1,000.00") && invoice[0].text.contains("2026-12-21"));
    let failure = subjects_to(&mails, &first_it.email, "Synchronization failed");
    assert!(
        failure[0].text.contains("SystemDB timed out"),
        "{}",
        failure[0].text
    );

    // An event without the ids its type needs is refused, naming the field.
    let refused = publish(PublishEventRequest {
        event_id: uuid::Uuid::now_v7().to_string(),
        subject: Some(NotificationSubject::default()),
        ..invoice_issued.clone()
    })
    .await
    .expect_err("no invoice id");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("subject.invoice_id"),
        "{}",
        refused.message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_older_than_the_limit_are_not_mailed_when_the_relay_catches_up() {
    let (catcher, mut mesh) = mesh_with_catcher(&[("ASTRO_NOTIFY_MAX_EVENT_AGE_MS", "6000")]).await;
    let agency = fixtures::agency(gateway(&mesh), "late").await;
    let rocket_id = fixtures::rocket(gateway(&mesh), &agency, 10).await;
    let launch = fixtures::launch(gateway(&mesh), &agency, &rocket_id, 200, 10_000).await;
    let traveler = fixtures::traveler(gateway(&mesh), "late").await;
    // NotifyAPI is down while a booking is made, and comes back after the limit.
    mesh.kill(Service::Notify).await.expect("notify killed");
    let stale = book(&mesh, &traveler, &launch, 1)
        .await
        .booking
        .expect("booking");
    tokio::time::sleep(Duration::from_secs(9)).await;
    mesh.restart(Service::Notify)
        .await
        .expect("notify restarted");
    let fresh = book(&mesh, &traveler, &launch, 1)
        .await
        .booking
        .expect("booking");
    let mails = catcher
        .wait_until(Duration::from_secs(20), |mails| {
            mails
                .iter()
                .any(|mail| to(mail, &traveler.email) && mail.text.contains(&fresh.id))
        })
        .await
        .expect("mails read");
    assert!(
        mails
            .iter()
            .any(|mail| to(mail, &traveler.email) && mail.text.contains(&fresh.id)),
        "the fresh booking is mailed"
    );
    let mails = settled(&catcher).await;
    assert!(
        !mails.iter().any(|mail| mail.text.contains(&stale.id)),
        "the booking confirmed 9 s before NotifyAPI came back is too old to mail"
    );
}
