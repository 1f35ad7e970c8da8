// One of the agency's launches: occupancy, the status history, the lifecycle actions (each
// confirmed in a dialog) and the bookings report with its CSV download.
import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal, viewChild } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  Action,
  Api,
  ConfirmDialog,
  dateTime,
  describeError,
  describeStatusChange,
  downloadBytes,
  enumLabel,
  FieldErrors,
  money,
  Shell,
  statusLabel,
} from '@astro/shared';
import {
  Viability,
  type BookingsReportRow,
  type GetAgencyLaunchResponse,
  type GetBookingsReportResponse,
} from '@astro/shared/gen/astrobookings/agency/v1/agency_pb';
import { LaunchStatus } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import { AgencyNav } from './nav';

type LaunchAction = 'delay' | 'abort' | 'succeed' | 'fail';

const QUESTIONS: Record<LaunchAction, string> = {
  delay: 'Move this launch to the new date? Every traveler is told.',
  abort: 'Abort this launch? Every booking is refunded in full and every traveler is told.',
  succeed: 'Record that this launch flew successfully? The launch is then invoiced.',
  fail: 'Record that this launch failed?',
};

@Component({
  selector: 'app-launch-detail',
  imports: [AgencyNav, ConfirmDialog, ReactiveFormsModule, RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell [heading]="heading()">
      <app-agency-nav />
      @if (detail(); as detail) {
        <dl class="facts">
          <dt>Departs</dt><dd data-testid="scheduled-at">{{ when(detail.launch?.scheduledAt) }}</dd>
          <dt>Status</dt><dd data-testid="status">{{ status() }}</dd>
          <dt>From</dt><dd>{{ detail.launch?.spaceport }}</dd>
          <dt>Seat price</dt><dd>{{ amount(detail.launch?.pricePerSeat) }}</dd>
          <dt>Booked</dt><dd>{{ detail.occupancy?.seatsBooked }} of {{ detail.occupancy?.capacity }} seats</dd>
          <dt>Viability</dt><dd>{{ viability() }} (minimum {{ detail.occupancy?.minimumOccupancy }} seats)</dd>
          <dt>Public page</dt><dd><a [href]="'/public/launches/' + detail.launch?.slug">{{ detail.launch?.slug }}</a></dd>
        </dl>

        @if (open()) {
          <h2>Change the launch</h2>
          <form class="grid" [formGroup]="form" novalidate aria-label="Change the launch">
            <p>
              <label>New departure (UTC) <input type="datetime-local" formControlName="newScheduledAt" aria-describedby="new-date-error" /></label>
              <span id="new-date-error" class="field-error">{{ errors.of('newScheduledAt', 'new_scheduled_at') }}</span>
            </p>
            <p>
              <label>Reason <input formControlName="reason" aria-describedby="reason-error" /></label>
              <span id="reason-error" class="field-error">{{ errors.of('reason', 'reason') }}</span>
            </p>
          </form>
          <div class="pager">
            <button type="button" (click)="act('delay')" [disabled]="action.busy()">Delay</button>
            <button type="button" class="secondary" (click)="act('abort')" [disabled]="action.busy()">Abort</button>
            <button type="button" class="secondary" (click)="act('succeed')" [disabled]="action.busy()">Mark successful</button>
            <button type="button" class="secondary" (click)="act('fail')" [disabled]="action.busy()">Mark failed</button>
          </div>
        }
        @if (action.failure(); as failure) {
          <p class="error" role="alert">{{ failure.message }}</p>
        }

        <h2>Status history</h2>
        <ol data-testid="history">
          @for (change of detail.history; track $index) {
            <li>{{ describeStatusChange(change) }}</li>
          }
        </ol>

        <h2>Bookings report</h2>
        @if (!successful()) {
          <p class="muted">The bookings report is ready once the launch has flown successfully.</p>
        }
        @if (report(); as report) {
          <table>
            <caption class="muted">Bookings of this launch</caption>
            <thead><tr><th scope="col">Traveler</th><th scope="col">Status</th><th scope="col">Seats</th><th scope="col">Passengers</th><th scope="col">Net</th></tr></thead>
            <tbody>
              @for (row of report.rows; track row.bookingId) {
                <tr><td>{{ row.travelerName }}</td><td>{{ row.bookingStatus }}</td><td>{{ row.seats }}</td><td>{{ passengers(row) }}</td><td>{{ amount(row.net) }}</td></tr>
              } @empty {
                <tr><td colspan="5" class="muted">No bookings yet.</td></tr>
              }
            </tbody>
          </table>
          <p data-testid="net-revenue">Net revenue: {{ amount(report.totals?.netRevenue) }}</p>
          <p><button type="button" class="secondary" (click)="downloadCsv()" [disabled]="action.busy()">Download CSV</button></p>
        }
      } @else if (action.failure(); as failure) {
        <p class="error" role="alert">{{ failure.message }}</p>
      } @else {
        <p aria-live="polite">Loading…</p>
      }
      <p><a routerLink="/">← All launches</a></p>
      <astro-confirm title="Change this launch?" yes="Yes, do it" />
    </astro-shell>
  `,
})
export class LaunchDetail {
  private readonly api = inject(Api);
  readonly id = input.required<string>();
  protected readonly detail = signal<GetAgencyLaunchResponse | null>(null);
  protected readonly report = signal<GetBookingsReportResponse | null>(null);
  protected readonly form = inject(FormBuilder).nonNullable.group({ newScheduledAt: '', reason: '' });
  protected readonly errors = new FieldErrors(this.form);
  protected readonly action = new Action(this.errors);
  protected readonly describeStatusChange = describeStatusChange;
  private readonly confirm = viewChild.required(ConfirmDialog);
  protected readonly heading = computed(() => {
    const launch = this.detail()?.launch;
    return launch ? `${launch.destination} on ${launch.rocketName}` : 'Launch';
  });
  protected readonly status = computed(() => statusLabel(this.detail()?.launch?.status ?? 0));
  protected readonly viability = computed(() => enumLabel(Viability, this.detail()?.occupancy?.viability ?? 0));
  protected readonly successful = computed(() => this.detail()?.launch?.status === LaunchStatus.SUCCESSFUL);
  protected readonly open = computed(() => {
    const status = this.detail()?.launch?.status;
    return status === LaunchStatus.SCHEDULED || status === LaunchStatus.DELAYED;
  });

  constructor() {
    effect(() => void this.load(this.id()));
  }

  protected when = dateTime;
  protected amount = money;

  protected passengers(row: BookingsReportRow): string {
    return row.passengerNames.join(', ');
  }

  protected async act(action: LaunchAction): Promise<void> {
    const { newScheduledAt, reason } = this.form.getRawValue();
    // What each action needs, checked before asking.
    const needs: Record<LaunchAction, string[]> = { delay: ['newScheduledAt', 'reason'], abort: ['reason'], succeed: [], fail: [] };
    for (const name of ['newScheduledAt', 'reason']) {
      const control = this.form.get(name);
      control?.setValidators(needs[action].includes(name) ? Validators.required : null);
      control?.updateValueAndValidity();
    }
    if (!this.errors.submit() || !(await this.confirm().ask(QUESTIONS[action]))) {
      return;
    }
    const id = this.id();
    const changed = await this.action.run(async () => {
      if (action === 'delay') {
        await this.api.agency.delayLaunch({ id, newScheduledAt: timestampFromDate(new Date(`${newScheduledAt}:00Z`)), reason });
      } else if (action === 'abort') {
        await this.api.agency.abortLaunch({ id, reason });
      } else if (action === 'succeed') {
        await this.api.agency.succeedLaunch({ id, reason });
      } else {
        await this.api.agency.failLaunch({ id, reason });
      }
      return true;
    });
    if (changed) {
      this.form.reset();
      this.errors.submitted.set(false);
      await this.load(id);
    }
  }

  protected async downloadCsv(): Promise<void> {
    const answer = await this.action.run(() => this.api.agency.getBookingsReport({ id: this.id(), format: 'csv' }));
    if (answer) {
      downloadBytes(answer.csv, answer.contentType || 'text/csv', answer.filename || 'bookings.csv');
    }
  }

  private async load(id: string): Promise<void> {
    try {
      const detail = await this.api.agency.getAgencyLaunch({ id });
      this.detail.set(detail);
      // Only a SUCCESSFUL launch has a bookings report (AgencyAPI answers FAILED_PRECONDITION).
      this.report.set(detail.launch?.status === LaunchStatus.SUCCESSFUL ? await this.api.agency.getBookingsReport({ id }) : null);
    } catch (error) {
      this.action.failure.set(describeError(error));
    }
  }
}
