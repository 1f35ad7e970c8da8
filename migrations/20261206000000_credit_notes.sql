-- Credit notes: the correction of an issued invoice, which itself never changes.
--
-- A credit note lowers what an invoice bills by its amount. It is numbered like an invoice,
-- in its own gapless series per year of its legal date ('CREDIT_NOTE' in
-- `invoice_number_series`, "CN-2026-000001"), in the transaction that records it, and moves
-- the invoice's `amount_credited_minor` with one conditional UPDATE: a credit note never takes
-- more than is still open (the amount minus what was credited, paid and is being paid through
-- the gateway). Payments and their limits are measured against `amount_payable_minor`, what
-- the invoice bills after its credit notes.

ALTER TABLE invoices
    ADD COLUMN amount_credited_minor BIGINT NOT NULL DEFAULT 0;

ALTER TABLE invoices
    ADD COLUMN amount_payable_minor BIGINT
        GENERATED ALWAYS AS (amount_minor - amount_credited_minor) STORED,
    ADD CONSTRAINT invoices_credited_within_amount
        CHECK (amount_credited_minor BETWEEN 0 AND amount_minor),
    DROP CONSTRAINT invoices_paid_within_amount,
    ADD CONSTRAINT invoices_paid_within_payable
        CHECK (amount_paid_minor BETWEEN 0 AND amount_minor - amount_credited_minor),
    DROP CONSTRAINT invoices_pending_within_due,
    ADD CONSTRAINT invoices_pending_within_due
        CHECK (amount_pending_minor >= 0
               AND amount_paid_minor + amount_pending_minor <= amount_minor - amount_credited_minor),
    -- PAID: what it bills after its credit notes is paid. An invoice credited in full (with
    -- nothing paid) is CREDITED, not PAID; one of amount 0 is paid at issue.
    DROP CONSTRAINT invoices_paid_at_when_paid,
    ADD CONSTRAINT invoices_paid_at_when_paid
        CHECK ((paid_at IS NOT NULL) = (amount_paid_minor = amount_minor - amount_credited_minor
                                        AND (amount_paid_minor > 0 OR amount_minor = 0)));

DROP INDEX invoices_by_due_date;
CREATE INDEX invoices_by_due_date ON invoices (due_date) WHERE amount_paid_minor < amount_payable_minor;
DROP INDEX invoices_unpaid_by_due_date;
CREATE INDEX invoices_unpaid_by_due_date ON invoices (due_date, id)
    WHERE amount_paid_minor < amount_payable_minor AND reminder_step < 3;

CREATE TABLE credit_notes (
    id               UUID PRIMARY KEY,
    number           TEXT NOT NULL UNIQUE,
    number_year      INTEGER NOT NULL,
    number_sequence  INTEGER NOT NULL CHECK (number_sequence > 0),
    invoice_id       UUID NOT NULL REFERENCES invoices (id),
    invoice_number   TEXT NOT NULL,
    agency_id        UUID NOT NULL,
    legal_date       DATE NOT NULL,
    currency         TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_minor     BIGINT NOT NULL CHECK (amount_minor > 0),
    reason           TEXT NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    idempotency_key  TEXT NOT NULL CHECK (char_length(idempotency_key) BETWEEN 8 AND 255),
    issued_at        TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service  TEXT NOT NULL,
    created_user_id  TEXT,
    created_trace_id TEXT,
    CONSTRAINT credit_notes_key UNIQUE (invoice_id, idempotency_key),
    CONSTRAINT credit_notes_number_in_series UNIQUE (number_year, number_sequence),
    CONSTRAINT credit_notes_number_of_its_year
        CHECK (number_year = extract(year FROM legal_date)::integer)
);

CREATE INDEX credit_notes_by_invoice ON credit_notes (invoice_id, issued_at, id);

-- Issued credit notes are documents too: never changed, never deleted.
CREATE TRIGGER credit_notes_are_kept BEFORE UPDATE OR DELETE ON credit_notes
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
