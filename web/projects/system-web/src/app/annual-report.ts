// FINANCE: the platform's fee revenue for a year (GetAnnualReport): totals, by agency, and a
// chart drawn in the page from the monthly figures: one stacked bar per month (received,
// pending, projected), with the same figures as a table beside it.
import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { Action, Api, money, Shell } from '@astro/shared';
import type { Money } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import type { GetAnnualReportResponse, RevenueFigures } from '@astro/shared/gen/astrobookings/finance/v1/finance_pb';
import { SystemNav } from './nav';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const CHART = { width: 720, height: 260, left: 40, bottom: 30, top: 10 };
const PARTS = [
  { key: 'received', label: 'Received', color: '#17663a' },
  { key: 'pending', label: 'Pending', color: '#b7791f' },
  { key: 'projected', label: 'Projected', color: '#1747b8' },
] as const;

interface Bar {
  month: string;
  x: number;
  segments: { y: number; height: number; color: string; label: string }[];
}

function minor(value: Money | undefined): number {
  return Number(value?.amountMinor ?? 0n);
}

@Component({
  selector: 'app-annual-report',
  imports: [ReactiveFormsModule, Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Annual report">
      <app-system-nav />
      <form class="filters" [formGroup]="form" (ngSubmit)="load()" aria-label="Choose the year">
        <label>Year <input type="number" min="2000" max="2100" formControlName="year" /></label>
        <label>Currency <input formControlName="currency" maxlength="3" /></label>
        <button type="submit" [disabled]="action.busy()">Show</button>
      </form>
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      @if (report(); as report) {
        <dl class="facts" data-testid="annual-totals">
          <dt>Invoiced</dt><dd data-testid="total-invoiced">{{ money(report.totals?.invoiced) }}</dd>
          <dt>Received</dt><dd data-testid="total-received">{{ money(report.totals?.received) }}</dd>
          <dt>Pending</dt><dd data-testid="total-pending">{{ money(report.totals?.pending) }}</dd>
          <dt>Projected</dt><dd data-testid="total-projected">{{ money(report.totals?.projected) }}</dd>
          <dt>Credited</dt><dd data-testid="total-credited">{{ money(report.totals?.credited) }}</dd>
        </dl>
        <figure>
          <svg [attr.viewBox]="'0 0 ' + chart.width + ' ' + chart.height" role="img" data-testid="annual-chart"
               [attr.aria-label]="'Fee revenue per month of ' + report.year + ': received, pending and projected'">
            @for (bar of bars(); track bar.month) {
              @for (segment of bar.segments; track segment.label) {
                <rect [attr.x]="bar.x" [attr.y]="segment.y" [attr.width]="barWidth" [attr.height]="segment.height" [attr.fill]="segment.color">
                  <title>{{ bar.month }} {{ segment.label }}</title>
                </rect>
              }
              <text [attr.x]="bar.x + barWidth / 2" [attr.y]="chart.height - 10" text-anchor="middle" font-size="12">{{ bar.month }}</text>
            }
          </svg>
          <figcaption class="pager">
            @for (part of parts; track part.key) {
              <span><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" [attr.fill]="part.color" /></svg> {{ part.label }}</span>
            }
          </figcaption>
        </figure>
        <table>
          <caption class="muted">By month</caption>
          <thead><tr><th scope="col">Month</th><th scope="col">Received</th><th scope="col">Pending</th><th scope="col">Projected</th><th scope="col">Invoiced</th></tr></thead>
          <tbody>
            @for (row of report.byMonth; track row.month) {
              <tr><td>{{ monthName(row.month) }}</td><td>{{ money(row.figures?.received) }}</td><td>{{ money(row.figures?.pending) }}</td><td>{{ money(row.figures?.projected) }}</td><td>{{ money(row.figures?.invoiced) }}</td></tr>
            }
          </tbody>
        </table>
        <table>
          <caption class="muted">By agency</caption>
          <thead><tr><th scope="col">Agency</th><th scope="col">Invoiced</th><th scope="col">Received</th><th scope="col">Pending</th><th scope="col">Projected</th></tr></thead>
          <tbody>
            @for (row of report.byAgency; track row.agencyId) {
              <tr><td>{{ row.agencyName }}</td><td>{{ money(row.figures?.invoiced) }}</td><td>{{ money(row.figures?.received) }}</td><td>{{ money(row.figures?.pending) }}</td><td>{{ money(row.figures?.projected) }}</td></tr>
            }
          </tbody>
        </table>
      }
    </astro-shell>
  `,
})
export class AnnualReport {
  private readonly api = inject(Api);
  protected readonly chart = CHART;
  protected readonly parts = PARTS;
  protected readonly barWidth = 36;
  protected readonly form = inject(FormBuilder).nonNullable.group({
    year: String(new Date().getUTCFullYear()),
    currency: 'USD',
  });
  protected readonly report = signal<GetAnnualReportResponse | null>(null);
  protected readonly action = new Action();
  protected readonly money = money;
  protected readonly bars = computed<Bar[]>(() => {
    const months = this.report()?.byMonth ?? [];
    const total = (figures: RevenueFigures | undefined) => PARTS.reduce((sum, part) => sum + minor(figures?.[part.key]), 0);
    const highest = Math.max(1, ...months.map((row) => total(row.figures)));
    const plot = CHART.height - CHART.bottom - CHART.top;
    return months.map((row, index) => {
      let base = CHART.height - CHART.bottom;
      const segments = PARTS.map((part) => {
        const height = (minor(row.figures?.[part.key]) / highest) * plot;
        base -= height;
        return { y: base, height, color: part.color, label: part.label };
      });
      return { month: MONTHS[row.month - 1] ?? String(row.month), x: CHART.left + index * 56, segments };
    });
  });

  constructor() {
    void this.load();
  }

  protected monthName(month: number): string {
    return MONTHS[month - 1] ?? String(month);
  }

  protected async load(): Promise<void> {
    const value = this.form.getRawValue();
    const report = await this.action.run(() =>
      this.api.finance.getAnnualReport({ year: Number(value.year), currency: value.currency.trim().toUpperCase() }),
    );
    if (report) {
      this.report.set(report);
    }
  }
}
