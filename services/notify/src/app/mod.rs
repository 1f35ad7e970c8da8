//! NotifyAPI's use cases, built once in `lib.rs` and shared by the RPCs and the background
//! work. They take parsed domain input and answer domain values or [`astro_shared::AppError`];
//! storage is the store's, e-mail the SMTP adapter's, people the directory's.
//!
//! Events come in two ways, both at least once: SystemAPI's outbox relay calls
//! EnqueueNotification ([`intake`]), and this service's own relay reads OperationsDB's change
//! log ([`relay`]). Published events are stored, then resolved into one notification per
//! recipient ([`events`], [`recipients`], [`queue`]); workers claim notifications with a lease
//! and send them ([`sending`]); IT operates the queue ([`operations`]).

pub mod events;
pub mod intake;
pub mod operations;
pub mod queue;
pub mod recipients;
pub mod relay;
pub mod sending;

pub use events::Events;
pub use intake::Intake;
pub use operations::{Operations, SmtpHealth};
pub use queue::{Queue, Wake};
pub use recipients::Recipients;
pub use relay::Relay;
pub use sending::Sending;
