-- FinanceAPI's launch fee invoices and the payments against them.
--
-- What the database holds, whatever the code does:
-- * one invoice per launch (`invoices_one_per_launch`);
-- * gapless numbers per series and year: a number is taken from `invoice_number_series` by
--   the UPDATE that locks the counter row, in the transaction that inserts the invoice, so a
--   failed or rolled-back issue gives its number back and concurrent issues queue on the row;
-- * an issued invoice never changes what it says (`invoices_are_immutable`); only the
--   payment tally beside it moves, and only within the amount (`invoices_paid_within_amount`);
-- * nothing is deleted: payments are corrected by ledger entries (`invoice_payment_entries`),
--   and the current amount of a payment is the sum of its entries.

CREATE TABLE invoice_number_series (
    -- INVOICE ("AB-2026-000042"); credit notes get a series of their own.
    series      TEXT NOT NULL CHECK (series IN ('INVOICE', 'CREDIT_NOTE')),
    year        INTEGER NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    last_number INTEGER NOT NULL CHECK (last_number > 0),
    PRIMARY KEY (series, year)
);

CREATE TABLE invoices (
    id                          UUID PRIMARY KEY,
    number                      TEXT NOT NULL UNIQUE,
    number_year                 INTEGER NOT NULL,
    number_sequence             INTEGER NOT NULL CHECK (number_sequence > 0),
    -- Not foreign keys: launches and agencies are AgencyAPI's; the invoice keeps a snapshot.
    launch_id                   UUID NOT NULL,
    agency_id                   UUID NOT NULL,
    kind                        TEXT NOT NULL
        CHECK (kind IN ('SUCCESSFUL_LAUNCH_FEE', 'ABORTED_LAUNCH_FEE')),
    -- Addressee (name, tax id, legal address, e-mail) and launch as they were at issue.
    bill_to                     JSONB NOT NULL,
    launch                      JSONB NOT NULL,
    legal_date                  DATE NOT NULL,
    due_date                    DATE NOT NULL,
    currency                    TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_minor                BIGINT NOT NULL CHECK (amount_minor >= 0),
    fee_rate_basis_points       INTEGER NOT NULL CHECK (fee_rate_basis_points BETWEEN 0 AND 10000),
    reliable_agency             BOOLEAN NOT NULL,
    earlier_successful_launches INTEGER NOT NULL CHECK (earlier_successful_launches >= 0),
    reliability_launch_ids      UUID[] NOT NULL DEFAULT '{}',
    -- The revenue the fee was computed on, in the launch's currency (SUCCESSFUL only).
    revenue_currency            TEXT NOT NULL DEFAULT '',
    gross_revenue_minor         BIGINT NOT NULL DEFAULT 0 CHECK (gross_revenue_minor >= 0),
    refunds_minor               BIGINT NOT NULL DEFAULT 0 CHECK (refunds_minor >= 0),
    net_revenue_minor           BIGINT GENERATED ALWAYS AS (gross_revenue_minor - refunds_minor) STORED,
    seats_sold                  INTEGER NOT NULL DEFAULT 0 CHECK (seats_sold >= 0),
    passengers                  INTEGER NOT NULL DEFAULT 0 CHECK (passengers >= 0),
    -- finance.v1.InvoiceLine as JSON objects: kind, description, quantity, amount_minor.
    lines                       JSONB NOT NULL,
    issued_at                   TIMESTAMPTZ NOT NULL,
    -- The payment tally: the sum of SUCCEEDED payments, moved in each payment's transaction.
    amount_paid_minor           BIGINT NOT NULL DEFAULT 0,
    paid_at                     TIMESTAMPTZ,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service             TEXT NOT NULL,
    created_user_id             TEXT,
    created_trace_id            TEXT,
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_service             TEXT NOT NULL,
    updated_user_id             TEXT,
    updated_trace_id            TEXT,
    CONSTRAINT invoices_one_per_launch UNIQUE (launch_id),
    CONSTRAINT invoices_number_in_series UNIQUE (number_year, number_sequence),
    CONSTRAINT invoices_due_in_30_days CHECK (due_date = legal_date + 30),
    CONSTRAINT invoices_number_of_its_year
        CHECK (number_year = extract(year FROM legal_date)::integer),
    CONSTRAINT invoices_paid_within_amount CHECK (amount_paid_minor BETWEEN 0 AND amount_minor),
    CONSTRAINT invoices_paid_at_when_paid CHECK ((paid_at IS NOT NULL) = (amount_paid_minor = amount_minor))
);

CREATE INDEX invoices_by_agency ON invoices (agency_id, legal_date DESC, number DESC);
CREATE INDEX invoices_by_legal_date ON invoices (legal_date DESC, number DESC);
CREATE INDEX invoices_by_due_date ON invoices (due_date) WHERE amount_paid_minor < amount_minor;

-- What an invoice says is fixed at issue; a correction is a credit note, never an edit.
CREATE FUNCTION invoices_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'invoice % cannot be deleted', OLD.number USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.number, NEW.number_year, NEW.number_sequence, NEW.launch_id, NEW.agency_id,
        NEW.kind, NEW.bill_to, NEW.launch, NEW.legal_date, NEW.due_date, NEW.currency,
        NEW.amount_minor, NEW.fee_rate_basis_points, NEW.reliable_agency,
        NEW.earlier_successful_launches, NEW.reliability_launch_ids, NEW.revenue_currency,
        NEW.gross_revenue_minor, NEW.refunds_minor, NEW.seats_sold, NEW.passengers, NEW.lines,
        NEW.issued_at, NEW.created_at, NEW.created_service, NEW.created_user_id)
       IS DISTINCT FROM
       (OLD.id, OLD.number, OLD.number_year, OLD.number_sequence, OLD.launch_id, OLD.agency_id,
        OLD.kind, OLD.bill_to, OLD.launch, OLD.legal_date, OLD.due_date, OLD.currency,
        OLD.amount_minor, OLD.fee_rate_basis_points, OLD.reliable_agency,
        OLD.earlier_successful_launches, OLD.reliability_launch_ids, OLD.revenue_currency,
        OLD.gross_revenue_minor, OLD.refunds_minor, OLD.seats_sold, OLD.passengers, OLD.lines,
        OLD.issued_at, OLD.created_at, OLD.created_service, OLD.created_user_id) THEN
        RAISE EXCEPTION 'issued invoice % cannot change', OLD.number USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER invoices_are_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_are_immutable();

-- A payment against an invoice. `amount_minor` is the sum of its ledger entries.
CREATE TABLE invoice_payments (
    id                    UUID PRIMARY KEY,
    invoice_id            UUID NOT NULL REFERENCES invoices (id),
    -- finance.v1.PaymentChannel names.
    channel               TEXT NOT NULL
        CHECK (channel IN ('BANK_TRANSFER', 'CHEQUE', 'PAYMENT_GATEWAY', 'OTHER')),
    -- finance.v1.PaymentStatus names; recorded payments are SUCCEEDED from the start.
    status                TEXT NOT NULL
        CHECK (status IN ('PENDING', 'REQUIRES_ACTION', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    currency              TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    original_amount_minor BIGINT NOT NULL CHECK (original_amount_minor > 0),
    amount_minor          BIGINT NOT NULL CHECK (amount_minor >= 0),
    reference             TEXT NOT NULL DEFAULT '' CHECK (char_length(reference) <= 100),
    note                  TEXT NOT NULL DEFAULT '' CHECK (char_length(note) <= 1000),
    received_at           TIMESTAMPTZ,
    gateway_payment_id    TEXT UNIQUE,
    idempotency_key       TEXT NOT NULL CHECK (char_length(idempotency_key) BETWEEN 8 AND 255),
    correction_reason     TEXT NOT NULL DEFAULT '',
    corrected_at          TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service       TEXT NOT NULL,
    created_user_id       TEXT,
    created_trace_id      TEXT,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_service       TEXT NOT NULL,
    updated_user_id       TEXT,
    updated_trace_id      TEXT,
    CONSTRAINT invoice_payments_key UNIQUE (invoice_id, idempotency_key),
    CONSTRAINT invoice_payments_received_when_succeeded
        CHECK (status <> 'SUCCEEDED' OR received_at IS NOT NULL)
);

CREATE INDEX invoice_payments_by_invoice ON invoice_payments (invoice_id, created_at, id);

-- The ledger: a payment's first entry records it; a correction adds a REVERSAL of what it
-- was and, unless it voids the payment, a CORRECTION with what it is now, each with the
-- employee (created_user_id) and the reason.
CREATE TABLE invoice_payment_entries (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id         UUID NOT NULL REFERENCES invoice_payments (id),
    invoice_id         UUID NOT NULL REFERENCES invoices (id),
    kind               TEXT NOT NULL CHECK (kind IN ('PAYMENT', 'REVERSAL', 'CORRECTION')),
    amount_minor       BIGINT NOT NULL,
    received_at        TIMESTAMPTZ,
    reference          TEXT NOT NULL DEFAULT '',
    reason             TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service    TEXT NOT NULL,
    created_user_id    TEXT,
    created_trace_id   TEXT,
    CONSTRAINT invoice_payment_entries_signed CHECK (
        (kind = 'REVERSAL' AND amount_minor <= 0) OR (kind <> 'REVERSAL' AND amount_minor >= 0)),
    CONSTRAINT invoice_payment_entries_corrections_have_reason
        CHECK (kind = 'PAYMENT' OR reason <> '')
);

CREATE INDEX invoice_payment_entries_by_payment ON invoice_payment_entries (payment_id, id);

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are never changed or deleted' USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER invoice_payment_entries_append_only BEFORE UPDATE OR DELETE ON invoice_payment_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

CREATE FUNCTION invoice_payments_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'payments are corrected, never deleted' USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER invoice_payments_are_kept BEFORE DELETE ON invoice_payments
    FOR EACH ROW EXECUTE FUNCTION invoice_payments_are_kept();
