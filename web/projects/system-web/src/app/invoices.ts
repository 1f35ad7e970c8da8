// FINANCE: every invoice, filtered by status, agency and legal date, sorted and paged.
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { Action, Api, describeError, enumLabel, money, Pager, Shell, TokenPages } from '@astro/shared';
import { SortOrder } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import { InvoiceSortField, InvoiceStatus, type Invoice } from '@astro/shared/gen/astrobookings/finance/v1/finance_pb';
import { SystemNav } from './nav';

export const INVOICE_STATUSES = [
  InvoiceStatus.ISSUED,
  InvoiceStatus.PARTIALLY_PAID,
  InvoiceStatus.PAID,
  InvoiceStatus.OVERDUE,
  InvoiceStatus.CREDITED,
];

@Component({
  selector: 'app-invoices',
  imports: [Pager, ReactiveFormsModule, RouterLink, Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Invoices">
      <app-system-nav />
      <form class="filters" [formGroup]="filters" (ngSubmit)="pages.first()" aria-label="Filter invoices">
        <label>Status
          <select formControlName="status">
            <option value="0">Any status</option>
            @for (status of statuses; track status) { <option [value]="status">{{ statusLabel(status) }}</option> }
          </select>
        </label>
        <label>Agency id <input formControlName="agencyId" /></label>
        <label>Launch id <input formControlName="launchId" /></label>
        <label>Legal date from <input type="date" formControlName="from" /></label>
        <label>Legal date to <input type="date" formControlName="to" /></label>
        <label>Sort by
          <select formControlName="sortBy">
            <option [value]="sortFields.LEGAL_DATE">Legal date</option>
            <option [value]="sortFields.DUE_DATE">Due date</option>
            <option [value]="sortFields.AMOUNT">Amount</option>
            <option [value]="sortFields.AMOUNT_DUE">Amount due</option>
          </select>
        </label>
        <button type="submit">Show</button>
      </form>
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      <p class="muted" aria-live="polite">{{ total() }} invoices</p>
      <table>
        <caption class="muted">Invoices</caption>
        <thead><tr><th scope="col">Number</th><th scope="col">Agency</th><th scope="col">Launch</th><th scope="col">Legal date</th><th scope="col">Due</th><th scope="col">Amount</th><th scope="col">Due now</th><th scope="col">Status</th></tr></thead>
        <tbody>
          @for (invoice of invoices(); track invoice.id) {
            <tr data-testid="invoice-row">
              <td><a [routerLink]="['/invoices', invoice.id]">{{ invoice.number }}</a></td>
              <td>{{ invoice.billTo?.name }}</td>
              <td>{{ invoice.launch?.destination }} on {{ invoice.launch?.rocketName }}</td>
              <td>{{ invoice.legalDate }}</td><td>{{ invoice.dueDate }}</td>
              <td>{{ money(invoice.amount) }}</td><td>{{ money(invoice.amountDue) }}</td>
              <td>{{ statusLabel(invoice.status) }}</td>
            </tr>
          } @empty {
            <tr><td colspan="8" class="muted">No invoice matches.</td></tr>
          }
        </tbody>
      </table>
      <astro-pager [pages]="pages" />
    </astro-shell>
  `,
})
export class Invoices {
  private readonly api = inject(Api);
  protected readonly statuses = INVOICE_STATUSES;
  protected readonly sortFields = InvoiceSortField;
  protected readonly filters = inject(FormBuilder).nonNullable.group({
    status: '0',
    agencyId: '',
    launchId: '',
    from: '',
    to: '',
    sortBy: String(InvoiceSortField.LEGAL_DATE),
  });
  protected readonly invoices = signal<Invoice[]>([]);
  protected readonly total = signal(0);
  protected readonly action = new Action();
  protected readonly pages = new TokenPages((token) => this.load(token));
  protected readonly money = money;

  constructor() {
    void this.pages.first();
  }

  protected statusLabel(status: number): string {
    return enumLabel(InvoiceStatus, status);
  }

  private async load(pageToken: string): Promise<string | undefined> {
    const form = this.filters.getRawValue();
    try {
      const answer = await this.api.finance.listInvoices({
        statuses: form.status === '0' ? [] : [Number(form.status)],
        agencyId: form.agencyId.trim(),
        launchId: form.launchId.trim(),
        legalDateFrom: form.from,
        legalDateTo: form.to,
        sortBy: Number(form.sortBy),
        order: SortOrder.DESCENDING,
        pageSize: 25,
        pageToken,
      });
      this.invoices.set(answer.invoices);
      this.total.set(answer.totalSize);
      return answer.nextPageToken;
    } catch (error) {
      this.action.failure.set(describeError(error));
      return undefined;
    }
  }
}
