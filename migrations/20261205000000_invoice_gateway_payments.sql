-- Invoices paid through the payment gateway (Stripe), and the gateway's webhook events.
--
-- A gateway payment is opened PENDING with its amount reserved on the invoice
-- (`amount_pending_minor`), so a manual payment recorded meanwhile can never push the two past
-- the invoice's amount. Only the gateway's signed webhook, or the reconciliation that reads the
-- payment intent back when a webhook was lost, settles it: SUCCEEDED moves the reservation into
-- `amount_paid_minor` and writes the PAYMENT ledger entry; FAILED or CANCELLED releases it.

ALTER TABLE invoices
    ADD COLUMN amount_pending_minor BIGINT NOT NULL DEFAULT 0,
    ADD CONSTRAINT invoices_pending_within_due
        CHECK (amount_pending_minor >= 0 AND amount_paid_minor + amount_pending_minor <= amount_minor);

ALTER TABLE invoice_payments
    -- The Stripe payment method the agency pays with (`pm_...`), for a retried creation.
    ADD COLUMN payment_method_id TEXT,
    -- For Stripe.js when the payment requires an action (3-D Secure); never logged.
    ADD COLUMN client_secret TEXT,
    -- The gateway's reason when the payment failed, safe to show to the payer.
    ADD COLUMN failure_message TEXT NOT NULL DEFAULT '',
    -- The attempt creating the payment intent holds the payment until then.
    ADD COLUMN gateway_claimed_until TIMESTAMPTZ;

-- What the reconciliation looks at: gateway payments not settled yet.
CREATE INDEX invoice_payments_open_at_gateway ON invoice_payments (created_at, id)
    WHERE status IN ('PENDING', 'REQUIRES_ACTION');

-- Each gateway event once, written in the transaction of its effect, so a redelivered event
-- (or one delivered to two replicas at once) changes nothing the second time.
CREATE TABLE gateway_events (
    event_id     TEXT PRIMARY KEY CHECK (event_id <> ''),
    type         TEXT NOT NULL,
    -- The object the event is about (a payment intent id), for operators.
    object_id    TEXT NOT NULL DEFAULT '',
    -- False for ignored types and for objects that are not ours.
    processed    BOOLEAN NOT NULL,
    -- When the gateway created the event.
    created_at   TIMESTAMPTZ NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    trace_id     TEXT
);

CREATE TRIGGER gateway_events_are_kept BEFORE UPDATE OR DELETE ON gateway_events
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
