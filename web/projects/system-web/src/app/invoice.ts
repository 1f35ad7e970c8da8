// FINANCE: one invoice: the agency billed, its lines and payments, the PDF, recording a payment
// received outside the gateway, correcting one, and a reminder for an overdue invoice.
import { ChangeDetectionStrategy, Component, effect, inject, input, signal, viewChild } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  Action,
  Api,
  ConfirmDialog,
  dateTime,
  describeError,
  downloadBytes,
  enumLabel,
  FieldErrors,
  minorPerMajor,
  money,
  Shell,
} from '@astro/shared';
import {
  InvoiceStatus,
  PaymentChannel,
  PaymentStatus,
  type Invoice,
  type Payment,
} from '@astro/shared/gen/astrobookings/finance/v1/finance_pb';
import { SystemNav } from './nav';

@Component({
  selector: 'app-invoice',
  imports: [ConfirmDialog, ReactiveFormsModule, RouterLink, Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell [heading]="invoice() ? 'Invoice ' + invoice()?.number : 'Invoice'">
      <app-system-nav />
      <p><a routerLink="/invoices">← All invoices</a></p>
      @if (invoice(); as invoice) {
        <dl class="facts">
          <dt>Status</dt><dd data-testid="invoice-status">{{ statusLabel(invoice.status) }}</dd>
          <dt>Billed to</dt><dd>{{ invoice.billTo?.name }} (tax id {{ invoice.billTo?.taxId }})</dd>
          <dt>Launch</dt><dd>{{ invoice.launch?.destination }} on {{ invoice.launch?.rocketName }}, {{ dateTime(invoice.launch?.scheduledAt) }}</dd>
          <dt>Legal date</dt><dd>{{ invoice.legalDate }}</dd>
          <dt>Due date</dt><dd>{{ invoice.dueDate }}</dd>
          <dt>Amount</dt><dd>{{ money(invoice.amount) }}</dd>
          <dt>Paid</dt><dd data-testid="amount-paid">{{ money(invoice.amountPaid) }}</dd>
          <dt>Due now</dt><dd data-testid="amount-due">{{ money(invoice.amountDue) }}</dd>
        </dl>
        <div class="pager">
          <button type="button" class="secondary" (click)="downloadPdf()" [disabled]="action.busy()">Download PDF</button>
          @if (invoice.status === overdue) {
            <button type="button" class="secondary" (click)="remind()" [disabled]="action.busy()">Send a reminder</button>
          }
        </div>

        <h2>Lines</h2>
        <table>
          <caption class="muted">What the invoice charges</caption>
          <thead><tr><th scope="col">Description</th><th scope="col">Quantity</th><th scope="col">Amount</th></tr></thead>
          <tbody>
            @for (line of invoice.lines; track $index) {
              <tr><td>{{ line.description }}</td><td>{{ line.quantity }}</td><td>{{ money(line.amount) }}</td></tr>
            }
          </tbody>
        </table>

        <h2>Payments</h2>
        <table>
          <caption class="muted">Payments received</caption>
          <thead><tr><th scope="col">Received</th><th scope="col">Channel</th><th scope="col">Amount</th><th scope="col">Reference</th><th scope="col">State</th><th scope="col">Action</th></tr></thead>
          <tbody>
            @for (payment of invoice.payments; track payment.id) {
              <tr data-testid="payment-row">
                <td>{{ dateTime(payment.receivedAt) }}</td><td>{{ channelLabel(payment.channel) }}</td>
                <td>{{ money(payment.amount) }}@if (payment.correctionReason) { (was {{ money(payment.originalAmount) }}: {{ payment.correctionReason }}) }</td>
                <td>{{ payment.reference }}</td><td>{{ paymentStatusLabel(payment.status) }}</td>
                <td>
                  @if (payment.channel !== gatewayChannel) {
                    <button type="button" class="secondary" (click)="startCorrection(payment)">Correct</button>
                  }
                </td>
              </tr>
            } @empty {
              <tr><td colspan="6" class="muted">No payments yet.</td></tr>
            }
          </tbody>
        </table>

        @if (correcting(); as payment) {
          <h2>Correct the payment of {{ money(payment.amount) }}</h2>
          <form class="grid" [formGroup]="correction" (ngSubmit)="correct(payment)" novalidate aria-label="Correct a payment">
            <p>
              <label>Right amount (0 voids it) <input type="number" min="0" step="0.01" formControlName="amount" aria-describedby="correct-amount-error" /></label>
              <span id="correct-amount-error" class="field-error">{{ correctionErrors.of('amount', 'amount') }}</span>
            </p>
            <p>
              <label>Reason <input formControlName="reason" aria-describedby="correct-reason-error" /></label>
              <span id="correct-reason-error" class="field-error">{{ correctionErrors.of('reason', 'reason') }}</span>
            </p>
            <p class="pager">
              <button type="submit" [disabled]="action.busy()">Save correction</button>
              <button type="button" class="secondary" (click)="correcting.set(null)">Stop</button>
            </p>
          </form>
        }

        @if (invoice.status !== paid && invoice.status !== credited) {
          <h2>Record a payment</h2>
          <form class="grid" [formGroup]="payment" (ngSubmit)="record(invoice)" novalidate aria-label="Record a payment">
            <p>
              <label>Amount ({{ invoice.amountDue?.currency }}) <input type="number" min="0" step="0.01" formControlName="amount" [attr.aria-invalid]="!!paymentErrors.of('amount', 'amount')" aria-describedby="amount-error" /></label>
              <span id="amount-error" class="field-error">{{ paymentErrors.of('amount', 'amount') }}</span>
            </p>
            <p>
              <label>Channel
                <select formControlName="channel">
                  <option [value]="channels.BANK_TRANSFER">Bank transfer</option>
                  <option [value]="channels.CHEQUE">Cheque</option>
                  <option [value]="channels.OTHER">Other</option>
                </select>
              </label>
            </p>
            <p>
              <label>Received on <input type="date" formControlName="receivedOn" aria-describedby="received-error" /></label>
              <span id="received-error" class="field-error">{{ paymentErrors.of('receivedOn', 'received_at') }}</span>
            </p>
            <p><label>Reference <input formControlName="reference" /></label></p>
            <p><label>Note <input formControlName="note" /></label></p>
            <p><button type="submit" [disabled]="action.busy()">Record payment</button></p>
          </form>
        }
        @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
        @if (notice(); as notice) { <p class="ok" role="status">{{ notice }}</p> }
      } @else if (action.failure(); as failure) {
        <p class="error" role="alert">{{ failure.message }}</p>
      } @else {
        <p aria-live="polite">Loading…</p>
      }
      <astro-confirm title="Send a reminder?" yes="Send it" />
    </astro-shell>
  `,
})
export class InvoicePage {
  private readonly api = inject(Api);
  private readonly builder = inject(FormBuilder).nonNullable;
  readonly id = input.required<string>();
  protected readonly invoice = signal<Invoice | null>(null);
  protected readonly correcting = signal<Payment | null>(null);
  protected readonly notice = signal('');
  protected readonly overdue = InvoiceStatus.OVERDUE;
  protected readonly paid = InvoiceStatus.PAID;
  protected readonly credited = InvoiceStatus.CREDITED;
  protected readonly channels = PaymentChannel;
  protected readonly gatewayChannel = PaymentChannel.PAYMENT_GATEWAY;
  protected readonly payment = this.builder.group({
    amount: ['', [Validators.required, Validators.min(0.01)]],
    channel: String(PaymentChannel.BANK_TRANSFER),
    receivedOn: [new Date().toISOString().slice(0, 10), Validators.required],
    reference: '',
    note: '',
  });
  protected readonly paymentErrors = new FieldErrors(this.payment);
  protected readonly correction = this.builder.group({
    amount: ['', [Validators.required, Validators.min(0)]],
    reason: ['', Validators.required],
  });
  protected readonly correctionErrors = new FieldErrors(this.correction);
  protected readonly action = new Action();
  protected readonly dateTime = dateTime;
  protected readonly money = money;
  private readonly confirm = viewChild.required(ConfirmDialog);
  /** The key of the payment being recorded; a new one once it was answered. */
  private paymentKey = crypto.randomUUID();

  constructor() {
    effect(() => void this.load(this.id()));
  }

  protected statusLabel(status: number): string {
    return enumLabel(InvoiceStatus, status);
  }

  protected channelLabel(channel: number): string {
    return enumLabel(PaymentChannel, channel);
  }

  protected paymentStatusLabel(status: number): string {
    return enumLabel(PaymentStatus, status);
  }

  protected async record(invoice: Invoice): Promise<void> {
    this.notice.set('');
    if (this.action.busy() || !this.paymentErrors.submit()) {
      return;
    }
    const value = this.payment.getRawValue();
    const currency = invoice.amountDue?.currency ?? 'USD';
    const answer = await this.action.run(() =>
      this.api.finance.recordPayment({
        id: invoice.id,
        amount: { amountMinor: BigInt(Math.round(Number(value.amount) * minorPerMajor(currency))), currency },
        channel: Number(value.channel),
        receivedAt: timestampFromDate(new Date(`${value.receivedOn}T12:00:00Z`)),
        reference: value.reference.trim(),
        note: value.note.trim(),
        idempotencyKey: this.paymentKey,
      }),
    );
    this.paymentKey = crypto.randomUUID();
    if (answer?.invoice) {
      this.invoice.set(answer.invoice);
      this.payment.controls.amount.reset();
      this.paymentErrors.submitted.set(false);
      this.notice.set(`Payment recorded: the invoice is ${this.statusLabel(answer.invoice.status).toLowerCase()}.`);
    } else {
      const failure = this.action.failure();
      if (failure) {
        this.paymentErrors.failed(failure);
      }
    }
  }

  protected startCorrection(payment: Payment): void {
    this.correcting.set(payment);
    const currency = payment.amount?.currency ?? 'USD';
    this.correction.setValue({
      amount: String(Number(payment.amount?.amountMinor ?? 0n) / minorPerMajor(currency)),
      reason: '',
    });
  }

  protected async correct(payment: Payment): Promise<void> {
    if (this.action.busy() || !this.correctionErrors.submit()) {
      return;
    }
    const value = this.correction.getRawValue();
    const currency = payment.amount?.currency ?? 'USD';
    const answer = await this.action.run(() =>
      this.api.finance.correctPayment({
        invoiceId: payment.invoiceId,
        paymentId: payment.id,
        amount: { amountMinor: BigInt(Math.round(Number(value.amount) * minorPerMajor(currency))), currency },
        reason: value.reason.trim(),
      }),
    );
    if (answer) {
      this.correcting.set(null);
      this.notice.set('Payment corrected.');
      await this.load(this.id());
    }
  }

  protected async downloadPdf(): Promise<void> {
    const invoice = this.invoice();
    const pdf = await this.action.run(() => this.api.finance.getInvoicePdf({ id: this.id() }));
    if (pdf) {
      downloadBytes(pdf.data, pdf.contentType || 'application/pdf', `invoice-${invoice?.number ?? this.id()}.pdf`);
    }
  }

  protected async remind(): Promise<void> {
    if (await this.confirm().ask(`E-mail ${this.invoice()?.billTo?.email} a reminder of this overdue invoice now?`)) {
      const sent = await this.action.run(() => this.api.finance.sendInvoiceReminder({ id: this.id() }));
      if (sent) {
        this.notice.set('Reminder sent.');
      }
    }
  }

  private async load(id: string): Promise<void> {
    try {
      this.invoice.set((await this.api.finance.getInvoice({ id })).invoice ?? null);
    } catch (error) {
      this.action.failure.set(describeError(error));
    }
  }
}
