// One launch by its slug URL (BookingService.GetLaunch), with the seats left; also for
// launches that left the catalogue, so shared links keep working.
import { ChangeDetectionStrategy, Component, effect, inject, input, signal } from '@angular/core';
import { RouterLink } from '@angular/router';
import { Code } from '@connectrpc/connect';
import { Api, dateTime, describeError, money, rangeLabel, Shell, statusLabel, type ShownError } from '@astro/shared';
import type { CatalogueLaunch } from '@astro/shared/gen/astrobookings/booking/v1/booking_pb';

@Component({
  selector: 'app-launch',
  imports: [RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell [heading]="heading()">
      <p><a routerLink="/">← All launches</a></p>
      @if (launch(); as launch) {
        <dl class="facts">
          <dt>Departs</dt><dd>{{ dateTime(launch.scheduledAt) }}</dd>
          <dt>Status</dt><dd data-testid="status">{{ statusLabel(launch.status) }}</dd>
          <dt>From</dt><dd>{{ launch.spaceport }}</dd>
          <dt>Agency</dt><dd>{{ launch.agencyName }}</dd>
          <dt>Rocket</dt><dd>{{ launch.rocketName }} ({{ rangeLabel(launch.range) }})</dd>
          <dt>Seat price</dt><dd>{{ money(launch.pricePerSeat) }}</dd>
          <dt>Seats left</dt><dd data-testid="seats-left">{{ launch.seatsAvailable }} of {{ launch.capacity }}</dd>
        </dl>
        @if (launch.bookable) {
          <p><a class="button" [href]="'/traveler/book/' + launch.slug">Book seats</a></p>
        } @else {
          <p class="notice">This launch can no longer be booked.</p>
        }
      } @else if (error(); as error) {
        <p class="error" role="alert">{{ error.message }}</p>
      } @else {
        <p aria-live="polite">Loading…</p>
      }
    </astro-shell>
  `,
})
export class LaunchPage {
  private readonly api = inject(Api);
  /** From the route: `launches/:slug`. */
  readonly slug = input.required<string>();
  protected readonly launch = signal<CatalogueLaunch | null>(null);
  protected readonly error = signal<ShownError | null>(null);
  protected readonly heading = signal('Launch');
  protected readonly dateTime = dateTime;
  protected readonly money = money;
  protected readonly rangeLabel = rangeLabel;
  protected readonly statusLabel = statusLabel;

  constructor() {
    effect(() => void this.load(this.slug()));
  }

  private async load(slug: string): Promise<void> {
    this.launch.set(null);
    this.error.set(null);
    try {
      const answer = await this.api.booking.getLaunch({ idOrSlug: slug });
      const launch = answer.launch ?? null;
      this.launch.set(launch);
      if (launch) {
        this.heading.set(`${launch.destination} on ${launch.rocketName}`);
      }
    } catch (error) {
      const shown = describeError(error);
      this.heading.set(shown.code === Code.NotFound ? 'Launch not found' : 'Launch');
      this.error.set(
        shown.code === Code.NotFound ? { ...shown, message: 'There is no launch at this address.' } : shown,
      );
    }
  }
}
