//! E-mail templates: one subject, plain-text body and HTML body per event type and recipient
//! role. Rendered once, when a notification is queued, so IT sees exactly what was (or will
//! be) sent, and a template change never alters a message already in the queue.
//!
//! Values come from the event's data map (keys documented on `NotificationEventType`, plus the
//! launch details the relay adds: `rocket_name`, `agency_name`, `destination`, `spaceport`,
//! `scheduled_at`, `slug`). Every value is escaped in the HTML body.

use std::collections::BTreeMap;

use astro_proto::astrobookings::{common::v1::Role, notify::v1::NotificationEventType};

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

    /// The public page of a launch, by its SEO slug.
    pub fn launch(&self, slug: &str) -> String {
        format!("{}/launches/{slug}", self.public_base_url)
    }

    fn confirm_email(&self, token: &str) -> String {
        format!("{}/confirm-email?token={token}", self.public_base_url)
    }
}

/// The role an event's recipient has when the sender does not say (EnqueueNotification).
pub fn default_role(event_type: NotificationEventType) -> Role {
    use NotificationEventType as E;
    match event_type {
        E::LaunchScheduled | E::BookingConfirmed | E::BookingCancelled => Role::Traveler,
        E::LaunchDelayed
        | E::LaunchAborted
        | E::LaunchSuccessful
        | E::LaunchFailed
        | E::InvoiceIssued
        | E::InvoiceOverdue => Role::Agency,
        E::SyncJobFailed => Role::It,
        E::UserRegistered | E::Unspecified => Role::Unspecified,
    }
}

/// One paragraph of an e-mail: plain text, HTML-escaped in the HTML body.
struct Body {
    greeting: String,
    paragraphs: Vec<String>,
    /// A call to action: (label, URL).
    link: Option<(String, String)>,
}

/// Renders the e-mail of `event_type` for a recipient called `name` with role `role`.
pub fn render(
    event_type: NotificationEventType,
    role: Role,
    name: &str,
    data: &BTreeMap<String, String>,
    links: &Links,
) -> Email {
    let get = |key: &str| data.get(key).map(String::as_str).unwrap_or_default();
    let launch = launch_title(data);
    let when = display_time(get("scheduled_at"));
    let to_agency = role == Role::Agency;
    let launch_link =
        (!get("slug").is_empty()).then(|| ("See the launch".to_owned(), links.launch(get("slug"))));
    use NotificationEventType as E;
    let (subject, paragraphs, link) = match event_type {
        E::UserRegistered => {
            let url = match (get("confirmation_url"), get("confirmation_token")) {
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
        E::LaunchScheduled => {
            let url = match get("slug_url") {
                "" if get("slug").is_empty() => None,
                "" => Some(links.launch(get("slug"))),
                url => Some(url.to_owned()),
            };
            (
                format!("Early access for VIPs: {launch}"),
                vec![
                    format!(
                        "As one of our VIP travelers you hear first: {launch} is scheduled \
                         from {} on {when}.",
                        get("spaceport")
                    ),
                    price_line(data),
                    "Seats go on sale to everyone soon; book now to be sure of yours.".to_owned(),
                ]
                .into_iter()
                .filter(|line| !line.is_empty())
                .collect(),
                url.map(|url| ("See the launch and book".to_owned(), url)),
            )
        }
        E::LaunchDelayed => (
            format!("Launch delayed: {launch}"),
            vec![
                format!(
                    "{launch} has been delayed from {} to {}.",
                    display_time(get("previous_scheduled_at")),
                    display_time(get("new_scheduled_at"))
                ),
                reason_line(get("reason")),
                if to_agency {
                    "Every traveler booked on it is being told by e-mail.".to_owned()
                } else {
                    "Your booking stays valid for the new date.".to_owned()
                },
            ]
            .into_iter()
            .filter(|line| !line.is_empty())
            .collect(),
            launch_link,
        ),
        E::LaunchAborted => (
            format!("Launch aborted: {launch}"),
            vec![
                format!("{launch}, planned for {when}, has been aborted."),
                reason_line(get("reason")),
                if to_agency {
                    "Every confirmed booking is refunded in full automatically.".to_owned()
                } else {
                    "Your booking is cancelled and refunded in full; you will receive a \
                     separate message with the amount."
                        .to_owned()
                },
            ]
            .into_iter()
            .filter(|line| !line.is_empty())
            .collect(),
            None,
        ),
        E::LaunchSuccessful => (
            format!("Launch successful: {launch}"),
            vec![
                format!("{launch} lifted off successfully on {when}."),
                if to_agency {
                    "Congratulations to your team. The platform invoice follows.".to_owned()
                } else {
                    "Thank you for flying with AstroBookings.".to_owned()
                },
            ],
            launch_link,
        ),
        E::LaunchFailed => (
            format!("Launch failed: {launch}"),
            vec![
                format!("{launch}, on {when}, did not succeed."),
                reason_line(get("reason")),
            ]
            .into_iter()
            .filter(|line| !line.is_empty())
            .collect(),
            launch_link,
        ),
        E::BookingConfirmed => (
            format!(
                "Booking confirmed: {launch}{}",
                reference(get("booking_id"))
            ),
            vec![
                if to_agency {
                    format!(
                        "A traveler booked {} on {launch} ({when}).",
                        seats(get("seats"))
                    )
                } else {
                    format!(
                        "Your booking of {} on {launch} is confirmed. Launch: {when} from {}.",
                        seats(get("seats")),
                        get("spaceport")
                    )
                },
                format!("Amount paid: {}.", get("total_amount")),
                booking_line(get("booking_id")),
            ],
            launch_link,
        ),
        E::BookingCancelled => {
            let refund = get("refund_amount");
            let percent = get("refund_percent");
            let released = get("seats_released") == "true";
            (
                format!(
                    "Booking cancelled: {launch}{}",
                    reference(get("booking_id"))
                ),
                vec![
                    if to_agency {
                        format!(
                            "A booking of {} on {launch} ({when}) was cancelled.",
                            seats(get("seats"))
                        )
                    } else {
                        format!(
                            "Your booking of {} on {launch} ({when}) is cancelled.",
                            seats(get("seats"))
                        )
                    },
                    format!("Refund: {refund} ({percent}% of {}).", get("total_amount")),
                    if released {
                        "The seats are released.".to_owned()
                    } else {
                        "The seats stay sold.".to_owned()
                    },
                    booking_line(get("booking_id")),
                ],
                None,
            )
        }
        E::InvoiceIssued => (
            format!("Invoice {} issued", get("invoice_number")),
            vec![
                format!(
                    "Invoice {} of {} for {launch} has been issued.",
                    get("invoice_number"),
                    get("amount")
                ),
                format!("It is due on {}.", get("due_date")),
            ],
            None,
        ),
        E::InvoiceOverdue => (
            format!("Invoice {} is overdue", get("invoice_number")),
            vec![
                format!(
                    "Invoice {} was due on {}; {} is still to pay.",
                    get("invoice_number"),
                    get("due_date"),
                    get("amount_due")
                ),
                format!("This is reminder {}.", get("reminder_number")),
            ],
            None,
        ),
        E::SyncJobFailed => (
            format!("Synchronization failed: {}", get("data_set")),
            vec![
                format!(
                    "The synchronization job of {} failed: {}",
                    get("data_set"),
                    get("failure_message")
                ),
                "See the sync jobs page for details and to start it again.".to_owned(),
            ],
            None,
        ),
        E::Unspecified => (
            "AstroBookings".to_owned(),
            vec!["You have a new notification.".to_owned()],
            None,
        ),
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

fn compose(subject: String, body: Body) -> Email {
    let mut text = format!("{}\n\n", body.greeting);
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif\"><p>{}</p>",
        escape(&subject),
        escape(&body.greeting)
    );
    for paragraph in &body.paragraphs {
        text.push_str(paragraph);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", escape(paragraph)));
    }
    if let Some((label, url)) = &body.link {
        text.push_str(&format!("{label}: {url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>",
            escape(url),
            escape(label)
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
fn launch_title(data: &BTreeMap<String, String>) -> String {
    let get = |key: &str| data.get(key).map(String::as_str).unwrap_or_default();
    match (get("rocket_name"), get("destination")) {
        ("", "") => "your launch".to_owned(),
        ("", destination) => format!("the launch to {destination}"),
        (rocket, "") => rocket.to_owned(),
        (rocket, destination) => format!("{rocket} to {destination}"),
    }
}

fn price_line(data: &BTreeMap<String, String>) -> String {
    match data.get("price_per_seat") {
        Some(price) if !price.is_empty() => format!("Price per seat: {price}."),
        _ => String::new(),
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

/// Amounts in minor units as "USD 2,500.00" (ISO 4217 exponents: 0 for JPY, KRW, ...).
pub fn display_money(amount_minor: i64, currency: &str) -> String {
    let exponent: u32 = match currency {
        "JPY" | "KRW" | "CLP" | "ISK" | "VND" | "XAF" | "XOF" | "UGX" | "PYG" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    };
    let sign = if amount_minor < 0 { "-" } else { "" };
    let magnitude = amount_minor.unsigned_abs();
    let unit = 10_u64.pow(exponent);
    let whole = group_thousands(magnitude / unit);
    if exponent == 0 {
        format!("{currency} {sign}{whole}")
    } else {
        let fraction = magnitude % unit;
        format!(
            "{currency} {sign}{whole}.{fraction:0width$}",
            width = exponent as usize
        )
    }
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A subject is one header line: control characters (a newline in a launch name) are spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn links() -> Links {
        Links::new("https://astrobookings.example/")
    }

    #[test]
    fn money_uses_the_currency_exponent_and_groups_thousands() {
        assert_eq!(display_money(250_000_000, "USD"), "USD 2,500,000.00");
        assert_eq!(display_money(5, "USD"), "USD 0.05");
        assert_eq!(display_money(1_234_567, "JPY"), "JPY 1,234,567");
        assert_eq!(display_money(1_234, "KWD"), "KWD 1.234");
        assert_eq!(display_money(-99, "EUR"), "EUR -0.99");
    }

    #[test]
    fn the_vip_notice_links_the_launch_slug_under_the_public_base_url() {
        let email = render(
            NotificationEventType::LaunchScheduled,
            Role::Traveler,
            "Ada",
            &data(&[
                ("rocket_name", "Falcon X"),
                ("destination", "Moon"),
                ("spaceport", "Cape Canaveral"),
                ("scheduled_at", "2027-03-14T15:00:00+00:00"),
                ("slug", "falcon-x-cape-canaveral-moon-2027-03-14"),
            ]),
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
        let fields = data(&[
            ("rocket_name", "Falcon X"),
            ("destination", "Moon"),
            ("booking_id", "0193aa11-2222-7333-8444-555566667777"),
            ("seats", "2"),
            ("total_amount", "USD 5,000.00"),
            ("refund_amount", "USD 4,500.00"),
            ("refund_percent", "90"),
            ("seats_released", "true"),
        ]);
        let traveler = render(
            NotificationEventType::BookingCancelled,
            Role::Traveler,
            "Ada",
            &fields,
            &links(),
        );
        let agency = render(
            NotificationEventType::BookingCancelled,
            Role::Agency,
            "Orbital Inc",
            &fields,
            &links(),
        );
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
            NotificationEventType::LaunchAborted,
            Role::Agency,
            "<b>Eve</b>",
            &data(&[
                ("rocket_name", "X\r\nBcc: victim@example.com"),
                ("reason", "<script>alert(1)</script>"),
            ]),
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
            NotificationEventType::UserRegistered,
            Role::Traveler,
            "Ada",
            &data(&[("confirmation_token", "abc123")]),
            &links(),
        );
        assert!(
            email
                .text
                .contains("https://astrobookings.example/confirm-email?token=abc123")
        );
    }
}
