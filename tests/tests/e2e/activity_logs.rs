//! Activity logs through the real mesh: one request across SystemAPI and NotifyAPI leaves
//! entries from both under one trace id, which IT sees and a traveler cannot; filters, paging,
//! CSV and NDJSON exports, idempotent ingestion, retention, and refused input.

use astro_shared::grpc_client::TracedChannel;
use std::{collections::HashMap, time::Duration};

use astro_e2e::{
    Mesh, Service, TestServers,
    accounts::{
        PASSWORD, access_token, login, register_and_login, system_client, unique_email, with_token,
    },
    eventually, fixtures, mesh, mesh_with,
};
use astro_proto::astrobookings::{
    common::v1::{Role, SortOrder},
    system::v1::{
        ExportLogsRequest, ExportLogsResponse, IngestLogsRequest, ListLogsRequest, LogEntry,
        LogLevel, RegisterRequest, system_internal_service_client::SystemInternalServiceClient,
        system_service_client::SystemServiceClient,
    },
};
use futures::TryStreamExt as _;
use mongodb::bson::{Document, doc};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

/// IngestLogs as AgencyAPI calls it.
fn internal_client(mesh: &Mesh) -> SystemInternalServiceClient<TracedChannel> {
    SystemInternalServiceClient::new(mesh.internal_channel(Service::System, Service::Agency))
}

async fn list(
    system: &mut SystemServiceClient<Channel>,
    token: &str,
    request: ListLogsRequest,
) -> Result<Vec<LogEntry>, tonic::Status> {
    system
        .list_logs(with_token(request, token))
        .await
        .map(|response| response.into_inner().entries)
}

/// Lists until `done` holds for the entries (they arrive in batches), or 15 s pass; returns
/// the last listing.
async fn list_until(
    system: &mut SystemServiceClient<Channel>,
    token: &str,
    request: ListLogsRequest,
    done: impl Fn(&[LogEntry]) -> bool,
) -> Vec<LogEntry> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let entries = list(system, token, request.clone())
            .await
            .unwrap_or_default();
        if done(&entries) || tokio::time::Instant::now() >= deadline {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every page of a listing, following the tokens.
async fn every_page(
    system: &mut SystemServiceClient<Channel>,
    token: &str,
    request: ListLogsRequest,
) -> (Vec<LogEntry>, usize) {
    let mut entries = Vec::new();
    let mut pages = 0;
    let mut page_token = String::new();
    loop {
        let page = system
            .list_logs(with_token(
                ListLogsRequest {
                    page_token: page_token.clone(),
                    ..request.clone()
                },
                token,
            ))
            .await
            .expect("a page")
            .into_inner();
        pages += 1;
        assert!(
            page.entries.len() <= usize::try_from(request.page_size).expect("size"),
            "a page holds at most page_size entries"
        );
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            return (entries, pages);
        }
        page_token = page.next_page_token;
        assert!(pages < 1_000, "paging never ends");
    }
}

fn ids(entries: &[LogEntry]) -> Vec<String> {
    entries.iter().map(|entry| entry.id.clone()).collect()
}

fn bad_field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .expect("field errors")
        .field_violations[0]
        .field
        .clone()
}

fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).expect("nanos"),
    }
}

fn millis(time: &prost_types::Timestamp) -> i64 {
    time.seconds * 1000 + i64::from(time.nanos / 1_000_000)
}

fn now_millis() -> i64 {
    i64::try_from(astro_shared::auth::unix_now()).expect("time fits") * 1000
}

/// A set of entries for filter tests: two services, four levels, five users, two event
/// types, pairs sharing one millisecond (so ties are broken by id), words and a pattern-like
/// text, an hour ago (inside retention, and before anything the mesh itself logs).
struct Dataset {
    entries: Vec<LogEntry>,
    alpha: String,
    beta: String,
    users: Vec<String>,
    event_prefix: String,
    start_millis: i64,
}

impl Dataset {
    fn new() -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let alpha = format!("alpha-{}", &unique[..8]);
        let beta = format!("beta-{}", &unique[..8]);
        let event_prefix = format!("probe{}", &unique[..8]);
        let users: Vec<String> = (0..5).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        let start_millis = (now_millis() - 3_600_000) / 1000 * 1000;
        let levels = [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ];
        let entries = (0..40_usize)
            .map(|number| {
                let message = match number {
                    7 => "cost (x) [y] of entry 7".to_owned(),
                    9 => "say \"hi\", world: entry 9".to_owned(),
                    11 => "=HYPERLINK(\"http://evil\") entry 11".to_owned(),
                    _ if number % 4 == 0 => format!("Rocket-Fuel loaded, entry {number}"),
                    _ => format!("cargo checked, entry {number}"),
                };
                LogEntry {
                    id: uuid::Uuid::now_v7().to_string(),
                    time: Some(timestamp(
                        start_millis + i64::try_from(number / 2).expect("small") * 1000,
                    )),
                    service: if number % 2 == 0 { &alpha } else { &beta }.clone(),
                    level: levels[number % 4].into(),
                    event_type: format!(
                        "{event_prefix}.{}",
                        if number % 3 == 0 {
                            "created"
                        } else {
                            "deleted"
                        }
                    ),
                    user_id: users[number % 5].clone(),
                    trace_id: uuid::Uuid::new_v4().simple().to_string(),
                    message,
                    attributes: HashMap::from([("number".to_owned(), number.to_string())]),
                }
            })
            .collect();
        Self {
            entries,
            alpha,
            beta,
            users,
            event_prefix,
            start_millis,
        }
    }

    async fn ingest(&self, mesh: &Mesh) {
        internal_client(mesh)
            .ingest_logs(IngestLogsRequest {
                entries: self.entries.clone(),
            })
            .await
            .expect("IngestLogs stores the dataset");
    }

    /// The ids matching `keep`, newest first (time, then id, both descending).
    fn expected(&self, keep: impl Fn(&LogEntry) -> bool) -> Vec<String> {
        let mut matching: Vec<&LogEntry> =
            self.entries.iter().filter(|entry| keep(entry)).collect();
        matching.sort_by(|a, b| {
            (millis(b.time.as_ref().expect("time")), &b.id)
                .cmp(&(millis(a.time.as_ref().expect("time")), &a.id))
        });
        matching.iter().map(|entry| entry.id.clone()).collect()
    }

    /// The dataset's whole time range.
    fn range(&self) -> ListLogsRequest {
        ListLogsRequest {
            start_time: Some(timestamp(self.start_millis)),
            end_time: Some(timestamp(self.start_millis + 60_000)),
            page_size: 500,
            ..ListLogsRequest::default()
        }
    }
}

#[tokio::test]
async fn one_request_across_two_services_logs_one_trace_that_it_sees_and_a_traveler_cannot() {
    let mesh = mesh().await;
    let mut gateway = system_client(mesh.address(Service::Gateway));
    let it = fixtures::employee(&mesh, Role::It).await.token;

    // The traveler registers through the gateway with a trace of its own: SystemAPI stores the
    // account and its outbox event, the relay hands the event to NotifyAPI in the same trace.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let email = unique_email("traveler");
    let mut register = tonic::Request::new(RegisterRequest {
        email: email.clone(),
        password: PASSWORD.to_owned(),
        name: "Trace Traveler".to_owned(),
        role: Role::Traveler.into(),
    });
    register.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{span_id}-01")
            .parse()
            .expect("ASCII"),
    );
    let traveler = gateway
        .register(register)
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");

    let by_trace = ListLogsRequest {
        trace_id: trace_id.clone(),
        ..ListLogsRequest::default()
    };
    let from = |entries: &[LogEntry], service: &str, event_type: &str| {
        entries
            .iter()
            .any(|entry| entry.service == service && entry.event_type == event_type)
    };
    let seen = list_until(&mut gateway, &it, by_trace.clone(), |entries| {
        from(entries, "system-api", "auth.registered")
            && from(entries, "notify-api", "notification.enqueued")
    })
    .await;
    assert!(
        from(&seen, "system-api", "auth.registered")
            && from(&seen, "notify-api", "notification.enqueued"),
        "IT sees both services' entries of the trace: {seen:#?}"
    );
    for entry in &seen {
        assert_eq!(entry.trace_id, trace_id);
        assert_eq!(entry.user_id, traveler.id, "both act for the traveler");
        assert!(
            !entry.message.contains(&email),
            "no e-mail in clear: {entry:?}"
        );
    }

    let session = login(&mut gateway, &email, PASSWORD).await.expect("login");
    let denied = gateway
        .list_logs(with_token(by_trace.clone(), &access_token(&session)))
        .await
        .expect_err("a traveler may not read logs");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = gateway
        .export_logs(with_token(
            ExportLogsRequest::default(),
            &access_token(&session),
        ))
        .await
        .expect_err("nor export them");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let anonymous = gateway
        .list_logs(by_trace)
        .await
        .expect_err("a visitor may not either");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn account_actions_are_logged_without_e_mails_and_failures_as_warnings() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::System));
    let it = fixtures::employee(&mesh, Role::It).await.token;
    let (traveler, _) = register_and_login(&mut system, "audited", Role::Traveler).await;
    let wrong = login(&mut system, &traveler.email, "not the password at all")
        .await
        .expect_err("wrong password");
    assert_eq!(wrong.code(), Code::Unauthenticated);

    let request = ListLogsRequest {
        service: "system-api".to_owned(),
        event_type: "auth.*".to_owned(),
        user_id: traveler.id.clone(),
        ..ListLogsRequest::default()
    };
    let entries = list_until(&mut system, &it, request, |entries| entries.len() >= 3).await;
    let types: Vec<&str> = entries
        .iter()
        .map(|entry| entry.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "auth.login_failed",
            "auth.login_succeeded",
            "auth.registered"
        ],
        "newest first"
    );
    let failed = &entries[0];
    assert_eq!(failed.level(), LogLevel::Warn);
    assert_eq!(failed.attributes["reason"], "wrong_password");
    assert!(failed.attributes.contains_key("client"));
    for entry in &entries {
        let text = format!("{entry:?}");
        assert!(!text.contains(&traveler.email), "no e-mail: {text}");
    }
    let employee_created = list(
        &mut system,
        &it,
        ListLogsRequest {
            event_type: "admin.employee_created".to_owned(),
            ..ListLogsRequest::default()
        },
    )
    .await
    .expect("list");
    assert_eq!(employee_created.len(), 1, "the IT employee of this test");
}

#[tokio::test]
async fn filters_select_exactly_their_entries_and_pages_cover_each_once_newest_first() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::System));
    let it = fixtures::employee(&mesh, Role::It).await.token;
    let data = Dataset::new();
    data.ingest(&mesh).await;

    let cases: Vec<(&str, ListLogsRequest, Vec<String>)> = vec![
        (
            "service",
            ListLogsRequest {
                service: data.alpha.clone(),
                page_size: 500,
                ..ListLogsRequest::default()
            },
            data.expected(|entry| entry.service == data.alpha),
        ),
        (
            "minimum level",
            ListLogsRequest {
                min_level: LogLevel::Warn.into(),
                ..data.range()
            },
            data.expected(|entry| entry.level >= i32::from(LogLevel::Warn)),
        ),
        (
            "user",
            ListLogsRequest {
                user_id: data.users[2].clone(),
                page_size: 500,
                ..ListLogsRequest::default()
            },
            data.expected(|entry| entry.user_id == data.users[2]),
        ),
        (
            "exact event type",
            ListLogsRequest {
                event_type: format!("{}.created", data.event_prefix),
                page_size: 500,
                ..ListLogsRequest::default()
            },
            data.expected(|entry| entry.event_type.ends_with(".created")),
        ),
        (
            "event type prefix",
            ListLogsRequest {
                event_type: format!("{}.*", data.event_prefix),
                page_size: 500,
                ..ListLogsRequest::default()
            },
            data.expected(|_| true),
        ),
        (
            "time range, start inclusive and end exclusive",
            ListLogsRequest {
                start_time: Some(timestamp(data.start_millis + 5_000)),
                end_time: Some(timestamp(data.start_millis + 10_000)),
                page_size: 500,
                ..ListLogsRequest::default()
            },
            data.expected(|entry| {
                let offset = millis(entry.time.as_ref().expect("time")) - data.start_millis;
                (5_000..10_000).contains(&offset)
            }),
        ),
        (
            "every word, case-insensitively",
            ListLogsRequest {
                query: "ROCKET-fuel   loaded".to_owned(),
                ..data.range()
            },
            data.expected(|entry| entry.message.starts_with("Rocket-Fuel loaded")),
        ),
        (
            "text is literal, never a pattern",
            ListLogsRequest {
                query: "(X) [y]".to_owned(),
                ..data.range()
            },
            data.expected(|entry| entry.message.contains("(x) [y]")),
        ),
        (
            "trace id",
            ListLogsRequest {
                trace_id: data.entries[3].trace_id.to_uppercase(),
                page_size: 500,
                ..ListLogsRequest::default()
            },
            vec![data.entries[3].id.clone()],
        ),
        (
            "filters combine",
            ListLogsRequest {
                service: data.beta.clone(),
                min_level: LogLevel::Error.into(),
                event_type: format!("{}.deleted", data.event_prefix),
                ..data.range()
            },
            data.expected(|entry| {
                entry.service == data.beta
                    && entry.level == i32::from(LogLevel::Error)
                    && entry.event_type.ends_with(".deleted")
            }),
        ),
    ];
    for (name, request, expected) in cases {
        assert!(!expected.is_empty(), "{name}: the case selects something");
        let found = list(&mut system, &it, request).await.expect(name);
        assert_eq!(ids(&found), expected, "{name}");
    }

    // Pages of 7 over 40 entries (pairs sharing a millisecond): each exactly once, in order.
    let (paged, pages) = every_page(
        &mut system,
        &it,
        ListLogsRequest {
            page_size: 7,
            ..data.range()
        },
    )
    .await;
    assert_eq!(pages, 6);
    assert_eq!(ids(&paged), data.expected(|_| true));
    let (oldest_first, _) = every_page(
        &mut system,
        &it,
        ListLogsRequest {
            page_size: 7,
            order: SortOrder::Ascending.into(),
            ..data.range()
        },
    )
    .await;
    let mut reversed = data.expected(|_| true);
    reversed.reverse();
    assert_eq!(ids(&oldest_first), reversed);

    // What was ingested comes back as it was sent.
    let stored = paged
        .iter()
        .find(|entry| entry.id == data.entries[9].id)
        .expect("entry 9");
    assert_eq!(stored, &data.entries[9]);
}

/// Splits RFC 4180 text into records of fields (quoted fields may hold commas, quotes, CRLF).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match (quoted, character) {
            (true, '"') if characters.peek() == Some(&'"') => {
                field.push('"');
                characters.next();
            }
            (true, '"') => quoted = false,
            (true, other) => field.push(other),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, other) => field.push(other),
        }
    }
    records
}

async fn export(
    system: &mut SystemServiceClient<Channel>,
    token: &str,
    request: ExportLogsRequest,
) -> Vec<ExportLogsResponse> {
    system
        .export_logs(with_token(request, token))
        .await
        .expect("export starts")
        .into_inner()
        .try_collect()
        .await
        .expect("export streams")
}

fn rfc3339(time: &prost_types::Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(millis(time))
        .expect("valid")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn exports_stream_csv_and_ndjson_rows_that_match_the_listing() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::System));
    let it = fixtures::employee(&mesh, Role::It).await.token;
    let data = Dataset::new();
    data.ingest(&mesh).await;
    let listed = list(&mut system, &it, data.range()).await.expect("list");
    assert_eq!(listed.len(), 40);
    let filter = ExportLogsRequest {
        start_time: data.range().start_time,
        end_time: data.range().end_time,
        ..ExportLogsRequest::default()
    };

    let chunks = export(&mut system, &it, filter.clone()).await;
    assert_eq!(chunks[0].content_type, "text/csv; charset=utf-8");
    assert!(
        chunks[0].filename.starts_with("logs-") && chunks[0].filename.ends_with(".csv"),
        "{}",
        chunks[0].filename
    );
    assert!(!chunks.last().expect("a chunk").truncated);
    let text: String = chunks
        .iter()
        .map(|chunk| String::from_utf8(chunk.data.clone()).expect("UTF-8"))
        .collect();
    let records = parse_csv(&text);
    assert_eq!(
        records[0],
        [
            "time",
            "service",
            "level",
            "event_type",
            "user_id",
            "trace_id",
            "message"
        ]
    );
    let rows = &records[1..];
    assert_eq!(rows.len(), listed.len());
    for (row, entry) in rows.iter().zip(&listed) {
        let message = if entry.message.starts_with('=') {
            // Spreadsheet formulas are defused with a leading quote.
            format!("'{}", entry.message)
        } else {
            entry.message.clone()
        };
        let level = entry.level().as_str_name().trim_start_matches("LOG_LEVEL_");
        assert_eq!(
            row,
            &[
                rfc3339(entry.time.as_ref().expect("time")),
                entry.service.clone(),
                level.to_owned(),
                entry.event_type.clone(),
                entry.user_id.clone(),
                entry.trace_id.clone(),
                message,
            ]
        );
    }
    let counted: i32 = chunks.iter().map(|chunk| chunk.entry_count).sum();
    assert_eq!(counted, 40);

    let chunks = export(
        &mut system,
        &it,
        ExportLogsRequest {
            format: "NDJSON".to_owned(),
            ..filter
        },
    )
    .await;
    assert_eq!(chunks[0].content_type, "application/x-ndjson");
    assert!(chunks[0].filename.ends_with(".ndjson"));
    let text: String = chunks
        .iter()
        .map(|chunk| String::from_utf8(chunk.data.clone()).expect("UTF-8"))
        .collect();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), listed.len());
    for (line, entry) in lines.iter().zip(&listed) {
        assert_eq!(line["id"], entry.id.as_str());
        assert_eq!(line["service"], entry.service.as_str());
        assert_eq!(line["level"], entry.level().as_str_name());
        assert_eq!(line["eventType"], entry.event_type.as_str());
        assert_eq!(line["userId"], entry.user_id.as_str());
        assert_eq!(line["traceId"], entry.trace_id.as_str());
        assert_eq!(line["message"], entry.message.as_str());
        assert_eq!(
            line["attributes"]["number"],
            entry.attributes["number"].as_str()
        );
        let time = chrono::DateTime::parse_from_rfc3339(line["time"].as_str().expect("time"))
            .expect("RFC 3339");
        assert_eq!(
            time.timestamp_millis(),
            millis(entry.time.as_ref().expect("time"))
        );
    }

    // Each export is itself logged.
    let exports = list_until(
        &mut system,
        &it,
        ListLogsRequest {
            event_type: "logs.exported".to_owned(),
            ..ListLogsRequest::default()
        },
        |entries| entries.len() >= 2,
    )
    .await;
    let formats: Vec<&str> = exports
        .iter()
        .map(|entry| entry.attributes["format"].as_str())
        .collect();
    assert_eq!(formats, ["ndjson", "csv"]);
}

#[tokio::test]
async fn a_large_export_arrives_in_chunks_of_at_most_64_kib_that_never_split_a_line() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::System));
    let it = fixtures::employee(&mesh, Role::It).await.token;
    let service = format!("bulk-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let padding = "x".repeat(400);
    let entries: Vec<LogEntry> = (0..1_000)
        .map(|number| LogEntry {
            id: uuid::Uuid::now_v7().to_string(),
            time: Some(timestamp(now_millis() - 60_000 + number)),
            service: service.clone(),
            level: LogLevel::Info.into(),
            event_type: "bulk.entry".to_owned(),
            message: format!("bulk entry {number}"),
            attributes: HashMap::from([("padding".to_owned(), padding.clone())]),
            ..LogEntry::default()
        })
        .collect();
    internal_client(&mesh)
        .ingest_logs(IngestLogsRequest { entries })
        .await
        .expect("ingest");

    let chunks = export(
        &mut system,
        &it,
        ExportLogsRequest {
            service: service.clone(),
            format: "ndjson".to_owned(),
            ..ExportLogsRequest::default()
        },
    )
    .await;
    assert!(chunks.len() > 5, "{} chunks", chunks.len());
    for (index, chunk) in chunks.iter().enumerate() {
        assert!(
            chunk.data.len() <= 64 * 1024,
            "chunk {index} is {} bytes",
            chunk.data.len()
        );
        assert!(chunk.data.ends_with(b"\n"), "chunk {index} ends a line");
        let lines = chunk.data.iter().filter(|byte| **byte == b'\n').count();
        assert_eq!(lines, usize::try_from(chunk.entry_count).expect("count"));
        assert_eq!(
            index == 0,
            !chunk.content_type.is_empty(),
            "type on the first chunk only"
        );
    }
    let total: i32 = chunks.iter().map(|chunk| chunk.entry_count).sum();
    assert_eq!(total, 1_000);
}

#[tokio::test]
async fn ingesting_the_same_entries_again_stores_them_once() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::System));
    let it = fixtures::employee(&mesh, Role::It).await.token;
    let data = Dataset::new();
    let mut internal = internal_client(&mesh);
    let first = data.entries[..3].to_vec();
    let accepted = internal
        .ingest_logs(IngestLogsRequest {
            entries: first.clone(),
        })
        .await
        .expect("first delivery")
        .into_inner()
        .accepted;
    assert_eq!(accepted, 3);
    // A producer retrying after a lost answer sends them again, with one more.
    let mut retry = first;
    retry.push(data.entries[3].clone());
    let accepted = internal
        .ingest_logs(IngestLogsRequest { entries: retry })
        .await
        .expect("retry")
        .into_inner()
        .accepted;
    assert_eq!(accepted, 4, "already stored entries count as accepted");

    let stored = list(&mut system, &it, data.range()).await.expect("list");
    assert_eq!(
        ids(&stored),
        data.expected(|entry| { data.entries[..4].iter().any(|sent| sent.id == entry.id) })
    );
}

#[tokio::test]
async fn entries_older_than_the_retention_expire_through_the_ttl_index() {
    let mesh = mesh_with(HashMap::from([(
        "ASTRO_SYSTEM_LOG_RETENTION_DAYS".to_owned(),
        "30".to_owned(),
    )]))
    .await;
    let database = mongodb::Client::with_uri_str(&TestServers::from_env().mongo_url)
        .await
        .expect("SystemDB client")
        .database(&mesh.system_db_name);
    let logs = database.collection::<Document>("activity_logs");
    let ttl = eventually(Duration::from_secs(10), || {
        let logs = logs.clone();
        async move {
            let Ok(indexes) = logs.list_indexes().await else {
                return false;
            };
            let indexes: Vec<_> = indexes.try_collect().await.unwrap_or_default();
            indexes.iter().any(|index| {
                index
                    .options
                    .as_ref()
                    .and_then(|options| options.expire_after)
                    == Some(Duration::from_secs(30 * 24 * 3600))
            })
        }
    })
    .await;
    assert!(ttl, "a TTL index of 30 days on time");

    let service = format!(
        "retention-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let entry = |age_days: i64| LogEntry {
        id: uuid::Uuid::now_v7().to_string(),
        time: Some(timestamp(now_millis() - age_days * 24 * 3_600_000)),
        service: service.clone(),
        level: LogLevel::Info.into(),
        event_type: "retention.probe".to_owned(),
        message: format!("{age_days} days old"),
        ..LogEntry::default()
    };
    let (old, recent) = (entry(31), entry(29));
    internal_client(&mesh)
        .ingest_logs(IngestLogsRequest {
            entries: vec![old.clone(), recent.clone()],
        })
        .await
        .expect("ingest");
    // SecantusDB sweeps TTL indexes every 60 s, like mongod; its admin command sweeps now.
    database
        .client()
        .database("admin")
        .run_command(doc! { "secantusAdmin.pruneTtl": 1 })
        .await
        .expect("TTL sweep");
    let left: Vec<String> = logs
        .find(doc! { "service": &service })
        .await
        .expect("find")
        .try_collect::<Vec<_>>()
        .await
        .expect("read")
        .iter()
        .map(|document| document.get_str("_id").expect("id").to_owned())
        .collect();
    assert_eq!(left, [recent.id], "the 31-day-old entry expired");
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field_and_stores_nothing() {
    let mesh = mesh().await;
    let mut system = system_client(mesh.address(Service::System));
    let it = fixtures::employee(&mesh, Role::It).await.token;
    let now = now_millis();
    let cases = [
        (
            ListLogsRequest {
                min_level: 99,
                ..ListLogsRequest::default()
            },
            "min_level",
        ),
        (
            ListLogsRequest {
                start_time: Some(timestamp(now)),
                end_time: Some(timestamp(now - 1_000)),
                ..ListLogsRequest::default()
            },
            "end_time",
        ),
        (
            ListLogsRequest {
                start_time: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -5,
                }),
                ..ListLogsRequest::default()
            },
            "start_time",
        ),
        (
            ListLogsRequest {
                page_token: "not-a-token".to_owned(),
                ..ListLogsRequest::default()
            },
            "page_token",
        ),
        (
            ListLogsRequest {
                page_token: "A".repeat(100_000),
                ..ListLogsRequest::default()
            },
            "page_token",
        ),
        (
            ListLogsRequest {
                page_size: -1,
                ..ListLogsRequest::default()
            },
            "page_size",
        ),
        (
            ListLogsRequest {
                trace_id: "xyz".to_owned(),
                ..ListLogsRequest::default()
            },
            "trace_id",
        ),
        (
            ListLogsRequest {
                event_type: "auth*".to_owned(),
                ..ListLogsRequest::default()
            },
            "event_type",
        ),
        (
            ListLogsRequest {
                query: "q".repeat(201),
                ..ListLogsRequest::default()
            },
            "query",
        ),
        (
            ListLogsRequest {
                order: 7,
                ..ListLogsRequest::default()
            },
            "order",
        ),
        (
            ListLogsRequest {
                service: "s".repeat(101),
                ..ListLogsRequest::default()
            },
            "service",
        ),
    ];
    for (request, field) in cases {
        let status = list(&mut system, &it, request).await.expect_err(field);
        assert_eq!(bad_field(&status), field);
    }
    let status = system
        .export_logs(with_token(
            ExportLogsRequest {
                format: "xml".to_owned(),
                ..ExportLogsRequest::default()
            },
            &it,
        ))
        .await
        .expect_err("unknown format");
    assert_eq!(bad_field(&status), "format");
    let status = system
        .export_logs(with_token(
            ExportLogsRequest {
                min_level: -3,
                ..ExportLogsRequest::default()
            },
            &it,
        ))
        .await
        .expect_err("unknown level");
    assert_eq!(bad_field(&status), "min_level");

    let data = Dataset::new();
    let mut internal = internal_client(&mesh);
    let status = internal
        .ingest_logs(IngestLogsRequest::default())
        .await
        .expect_err("no entries");
    assert_eq!(bad_field(&status), "entries");
    let status = internal
        .ingest_logs(IngestLogsRequest {
            entries: (0..1_001).map(|_| data.entries[0].clone()).collect(),
        })
        .await
        .expect_err("too many");
    assert_eq!(bad_field(&status), "entries");
    let broken = [
        (
            LogEntry {
                level: 0,
                ..data.entries[1].clone()
            },
            "entries[1].level",
        ),
        (
            LogEntry {
                id: "42".to_owned(),
                ..data.entries[1].clone()
            },
            "entries[1].id",
        ),
        (
            LogEntry {
                time: None,
                ..data.entries[1].clone()
            },
            "entries[1].time",
        ),
        (
            LogEntry {
                service: String::new(),
                ..data.entries[1].clone()
            },
            "entries[1].service",
        ),
        (
            LogEntry {
                message: " ".to_owned(),
                ..data.entries[1].clone()
            },
            "entries[1].message",
        ),
        (
            LogEntry {
                event_type: "e".repeat(101),
                ..data.entries[1].clone()
            },
            "entries[1].event_type",
        ),
        (
            LogEntry {
                trace_id: "ABC".to_owned(),
                ..data.entries[1].clone()
            },
            "entries[1].trace_id",
        ),
    ];
    for (entry, field) in broken {
        let status = internal
            .ingest_logs(IngestLogsRequest {
                entries: vec![data.entries[0].clone(), entry],
            })
            .await
            .expect_err(field);
        assert_eq!(bad_field(&status), field);
    }
    let stored = list(&mut system, &it, data.range()).await.expect("list");
    assert!(
        stored.is_empty(),
        "a refused batch stores nothing: {stored:?}"
    );
}
