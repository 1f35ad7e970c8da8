//! SystemAPI's use cases: structs built in `lib.rs` whose methods take the caller and parsed
//! domain input and answer domain values or `AppError`. They call `store/` for SystemDB and
//! CacheDB and `clients/` for NotifyAPI; they never see a contract message.

pub mod admin;
pub mod directory;
pub mod keys;
pub mod logs;
pub mod monitoring;
pub mod passwords;
pub mod registration;
pub mod relay;
pub mod sessions;
pub mod sync_jobs;
pub mod tokens;

/// Where a request came from, for rate limits and logs.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client's address (an IPv6 client's /64 network), or `unknown`.
    pub address: String,
    /// The W3C `traceparent` of the request, kept with the events it causes.
    pub traceparent: String,
}
