//! E-mail templates: one subject, plain-text body and HTML body per event type and recipient
//! role. Rendered once, when a notification is queued, so IT sees exactly what was (or will
//! be) sent, and a template change never alters a message already in the queue.
//!
//! Values come from the event's typed payload ([`EventData`]); every value is escaped in the
//! HTML body.

use astro_shared::text::escape_html;

use super::{
    event::Role,
    payload::{
        BookingCancelled, BookingConfirmed, EventData, InvoiceIssued, InvoiceOverdue,
        LaunchAborted, LaunchDelayed, LaunchDetails, LaunchFailed, LaunchScheduled, SyncJobFailed,
        UserRegistered,
    },
};

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Links in e-mails point at the public site under this base URL (no trailing slash).
#[derive(Debug, Clone)]
pub struct Links {
    pub public_base_url: String,
}

impl Links {
    pub fn new(public_base_url: &str) -> Self {
        Self {
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The agency's page of one of its invoices.
    pub fn invoice(&self, invoice_id: &str) -> String {
        format!("{}/agency/invoices/{invoice_id}", self.public_base_url)
    }

    /// The public page of a launch, by its SEO slug.
    pub fn launch(&self, slug: &str) -> String {
        format!("{}/launches/{slug}", self.public_base_url)
    }

    fn confirm_email(&self, token: &str) -> String {
        format!("{}/confirm-email?token={token}", self.public_base_url)
    }
}

/// One paragraph of an e-mail: plain text, HTML-escaped in the HTML body.
struct Body {
    greeting: String,
    paragraphs: Vec<String>,
    /// A call to action: (label, URL).
    link: Option<(String, String)>,
}

/// A subject, its paragraphs and its call to action.
type Parts = (String, Vec<String>, Option<(String, String)>);

/// Renders the e-mail of `data` for a recipient called `name` whose role is `role`.
pub fn render(data: &EventData, role: Option<Role>, name: &str, links: &Links) -> Email {
    let no_launch = LaunchDetails::default();
    let launch = Launch::of(data.launch().unwrap_or(&no_launch), links);
    let to_agency = role == Some(Role::Agency);
    let (subject, paragraphs, link) = match data {
        EventData::UserRegistered(registered) => user_registered(registered, links),
        EventData::LaunchScheduled(scheduled) => launch_scheduled(scheduled, &launch, links),
        EventData::LaunchDelayed(delayed) => launch_delayed(delayed, &launch, to_agency),
        EventData::LaunchAborted(aborted) => launch_aborted(aborted, &launch, to_agency),
        EventData::LaunchSuccessful(_) => (
            format!("Launch successful: {}", launch.title),
            vec![
                format!(
                    "{} lifted off successfully on {}.",
                    launch.title, launch.when
                ),
                if to_agency {
                    "Congratulations to your team. The platform invoice follows.".to_owned()
                } else {
                    "Thank you for flying with AstroBookings.".to_owned()
                },
            ],
            launch.link,
        ),
        EventData::LaunchFailed(failed) => launch_failed(failed, &launch),
        EventData::BookingConfirmed(confirmed) => booking_confirmed(confirmed, &launch, to_agency),
        EventData::BookingCancelled(cancelled) => booking_cancelled(cancelled, &launch, to_agency),
        EventData::InvoiceIssued(issued) => invoice_issued(issued, &launch),
        EventData::InvoiceOverdue(overdue) => invoice_overdue(overdue),
        EventData::SyncJobFailed(failed) => sync_job_failed(failed),
    };
    let greeting = if name.trim().is_empty() {
        "Hello,".to_owned()
    } else {
        format!("Hello {},", name.trim())
    };
    compose(
        subject,
        Body {
            greeting,
            paragraphs,
            link,
        },
    )
}

/// The launch as the e-mails name it.
struct Launch<'a> {
    details: &'a LaunchDetails,
    /// "Falcon X to the Moon".
    title: String,
    /// "2027-03-14 15:00 UTC".
    when: String,
    /// "See the launch", when its slug is known.
    link: Option<(String, String)>,
}

impl<'a> Launch<'a> {
    fn of(details: &'a LaunchDetails, links: &Links) -> Self {
        Self {
            details,
            title: launch_title(details),
            when: display_time(&details.scheduled_at),
            link: (!details.slug.is_empty())
                .then(|| ("See the launch".to_owned(), links.launch(&details.slug))),
        }
    }
}

fn user_registered(registered: &UserRegistered, links: &Links) -> Parts {
    let url = match (
        registered.confirmation_url.as_str(),
        registered.confirmation_token.as_str(),
    ) {
        ("", "") => None,
        ("", token) => Some(links.confirm_email(token)),
        (url, _) => Some(url.to_owned()),
    };
    (
        "Welcome to AstroBookings: confirm your e-mail address".to_owned(),
        vec![
            "Your AstroBookings account is ready.".to_owned(),
            if url.is_some() {
                "Please confirm your e-mail address with the link below.".to_owned()
            } else {
                "Your e-mail address is already confirmed; you can sign in now.".to_owned()
            },
        ],
        url.map(|url| ("Confirm my e-mail address".to_owned(), url)),
    )
}

fn launch_scheduled(scheduled: &LaunchScheduled, launch: &Launch<'_>, links: &Links) -> Parts {
    let url = match scheduled.slug_url.as_str() {
        "" if launch.details.slug.is_empty() => None,
        "" => Some(links.launch(&launch.details.slug)),
        url => Some(url.to_owned()),
    };
    (
        format!("Early access for VIPs: {}", launch.title),
        non_empty(vec![
            format!(
                "As one of our VIP travelers you hear first: {} is scheduled from {} on {}.",
                launch.title, launch.details.spaceport, launch.when
            ),
            price_line(&launch.details.price_per_seat),
            "Seats go on sale to everyone soon; book now to be sure of yours.".to_owned(),
        ]),
        url.map(|url| ("See the launch and book".to_owned(), url)),
    )
}

fn launch_delayed(delayed: &LaunchDelayed, launch: &Launch<'_>, to_agency: bool) -> Parts {
    (
        format!("Launch delayed: {}", launch.title),
        non_empty(vec![
            format!(
                "{} has been delayed from {} to {}.",
                launch.title,
                display_time(&delayed.previous_scheduled_at),
                display_time(&delayed.new_scheduled_at)
            ),
            reason_line(&delayed.reason),
            if to_agency {
                "Every traveler booked on it is being told by e-mail.".to_owned()
            } else {
                "Your booking stays valid for the new date.".to_owned()
            },
        ]),
        launch.link.clone(),
    )
}

fn launch_aborted(aborted: &LaunchAborted, launch: &Launch<'_>, to_agency: bool) -> Parts {
    (
        format!("Launch aborted: {}", launch.title),
        non_empty(vec![
            format!(
                "{}, planned for {}, has been aborted.",
                launch.title, launch.when
            ),
            reason_line(&aborted.reason),
            if to_agency {
                "Every confirmed booking is refunded in full automatically.".to_owned()
            } else {
                "Your booking is cancelled and refunded in full; you will receive a separate \
                 message with the amount."
                    .to_owned()
            },
        ]),
        None,
    )
}

fn launch_failed(failed: &LaunchFailed, launch: &Launch<'_>) -> Parts {
    (
        format!("Launch failed: {}", launch.title),
        non_empty(vec![
            format!("{}, on {}, did not succeed.", launch.title, launch.when),
            reason_line(&failed.reason),
        ]),
        launch.link.clone(),
    )
}

fn booking_confirmed(confirmed: &BookingConfirmed, launch: &Launch<'_>, to_agency: bool) -> Parts {
    let (title, when) = (&launch.title, &launch.when);
    (
        format!(
            "Booking confirmed: {title}{}",
            reference(&confirmed.booking_id)
        ),
        vec![
            if to_agency {
                format!(
                    "A traveler booked {} on {title} ({when}).",
                    seats(&confirmed.seats)
                )
            } else {
                format!(
                    "Your booking of {} on {title} is confirmed. Launch: {when} from {}.",
                    seats(&confirmed.seats),
                    launch.details.spaceport
                )
            },
            format!("Amount paid: {}.", confirmed.total_amount),
            booking_line(&confirmed.booking_id),
        ],
        launch.link.clone(),
    )
}

fn booking_cancelled(cancelled: &BookingCancelled, launch: &Launch<'_>, to_agency: bool) -> Parts {
    let (title, when) = (&launch.title, &launch.when);
    (
        format!(
            "Booking cancelled: {title}{}",
            reference(&cancelled.booking_id)
        ),
        vec![
            if to_agency {
                format!(
                    "A booking of {} on {title} ({when}) was cancelled.",
                    seats(&cancelled.seats)
                )
            } else {
                format!(
                    "Your booking of {} on {title} ({when}) is cancelled.",
                    seats(&cancelled.seats)
                )
            },
            format!(
                "Refund: {} ({}% of {}).",
                cancelled.refund_amount, cancelled.refund_percent, cancelled.total_amount
            ),
            if cancelled.seats_released {
                "The seats are released.".to_owned()
            } else {
                "The seats stay sold.".to_owned()
            },
            booking_line(&cancelled.booking_id),
        ],
        None,
    )
}

fn invoice_issued(issued: &InvoiceIssued, launch: &Launch<'_>) -> Parts {
    (
        format!("Invoice {} issued", issued.invoice_number),
        vec![
            format!(
                "Invoice {} of {} for {} has been issued.",
                issued.invoice_number, issued.amount, launch.title
            ),
            format!("It is due on {}.", issued.due_date),
        ],
        (!issued.invoice_url.is_empty())
            .then(|| ("View the invoice".to_owned(), issued.invoice_url.clone())),
    )
}

fn invoice_overdue(overdue: &InvoiceOverdue) -> Parts {
    (
        format!("Invoice {} is overdue", overdue.invoice_number),
        vec![
            format!(
                "Invoice {} was due on {}; {} is still to pay.",
                overdue.invoice_number, overdue.due_date, overdue.amount_due
            ),
            format!("This is reminder {}.", overdue.reminder_number),
        ],
        (!overdue.invoice_url.is_empty()).then(|| {
            (
                "View and pay the invoice".to_owned(),
                overdue.invoice_url.clone(),
            )
        }),
    )
}

fn sync_job_failed(failed: &SyncJobFailed) -> Parts {
    (
        format!("Synchronization failed: {}", failed.data_set),
        vec![
            format!(
                "The synchronization job of {} failed: {}",
                failed.data_set, failed.failure_message
            ),
            "See the sync jobs page for details and to start it again.".to_owned(),
        ],
        None,
    )
}

/// Optional lines (a reason, a price) are left out when they have nothing to say.
fn non_empty(lines: Vec<String>) -> Vec<String> {
    lines.into_iter().filter(|line| !line.is_empty()).collect()
}

fn compose(subject: String, body: Body) -> Email {
    let mut text = format!("{}\n\n", body.greeting);
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif\"><p>{}</p>",
        escape_html(&subject),
        escape_html(&body.greeting)
    );
    for paragraph in &body.paragraphs {
        text.push_str(paragraph);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", escape_html(paragraph)));
    }
    if let Some((label, url)) = &body.link {
        text.push_str(&format!("{label}: {url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>",
            escape_html(url),
            escape_html(label)
        ));
    }
    text.push_str("The AstroBookings team\n");
    html.push_str("<p>The AstroBookings team</p></body></html>");
    Email {
        subject: one_line(&subject),
        text,
        html,
    }
}

/// "Falcon X to the Moon", from whatever launch details the event carries.
fn launch_title(launch: &LaunchDetails) -> String {
    match (launch.rocket_name.as_str(), launch.destination.as_str()) {
        ("", "") => "your launch".to_owned(),
        ("", destination) => format!("the launch to {destination}"),
        (rocket, "") => rocket.to_owned(),
        (rocket, destination) => format!("{rocket} to {destination}"),
    }
}

fn price_line(price_per_seat: &str) -> String {
    if price_per_seat.is_empty() {
        String::new()
    } else {
        format!("Price per seat: {price_per_seat}.")
    }
}

fn reason_line(reason: &str) -> String {
    if reason.trim().is_empty() {
        String::new()
    } else {
        format!("Reason given: {}.", reason.trim().trim_end_matches('.'))
    }
}

fn booking_line(booking_id: &str) -> String {
    format!("Booking reference: {booking_id}.")
}

/// " (ref 1a2b3c4d)": the booking id's first block, enough to tell two bookings apart.
fn reference(booking_id: &str) -> String {
    match booking_id.split('-').next() {
        Some(short) if !short.is_empty() => format!(" (ref {short})"),
        _ => String::new(),
    }
}

fn seats(count: &str) -> String {
    if count == "1" {
        "1 seat".to_owned()
    } else {
        format!("{count} seats")
    }
}

/// RFC 3339 as "2027-03-14 15:00 UTC"; anything else as given.
pub fn display_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |time| {
            time.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        },
    )
}

/// A subject is one header line: control characters (a newline in a launch name) are spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        Links::new("https://astrobookings.example/")
    }

    #[test]
    fn the_vip_notice_links_the_launch_slug_under_the_public_base_url() {
        let email = render(
            &EventData::LaunchScheduled(LaunchScheduled {
                launch: LaunchDetails {
                    rocket_name: "Falcon X".into(),
                    destination: "Moon".into(),
                    spaceport: "Cape Canaveral".into(),
                    scheduled_at: "2027-03-14T15:00:00+00:00".into(),
                    slug: "falcon-x-cape-canaveral-moon-2027-03-14".into(),
                    ..LaunchDetails::default()
                },
                ..LaunchScheduled::default()
            }),
            Some(Role::Traveler),
            "Ada",
            &links(),
        );
        assert_eq!(email.subject, "Early access for VIPs: Falcon X to Moon");
        let url = "https://astrobookings.example/launches/falcon-x-cape-canaveral-moon-2027-03-14";
        assert!(email.text.contains(url), "{}", email.text);
        assert!(
            email.html.contains(&format!("href=\"{url}\"")),
            "{}",
            email.html
        );
        assert!(email.text.contains("2027-03-14 15:00 UTC"));
        assert!(email.text.starts_with("Hello Ada,"));
    }

    #[test]
    fn booking_mails_differ_for_traveler_and_agency_and_carry_the_amounts() {
        let fields = EventData::BookingCancelled(BookingCancelled {
            launch: LaunchDetails {
                rocket_name: "Falcon X".into(),
                destination: "Moon".into(),
                ..LaunchDetails::default()
            },
            booking_id: "0193aa11-2222-7333-8444-555566667777".into(),
            seats: "2".into(),
            total_amount: "USD 5,000.00".into(),
            refund_amount: "USD 4,500.00".into(),
            refund_percent: "90".into(),
            seats_released: true,
        });
        let traveler = render(&fields, Some(Role::Traveler), "Ada", &links());
        let agency = render(&fields, Some(Role::Agency), "Orbital Inc", &links());
        assert_eq!(
            traveler.subject,
            "Booking cancelled: Falcon X to Moon (ref 0193aa11)"
        );
        assert!(traveler.text.contains("Your booking of 2 seats"));
        assert!(agency.text.contains("A booking of 2 seats"));
        for email in [&traveler, &agency] {
            assert!(
                email
                    .text
                    .contains("Refund: USD 4,500.00 (90% of USD 5,000.00).")
            );
            assert!(email.text.contains("The seats are released."));
        }
    }

    #[test]
    fn values_are_escaped_in_html_and_subjects_stay_on_one_line() {
        let email = render(
            &EventData::LaunchAborted(LaunchAborted {
                launch: LaunchDetails {
                    rocket_name: "X\r\nBcc: victim@example.com".into(),
                    ..LaunchDetails::default()
                },
                reason: "<script>alert(1)</script>".into(),
            }),
            Some(Role::Agency),
            "<b>Eve</b>",
            &links(),
        );
        assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
        assert!(email.html.contains("&lt;script&gt;"));
        assert!(!email.html.contains("<script>"));
        assert!(email.html.contains("Hello &lt;b&gt;Eve&lt;/b&gt;,"));
    }

    #[test]
    fn the_confirmation_link_is_built_from_the_token() {
        let email = render(
            &EventData::UserRegistered(UserRegistered {
                confirmation_token: "abc123".into(),
                ..UserRegistered::default()
            }),
            Some(Role::Traveler),
            "Ada",
            &links(),
        );
        assert!(
            email
                .text
                .contains("https://astrobookings.example/confirm-email?token=abc123")
        );
    }
}
