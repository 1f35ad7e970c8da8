-- One CreateBooking's work in OperationsDB up to the payment call, for pgbench: the
-- idempotency claim (BookingAPI's `claim_request`, its own autocommit INSERT) and then the
-- `hold_seats` transaction of services/booking/src/store/bookings.rs statement for statement:
-- conditional UPDATE of the launch's seat count, conditional upsert of the traveler's seats on
-- the launch, INSERT bookings (RETURNING the row), INSERT booking_passengers, UPDATE
-- booking_requests, INSERT change_log, COMMIT; on a refusal the same ROLLBACK and follow-up
-- SELECT as the service. The payment, the confirmation and the answer's bookkeeping are not
-- here. Run with `-M prepared` (sqlx prepares its statements too).
--
-- Variables (-D): launches, travelers (as seeded by bench/pgbench.sh, ids md5('launch-<n>') and
-- md5('traveler-<n>') as UUIDs), seat_limit (4).
\set launch random(1, :launches)
\set traveler random(1, :travelers)
\set seats random(1, 2)
\set key random(1, 9000000000000000000)
\set taken 0
\set held 0

INSERT INTO booking_requests (traveler_id, idempotency_key, request_hash, state, locked_until)
VALUES (CAST(md5('traveler-' || CAST(:traveler AS text)) AS uuid),
        'pgbench-' || CAST(:key AS text), sha256(CAST(CAST(:key AS text) AS bytea)),
        'IN_PROGRESS', now() + make_interval(secs => 60))
ON CONFLICT DO NOTHING;

BEGIN;
UPDATE launches SET seats_booked = seats_booked + CAST(:seats AS integer)
WHERE id = CAST(md5('launch-' || CAST(:launch AS text)) AS uuid)
  AND status IN ('SCHEDULED', 'DELAYED') AND scheduled_at > now()
  AND seats_booked + CAST(:seats AS integer) <= capacity
RETURNING 1 AS taken, agency_id, price_minor, currency \aset
\if :taken
INSERT INTO traveler_launch_seats AS t (traveler_id, launch_id, seats)
SELECT CAST(md5('traveler-' || CAST(:traveler AS text)) AS uuid),
       CAST(md5('launch-' || CAST(:launch AS text)) AS uuid), CAST(:seats AS integer)
WHERE CAST(:seats AS integer) <= CAST(:seat_limit AS integer)
ON CONFLICT (traveler_id, launch_id) DO UPDATE SET seats = t.seats + EXCLUDED.seats
WHERE t.seats + EXCLUDED.seats <= CAST(:seat_limit AS integer)
RETURNING 1 AS held \aset
\if :held
INSERT INTO bookings (id, traveler_id, launch_id, agency_id, status, seats, price_minor,
    currency, total_minor, hold_expires_at, created_service, created_user_id,
    created_trace_id, updated_service, updated_user_id, updated_trace_id)
VALUES (gen_random_uuid(), CAST(md5('traveler-' || CAST(:traveler AS text)) AS uuid),
    CAST(md5('launch-' || CAST(:launch AS text)) AS uuid), CAST(:agency_id AS uuid),
    'PENDING_PAYMENT', CAST(:seats AS integer), CAST(:price_minor AS bigint),
    CAST(:currency AS text), CAST(:price_minor AS bigint) * CAST(:seats AS integer),
    now() + make_interval(secs => 900), 'booking-api',
    md5('traveler-' || CAST(:traveler AS text)), '4bf92f3577b34da6a3ce929d0e0e4736',
    'booking-api', md5('traveler-' || CAST(:traveler AS text)),
    '4bf92f3577b34da6a3ce929d0e0e4736')
RETURNING id AS booking_id, traveler_id, launch_id, agency_id, status, seats, price_minor,
    currency, total_minor, paid, payment_id, hold_expires_at, cancellation_reason,
    cancellation_note, refund_tier, refund_minor, refund_id, refund_state, seats_released,
    confirmed_at, cancelled_at, completed_at, created_at, created_service, created_user_id,
    created_trace_id, updated_at, updated_service, updated_user_id, updated_trace_id \gset b_
INSERT INTO booking_passengers (booking_id, seat, full_name, date_of_birth, email, phone)
SELECT CAST(:b_booking_id AS uuid), seat, full_name, date_of_birth, email, phone
FROM unnest(ARRAY(SELECT generate_series(1, CAST(:seats AS integer))),
            array_fill('Passenger Bench'::text, ARRAY[CAST(:seats AS integer)]),
            array_fill('1990-05-17'::date, ARRAY[CAST(:seats AS integer)]),
            array_fill('passenger@example.com'::text, ARRAY[CAST(:seats AS integer)]),
            array_fill(''::text, ARRAY[CAST(:seats AS integer)]))
    AS p(seat, full_name, date_of_birth, email, phone);
UPDATE booking_requests SET booking_id = CAST(:b_booking_id AS uuid)
WHERE traveler_id = CAST(md5('traveler-' || CAST(:traveler AS text)) AS uuid)
  AND idempotency_key = 'pgbench-' || CAST(:key AS text);
INSERT INTO change_log (entity, entity_id, event_type, payload, origin_service,
    origin_user_id, origin_traceparent)
VALUES ('booking', CAST(:b_booking_id AS text), 'BOOKING_HELD',
    jsonb_build_object('launch_id', CAST(:b_launch_id AS text),
        'traveler_id', CAST(:b_traveler_id AS text), 'agency_id', CAST(:b_agency_id AS text),
        'status', 'PENDING_PAYMENT', 'seats', CAST(:b_seats AS integer),
        'total_minor', CAST(:b_total_minor AS bigint), 'currency', CAST(:b_currency AS text),
        'cancellation_reason', NULL, 'refund_minor', 0, 'refund_tier', NULL,
        'seats_released', false),
    'booking-api', md5('traveler-' || CAST(:traveler AS text)),
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
COMMIT;
\else
-- Over the traveler's seat limit: what the service reads for its message, then gives up.
SELECT seats FROM traveler_launch_seats
WHERE traveler_id = CAST(md5('traveler-' || CAST(:traveler AS text)) AS uuid)
  AND launch_id = CAST(md5('launch-' || CAST(:launch AS text)) AS uuid);
ROLLBACK;
\endif
\else
-- Sold out (or not bookable): the service rolls back, then reads why.
ROLLBACK;
SELECT status, scheduled_at > now(), capacity - seats_booked FROM launches
WHERE id = CAST(md5('launch-' || CAST(:launch AS text)) AS uuid);
\endif
