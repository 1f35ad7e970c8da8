//! The test kit's own SMTP catcher: what it stores decodes as NotifyAPI's mail would (a
//! multipart/alternative message with a quoted-printable text part and a base64 HTML part),
//! its injected faults refuse recipients, and one catcher's faults leave another's alone.
//!
//! The mail is sent by a minimal SMTP client of the test's own, so these tests depend on no
//! service of the mesh.

use std::time::Duration;

use astro_e2e::mail::MailCatcher;
use base64::Engine as _;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    net::TcpStream,
};

/// A plain SMTP session, one command and one reply at a time.
struct Smtp {
    stream: BufReader<TcpStream>,
}

impl Smtp {
    /// Connects, reads the greeting and says EHLO.
    async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the catcher");
        let mut smtp = Self {
            stream: BufReader::new(stream),
        };
        let (code, text) = smtp.reply().await;
        assert_eq!(code, 220, "greeting: {text}");
        let (code, text) = smtp.command("EHLO e2e.astrobookings.test").await;
        assert_eq!(code, 250, "EHLO: {text}");
        smtp
    }

    /// One reply, multi-line or not: its code and its lines.
    async fn reply(&mut self) -> (u16, String) {
        let mut lines = String::new();
        loop {
            let mut line = String::new();
            let read =
                tokio::time::timeout(Duration::from_secs(10), self.stream.read_line(&mut line))
                    .await
                    .expect("a reply within 10 s")
                    .expect("read a reply");
            assert!(read > 0, "connection closed; so far: {lines}");
            lines.push_str(&line);
            // `250-...` continues, `250 ...` is the last line.
            if line.as_bytes().get(3) != Some(&b'-') {
                let code = line
                    .get(..3)
                    .and_then(|code| code.parse().ok())
                    .unwrap_or_else(|| panic!("not an SMTP reply: {line:?}"));
                return (code, lines);
            }
        }
    }

    async fn command(&mut self, line: &str) -> (u16, String) {
        self.write(&format!("{line}\r\n")).await;
        self.reply().await
    }

    async fn write(&mut self, data: &str) {
        self.stream
            .get_mut()
            .write_all(data.as_bytes())
            .await
            .expect("write to the catcher");
    }

    /// A whole transaction that must succeed; returns the reply to the end of DATA.
    async fn send(&mut self, from: &str, recipients: &[&str], message: &str) -> (u16, String) {
        let (code, text) = self.command(&format!("MAIL FROM:<{from}>")).await;
        assert_eq!(code, 250, "MAIL FROM: {text}");
        for recipient in recipients {
            let (code, text) = self.command(&format!("RCPT TO:<{recipient}>")).await;
            assert_eq!(code, 250, "RCPT TO {recipient}: {text}");
        }
        let (code, text) = self.command("DATA").await;
        assert_eq!(code, 354, "DATA: {text}");
        // Dot-stuffing: a line starting with "." gets another one.
        let stuffed = message.replace("\r\n.", "\r\n..");
        self.write(&format!("{stuffed}\r\n.\r\n")).await;
        self.reply().await
    }

    async fn quit(mut self) {
        let (code, text) = self.command("QUIT").await;
        assert_eq!(code, 221, "QUIT: {text}");
    }
}

/// A message as `lettre` writes NotifyAPI's: multipart/alternative, the text part
/// quoted-printable (`text_qp` is already encoded), the HTML part base64.
fn multipart_message(
    subject: &str,
    to: &str,
    message_id: &str,
    text_qp: &str,
    html: &str,
) -> String {
    let boundary = format!("boundary-{}", uuid::Uuid::new_v4().simple());
    let html_base64 = base64::engine::general_purpose::STANDARD.encode(html);
    let html_lines: Vec<&str> = html_base64
        .as_bytes()
        .chunks(76)
        .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
        .collect();
    [
        "From: AstroBookings <no-reply@astrobookings.test>".to_owned(),
        format!("To: {to}"),
        format!("Subject: {subject}"),
        format!("Message-ID: <{message_id}>"),
        "Date: Sat, 21 Nov 2026 19:00:00 +0000".to_owned(),
        // Folded: the kit's headers come back unfolded (the fold turns into one space).
        "X-Astro-Notification: launch-reminder;\r\n\tbooking=42".to_owned(),
        "MIME-Version: 1.0".to_owned(),
        format!("Content-Type: multipart/alternative; boundary=\"{boundary}\""),
        String::new(),
        format!("--{boundary}"),
        "Content-Type: text/plain; charset=utf-8".to_owned(),
        "Content-Transfer-Encoding: quoted-printable".to_owned(),
        String::new(),
        text_qp.to_owned(),
        format!("--{boundary}"),
        "Content-Type: text/html; charset=utf-8".to_owned(),
        "Content-Transfer-Encoding: base64".to_owned(),
        String::new(),
        html_lines.join("\r\n"),
        format!("--{boundary}--"),
    ]
    .join("\r\n")
}

const FROM: &str = "no-reply@astrobookings.test";

#[tokio::test]
async fn stores_decodes_and_refuses_what_the_faults_say() {
    let catcher = MailCatcher::start().await.expect("catcher starts");
    let env = catcher.notify_env();
    assert_eq!(
        env.get("ASTRO_NOTIFY_SMTP_PORT"),
        Some(&catcher.port().to_string())
    );
    assert_eq!(
        env.get("ASTRO_NOTIFY_SMTP_TLS").map(String::as_str),
        Some("none")
    );
    assert!(catcher.messages().expect("list").is_empty());

    let mut smtp = Smtp::connect(catcher.port()).await;
    let first = multipart_message(
        "=?utf-8?q?Vol_confirm=C3=A9_=E2=80=94_Lune?=",
        "=?utf-8?q?Zo=C3=AB_Lefebvre?= <zoe@example.com>",
        "first@e2e.astrobookings.test",
        // A soft line break ("=" at the end) joins two lines; "=C3=A0" is "à".
        "Bonjour Zo=C3=AB, votre vol pour la Lune part =\r\n=C3=A0 10 h.\r\n.Au revoir.",
        "<p>Bienvenue <b>\u{e0} bord</b>, Zo\u{eb}\u{a0}!</p>",
    );
    let (code, text) = smtp.send(FROM, &["zoe@example.com"], &first).await;
    assert_eq!(code, 250, "first message: {text}");
    let second_subject = format!(
        "=?utf-8?b?{}?=",
        base64::engine::general_purpose::STANDARD.encode("Rappel : décollage dans 24 h 🚀")
    );
    let second = multipart_message(
        &second_subject,
        "crew@example.com, Pilot <pilot@example.com>",
        "second@e2e.astrobookings.test",
        "Plain ASCII, =3D signs encoded.",
        "<p>Second</p>",
    );
    let (code, text) = smtp
        .send(FROM, &["crew@example.com", "pilot@example.com"], &second)
        .await;
    assert_eq!(code, 250, "second message: {text}");
    smtp.quit().await;

    let messages = catcher
        .wait_until(Duration::from_secs(10), |messages| messages.len() == 2)
        .await
        .expect("list");
    assert_eq!(messages.len(), 2, "{messages:#?}\n{}", catcher.log());
    let (first, second) = (&messages[0], &messages[1]);
    assert_eq!(first.mail_from, FROM);
    assert_eq!(first.rcpt_tos, ["zoe@example.com"]);
    assert_eq!(first.subject, "Vol confirmé — Lune");
    assert_eq!(first.message_id, "first@e2e.astrobookings.test");
    assert_eq!(first.to, "Zoë Lefebvre <zoe@example.com>");
    assert_eq!(
        first.text,
        "Bonjour Zoë, votre vol pour la Lune part à 10 h.\r\n.Au revoir."
    );
    assert_eq!(first.html, "<p>Bienvenue <b>à bord</b>, Zoë\u{a0}!</p>");
    assert_eq!(
        first.header("x-astro-notification"),
        Some("launch-reminder; booking=42")
    );
    assert_eq!(first.header("SUBJECT"), Some("Vol confirmé — Lune"));
    assert_eq!(
        first.header("Message-Id"),
        Some("<first@e2e.astrobookings.test>")
    );
    assert_eq!(first.header("X-Missing"), None);
    assert!(first.received_at.ends_with('Z'), "{}", first.received_at);

    assert_eq!(second.rcpt_tos, ["crew@example.com", "pilot@example.com"]);
    assert_eq!(second.subject, "Rappel : décollage dans 24 h 🚀");
    assert_eq!(second.message_id, "second@e2e.astrobookings.test");
    assert_eq!(second.to, "crew@example.com, Pilot <pilot@example.com>");
    assert_eq!(second.text, "Plain ASCII, = signs encoded.");
    assert_eq!(second.html, "<p>Second</p>");

    catcher
        .set_faults(json!({
            "554_recipients": ["blocked@example.com"],
            "451_recipients": ["busy@example.com"],
        }))
        .expect("set faults");
    let mut smtp = Smtp::connect(catcher.port()).await;
    let (code, text) = smtp.command(&format!("MAIL FROM:<{FROM}>")).await;
    assert_eq!(code, 250, "MAIL FROM: {text}");
    let (code, text) = smtp.command("RCPT TO:<blocked@example.com>").await;
    assert_eq!(code, 554, "blocked recipient: {text}");
    // Recipients compare case-insensitively.
    let (code, text) = smtp.command("RCPT TO:<Busy@Example.COM>").await;
    assert_eq!(code, 451, "busy recipient: {text}");
    assert!(text.contains("mailbox busy, try later"), "{text}");
    // No recipient was accepted, so there is nothing to send.
    let (code, text) = smtp.command("DATA").await;
    assert!(code >= 500, "DATA without recipients: {code} {text}");
    smtp.quit().await;
    let after_faults = catcher
        .wait_until(Duration::from_millis(500), |messages| messages.len() > 2)
        .await
        .expect("list");
    assert_eq!(after_faults.len(), 2, "nothing stored: {after_faults:#?}");

    catcher.set_faults(json!({})).expect("clear faults");
    let mut smtp = Smtp::connect(catcher.port()).await;
    let third = multipart_message(
        "Third",
        "busy@example.com",
        "third@e2e.astrobookings.test",
        "Delivered again.",
        "<p>Delivered again.</p>",
    );
    let (code, text) = smtp
        .send(FROM, &["busy@example.com", "blocked@example.com"], &third)
        .await;
    assert_eq!(code, 250, "after clearing the faults: {text}");
    smtp.quit().await;
    let messages = catcher.messages().expect("list");
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert_eq!(messages[2].message_id, "third@e2e.astrobookings.test");
    assert_eq!(
        messages[2].rcpt_tos,
        ["busy@example.com", "blocked@example.com"]
    );
    assert_eq!(messages[2].text, "Delivered again.");
}

#[tokio::test]
async fn faults_stay_with_their_catcher_and_drop_stops_it() {
    let (faulty, clean) =
        tokio::try_join!(MailCatcher::start(), MailCatcher::start()).expect("two catchers start");
    assert_ne!(faulty.port(), clean.port());
    faulty
        .set_faults(json!({"554_recipients": ["blocked@example.com"]}))
        .expect("set faults");

    let mut smtp = Smtp::connect(faulty.port()).await;
    let (_, _) = smtp.command(&format!("MAIL FROM:<{FROM}>")).await;
    let (code, text) = smtp.command("RCPT TO:<blocked@example.com>").await;
    assert_eq!(code, 554, "the faulty catcher refuses: {text}");
    smtp.quit().await;

    let mut smtp = Smtp::connect(clean.port()).await;
    let message = multipart_message(
        "Unaffected",
        "blocked@example.com",
        "unaffected@e2e.astrobookings.test",
        "Hello.",
        "<p>Hello.</p>",
    );
    let (code, text) = smtp.send(FROM, &["blocked@example.com"], &message).await;
    assert_eq!(code, 250, "the other catcher accepts: {text}");
    smtp.quit().await;
    assert_eq!(clean.messages().expect("list").len(), 1);
    assert!(faulty.messages().expect("list").is_empty());

    let port = clean.port();
    drop(clean);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "a dropped catcher no longer listens"
    );
}
