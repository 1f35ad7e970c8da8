-- Overdue invoices and their reminders.
--
-- The overdue job (FinanceAPI) marks an unpaid invoice OVERDUE the day after its due date and
-- sends automatic reminders on days 1, 7 and 14 after it (the first is the overdue notice,
-- INVOICE_OVERDUE; the others INVOICE_REMINDER). `reminder_step` is the last automatic step
-- sent, moved by a conditional UPDATE, and `invoice_reminders_once_per_step` keys each step: a
-- reminder is sent once whatever the replicas or the restarts. FINANCE's manual reminders
-- (`:remind`) have no step. Every reminder has its ordinal on the invoice (`reminder_number`).

ALTER TABLE invoices
    ADD COLUMN overdue_at        TIMESTAMPTZ,
    ADD COLUMN reminder_step     SMALLINT NOT NULL DEFAULT 0 CHECK (reminder_step BETWEEN 0 AND 3),
    ADD COLUMN reminder_count    INTEGER NOT NULL DEFAULT 0 CHECK (reminder_count >= 0),
    ADD COLUMN last_reminder_at  TIMESTAMPTZ;

CREATE INDEX invoices_unpaid_by_due_date ON invoices (due_date, id)
    WHERE amount_paid_minor < amount_minor AND reminder_step < 3;

CREATE TABLE invoice_reminders (
    id               UUID PRIMARY KEY,
    invoice_id       UUID NOT NULL REFERENCES invoices (id),
    -- 1..3 for the automatic schedule; NULL for a manual reminder.
    schedule_step    SMALLINT CHECK (schedule_step BETWEEN 1 AND 3),
    reminder_number  INTEGER NOT NULL CHECK (reminder_number >= 1),
    amount_due_minor BIGINT NOT NULL CHECK (amount_due_minor > 0),
    currency         TEXT NOT NULL,
    sent_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_service  TEXT NOT NULL,
    created_user_id  TEXT,
    created_trace_id TEXT,
    CONSTRAINT invoice_reminders_once_per_step UNIQUE (invoice_id, schedule_step),
    CONSTRAINT invoice_reminders_numbered UNIQUE (invoice_id, reminder_number)
);

CREATE TRIGGER invoice_reminders_are_kept BEFORE UPDATE OR DELETE ON invoice_reminders
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
