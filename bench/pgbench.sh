#!/usr/bin/env bash
# BookingAPI's seat-taking transaction (bench/pgbench_booking.sql) under pgbench, on the same
# PostgreSQL server the mesh uses: creates a fresh database on ASTRO_TEST_PG_ADMIN_URL (from
# .data/dev/env unless already set), migrates it with astro-migrate, seeds one agency, a rocket,
# LAUNCHES launches of CAPACITY seats and TRAVELERS travelers with complete profiles, runs
# pgbench, prints its summary plus p50/p99 from the per-transaction log and a seat audit
# (oversold seats), then drops the database (KEEP_DB=1 keeps it).
#
# Usage: bench/pgbench.sh [clients] [seconds]
#   env: LAUNCHES (2000), CAPACITY (100, the schema's maximum), TRAVELERS (10000),
#        SEAT_LIMIT (4), THREADS (2), MODE (prepared), KEEP_DB,
#        SETUP_ONLY=1: create, migrate and seed, print `database_url=URL` and keep the database
#        (bench/run runs pgbench on it itself, between CPU readings)
set -euo pipefail
cd "$(dirname "$0")/.."

clients=${1:-16}
seconds=${2:-10}
launches=${LAUNCHES:-2000}
capacity=${CAPACITY:-100}
travelers=${TRAVELERS:-10000}
seat_limit=${SEAT_LIMIT:-4}
threads=${THREADS:-2}
mode=${MODE:-prepared}

if [ -z "${ASTRO_TEST_PG_ADMIN_URL:-}" ]; then
    set -a
    # shellcheck disable=SC1091
    . .data/dev/env
    set +a
fi
pg_bin=$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[ -x "$pg_bin/pgbench" ] || { echo "pgbench not found under /usr/lib/postgresql/*/bin" >&2; exit 1; }

admin=$ASTRO_TEST_PG_ADMIN_URL
database=bench_$(date +%s)_$$
url=${admin%/*}/$database
work=$(mktemp -d)

cleanup() {
    rm -rf "$work"
    if [ -z "${KEEP_DB:-}" ]; then
        "$pg_bin/psql" -q "$admin" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null || true
    else
        echo "kept database: $url"
    fi
}
trap cleanup EXIT

psql() { "$pg_bin/psql" -v ON_ERROR_STOP=1 -q -X "$@"; }

psql "$admin" -c "CREATE DATABASE $database"
migrate=${ASTRO_TEST_BIN_DIR:-target/debug}/astro-migrate
if [ ! -x "$migrate" ]; then
    cargo build -q -p astro-shared --bin astro-migrate
    migrate=target/debug/astro-migrate
fi
DATABASE_URL=$url RUST_LOG=warn "$migrate" >/dev/null

# Ids are md5 hashes shaped as UUIDs: random-looking like the service's v4 ids, and computable
# from a number in the pgbench script.
psql "$url" -v launches="$launches" -v capacity="$capacity" -v travelers="$travelers" <<'SQL'
INSERT INTO agencies (id, name, tax_id, address_line1, address_city, address_country_code,
                      created_service, updated_service)
VALUES (md5('agency-1')::uuid, 'Bench Space', 'US-12-3456789', '1 Rocket Road', 'Hawthorne',
        'US', 'pgbench', 'pgbench');
INSERT INTO rockets (id, agency_id, name, passenger_capacity, rocket_range, created_service,
                     updated_service)
VALUES (md5('rocket-1')::uuid, md5('agency-1')::uuid, 'Falcon Bench', :capacity,
        'INTERPLANETARY', 'pgbench', 'pgbench');
INSERT INTO launches (id, slug, agency_id, rocket_id, spaceport, destination, scheduled_at,
                      original_scheduled_at, price_minor, currency, capacity, minimum_occupancy,
                      created_service, updated_service)
SELECT md5('launch-' || n)::uuid, 'bench-launch-' || n, md5('agency-1')::uuid,
       md5('rocket-1')::uuid, 'Cape Canaveral', 'Moon ' || n,
       now() + interval '200 days', now() + interval '200 days', 1000000, 'USD', :capacity, 1,
       'pgbench', 'pgbench'
FROM generate_series(1, :launches) AS n;
INSERT INTO travelers (id, name, email, phone, tax_id, address_line1, address_city,
                       address_country_code, created_service, updated_service)
SELECT md5('traveler-' || n)::uuid, 'Traveler ' || n, 'traveler' || n || '@example.com',
       '+14155550123', 'TX-123456', '1 Rocket Road', 'Hawthorne', 'US', 'pgbench', 'pgbench'
FROM generate_series(1, :travelers) AS n;
-- The bare hot-row anchor (bench/pgbench_hot_row.sql): one row, a conditional UPDATE.
CREATE TABLE bench_hot_row (id int PRIMARY KEY, taken bigint NOT NULL, capacity bigint NOT NULL);
INSERT INTO bench_hot_row VALUES (1, 0, 9223372036854775807);
ANALYZE;
SQL

if [ -n "${SETUP_ONLY:-}" ]; then
    KEEP_DB=1
    echo "database_url=$url"
    exit 0
fi

echo "load average: $(cut -d " " -f 1-3 /proc/loadavg)"
echo "pgbench $("$pg_bin/pgbench" --version | awk '{print $3}'): $clients clients, $threads threads, ${seconds} s," \
    "-M $mode; $launches launches of $capacity seats, $travelers travelers (database $database)"
script=$(realpath bench/pgbench_booking.sql)
(
    cd "$work"
    "$pg_bin/pgbench" -n -M "$mode" -f "$script" -c "$clients" -j "$threads" -T "$seconds" \
        -D launches="$launches" -D travelers="$travelers" -D seat_limit="$seat_limit" \
        -l --log-prefix=tx "$url"
)

# Per-transaction log: `client tx_no latency_us script epoch epoch_us`; failed ones say so.
cat "$work"/tx.* | awk '$3 ~ /^[0-9]+$/ { print $3 }' | sort -n | awk '
    { v[NR] = $1 }
    END {
        if (NR == 0) { print "no transactions logged"; exit }
        p50 = v[int(0.50 * (NR - 1) + 0.5) + 1]; p99 = v[int(0.99 * (NR - 1) + 0.5) + 1]
        printf "per-transaction latency: n=%d  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
            NR, p50 / 1000, p99 / 1000, v[NR] / 1000
    }'

psql "$url" -A -F ' ' -t <<'SQL'
WITH held AS (
    SELECT launch_id, sum(seats) FILTER (WHERE status <> 'CANCELLED' OR NOT seats_released) AS seats
    FROM bookings GROUP BY launch_id)
SELECT 'bookings ' || (SELECT count(*) FROM bookings)
    || ', seats booked ' || COALESCE(sum(l.seats_booked), 0)
    || ', full launches ' || count(*) FILTER (WHERE l.seats_booked = l.capacity)
    || ', launches whose counter disagrees with its bookings '
    || count(*) FILTER (WHERE l.seats_booked <> COALESCE(h.seats, 0))
    || E'\noversold seats: '
    || COALESCE(sum(GREATEST(GREATEST(COALESCE(h.seats, 0), l.seats_booked) - l.capacity, 0)), 0)
FROM launches l LEFT JOIN held h ON h.launch_id = l.id;
SQL
