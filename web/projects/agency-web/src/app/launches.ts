// The agency's launches with occupancy against the viability minimum, filtered and sorted by
// AgencyService.ListAgencyLaunches.
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { Api, dateTime, describeError, enumLabel, money, Pager, Shell, statusLabel, TokenPages, type ShownError } from '@astro/shared';
import {
  AgencyLaunchSortField,
  Viability,
  type LaunchWithOccupancy,
} from '@astro/shared/gen/astrobookings/agency/v1/agency_pb';
import { LaunchStatus, SortOrder } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import { AgencyNav } from './nav';

const PAGE_SIZE = 20;

@Component({
  selector: 'app-launches',
  imports: [AgencyNav, Pager, ReactiveFormsModule, RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Launches">
      <app-agency-nav />
      <form class="filters" [formGroup]="filters" (ngSubmit)="pages.first()" aria-label="Filter launches">
        <label>Status
          <select formControlName="status">
            <option value="0">Any status</option>
            @for (status of statuses; track status) {
              <option [value]="status">{{ statusLabel(status) }}</option>
            }
          </select>
        </label>
        <label>Viability
          <select formControlName="viability">
            <option value="0">Any</option>
            <option [value]="viable">Viable</option>
            <option [value]="notViable">Not viable</option>
          </select>
        </label>
        <label>Sort by
          <select formControlName="sortBy">
            <option [value]="sortFields.SCHEDULED_AT">Date</option>
            <option [value]="sortFields.OCCUPANCY_PERCENT">Occupancy</option>
            <option [value]="sortFields.SEATS_BOOKED">Seats booked</option>
            <option [value]="sortFields.SEATS_AVAILABLE">Seats left</option>
          </select>
        </label>
        <label>Order
          <select formControlName="order">
            <option [value]="ascending">Ascending</option>
            <option [value]="descending">Descending</option>
          </select>
        </label>
        <button type="submit">Show</button>
      </form>
      @if (error(); as error) {
        <p class="error" role="alert">{{ error.message }}</p>
      }
      <p class="muted" aria-live="polite">{{ total() }} launches</p>
      <table>
        <caption class="muted">Occupancy against each launch's viability minimum</caption>
        <thead>
          <tr><th scope="col">Launch</th><th scope="col">Departs</th><th scope="col">Status</th><th scope="col">Seat price</th><th scope="col">Booked</th><th scope="col">Minimum</th><th scope="col">Viability</th></tr>
        </thead>
        <tbody>
          @for (row of launches(); track row.launch?.id) {
            <tr data-testid="launch-row">
              <td><a [routerLink]="['/launches', row.launch?.id]">{{ row.launch?.destination }} on {{ row.launch?.rocketName }}</a></td>
              <td>{{ dateTime(row.launch?.scheduledAt) }}</td>
              <td>{{ statusLabel(row.launch?.status ?? 0) }}</td>
              <td>{{ money(row.launch?.pricePerSeat) }}</td>
              <td>{{ row.occupancy?.seatsBooked }} of {{ row.occupancy?.capacity }} ({{ percent(row) }})</td>
              <td>{{ row.occupancy?.minimumOccupancy }}</td>
              <td>{{ viabilityLabel(row) }}</td>
            </tr>
          } @empty {
            <tr><td colspan="7">No launches. <a routerLink="/launches/new">Schedule one</a>.</td></tr>
          }
        </tbody>
      </table>
      <astro-pager [pages]="pages" />
    </astro-shell>
  `,
})
export class Launches {
  private readonly api = inject(Api);
  protected readonly statuses = [LaunchStatus.SCHEDULED, LaunchStatus.DELAYED, LaunchStatus.ABORTED, LaunchStatus.SUCCESSFUL, LaunchStatus.FAILED];
  protected readonly viable = Viability.VIABLE;
  protected readonly notViable = Viability.NOT_VIABLE;
  protected readonly sortFields = AgencyLaunchSortField;
  protected readonly ascending = SortOrder.ASCENDING;
  protected readonly descending = SortOrder.DESCENDING;
  protected readonly filters = inject(FormBuilder).nonNullable.group({
    status: '0',
    viability: '0',
    sortBy: String(AgencyLaunchSortField.SCHEDULED_AT),
    order: String(SortOrder.ASCENDING),
  });
  protected readonly launches = signal<LaunchWithOccupancy[]>([]);
  protected readonly total = signal(0);
  protected readonly error = signal<ShownError | null>(null);
  protected readonly pages = new TokenPages((token) => this.load(token));
  protected readonly dateTime = dateTime;
  protected readonly money = money;
  protected readonly statusLabel = statusLabel;

  constructor() {
    void this.pages.first();
  }

  protected percent(row: LaunchWithOccupancy): string {
    return `${Math.round(row.occupancy?.occupancyPercent ?? 0)}%`;
  }

  protected viabilityLabel(row: LaunchWithOccupancy): string {
    return enumLabel(Viability, row.occupancy?.viability ?? 0);
  }

  /** Shows the page of `pageToken`; the next page's token, or undefined when it failed. */
  private async load(pageToken: string): Promise<string | undefined> {
    const form = this.filters.getRawValue();
    this.error.set(null);
    try {
      const answer = await this.api.agency.listAgencyLaunches({
        statuses: form.status === '0' ? [] : [Number(form.status)],
        viability: Number(form.viability),
        sortBy: Number(form.sortBy),
        order: Number(form.order),
        pageSize: PAGE_SIZE,
        pageToken,
      });
      this.launches.set(answer.launches);
      this.total.set(answer.totalSize);
      return answer.nextPageToken;
    } catch (error) {
      this.error.set(describeError(error));
      return undefined;
    }
  }
}
