-- BookingAPI's part of OperationsDB: travelers, bookings with their passengers, the seats each
-- traveler holds per launch, and the answers kept for idempotent CreateBooking retries.
--
-- Seats are never oversold because a booking takes them with one conditional UPDATE of the
-- launch row (`seats_booked + n <= capacity`, held by `launches_seats_within_capacity` too),
-- and the per-traveler limit the same way on `traveler_launch_seats`, in the transaction that
-- inserts the booking. No transaction is held open across the payment call.

-- One row per TRAVELER account, keyed by the account id. Name and e-mail are the account's,
-- mirrored here for reports and notifications.
CREATE TABLE travelers (
    id                   UUID PRIMARY KEY,
    name                 TEXT NOT NULL DEFAULT '' CHECK (char_length(name) <= 100),
    email                TEXT NOT NULL DEFAULT '',
    phone                TEXT NOT NULL DEFAULT '',
    tax_id               TEXT NOT NULL DEFAULT '' CHECK (char_length(tax_id) <= 50),
    address_line1        TEXT NOT NULL DEFAULT '',
    address_line2        TEXT NOT NULL DEFAULT '',
    address_city         TEXT NOT NULL DEFAULT '',
    address_region       TEXT NOT NULL DEFAULT '',
    address_postal_code  TEXT NOT NULL DEFAULT '',
    address_country_code TEXT NOT NULL DEFAULT '',
    -- Version of the SystemDB account last mirrored; makes replays of old snapshots harmless.
    account_version      BIGINT NOT NULL DEFAULT 0,
    profile_complete     BOOLEAN GENERATED ALWAYS AS (
        phone <> '' AND tax_id <> '' AND address_line1 <> '' AND address_city <> ''
        AND address_country_code <> ''
    ) STORED,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service      TEXT NOT NULL,
    created_user_id      TEXT,
    created_trace_id     TEXT,
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_service      TEXT NOT NULL,
    updated_user_id      TEXT,
    updated_trace_id     TEXT
);

CREATE TABLE bookings (
    id                  UUID PRIMARY KEY,
    traveler_id         UUID NOT NULL REFERENCES travelers (id),
    launch_id           UUID NOT NULL REFERENCES launches (id),
    agency_id           UUID NOT NULL REFERENCES agencies (id),
    status              TEXT NOT NULL
        CHECK (status IN ('PENDING_PAYMENT', 'CONFIRMED', 'COMPLETED', 'CANCELLED')),
    seats               INTEGER NOT NULL CHECK (seats BETWEEN 1 AND 6),
    -- The seat price when booked; later price changes do not touch it.
    price_minor         BIGINT NOT NULL CHECK (price_minor > 0),
    currency            TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor         BIGINT NOT NULL,
    -- The charge succeeded at some point (the booking reached CONFIRMED).
    paid                BOOLEAN NOT NULL DEFAULT false,
    -- FinanceAPI's payment id, once the charge exists.
    payment_id          TEXT,
    hold_expires_at     TIMESTAMPTZ,
    cancellation_reason TEXT
        CHECK (cancellation_reason IN ('TRAVELER_REQUEST', 'PAYMENT_FAILED', 'HOLD_EXPIRED',
                                       'LAUNCH_ABORTED')),
    cancellation_note   TEXT NOT NULL DEFAULT '' CHECK (char_length(cancellation_note) <= 500),
    refund_tier         TEXT
        CHECK (refund_tier IN ('LAUNCH_ABORTED', 'ONE_YEAR_OR_MORE', 'THREE_MONTHS_OR_MORE',
                               'LATE', 'NOT_PAID')),
    refund_minor        BIGINT NOT NULL DEFAULT 0,
    -- The refund's idempotency key at FinanceAPI (and the payment gateway): one per booking,
    -- chosen when the cancellation commits, so a retried or resumed refund is the same refund.
    refund_id           UUID UNIQUE,
    refund_state        TEXT CHECK (refund_state IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    refund_attempts     INTEGER NOT NULL DEFAULT 0,
    refund_last_error   TEXT,
    seats_released      BOOLEAN NOT NULL DEFAULT false,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    confirmed_at        TIMESTAMPTZ,
    cancelled_at        TIMESTAMPTZ,
    completed_at        TIMESTAMPTZ,
    created_service     TEXT NOT NULL,
    created_user_id     TEXT,
    created_trace_id    TEXT,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_service     TEXT NOT NULL,
    updated_user_id     TEXT,
    updated_trace_id    TEXT,
    CONSTRAINT bookings_total_is_seats_times_price CHECK (total_minor = price_minor * seats),
    CONSTRAINT bookings_refund_within_total CHECK (refund_minor BETWEEN 0 AND total_minor),
    CONSTRAINT bookings_hold_only_while_pending
        CHECK ((status = 'PENDING_PAYMENT') = (hold_expires_at IS NOT NULL)),
    CONSTRAINT bookings_cancelled_has_reason
        CHECK ((status = 'CANCELLED') = (cancellation_reason IS NOT NULL)),
    CONSTRAINT bookings_refund_needs_id CHECK (refund_state IS NULL OR refund_id IS NOT NULL)
);

CREATE INDEX bookings_by_traveler ON bookings (traveler_id, created_at DESC, id DESC);
CREATE INDEX bookings_by_launch ON bookings (launch_id, created_at, id);
-- The hold sweeper's scan.
CREATE INDEX bookings_holds ON bookings (hold_expires_at) WHERE status = 'PENDING_PAYMENT';
-- The refund sweeper's scan.
CREATE INDEX bookings_refunds_due ON bookings (cancelled_at) WHERE refund_state = 'PENDING';

CREATE TABLE booking_passengers (
    booking_id    UUID NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    seat          INTEGER NOT NULL CHECK (seat BETWEEN 1 AND 6),
    full_name     TEXT NOT NULL CHECK (char_length(full_name) BETWEEN 1 AND 100),
    date_of_birth DATE NOT NULL,
    email         TEXT NOT NULL,
    phone         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (booking_id, seat)
);

-- Seats a traveler holds on a launch across active bookings (PENDING_PAYMENT, CONFIRMED,
-- COMPLETED; a cancelled booking no longer counts, even when its seats stay sold to the
-- agency). Raised by a conditional upsert
-- (`seats + n <= limit`), so concurrent bookings by one traveler cannot pass the limit; the
-- CHECK is the hard ceiling (the VIP limit).
CREATE TABLE traveler_launch_seats (
    traveler_id UUID NOT NULL REFERENCES travelers (id),
    launch_id   UUID NOT NULL REFERENCES launches (id),
    seats       INTEGER NOT NULL CHECK (seats BETWEEN 0 AND 6),
    PRIMARY KEY (traveler_id, launch_id)
);

-- CreateBooking's idempotency keys, per traveler, kept 24 hours. A row is IN_PROGRESS while one
-- request owns it (`locked_until`; a crashed owner's row is taken over once it passes) and
-- DONE with the encoded answer, success or error, that every retry gets back.
CREATE TABLE booking_requests (
    traveler_id     UUID NOT NULL,
    idempotency_key TEXT NOT NULL CHECK (char_length(idempotency_key) BETWEEN 8 AND 255),
    -- SHA-256 of the request's meaningful fields: the same key with another request is refused.
    request_hash    BYTEA NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('IN_PROGRESS', 'DONE')),
    locked_until    TIMESTAMPTZ NOT NULL,
    booking_id      UUID,
    -- DONE: the encoded CreateBookingResponse, or the error (gRPC code, message, reason, metadata).
    response        BYTEA,
    error_code      INTEGER,
    error_message   TEXT,
    error_reason    TEXT,
    error_metadata  JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (traveler_id, idempotency_key)
);

CREATE INDEX booking_requests_by_age ON booking_requests (created_at);

-- The bookings report (AgencyAPI) reads paid bookings; same columns as the placeholder view.
CREATE OR REPLACE VIEW bookings_report_lines AS
SELECT
    b.launch_id,
    b.id AS booking_id,
    b.traveler_id,
    t.name AS traveler_name,
    b.status AS booking_status,
    b.seats,
    CASE WHEN b.status = 'CANCELLED' AND b.seats_released THEN 0 ELSE b.seats END AS seats_kept,
    ARRAY(SELECT p.full_name FROM booking_passengers p WHERE p.booking_id = b.id ORDER BY p.seat)
        AS passenger_names,
    b.total_minor AS amount_minor,
    b.refund_minor AS refunded_minor,
    b.currency,
    b.created_at AS booked_at
FROM bookings b
JOIN travelers t ON t.id = b.traveler_id
WHERE b.paid;
