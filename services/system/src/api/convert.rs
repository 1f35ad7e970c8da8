//! Contract messages to domain input and domain values to contract messages, in one place.

use std::sync::Arc;

use astro_proto::astrobookings::{
    common::v1::{Contact, Origin, SortOrder},
    system::v1::{
        self as proto, ExportLogsRequest, ExportLogsResponse, Jwk, ListLogsRequest,
        ListSyncJobsRequest, LogEntry, SyncDataSet, SyncJobState, TokenPair, User,
    },
};
use astro_shared::{AppError, convert::timestamp, paging::sort_descending};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

use crate::{
    app::{
        keys::PublicJwk,
        logs::{EncodeLine, ExportChunk, ExportFormat},
    },
    domain::{
        SERVICE_NAME,
        accounts::Account,
        logs::{LogFilter, LogRecord, Order, RawEntry, RawFilter},
        sync_jobs::{DataSet, JobFilter, JobState, SyncJob, requested_data_sets},
        tokens::IssuedTokens,
    },
};

/// A job as IT sees it.
pub fn sync_job(job: &SyncJob) -> proto::SyncJob {
    proto::SyncJob {
        id: job.id.clone(),
        data_set: data_set_enum(job.data_set).into(),
        state: match job.state {
            JobState::Queued => SyncJobState::Queued,
            JobState::Running => SyncJobState::Running,
            JobState::Succeeded => SyncJobState::Succeeded,
            JobState::Failed => SyncJobState::Failed,
        }
        .into(),
        requested: Some(Origin {
            service: SERVICE_NAME.to_owned(),
            user_id: job.requested_by.clone(),
            trace_id: astro_shared::changes::trace_id_of(&job.traceparent)
                .unwrap_or_default()
                .to_owned(),
            time: Some(timestamp(job.requested_at)),
        }),
        started_at: job.started_at.map(timestamp),
        finished_at: job.finished_at.map(timestamp),
        percent_done: job.percent_done(),
        items_total: job.items_total,
        items_processed: job.items_processed,
        items_failed: job.items_failed,
        errors: job
            .errors
            .iter()
            .map(|error| proto::SyncJobError {
                item_id: error.item_id.clone(),
                message: error.message.clone(),
                time: Some(timestamp(error.time)),
            })
            .collect(),
        failure_message: job.failure_message.clone(),
        items_changed: job.items_changed,
    }
}

fn data_set_enum(data_set: DataSet) -> SyncDataSet {
    match data_set {
        DataSet::Catalogue => SyncDataSet::Catalogue,
        DataSet::UserProfiles => SyncDataSet::UserProfiles,
    }
}

/// A data set of a request; `None` for UNSPECIFIED and unknown values.
fn data_set(raw: i32) -> Option<DataSet> {
    match SyncDataSet::try_from(raw) {
        Ok(SyncDataSet::Catalogue) => Some(DataSet::Catalogue),
        Ok(SyncDataSet::UserProfiles) => Some(DataSet::UserProfiles),
        Ok(SyncDataSet::Unspecified) | Err(_) => None,
    }
}

/// StartSyncJob's data sets: each once, none meaning all.
pub fn start_data_sets(raw: &[i32]) -> Result<Vec<DataSet>, AppError> {
    let requested: Vec<Option<DataSet>> = raw.iter().map(|&raw| data_set(raw)).collect();
    requested_data_sets(&requested)
}

/// ListSyncJobs' filter.
pub fn job_filter(request: &ListSyncJobsRequest) -> Result<JobFilter, AppError> {
    let data_set = match request.data_set {
        0 => None,
        raw => {
            Some(data_set(raw).ok_or_else(|| AppError::invalid("data_set", "unknown data set"))?)
        }
    };
    let mut states = Vec::new();
    for &raw in &request.states {
        let state = match SyncJobState::try_from(raw) {
            Ok(SyncJobState::Queued) => JobState::Queued,
            Ok(SyncJobState::Running) => JobState::Running,
            Ok(SyncJobState::Succeeded) => JobState::Succeeded,
            Ok(SyncJobState::Failed) => JobState::Failed,
            Ok(SyncJobState::Unspecified) | Err(_) => {
                return Err(AppError::invalid("states", "holds an unknown job state"));
            }
        };
        if !states.contains(&state) {
            states.push(state);
        }
    }
    Ok(JobFilter { data_set, states })
}

/// The contract's view of an account: never the password hash or the confirmation token.
pub fn user(account: &Account) -> User {
    User {
        id: account.id.clone(),
        email: account.email.clone(),
        name: account.name.clone(),
        role: account.role.into(),
        email_confirmed: account.email_confirmed,
        disabled: account.disabled,
        created_at: Some(timestamp(account.created_at)),
        last_login_at: account.last_login_at.map(timestamp),
        disabled_at: account.disabled_at.map(timestamp),
    }
}

/// An account as a notification contact (accounts carry no phone number).
pub fn contact(account: &Account) -> Contact {
    Contact {
        user_id: account.id.clone(),
        name: account.name.clone(),
        email: account.email.clone(),
        phone: String::new(),
    }
}

pub fn token_pair(tokens: IssuedTokens) -> TokenPair {
    TokenPair {
        access_token: tokens.access_token,
        token_type: "Bearer".to_owned(),
        expires_in_seconds: i32::try_from(tokens.access_lifetime.as_secs()).unwrap_or(i32::MAX),
        access_token_expires_at: Some(timestamp(tokens.access_expires_at)),
        refresh_token: tokens.refresh_token,
        refresh_token_expires_at: Some(timestamp(tokens.refresh_expires_at)),
    }
}

/// An Ed25519 public key as the JWK that verifies our access tokens.
pub fn jwk(key: &PublicJwk) -> Jwk {
    Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: key.x.clone(),
        kid: key.kid.clone(),
        r#use: "sig".into(),
        alg: "EdDSA".into(),
        ..Jwk::default()
    }
}

pub fn log_entry(record: &LogRecord) -> LogEntry {
    LogEntry {
        id: record.id.clone(),
        time: Some(timestamp(record.time)),
        service: record.service.clone(),
        level: record.level.into(),
        event_type: record.event_type.clone(),
        user_id: record.user_id.clone(),
        trace_id: record.trace_id.clone(),
        message: record.message.clone(),
        attributes: record
            .attributes
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    }
}

/// A producer's batch, checked entry by entry; any bad entry refuses the whole batch (the
/// contract: nothing is stored), naming the entry and field.
pub fn log_records(entries: &[LogEntry]) -> Result<Vec<LogRecord>, AppError> {
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| log_record(index, entry))
        .collect()
}

fn log_record(index: usize, entry: &LogEntry) -> Result<LogRecord, AppError> {
    LogRecord::parse(
        index,
        &RawEntry {
            id: &entry.id,
            time: entry.time.as_ref().map(|time| (time.seconds, time.nanos)),
            service: &entry.service,
            level: entry.level,
            event_type: &entry.event_type,
            user_id: &entry.user_id,
            trace_id: &entry.trace_id,
            message: &entry.message,
            attributes: &entry.attributes,
        },
    )
}

/// The checked filter and order of a ListLogs or ExportLogs request (newest first by
/// default).
pub trait LogQuery {
    fn log_query(&self) -> Result<(LogFilter, Order), AppError>;
}

/// The two requests share their filter fields: one mapping serves both.
macro_rules! log_query_of {
    ($($request:ty),+) => {$(
        impl LogQuery for $request {
            fn log_query(&self) -> Result<(LogFilter, Order), AppError> {
                let seconds_and_nanos = |time: &prost_types::Timestamp| (time.seconds, time.nanos);
                let filter = LogFilter::parse(&RawFilter {
                    service: &self.service,
                    min_level: self.min_level,
                    user_id: &self.user_id,
                    event_type: &self.event_type,
                    trace_id: &self.trace_id,
                    start_time: self.start_time.as_ref().map(seconds_and_nanos),
                    end_time: self.end_time.as_ref().map(seconds_and_nanos),
                    query: &self.query,
                })?;
                Ok((filter, log_order(self.order)?))
            }
        }
    )+};
}

log_query_of!(ListLogsRequest, ExportLogsRequest);

fn log_order(raw: i32) -> Result<Order, AppError> {
    Ok(if sort_descending(raw, SortOrder::Descending)? {
        Order::NewestFirst
    } else {
        Order::OldestFirst
    })
}

/// ExportLogs' `format`: "csv" (the default) or "ndjson", in any case.
pub fn export_format(raw: &str) -> Result<ExportFormat, AppError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "csv" => Ok(ExportFormat::Csv),
        "ndjson" => Ok(ExportFormat::Ndjson(Arc::new(ProtoJsonLines::new()?))),
        _ => Err(AppError::invalid("format", "must be \"csv\" or \"ndjson\"")),
    }
}

pub fn export_chunk(chunk: ExportChunk) -> ExportLogsResponse {
    ExportLogsResponse {
        data: chunk.data,
        content_type: chunk.content_type.to_owned(),
        filename: chunk.filename,
        entry_count: chunk.entry_count,
        truncated: chunk.truncated,
    }
}

/// NDJSON lines in proto3 JSON through reflection, so the lines are exactly what the
/// contract's JSON mapping says (camelCase names, enum names, RFC 3339 times, defaults
/// omitted).
struct ProtoJsonLines {
    descriptor: MessageDescriptor,
}

impl ProtoJsonLines {
    fn new() -> Result<Self, AppError> {
        let pool =
            DescriptorPool::decode(astro_proto::FILE_DESCRIPTOR_SET).map_err(AppError::internal)?;
        let descriptor = pool
            .get_message_by_name("astrobookings.system.v1.LogEntry")
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "LogEntry is missing from the descriptor set"
                ))
            })?;
        Ok(Self { descriptor })
    }
}

impl EncodeLine for ProtoJsonLines {
    fn line(&self, record: &LogRecord) -> Result<Vec<u8>, AppError> {
        let mut message = DynamicMessage::new(self.descriptor.clone());
        message
            .transcode_from(&log_entry(record))
            .map_err(AppError::internal)?;
        let mut line = serde_json::to_vec(&message).map_err(AppError::internal)?;
        line.push(b'\n');
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use astro_proto::astrobookings::system::v1::LogLevel;

    use super::*;

    fn entry() -> LogEntry {
        LogEntry {
            id: uuid::Uuid::now_v7().to_string(),
            time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_789,
            }),
            service: "booking-api".into(),
            level: LogLevel::Info.into(),
            event_type: "booking.created".into(),
            user_id: String::new(),
            trace_id: String::new(),
            message: "created".into(),
            attributes: std::collections::HashMap::new(),
        }
    }

    fn field_of(error: AppError) -> String {
        match error {
            AppError::InvalidArgument { field, .. } => field,
            other => panic!("not INVALID_ARGUMENT: {other:?}"),
        }
    }

    #[test]
    fn a_bad_entry_names_its_index_and_field() {
        let mut bad = entry();
        bad.level = 99;
        let error = log_records(&[entry(), bad]).expect_err("unknown level");
        assert_eq!(field_of(error), "entries[1].level");
        let mut bad = entry();
        bad.trace_id = "XYZ".into();
        assert_eq!(
            field_of(log_records(&[bad]).expect_err("bad trace")),
            "entries[0].trace_id"
        );
        let mut bad = entry();
        bad.time = None;
        assert_eq!(
            field_of(log_records(&[bad]).expect_err("no time")),
            "entries[0].time"
        );
    }

    #[test]
    fn stored_time_keeps_milliseconds() {
        let record = log_record(0, &entry()).expect("valid");
        assert_eq!(record.time.timestamp_millis(), 1_700_000_000_123);
        assert_eq!(
            log_entry(&record).time,
            Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_000_000,
            })
        );
    }

    #[test]
    fn ndjson_lines_are_the_contracts_json() {
        let record = log_record(0, &entry()).expect("valid");
        let ExportFormat::Ndjson(lines) = export_format(" NDJSON ").expect("a format") else {
            panic!("not ndjson");
        };
        let line = String::from_utf8(lines.line(&record).expect("a line")).expect("utf-8");
        assert!(line.ends_with('\n'), "{line}");
        assert!(line.contains("\"eventType\":\"booking.created\""), "{line}");
        assert!(line.contains("\"level\":\"LOG_LEVEL_INFO\""), "{line}");
        assert!(export_format("xml").is_err());
    }
}
