-- FinanceAPI's booking charges and their refunds at the payment gateway (Stripe's API).
--
-- Exactly-once at the gateway rests on three things held here:
-- * a charge row is committed, keyed by its booking, before the gateway is called, and the
--   gateway's payment intent id is recorded before the intent is confirmed, so a retry or a
--   restarted process finds the intent instead of creating (and charging) another;
-- * a refund's amount is reserved on its charge by one conditional UPDATE in the transaction
--   that inserts the refund row, so refunds never add up to more than was charged;
-- * whoever calls the gateway for a row first takes its lease (`lease_token`, until
--   `lease_expires_at`), so concurrent retries of one charge or refund never call the gateway
--   at the same time; a crashed holder's lease simply runs out.
-- No transaction is held open while the gateway is called.

-- One charge per booking. `booking_id` is not a foreign key: bookings are BookingAPI's, and a
-- charge may be recorded before the booking's own transaction commits.
CREATE TABLE payments (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id         UUID NOT NULL UNIQUE,
    traveler_id        UUID NOT NULL,
    launch_id          UUID NOT NULL,
    agency_id          UUID NOT NULL,
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- What the first request asked for; a retry after a crash charges exactly this.
    payment_method_id  TEXT NOT NULL CHECK (payment_method_id <> ''),
    receipt_email      TEXT NOT NULL DEFAULT '',
    description        TEXT NOT NULL DEFAULT '',
    -- finance.v1.PaymentStatus names.
    status             TEXT NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'REQUIRES_ACTION', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    gateway_payment_id TEXT UNIQUE,
    -- Lets the traveler finish a REQUIRES_ACTION payment; never logged.
    client_secret      TEXT,
    failure_message    TEXT,
    -- Reserved by PENDING refunds plus paid back by SUCCEEDED ones; a FAILED refund gives its
    -- amount back.
    refunded_minor     BIGINT NOT NULL DEFAULT 0,
    succeeded_at       TIMESTAMPTZ,
    -- Times someone took the lease to talk to the gateway about this charge.
    gateway_attempts   INTEGER NOT NULL DEFAULT 0 CHECK (gateway_attempts >= 0),
    lease_token        UUID,
    lease_expires_at   TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service    TEXT NOT NULL,
    created_user_id    TEXT,
    created_trace_id   TEXT,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_service    TEXT NOT NULL,
    updated_user_id    TEXT,
    updated_trace_id   TEXT,
    CONSTRAINT payments_refunded_within_amount CHECK (refunded_minor BETWEEN 0 AND amount_minor),
    CONSTRAINT payments_refunds_only_when_succeeded CHECK (refunded_minor = 0 OR status = 'SUCCEEDED'),
    CONSTRAINT payments_succeeded_has_gateway_id
        CHECK (status <> 'SUCCEEDED' OR gateway_payment_id IS NOT NULL),
    CONSTRAINT payments_lease_whole CHECK ((lease_token IS NULL) = (lease_expires_at IS NULL))
);

-- Revenue and refund reports per launch and agency.
CREATE INDEX payments_by_launch ON payments (launch_id, status);
CREATE INDEX payments_by_agency ON payments (agency_id, created_at);

-- Refunds of a charge. The id is the refund id BookingAPI chose (its idempotency key), so a
-- retried RefundBooking finds its refund by primary key.
CREATE TABLE booking_refunds (
    id                UUID PRIMARY KEY,
    payment_id        UUID NOT NULL REFERENCES payments (id),
    booking_id        UUID NOT NULL,
    amount_minor      BIGINT NOT NULL CHECK (amount_minor > 0),
    currency          TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- finance.v1.RefundReason names.
    reason            TEXT NOT NULL
        CHECK (reason IN ('TRAVELER_CANCELLATION', 'LAUNCH_ABORTED', 'HOLD_EXPIRED')),
    -- finance.v1.RefundStatus names.
    status            TEXT NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    gateway_refund_id TEXT UNIQUE,
    failure_message   TEXT,
    -- Times someone took the lease to talk to the gateway; above one, an earlier attempt may
    -- have reached the gateway, so the next one looks there before creating anything.
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_token       UUID,
    lease_expires_at  TIMESTAMPTZ,
    settled_at        TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service   TEXT NOT NULL,
    created_user_id   TEXT,
    created_trace_id  TEXT,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_service   TEXT NOT NULL,
    updated_user_id   TEXT,
    updated_trace_id  TEXT,
    CONSTRAINT booking_refunds_succeeded_has_gateway_id
        CHECK (status <> 'SUCCEEDED' OR gateway_refund_id IS NOT NULL),
    CONSTRAINT booking_refunds_lease_whole CHECK ((lease_token IS NULL) = (lease_expires_at IS NULL))
);

CREATE INDEX booking_refunds_by_payment ON booking_refunds (payment_id, created_at);
CREATE INDEX booking_refunds_by_booking ON booking_refunds (booking_id);
-- Refunds still to settle, for a sweeper.
CREATE INDEX booking_refunds_pending ON booking_refunds (created_at) WHERE status = 'PENDING';
