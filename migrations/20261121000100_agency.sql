-- AgencyAPI's part of OperationsDB: agency profiles, rockets, launches and their status
-- history. Invariants live here, not only in the service: capacity bounds, seats never above
-- capacity, unique slugs, a launch's rocket owned by the launch's agency.
--
-- Every table carries the origin of its creation and of its latest change (service, acting
-- user, trace id, time), which the contracts expose as `common.v1.AuditInfo`. The full story of
-- every write is in `change_log`, inserted in the same transaction.

-- The trace id alone, for queries and for `common.v1.Origin.trace_id`; derived so that no
-- writer can store a traceparent and a trace id that disagree.
ALTER TABLE change_log
    ADD COLUMN origin_trace_id TEXT
    GENERATED ALWAYS AS (NULLIF(split_part(origin_traceparent, '-', 2), '')) STORED;

-- One row per AGENCY account, keyed by the account's user id (the agency id). A row exists once
-- the agency wrote its profile (or SystemAPI mirrored its account); until then the profile reads
-- as empty and incomplete.
CREATE TABLE agencies (
    id                   UUID PRIMARY KEY,
    name                 TEXT NOT NULL DEFAULT '' CHECK (char_length(name) <= 100),
    description          TEXT NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    contact_email        TEXT NOT NULL DEFAULT '',
    contact_phone        TEXT NOT NULL DEFAULT '',
    tax_id               TEXT NOT NULL DEFAULT '' CHECK (char_length(tax_id) <= 50),
    address_line1        TEXT NOT NULL DEFAULT '',
    address_line2        TEXT NOT NULL DEFAULT '',
    address_city         TEXT NOT NULL DEFAULT '',
    address_region       TEXT NOT NULL DEFAULT '',
    address_postal_code  TEXT NOT NULL DEFAULT '',
    address_country_code TEXT NOT NULL DEFAULT '',
    -- Mirrored from SystemDB by ApplyUserProfiles; `account_version` makes replays harmless.
    account_email        TEXT NOT NULL DEFAULT '',
    account_version      BIGINT NOT NULL DEFAULT 0,
    -- What every rocket and launch needs first (DOMAIN: tax id and legal address required).
    profile_complete     BOOLEAN GENERATED ALWAYS AS (
        name <> '' AND tax_id <> '' AND address_line1 <> '' AND address_city <> ''
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

CREATE TABLE rockets (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id          UUID NOT NULL REFERENCES agencies (id),
    name               TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    passenger_capacity INTEGER NOT NULL CHECK (passenger_capacity BETWEEN 1 AND 100),
    rocket_range       TEXT NOT NULL
        CHECK (rocket_range IN ('SUBORBITAL', 'LOW_EARTH_ORBIT', 'INTERPLANETARY')),
    retired_at         TIMESTAMPTZ,
    -- A rocket with past launches is hidden, not removed: its launches keep their history.
    deleted_at         TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service    TEXT NOT NULL,
    created_user_id    TEXT,
    created_trace_id   TEXT,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_service    TEXT NOT NULL,
    updated_user_id    TEXT,
    updated_trace_id   TEXT,
    -- Target of launches' composite foreign key: a launch's rocket belongs to its agency.
    CONSTRAINT rockets_id_agency_key UNIQUE (id, agency_id)
);

-- Rocket names are unique per agency, case-insensitively, among rockets not deleted.
CREATE UNIQUE INDEX rockets_agency_name_key ON rockets (agency_id, lower(name))
    WHERE deleted_at IS NULL;
CREATE INDEX rockets_by_agency ON rockets (agency_id, lower(name), id);

CREATE TABLE launches (
    id                    UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    slug                  TEXT NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    agency_id             UUID NOT NULL REFERENCES agencies (id),
    rocket_id             UUID NOT NULL,
    spaceport             TEXT NOT NULL CHECK (char_length(spaceport) BETWEEN 1 AND 100),
    destination           TEXT NOT NULL CHECK (char_length(destination) BETWEEN 1 AND 100),
    scheduled_at          TIMESTAMPTZ NOT NULL,
    original_scheduled_at TIMESTAMPTZ NOT NULL,
    price_minor           BIGINT NOT NULL CHECK (price_minor > 0),
    currency              TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- The rocket's capacity, copied so that BookingAPI's seat reservation is one conditional
    -- UPDATE of one row (`... SET seats_booked = seats_booked + $n WHERE ...`) and the checks
    -- below hold whatever runs concurrently; UpdateRocket rewrites it on open launches.
    capacity              INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 100),
    -- Seats booked or held (owned by BookingAPI): CONFIRMED, COMPLETED, PENDING_PAYMENT holds
    -- and late-cancelled seats that stay sold.
    seats_booked          INTEGER NOT NULL DEFAULT 0 CHECK (seats_booked >= 0),
    minimum_occupancy     INTEGER NOT NULL CHECK (minimum_occupancy >= 1),
    status                TEXT NOT NULL DEFAULT 'SCHEDULED'
        CHECK (status IN ('SCHEDULED', 'DELAYED', 'ABORTED', 'SUCCESSFUL', 'FAILED')),
    status_reason         TEXT NOT NULL DEFAULT '',
    status_changed_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service       TEXT NOT NULL,
    created_user_id       TEXT,
    created_trace_id      TEXT,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_service       TEXT NOT NULL,
    updated_user_id       TEXT,
    updated_trace_id      TEXT,
    CONSTRAINT launches_slug_key UNIQUE (slug),
    CONSTRAINT launches_rocket_owned_fkey FOREIGN KEY (rocket_id, agency_id)
        REFERENCES rockets (id, agency_id),
    CONSTRAINT launches_seats_within_capacity CHECK (seats_booked <= capacity),
    CONSTRAINT launches_minimum_within_capacity CHECK (minimum_occupancy <= capacity)
);

CREATE INDEX launches_by_agency ON launches (agency_id, scheduled_at, id);
CREATE INDEX launches_by_rocket ON launches (rocket_id, status);
CREATE INDEX launches_by_status ON launches (status, scheduled_at, id);

-- Every status change of a launch, oldest first; the first row is the scheduling itself.
CREATE TABLE launch_status_changes (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    launch_id             UUID NOT NULL REFERENCES launches (id),
    status                TEXT NOT NULL,
    -- NULL for the scheduling.
    previous_status       TEXT,
    scheduled_at          TIMESTAMPTZ NOT NULL,
    previous_scheduled_at TIMESTAMPTZ,
    reason                TEXT NOT NULL DEFAULT '',
    origin_service        TEXT NOT NULL,
    origin_user_id        TEXT,
    origin_trace_id       TEXT,
    changed_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX launch_status_changes_by_launch ON launch_status_changes (launch_id, id);

-- What the bookings report reads: one row per paid booking (one that reached CONFIRMED) of a
-- launch. BookingAPI owns the booking tables; its migration replaces this view with
-- `CREATE OR REPLACE VIEW bookings_report_lines AS SELECT ... FROM bookings ...` keeping these
-- columns, names, types and order (new columns may only be appended). Until then it is empty,
-- so the report honestly lists no bookings.
CREATE VIEW bookings_report_lines AS
SELECT
    NULL::uuid        AS launch_id,
    NULL::uuid        AS booking_id,
    NULL::uuid        AS traveler_id,
    NULL::text        AS traveler_name,
    -- CONFIRMED, COMPLETED or CANCELLED.
    NULL::text        AS booking_status,
    NULL::integer     AS seats,
    -- Seats of the booking still sold: `seats`, or 0 once cancelled with the seats released.
    NULL::integer     AS seats_kept,
    -- One full name per seat.
    NULL::text[]      AS passenger_names,
    NULL::bigint      AS amount_minor,
    NULL::bigint      AS refunded_minor,
    NULL::text        AS currency,
    -- When the booking was made; the report's order.
    NULL::timestamptz AS booked_at
WHERE false;
