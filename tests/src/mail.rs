//! An SMTP catcher of a test's own: `scripts/smtp_catcher.py` (aiosmtpd) on a free port, with
//! a fresh folder for the messages it accepts and for its fault injection.
//!
//! The catcher that `./dev` starts is shared by every test that runs at the same time, and its
//! faults (`smtp-faults.json`) apply to every message; a test that refuses recipients or
//! messages there would break the mail of the others. With a catcher of its own, a test can
//! inject any fault and count exactly the messages it caused.

use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::Context as _;
use mail_parser::{Message, MessageParser, MimeHeaders as _, parsers::MessageStream};
use tokio::io::AsyncReadExt as _;

/// How long the catcher may take to answer; Python starts slowly on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running SMTP catcher; killed, and its folder removed, when dropped.
pub struct MailCatcher {
    port: u16,
    /// `astro-mail-<uuid>`: the faults file, and the messages in `mail/`.
    dir: PathBuf,
    log_path: PathBuf,
    child: Child,
}

impl MailCatcher {
    /// Starts a catcher on a free loopback port and waits until it greets with `220`.
    ///
    /// The interpreter is `$ASTRO_TEST_PYTHON` (the venv with aiosmtpd that `./dev` sets up).
    /// Its output goes to a log file under `target/e2e-logs/`, which outlives the catcher.
    pub async fn start() -> anyhow::Result<Self> {
        let python = std::env::var("ASTRO_TEST_PYTHON").context(
            "ASTRO_TEST_PYTHON is not set: run the tests through `./dev test`, or \
             `source .data/dev/env` after `./dev up`",
        )?;
        let port = crate::free_addresses(1)
            .first()
            .map(std::net::SocketAddr::port)
            .context("no free port")?;
        let dir = std::env::temp_dir().join(format!("astro-mail-{}", uuid::Uuid::new_v4()));
        let mail_dir = dir.join("mail");
        std::fs::create_dir_all(&mail_dir)
            .with_context(|| format!("create {}", mail_dir.display()))?;
        let log_dir = log_dir();
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("create {}", log_dir.display()))?;
        let log_path = log_dir.join(format!("smtp-{port}-{}.log", uuid::Uuid::new_v4().simple()));
        let log = File::create(&log_path)?;
        let scripts = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("scripts");
        let mut command = Command::new(&python);
        command
            .args(["-m", "aiosmtpd", "-n", "-u", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "smtp_catcher.MailFolder"])
            // A clean environment, as for the mesh's processes: nothing of the shared
            // catcher's settings (e.g. its ASTRO_MAIL_DIR) may leak in.
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PYTHONPATH", &scripts)
            .env("ASTRO_MAIL_DIR", &mail_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // ASTRO_SMTP_DEBUG=1 logs every SMTP command (the script keeps them quiet otherwise).
        if let Ok(debug) = std::env::var("ASTRO_SMTP_DEBUG") {
            command.env("ASTRO_SMTP_DEBUG", debug);
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error).with_context(|| format!("start {python} -m aiosmtpd"));
            }
        };
        // From here on, Drop kills the process and removes the folder whatever happens.
        let mut catcher = Self {
            port,
            dir,
            log_path,
            child,
        };
        catcher.wait_ready().await?;
        Ok(catcher)
    }

    /// The loopback port the catcher listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The catcher's output so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `MeshOptions.extra_env` entries pointing NotifyAPI at this catcher (plain SMTP: the
    /// catcher speaks no TLS). They win over the mesh's default, the shared catcher.
    pub fn notify_env(&self) -> HashMap<String, String> {
        [
            ("ASTRO_NOTIFY_SMTP_HOST", "127.0.0.1".to_owned()),
            ("ASTRO_NOTIFY_SMTP_PORT", self.port.to_string()),
            ("ASTRO_NOTIFY_SMTP_TLS", "none".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// Replaces the injected faults (see `scripts/smtp_catcher.py`), e.g.
    /// `json!({"554_recipients": ["x@example.com"]})`; `json!({})` clears them.
    ///
    /// The catcher re-reads the file at every recipient and message, so the file is written
    /// to a temporary name and renamed: it never sees half of it.
    pub fn set_faults(&self, faults: serde_json::Value) -> anyhow::Result<()> {
        let path = self.dir.join("smtp-faults.json");
        let temporary = self.dir.join(format!(
            ".smtp-faults-{}.json.tmp",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&temporary, serde_json::to_vec(&faults)?)
            .with_context(|| format!("write {}", temporary.display()))?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("rename {} to {}", temporary.display(), path.display()))
    }

    /// Every message received so far, oldest first (by file name), parsed.
    ///
    /// The catcher writes a message's `.eml` before its `.json`, each atomically, so a message
    /// is listed once its `.json` exists and is then complete.
    pub fn messages(&self) -> anyhow::Result<Vec<Mail>> {
        let mail_dir = self.dir.join("mail");
        let entries = match std::fs::read_dir(&mail_dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(error).with_context(|| format!("read {}", mail_dir.display()));
            }
        };
        let mut metas = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let hidden = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_none_or(|name| name.starts_with('.'));
            // `.<stem>.json.tmp` files are writes in progress ("tmp" extension), skipped too.
            if !hidden
                && path
                    .extension()
                    .is_some_and(|extension| extension == "json")
            {
                metas.push(path);
            }
        }
        // `<unix-nanos>-<uuid>`: the nanoseconds have a fixed width, so names sort by time.
        metas.sort();
        metas
            .iter()
            .map(|meta| {
                Mail::read(meta).with_context(|| format!("read message {}", meta.display()))
            })
            .collect()
    }

    /// Polls every 100 ms until `done(&messages)` or `timeout`; returns the last messages seen.
    ///
    /// A timeout is not an error: the caller asserts on what arrived, which also lets a test
    /// wait a while to see that nothing more does.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[Mail]) -> bool,
    ) -> anyhow::Result<Vec<Mail>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.messages()?;
            if done(&messages) || tokio::time::Instant::now() >= deadline {
                return Ok(messages);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the port accepts a connection and answers with a `220` greeting: a port
    /// that merely accepts could be someone else's (the free port is only free a moment), the
    /// greeting shows it is an SMTP server up and answering.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the SMTP catcher exited ({status}) before it was ready; log {}:\n{}",
                    self.log_path.display(),
                    self.log()
                );
            }
            let not_ready = match greeting(self.port).await {
                Ok(line) if line.starts_with("220") => return Ok(()),
                Ok(line) => format!("unexpected greeting {line:?}"),
                Err(error) => format!("{error:#}"),
            };
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "the SMTP catcher on port {} did not greet within {START_TIMEOUT:?} \
                     ({not_ready}); log {}:\n{}",
                    self.port,
                    self.log_path.display(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for MailCatcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The first line the server at `127.0.0.1:port` sends; then hangs up without QUIT, which
/// aiosmtpd takes as a client gone away, nothing more.
async fn greeting(port: u16) -> anyhow::Result<String> {
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let mut received = Vec::new();
        let mut buffer = [0_u8; 512];
        while !received.contains(&b'\n') {
            let count = stream.read(&mut buffer).await?;
            anyhow::ensure!(count > 0, "connection closed before a greeting");
            received.extend_from_slice(&buffer[..count]);
        }
        let line = String::from_utf8_lossy(&received);
        Ok(line.lines().next().unwrap_or_default().to_owned())
    };
    tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .context("no greeting within 2 s")?
}

/// `target/e2e-logs`, where the mesh's processes log too (see `MeshProcess::spawn`).
fn log_dir() -> PathBuf {
    let bin_dir = std::env::var_os("ASTRO_TEST_BIN_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // target/debug/deps/<test binary> -> target/debug
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.to_path_buf())
        });
    bin_dir
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
        .join("e2e-logs")
}

/// One message the catcher accepted: its envelope (from the `.json`) and its content (the
/// `.eml`, decoded).
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients the catcher accepted (`RCPT TO`), refused ones left out.
    pub rcpt_tos: Vec<String>,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The `Message-ID` header without the angle brackets.
    pub message_id: String,
    /// The `To` header as written (display names and all), decoded.
    pub to: String,
    /// Every header of the message (not of its parts) in order, values decoded and unfolded.
    pub headers: Vec<(String, String)>,
    /// The decoded `text/plain` body ("" if there is none).
    pub text: String,
    /// The decoded `text/html` body ("" if there is none).
    pub html: String,
    /// When the catcher accepted it (RFC 3339, UTC).
    pub received_at: String,
}

impl Mail {
    /// The first header called `name` (case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Reads a message from its `<stem>.json` and the `<stem>.eml` next to it.
    fn read(meta_path: &Path) -> anyhow::Result<Self> {
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(meta_path)?)?;
        let text_field = |name: &str| -> anyhow::Result<String> {
            meta.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("no string {name:?} in the .json"))
        };
        let rcpt_tos = meta
            .get("rcpt_tos")
            .and_then(serde_json::Value::as_array)
            .context("no list \"rcpt_tos\" in the .json")?
            .iter()
            .map(|recipient| {
                recipient
                    .as_str()
                    .map(str::to_owned)
                    .context("a recipient that is not a string in the .json")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;

        let eml_path = meta_path.with_extension("eml");
        let raw =
            std::fs::read(&eml_path).with_context(|| format!("read {}", eml_path.display()))?;
        let message = MessageParser::default()
            .parse(&raw)
            .context("mail-parser could not parse the .eml")?;
        // mail-parser parses each known header its own way (addresses, dates, ids...); a test
        // wants them as written, so every value is decoded again as unstructured text (RFC 2047
        // encoded words decoded, folding undone) from its raw bytes.
        let headers = message
            .headers()
            .iter()
            .map(|header| {
                let start = usize::try_from(header.offset_start())?;
                let end = usize::try_from(header.offset_end())?;
                let value_bytes = raw
                    .get(start..end)
                    .context("a header's offsets are outside the message")?;
                let value = MessageStream::new(value_bytes)
                    .parse_unstructured()
                    .into_text()
                    .map(|text| text.trim().to_owned())
                    .unwrap_or_default();
                Ok((header.name().to_owned(), value))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(header, _)| header.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        let text = first_body(&message, "plain");
        let html = first_body(&message, "html");
        Ok(Self {
            mail_from: text_field("mail_from")?,
            rcpt_tos,
            subject: message.subject().map(str::to_owned).unwrap_or_default(),
            message_id: message.message_id().map(str::to_owned).unwrap_or_default(),
            to: header("To"),
            headers,
            text,
            html,
            received_at: text_field("received_at")?,
        })
    }
}

/// The decoded body of the first `text/<subtype>` part that is not an attachment ("" if none).
///
/// mail-parser's own `body_text`/`body_html` would convert the one into the other when a
/// message lacks it, which would hide a missing part.
fn first_body(message: &Message<'_>, subtype: &str) -> String {
    message
        .parts
        .iter()
        .find(|part| {
            let typed = part.is_content_type("text", subtype)
                // Without a Content-Type, a part is text/plain (RFC 2045).
                || (subtype == "plain" && part.content_type().is_none());
            let attached = part
                .content_disposition()
                .is_some_and(|disposition| disposition.is_attachment());
            part.is_text() && typed && !attached
        })
        .and_then(|part| part.text_contents())
        .unwrap_or_default()
        .to_owned()
}
