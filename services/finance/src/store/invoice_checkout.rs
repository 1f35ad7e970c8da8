//! Invoices paid through the payment gateway: opening a payment (its amount reserved on the
//! invoice), the intent the gateway created for it, and its settlement, each event of the
//! gateway's webhook recorded once in the settling transaction.

use std::time::Duration;

use astro_shared::AppError;
use uuid::Uuid;

use super::{
    Keyed, Origin, Store,
    invoices::{
        InvoicePaymentRow, InvoiceRow, PAYMENT_COLUMNS, append_entry, exceeds_due, lock_invoice,
        payment_payload, shift_tally,
    },
    record_change,
};
use crate::domain::{
    charge::PaymentStatus,
    invoice_checkout::{GatewayPaymentRequest, Settlement},
    webhook::GatewayEvent,
};

/// What a settlement did.
#[derive(Debug, Clone)]
pub enum Settled {
    /// The payment moved (and the invoice's tally with it).
    Moved {
        payment: Box<InvoicePaymentRow>,
        invoice: Box<InvoiceRow>,
    },
    /// Nothing to do: the payment was settled already, or is not ours.
    Unchanged,
    /// This gateway event was recorded before: nothing was done again.
    Duplicate,
}

const OPEN_STATUSES: [&str; 2] = ["PENDING", "REQUIRES_ACTION"];

impl Store {
    /// Opens a gateway payment of the agency's invoice: the amount (the whole open amount when
    /// not given) is reserved on the invoice in the transaction that inserts the payment, and
    /// the payment is held for `lease` by the attempt that will create its intent.
    pub async fn open_gateway_payment(
        &self,
        invoice_id: Uuid,
        agency_id: Uuid,
        request: &GatewayPaymentRequest,
        lease: Duration,
        origin: &Origin,
    ) -> Result<Keyed<InvoicePaymentRow>, AppError> {
        let mut transaction = self.pool.begin().await?;
        let invoice = lock_invoice(&mut transaction, invoice_id, Some(agency_id))
            .await?
            .ok_or_else(|| AppError::NotFound("invoice".into()))?;
        // A retry is answered before anything is checked again: the invoice may be PAID by
        // the very payment being retried.
        if let Some(existing) = self
            .payment_by_key(invoice_id, &request.idempotency_key)
            .await?
        {
            return Ok(Keyed::Replay(existing));
        }
        if invoice.due_minor() <= 0 {
            return Err(AppError::refused(
                "INVOICE_PAID",
                "nothing is due on the invoice: it is paid or credited",
            ));
        }
        let amount_minor = match &request.amount {
            Some((amount_minor, currency)) => {
                if *currency != invoice.currency {
                    return Err(AppError::invalid(
                        "amount.currency",
                        format!("must be the invoice's currency, {}", invoice.currency),
                    ));
                }
                *amount_minor
            }
            None => invoice.open_minor(),
        };
        if amount_minor <= 0 {
            return Err(exceeds_due(&invoice));
        }
        // The reservation: nothing else may be paid over it until the gateway settles it.
        shift_tally(&mut transaction, invoice_id, 0, amount_minor, origin)
            .await?
            .ok_or_else(|| exceeds_due(&invoice))?;
        let inserted = sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "INSERT INTO invoice_payments (id, invoice_id, channel, status, currency, \
                 original_amount_minor, amount_minor, payment_method_id, idempotency_key, \
                 gateway_claimed_until, created_service, created_user_id, created_trace_id, \
                 updated_service, updated_user_id, updated_trace_id) \
             VALUES ($1, $2, 'PAYMENT_GATEWAY', 'PENDING', $3, $4, 0, $5, $6, \
                 now() + make_interval(secs => $7), $8, $9, $10, $8, $9, $10) \
             ON CONFLICT (invoice_id, idempotency_key) DO NOTHING RETURNING {PAYMENT_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(invoice_id)
        .bind(&invoice.currency)
        .bind(amount_minor)
        .bind(&request.payment_method_id)
        .bind(&request.idempotency_key)
        .bind(lease.as_secs_f64())
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = inserted else {
            // The same key committed by a concurrent request meanwhile.
            transaction.rollback().await?;
            return self
                .payment_by_key(invoice_id, &request.idempotency_key)
                .await?
                .map(Keyed::Replay)
                .ok_or_else(|| AppError::Aborted("the same key is being paid".into()));
        };
        record_change(
            &mut transaction,
            origin,
            "invoice_payment",
            &row.id.to_string(),
            "INVOICE_PAYMENT_STARTED",
            payment_payload(&invoice, &row),
        )
        .await?;
        transaction.commit().await?;
        Ok(Keyed::New(row))
    }

    /// Takes an open gateway payment that has no intent yet for `lease`, unless another
    /// attempt holds it.
    pub async fn claim_gateway_payment(
        &self,
        id: Uuid,
        lease: Duration,
    ) -> Result<Option<InvoicePaymentRow>, AppError> {
        Ok(sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "UPDATE invoice_payments SET gateway_claimed_until = now() + make_interval(secs => $2) \
             WHERE id = $1 AND status = ANY($3) AND gateway_payment_id IS NULL \
                 AND (gateway_claimed_until IS NULL OR gateway_claimed_until < now()) \
             RETURNING {PAYMENT_COLUMNS}"
        ))
        .bind(id)
        .bind(lease.as_secs_f64())
        .bind(&OPEN_STATUSES[..])
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records the intent the gateway created for a payment (the first one only) and whether
    /// it waits for the payer's action.
    pub async fn record_invoice_intent(
        &self,
        id: Uuid,
        intent_id: &str,
        client_secret: Option<&str>,
        requires_action: bool,
        origin: &Origin,
    ) -> Result<InvoicePaymentRow, AppError> {
        let mut transaction = self.pool.begin().await?;
        let row = sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "UPDATE invoice_payments SET gateway_payment_id = COALESCE(gateway_payment_id, $2), \
                 client_secret = COALESCE(client_secret, $3), \
                 status = CASE WHEN status = 'PENDING' AND $4 THEN 'REQUIRES_ACTION' \
                     ELSE status END, \
                 gateway_claimed_until = NULL, updated_at = now(), updated_service = $5, \
                 updated_user_id = $6, updated_trace_id = $7 \
             WHERE id = $1 RETURNING {PAYMENT_COLUMNS}"
        ))
        .bind(id)
        .bind(intent_id)
        .bind(client_secret)
        .bind(requires_action)
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_optional(&mut *transaction)
        .await?
        .ok_or_else(|| AppError::NotFound("payment".into()))?;
        record_change(
            &mut transaction,
            origin,
            "invoice_payment",
            &row.id.to_string(),
            "INVOICE_PAYMENT_SUBMITTED",
            serde_json::json!({
                "invoice_id": row.invoice_id,
                "payment_id": row.id,
                "gateway_payment_id": row.gateway_payment_id,
                "status": row.status,
            }),
        )
        .await?;
        transaction.commit().await?;
        Ok(row)
    }

    /// Gateway payments still open after `older_than`, oldest first, for the reconciliation.
    pub async fn open_gateway_payments(
        &self,
        older_than: Duration,
        limit: i64,
    ) -> Result<Vec<InvoicePaymentRow>, AppError> {
        Ok(sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM invoice_payments \
             WHERE status = ANY($1) AND channel = 'PAYMENT_GATEWAY' \
                 AND created_at < now() - make_interval(secs => $2) \
             ORDER BY created_at, id LIMIT $3"
        ))
        .bind(&OPEN_STATUSES[..])
        .bind(older_than.as_secs_f64())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Applies what the gateway says about a payment and, for a webhook delivery, records the
    /// event in the same transaction: a second delivery of it finds the event and changes
    /// nothing. SUCCEEDED moves the reservation into the tally and writes the PAYMENT ledger
    /// entry; FAILED and CANCELLED release the reservation.
    pub async fn settle_gateway_payment(
        &self,
        settlement: &Settlement,
        event: Option<&GatewayEvent>,
        origin: &Origin,
    ) -> Result<Settled, AppError> {
        let mut transaction = self.pool.begin().await?;
        if let Some(event) = event
            && event_recorded(&mut transaction, &event.id).await?
        {
            transaction.rollback().await?;
            return Ok(Settled::Duplicate);
        }
        let moved = self.settle_in(&mut transaction, settlement, origin).await?;
        if let Some(event) = event
            && !insert_event(&mut transaction, event, moved.is_some(), origin).await?
        {
            // The same event, delivered concurrently, was processed by the other delivery.
            transaction.rollback().await?;
            return Ok(Settled::Duplicate);
        }
        transaction.commit().await?;
        Ok(match moved {
            Some((payment, invoice)) => Settled::Moved {
                payment: Box::new(payment),
                invoice: Box::new(invoice),
            },
            None => Settled::Unchanged,
        })
    }

    /// Records an event that settles nothing of ours (an ignored type, another system's
    /// object, a booking charge): `false` if it was recorded before.
    pub async fn record_gateway_event(
        &self,
        event: &GatewayEvent,
        processed: bool,
        origin: &Origin,
    ) -> Result<bool, AppError> {
        let mut connection = self.pool.acquire().await?;
        insert_event(&mut connection, event, processed, origin).await
    }

    async fn settle_in(
        &self,
        transaction: &mut sqlx::PgConnection,
        settlement: &Settlement,
        origin: &Origin,
    ) -> Result<Option<(InvoicePaymentRow, InvoiceRow)>, AppError> {
        let Some(payment) = sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM invoice_payments \
             WHERE id = $1 AND channel = 'PAYMENT_GATEWAY' FOR UPDATE"
        ))
        .bind(settlement.payment_id)
        .fetch_optional(&mut *transaction)
        .await?
        else {
            return Ok(None);
        };
        if let (Some(recorded), Some(reported)) = (
            payment.gateway_payment_id.as_deref(),
            settlement.intent_id.as_deref(),
        ) && recorded != reported
        {
            // An intent that is not the payment's (a duplicate creation): never counted here.
            tracing::error!(
                payment_id = %payment.id,
                recorded,
                reported,
                "the gateway reported an intent that is not the payment's; left for an operator"
            );
            return Ok(None);
        }
        let current = payment.status();
        let target = settlement.state.payment_status();
        if current == target || !target.reachable_from().contains(&current) {
            return Ok(None);
        }
        let open = !current.is_settled();
        // What the payment holds on the invoice: its reservation while it is open, nothing
        // once it failed or was cancelled (a late success must then fit like a new payment).
        let reserved = if open {
            payment.original_amount_minor
        } else {
            0
        };
        let (paid_delta, pending_delta) = match target {
            PaymentStatus::Succeeded => (payment.original_amount_minor, -reserved),
            PaymentStatus::Failed | PaymentStatus::Cancelled => (0, -reserved),
            PaymentStatus::Pending | PaymentStatus::RequiresAction => (0, 0),
        };
        let invoice = shift_tally(
            &mut *transaction,
            payment.invoice_id,
            paid_delta,
            pending_delta,
            origin,
        )
        .await?;
        let Some(invoice) = invoice else {
            tracing::error!(
                payment_id = %payment.id,
                invoice_id = %payment.invoice_id,
                amount_minor = payment.original_amount_minor,
                "money received after the payment was given up no longer fits the invoice; \
                 it must be refunded at the payment gateway"
            );
            return Ok(None);
        };
        let updated = sqlx::query_as::<_, InvoicePaymentRow>(&format!(
            "UPDATE invoice_payments SET status = $2, \
                 amount_minor = CASE WHEN $2 = 'SUCCEEDED' THEN original_amount_minor \
                     ELSE amount_minor END, \
                 received_at = CASE WHEN $2 = 'SUCCEEDED' THEN now() ELSE received_at END, \
                 gateway_payment_id = COALESCE(gateway_payment_id, $3), \
                 failure_message = COALESCE($4, failure_message), \
                 gateway_claimed_until = NULL, updated_at = now(), updated_service = $5, \
                 updated_user_id = $6, updated_trace_id = $7 \
             WHERE id = $1 RETURNING {PAYMENT_COLUMNS}"
        ))
        .bind(payment.id)
        .bind(target.as_str())
        .bind(&settlement.intent_id)
        .bind(settlement.state.failure_message())
        .bind(origin.service)
        .bind(origin.user_id.as_deref())
        .bind(origin.trace_id())
        .fetch_one(&mut *transaction)
        .await?;
        let event = match target {
            PaymentStatus::Succeeded => {
                append_entry(
                    &mut *transaction,
                    &updated,
                    "PAYMENT",
                    updated.amount_minor,
                    "",
                    origin,
                )
                .await?;
                "INVOICE_PAYMENT_RECORDED"
            }
            PaymentStatus::Failed | PaymentStatus::Cancelled => "INVOICE_PAYMENT_FAILED",
            PaymentStatus::Pending | PaymentStatus::RequiresAction => "INVOICE_PAYMENT_SUBMITTED",
        };
        record_change(
            &mut *transaction,
            origin,
            "invoice_payment",
            &updated.id.to_string(),
            event,
            payment_payload(&invoice, &updated),
        )
        .await?;
        Ok(Some((updated, invoice)))
    }
}

async fn event_recorded(
    connection: &mut sqlx::PgConnection,
    event_id: &str,
) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM gateway_events WHERE event_id = $1)",
    )
    .bind(event_id)
    .fetch_one(&mut *connection)
    .await?)
}

/// Records a gateway event unless it was recorded before (`false` then).
async fn insert_event(
    connection: &mut sqlx::PgConnection,
    event: &GatewayEvent,
    processed: bool,
    origin: &Origin,
) -> Result<bool, AppError> {
    Ok(sqlx::query(
        "INSERT INTO gateway_events (event_id, type, object_id, processed, created_at, trace_id) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(&event.object_id)
    .bind(processed)
    .bind(event.created)
    .bind(origin.trace_id())
    .execute(&mut *connection)
    .await?
    .rows_affected()
        == 1)
}
