// The traveler's bookings (BookingService.ListBookings), newest first, with each launch's status.
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { RouterLink } from '@angular/router';
import { Api, dateTime, describeError, enumLabel, money, Shell, statusLabel, type ShownError } from '@astro/shared';
import { BookingStatus, type Booking } from '@astro/shared/gen/astrobookings/booking/v1/booking_pb';

const PAGE_SIZE = 20;

@Component({
  selector: 'app-my-bookings',
  imports: [RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="My bookings">
      @if (error(); as error) {
        <p class="error" role="alert">{{ error.message }}</p>
      }
      <table>
        <caption class="muted">Your bookings, newest first</caption>
        <thead>
          <tr><th scope="col">Launch</th><th scope="col">Departs</th><th scope="col">Launch status</th><th scope="col">Seats</th><th scope="col">Total</th><th scope="col">Booking</th></tr>
        </thead>
        <tbody>
          @for (booking of bookings(); track booking.id) {
            <tr data-testid="booking-row">
              <td><a [routerLink]="['/bookings', booking.id]">{{ booking.launch?.destination }} on {{ booking.launch?.rocketName }}</a></td>
              <td>{{ when(booking) }}</td>
              <td>{{ launchStatus(booking) }}</td>
              <td>{{ booking.seats }}</td>
              <td>{{ total(booking) }}</td>
              <td data-testid="booking-status">{{ status(booking) }}</td>
            </tr>
          } @empty {
            @if (!loading()) {
              <tr><td colspan="6">No bookings yet. <a href="/public/">Find a launch</a>.</td></tr>
            }
          }
        </tbody>
      </table>
      @if (nextToken()) {
        <p><button type="button" class="secondary" (click)="load()">Show more</button></p>
      }
    </astro-shell>
  `,
})
export class MyBookings {
  private readonly api = inject(Api);
  protected readonly bookings = signal<Booking[]>([]);
  protected readonly nextToken = signal('');
  protected readonly loading = signal(true);
  protected readonly error = signal<ShownError | null>(null);

  constructor() {
    void this.load();
  }

  protected when(booking: Booking): string {
    return dateTime(booking.launch?.scheduledAt);
  }

  protected launchStatus(booking: Booking): string {
    return booking.launch ? statusLabel(booking.launch.status) : '';
  }

  protected total(booking: Booking): string {
    return money(booking.totalAmount);
  }

  protected status(booking: Booking): string {
    return enumLabel(BookingStatus, booking.status);
  }

  protected async load(): Promise<void> {
    try {
      const answer = await this.api.booking.listBookings({ pageSize: PAGE_SIZE, pageToken: this.nextToken() });
      this.bookings.update((shown) => [...shown, ...answer.bookings]);
      this.nextToken.set(answer.nextPageToken);
    } catch (error) {
      this.error.set(describeError(error));
    } finally {
      this.loading.set(false);
    }
  }
}
