// FINANCE: one agency's revenue over a month, quarter or year, with its CSV.
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { Action, Api, downloadBytes, enumLabel, FieldErrors, money, Shell } from '@astro/shared';
import { InvoiceStatus, type GetAgencyRevenueReportResponse } from '@astro/shared/gen/astrobookings/finance/v1/finance_pb';
import { SystemNav } from './nav';

@Component({
  selector: 'app-revenue-report',
  imports: [ReactiveFormsModule, Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Agency revenue report">
      <app-system-nav />
      <form class="filters" [formGroup]="form" (ngSubmit)="show()" novalidate aria-label="Choose the agency and period">
        <p>
          <label>Agency id <input formControlName="agencyId" aria-describedby="agency-error" /></label>
          <span id="agency-error" class="field-error">{{ errors.of('agencyId', 'agency_id') }}</span>
        </p>
        <p>
          <label>Period (2026, 2026-Q2 or 2026-03) <input formControlName="period" aria-describedby="period-error" /></label>
          <span id="period-error" class="field-error">{{ errors.of('period', 'period', 'A year, a quarter such as 2026-Q2, or a month such as 2026-03.') }}</span>
        </p>
        <p><label>Currency <input formControlName="currency" maxlength="3" /></label></p>
        <p class="pager">
          <button type="submit" [disabled]="action.busy()">Show</button>
          <button type="button" class="secondary" (click)="csv()" [disabled]="action.busy()">Download CSV</button>
        </p>
      </form>
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      @if (report(); as report) {
        <h2>{{ report.agencyName }}, {{ report.period }}</h2>
        <dl class="facts">
          <dt>Launches</dt><dd>{{ report.totals?.launches }} ({{ report.totals?.successfulLaunches }} successful)</dd>
          <dt>Net revenue</dt><dd>{{ money(report.totals?.netRevenue) }}</dd>
          <dt>Fees invoiced</dt><dd>{{ money(report.totals?.feesInvoiced) }}</dd>
          <dt>Fees paid</dt><dd>{{ money(report.totals?.feesPaid) }}</dd>
          <dt>Fees outstanding</dt><dd>{{ money(report.totals?.feesOutstanding) }}</dd>
          <dt>Reliable agency</dt><dd>{{ report.reliable ? 'Yes' : 'No' }} ({{ report.successfulLaunchesToDate }} successful launches to date)</dd>
        </dl>
        <table>
          <caption class="muted">Launches of the period</caption>
          <thead><tr><th scope="col">Launch</th><th scope="col">Net revenue</th><th scope="col">Fee invoiced</th><th scope="col">Fee paid</th><th scope="col">Invoice</th></tr></thead>
          <tbody>
            @for (row of report.rows; track $index) {
              <tr><td>{{ row.launch?.destination }} on {{ row.launch?.rocketName }}</td><td>{{ money(row.netRevenue) }}</td><td>{{ money(row.feeInvoiced) }}</td><td>{{ money(row.feePaid) }}</td><td>{{ row.invoiceNumber }} {{ invoiceStatus(row.invoiceStatus) }}</td></tr>
            } @empty {
              <tr><td colspan="5" class="muted">No launches in this period.</td></tr>
            }
          </tbody>
        </table>
      }
    </astro-shell>
  `,
})
export class RevenueReport {
  private readonly api = inject(Api);
  protected readonly form = inject(FormBuilder).nonNullable.group({
    agencyId: ['', Validators.required],
    period: [String(new Date().getUTCFullYear()), [Validators.required, Validators.pattern(/^\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$/)]],
    currency: 'USD',
  });
  protected readonly errors = new FieldErrors(this.form);
  protected readonly action = new Action(this.errors);
  protected readonly report = signal<GetAgencyRevenueReportResponse | null>(null);
  protected readonly money = money;

  protected invoiceStatus(status: number): string {
    return status ? enumLabel(InvoiceStatus, status) : '';
  }

  protected async show(): Promise<void> {
    const report = await this.fetch('json');
    if (report) {
      this.report.set(report);
    }
  }

  protected async csv(): Promise<void> {
    const report = await this.fetch('csv');
    if (report) {
      downloadBytes(report.csv, report.contentType || 'text/csv', report.filename || 'revenue.csv');
    }
  }

  private async fetch(format: string): Promise<GetAgencyRevenueReportResponse | undefined> {
    if (this.action.busy() || !this.errors.submit()) {
      return undefined;
    }
    const value = this.form.getRawValue();
    return this.action.run(() =>
      this.api.finance.getAgencyRevenueReport({
        agencyId: value.agencyId.trim(),
        period: value.period.trim(),
        currency: value.currency.trim().toUpperCase(),
        format,
      }),
    );
  }
}
