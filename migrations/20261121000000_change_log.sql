-- The change log of OperationsDB: one row for every write to operational data, inserted in
-- the same transaction as the write. It answers "where did this change come from" (service,
-- acting user, trace) and is the transactional outbox that relays read from: notifications,
-- the catalogue cache, refunds on abort and sync jobs. A write that rolls back leaves no row.
CREATE TABLE change_log (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stable id of the event, used downstream for idempotency (one notification per event).
    event_id          UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    entity            TEXT NOT NULL CHECK (entity <> ''),
    entity_id         TEXT NOT NULL CHECK (entity_id <> ''),
    event_type        TEXT NOT NULL CHECK (event_type <> ''),
    payload           JSONB NOT NULL DEFAULT '{}'::jsonb,
    origin_service    TEXT NOT NULL CHECK (origin_service <> ''),
    -- NULL for changes made by the platform itself (sweepers, relays).
    origin_user_id    TEXT,
    -- W3C traceparent of the request that made the change, so its consequences join the trace.
    origin_traceparent TEXT,
    recorded_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at      TIMESTAMPTZ,
    delivery_attempts INTEGER NOT NULL DEFAULT 0 CHECK (delivery_attempts >= 0),
    last_delivery_error TEXT
);

-- Relays scan only what is still to deliver, oldest first.
CREATE INDEX change_log_pending ON change_log (id) WHERE delivered_at IS NULL;
-- History of one entity.
CREATE INDEX change_log_by_entity ON change_log (entity, entity_id, id);
