// The public catalogue: filters, sorting and paging over BookingService.ListLaunches.
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  Api,
  dateTime,
  describeError,
  minorPerMajor,
  money,
  RANGES,
  rangeLabel,
  Pager,
  Shell,
  TokenPages,
  type ShownError,
} from '@astro/shared';
import {
  CatalogueSortField,
  type CatalogueLaunch,
  type ListLaunchesRequestSchema,
} from '@astro/shared/gen/astrobookings/booking/v1/booking_pb';
import { SortOrder } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import type { MessageInitShape } from '@bufbuild/protobuf';

const PAGE_SIZE = 12;
const PRICE_CURRENCY = 'USD';

const SORTS = [
  { value: 'date-asc', label: 'Date, soonest first', field: CatalogueSortField.DATE, order: SortOrder.ASCENDING },
  { value: 'date-desc', label: 'Date, latest first', field: CatalogueSortField.DATE, order: SortOrder.DESCENDING },
  { value: 'price-asc', label: 'Price, lowest first', field: CatalogueSortField.PRICE, order: SortOrder.ASCENDING },
  { value: 'price-desc', label: 'Price, highest first', field: CatalogueSortField.PRICE, order: SortOrder.DESCENDING },
];

@Component({
  selector: 'app-catalogue',
  imports: [Pager, ReactiveFormsModule, RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Upcoming launches">
      <form class="filters" [formGroup]="filters" (ngSubmit)="pages.first()" aria-label="Filter launches">
        <label>Destination <input formControlName="destination" name="destination" placeholder="Moon" /></label>
        <label>Range
          <select formControlName="range" name="range">
            <option value="0">Any range</option>
            @for (range of ranges; track range.value) {
              <option [value]="range.value">{{ range.label }}</option>
            }
          </select>
        </label>
        <label>Departs from <input type="date" formControlName="from" name="from" /></label>
        <label>Departs until <input type="date" formControlName="until" name="until" /></label>
        <label>Lowest price (USD) <input type="number" min="0" formControlName="minPrice" name="minPrice" /></label>
        <label>Highest price (USD) <input type="number" min="0" formControlName="maxPrice" name="maxPrice" /></label>
        <label>Sort by
          <select formControlName="sort" name="sort">
            @for (sort of sorts; track sort.value) {
              <option [value]="sort.value">{{ sort.label }}</option>
            }
          </select>
        </label>
        <button type="submit">Search</button>
      </form>

      @if (error(); as error) {
        <p class="error" role="alert">{{ error.message }}</p>
        @for (field of fieldErrors(error); track field) {
          <p class="field-error">{{ field }}</p>
        }
      }

      <p aria-live="polite" class="muted" data-testid="result-count">
        @if (loading()) { Loading… } @else { {{ total() }} {{ total() === 1 ? 'launch' : 'launches' }} found }
      </p>

      <ul class="cards" aria-label="Launches">
        @for (launch of launches(); track launch.id) {
          <li>
            <h2><a [routerLink]="['/launches', launch.slug]">{{ launch.destination }} on {{ launch.rocketName }}</a></h2>
            <dl class="facts">
              <dt>Departs</dt><dd>{{ dateTime(launch.scheduledAt) }}</dd>
              <dt>From</dt><dd>{{ launch.spaceport }}</dd>
              <dt>Agency</dt><dd>{{ launch.agencyName }}</dd>
              <dt>Range</dt><dd>{{ rangeLabel(launch.range) }}</dd>
              <dt>Seat</dt><dd>{{ money(launch.pricePerSeat) }}</dd>
              <dt>Seats left</dt><dd>{{ launch.seatsAvailable }} of {{ launch.capacity }}</dd>
            </dl>
          </li>
        } @empty {
          @if (!loading() && !error()) { <li class="muted">No launch matches these filters.</li> }
        }
      </ul>

      <astro-pager [pages]="pages" [count]="pageCount()" [busy]="loading()" />
    </astro-shell>
  `,
})
export class Catalogue {
  private readonly api = inject(Api);
  protected readonly ranges = RANGES;
  protected readonly sorts = SORTS;
  protected readonly filters = inject(FormBuilder).nonNullable.group({
    destination: '',
    range: '0',
    from: '',
    until: '',
    minPrice: '',
    maxPrice: '',
    sort: 'date-asc',
  });
  protected readonly launches = signal<CatalogueLaunch[]>([]);
  protected readonly total = signal(0);
  protected readonly loading = signal(false);
  protected readonly error = signal<ShownError | null>(null);
  protected readonly pages = new TokenPages((token) => this.load(token));
  protected readonly dateTime = dateTime;
  protected readonly money = money;
  protected readonly rangeLabel = rangeLabel;

  constructor() {
    void this.pages.first();
  }

  protected pageCount(): number {
    return Math.max(1, Math.ceil(this.total() / PAGE_SIZE));
  }

  protected fieldErrors(error: ShownError): string[] {
    return Object.values(error.fields);
  }

  private request(pageToken: string): MessageInitShape<typeof ListLaunchesRequestSchema> {
    const form = this.filters.getRawValue();
    const sort = SORTS.find((candidate) => candidate.value === form.sort) ?? SORTS[0];
    const minor = (text: string) =>
      text === '' ? undefined : BigInt(Math.round(Number(text) * minorPerMajor(PRICE_CURRENCY)));
    // The whole last day is in the window.
    const dayAfter = (day: string) => {
      const end = new Date(`${day}T00:00:00Z`);
      end.setUTCDate(end.getUTCDate() + 1);
      return end;
    };
    return {
      destination: form.destination.trim(),
      range: Number(form.range),
      sortBy: sort.field,
      order: sort.order,
      pageSize: PAGE_SIZE,
      pageToken,
      currency: PRICE_CURRENCY,
      minPriceMinor: minor(form.minPrice),
      maxPriceMinor: minor(form.maxPrice),
      departsAfter: form.from ? timestampFromDate(new Date(`${form.from}T00:00:00Z`)) : undefined,
      departsBefore: form.until ? timestampFromDate(dayAfter(form.until)) : undefined,
    };
  }

  /** Shows the page of `pageToken`; the next page's token, or undefined when it failed. */
  private async load(pageToken: string): Promise<string | undefined> {
    this.loading.set(true);
    this.error.set(null);
    try {
      const answer = await this.api.booking.listLaunches(this.request(pageToken));
      this.launches.set(answer.launches);
      this.total.set(answer.totalSize);
      return answer.nextPageToken;
    } catch (error) {
      this.error.set(describeError(error));
      this.launches.set([]);
      this.total.set(0);
      return undefined;
    } finally {
      this.loading.set(false);
    }
  }
}
