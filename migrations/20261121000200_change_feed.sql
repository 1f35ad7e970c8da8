-- Consumers of the change log (the catalogue cache, abort refunds, notifications …) each keep
-- their own record of what they handled, so they never take rows from each other.
--
-- `change_log_handled` marks single rows; `change_log_consumers.low_water_mark` says every row
-- up to it is handled, so marks below it can be forgotten. Ids are given out at insert time and
-- commit out of order, so the mark trails the newest row by the longest a writer's transaction
-- may stay open (see astro_shared::changes).
CREATE TABLE change_log_consumers (
    consumer       TEXT PRIMARY KEY CHECK (consumer <> ''),
    low_water_mark BIGINT NOT NULL DEFAULT 0,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE change_log_handled (
    consumer   TEXT NOT NULL,
    change_id  BIGINT NOT NULL REFERENCES change_log (id),
    handled_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, change_id)
);

-- Consumers filter by event type.
CREATE INDEX change_log_by_event_type ON change_log (event_type, id);
