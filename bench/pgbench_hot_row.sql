-- The bare hot-row anchor: every client takes one unit of the same row with a conditional
-- UPDATE, the shape of BookingAPI's seat counter (`seats_booked + n <= capacity`) without the
-- rest of its transaction.
UPDATE bench_hot_row SET taken = taken + 1 WHERE id = 1 AND taken + 1 <= capacity;
