// The agency's invoices: the list, one invoice with its PDF, and paying it through the payment
// gateway. The gateway's signed webhook makes it PAID; the page watches for that by reading the
// invoice again every second while a gateway payment is pending.
import { ChangeDetectionStrategy, Component, effect, inject, input, signal, type OnDestroy } from '@angular/core';
import { RouterLink } from '@angular/router';
import { Action, Api, dateTime, describeError, downloadBytes, enumLabel, money, Shell } from '@astro/shared';
import { SortOrder } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import { InvoiceSortField, InvoiceStatus, PaymentStatus, type Invoice } from '@astro/shared/gen/astrobookings/finance/v1/finance_pb';
import { AgencyNav } from './nav';

/**
 * Stripe's test-mode card, which the emulator accepts. A production deployment collects the
 * card with Stripe.js (Elements) and sends the `pm_...` id it returns.
 */
const TEST_PAYMENT_METHOD = 'pm_card_visa';
const WATCH_MS = 1_000;

function statusLabel(status: number): string {
  return enumLabel(InvoiceStatus, status);
}

@Component({
  selector: 'app-invoices',
  imports: [AgencyNav, RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Invoices">
      <app-agency-nav />
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      <table>
        <caption class="muted">Your invoices, newest first</caption>
        <thead><tr><th scope="col">Number</th><th scope="col">Launch</th><th scope="col">Legal date</th><th scope="col">Due</th><th scope="col">Amount</th><th scope="col">Due now</th><th scope="col">Status</th></tr></thead>
        <tbody>
          @for (invoice of invoices(); track invoice.id) {
            <tr data-testid="invoice-row">
              <td><a [routerLink]="['/invoices', invoice.id]">{{ invoice.number }}</a></td>
              <td>{{ invoice.launch?.destination }} on {{ invoice.launch?.rocketName }}</td>
              <td>{{ invoice.legalDate }}</td><td>{{ invoice.dueDate }}</td>
              <td>{{ money(invoice.amount) }}</td><td>{{ money(invoice.amountDue) }}</td><td>{{ statusLabel(invoice.status) }}</td>
            </tr>
          } @empty {
            <tr><td colspan="7" class="muted">No invoices yet.</td></tr>
          }
        </tbody>
      </table>
    </astro-shell>
  `,
})
export class AgencyInvoices {
  private readonly api = inject(Api);
  protected readonly invoices = signal<Invoice[]>([]);
  protected readonly action = new Action();
  protected readonly money = money;
  protected readonly statusLabel = statusLabel;

  constructor() {
    void this.action
      .run(() => this.api.finance.listInvoices({ sortBy: InvoiceSortField.LEGAL_DATE, order: SortOrder.DESCENDING, pageSize: 100 }))
      .then((answer) => this.invoices.set(answer?.invoices ?? []));
  }
}

@Component({
  selector: 'app-invoice',
  imports: [AgencyNav, RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell [heading]="invoice() ? 'Invoice ' + invoice()?.number : 'Invoice'">
      <app-agency-nav />
      <p><a routerLink="/invoices">← All invoices</a></p>
      @if (invoice(); as invoice) {
        <dl class="facts">
          <dt>Status</dt><dd data-testid="invoice-status" aria-live="polite">{{ statusLabel(invoice.status) }}</dd>
          <dt>Launch</dt><dd>{{ invoice.launch?.destination }} on {{ invoice.launch?.rocketName }}, {{ dateTime(invoice.launch?.scheduledAt) }}</dd>
          <dt>Legal date</dt><dd>{{ invoice.legalDate }}</dd>
          <dt>Due date</dt><dd>{{ invoice.dueDate }}</dd>
          <dt>Amount</dt><dd>{{ money(invoice.amount) }}</dd>
          <dt>Due now</dt><dd data-testid="amount-due">{{ money(invoice.amountDue) }}</dd>
        </dl>
        <table>
          <caption class="muted">Lines</caption>
          <thead><tr><th scope="col">Description</th><th scope="col">Amount</th></tr></thead>
          <tbody>
            @for (line of invoice.lines; track $index) { <tr><td>{{ line.description }}</td><td>{{ money(line.amount) }}</td></tr> }
          </tbody>
        </table>
        <p class="pager">
          <button type="button" class="secondary" (click)="downloadPdf()" [disabled]="action.busy()">Download PDF</button>
          @if (payable()) {
            <button type="button" (click)="pay()" [disabled]="action.busy() || waiting()">Pay {{ money(invoice.amountDue) }}</button>
          }
        </p>
        @if (waiting()) {
          <p class="notice" role="status">Payment sent: waiting for the payment gateway to confirm it…</p>
        }
        <p class="muted">Paid with the test card of the payment gateway's test mode.</p>
      }
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
    </astro-shell>
  `,
})
export class AgencyInvoice implements OnDestroy {
  private readonly api = inject(Api);
  readonly id = input.required<string>();
  protected readonly invoice = signal<Invoice | null>(null);
  protected readonly waiting = signal(false);
  protected readonly action = new Action();
  protected readonly money = money;
  protected readonly dateTime = dateTime;
  protected readonly statusLabel = statusLabel;
  /** One key per payment attempt: a retry of the same attempt never pays twice. */
  private attemptKey = crypto.randomUUID();
  private watch: ReturnType<typeof setInterval> | undefined;

  constructor() {
    effect(() => void this.load(this.id()));
  }

  ngOnDestroy(): void {
    clearInterval(this.watch);
  }

  protected payable(): boolean {
    const invoice = this.invoice();
    return !!invoice && invoice.status !== InvoiceStatus.PAID && invoice.status !== InvoiceStatus.CREDITED && Number(invoice.amountDue?.amountMinor ?? 0n) > 0;
  }

  protected async pay(): Promise<void> {
    const invoice = this.invoice();
    if (!invoice?.amountDue) {
      return;
    }
    const answer = await this.action.run(() =>
      this.api.finance.payInvoice({ id: invoice.id, paymentMethodId: TEST_PAYMENT_METHOD, amount: invoice.amountDue, idempotencyKey: this.attemptKey }),
    );
    if (!answer) {
      this.attemptKey = crypto.randomUUID();
      return;
    }
    this.attemptKey = crypto.randomUUID();
    this.startWatching();
  }

  protected async downloadPdf(): Promise<void> {
    const pdf = await this.action.run(() => this.api.finance.getInvoicePdf({ id: this.id() }));
    if (pdf) {
      downloadBytes(pdf.data, pdf.contentType || 'application/pdf', `invoice-${this.invoice()?.number ?? this.id()}.pdf`);
    }
  }

  /** Reads the invoice every second until no gateway payment of it is pending any more. */
  private startWatching(): void {
    this.waiting.set(true);
    clearInterval(this.watch);
    this.watch = setInterval(async () => {
      const invoice = await this.load(this.id());
      const pending = invoice?.payments.some((payment) => payment.status === PaymentStatus.PENDING || payment.status === PaymentStatus.REQUIRES_ACTION);
      if (invoice && !pending) {
        clearInterval(this.watch);
        this.waiting.set(false);
      }
    }, WATCH_MS);
  }

  private async load(id: string): Promise<Invoice | null> {
    try {
      const invoice = (await this.api.finance.getInvoice({ id })).invoice ?? null;
      this.invoice.set(invoice);
      return invoice;
    } catch (error) {
      this.action.failure.set(describeError(error));
      return null;
    }
  }
}
