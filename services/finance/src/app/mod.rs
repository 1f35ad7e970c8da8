//! FinanceAPI's use cases: booking charges ([`payments`]) and refunds ([`refunds`]) through the
//! payment gateway, exactly once per booking and per refund id, whatever the retries, the
//! concurrency or the crashes. Structs built in `lib.rs`; their methods take parsed domain
//! input and answer store rows or `AppError`, never a contract message. The callers are
//! services (BookingAPI), authorized per RPC by the auth layer, so no caller is passed: what
//! is recorded as the origin comes from the input (the traveler of a charge) or is the
//! platform.
//!
//! The protocol, for both charges and refunds:
//! 1. The row is committed first (a charge keyed by its booking; a refund keyed by its id,
//!    with its amount reserved on the charge), so every later attempt finds it.
//! 2. Whoever talks to the gateway about a row takes its lease first; the others wait a
//!    little for the outcome, then answer with what is known (PENDING). A lease is renewed
//!    right before each call that moves money and outlasts that call's timeout, so two holders
//!    never call at once; a crashed holder's lease runs out and the next attempt takes over.
//! 3. What the gateway created is recorded before it is acted upon (an intent's id before it is
//!    confirmed), and an attempt that may follow a lost answer looks at the gateway before
//!    creating anything (a refund carrying our refund id is adopted, not repeated).
//! 4. No database transaction is open during a gateway call, and the work runs detached from
//!    the request, so a caller's deadline never cuts a gateway call from the write that records
//!    its outcome.
//!
//! The gateway's idempotency keys make the real API answer repeats with the first answer too,
//! but the protocol does not depend on them (localstripe ignores them).

pub mod invoice_checkout;
pub mod invoices;
pub mod payments;
pub mod refunds;
pub mod reminders;
pub mod reports;

use std::time::Duration;

use astro_shared::AppError;
use tracing::Instrument as _;

/// How often a request waiting for another attempt's outcome looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Timing of the gateway protocol.
#[derive(Debug, Clone, Copy)]
pub struct GatewayTiming {
    /// How long a lease lasts from its last renewal; longer than any single gateway call.
    pub lease: Duration,
    /// How long a request waits for another attempt holding the lease before answering with
    /// what is known.
    pub wait: Duration,
}

/// Runs `work` to its end even if the request that started it is dropped (a client deadline, a
/// closed connection), in the current span.
async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T, AppError>> + Send + 'static,
) -> Result<T, AppError> {
    tokio::spawn(work.instrument(tracing::Span::current()))
        .await
        .map_err(AppError::internal)?
}
