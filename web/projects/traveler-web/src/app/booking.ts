// One booking: its passengers, the launch's status history, and cancelling it after seeing
// the quote (refund tier and amount) from BookingService.GetCancellationQuote.
import { ChangeDetectionStrategy, Component, effect, inject, input, signal, viewChild } from '@angular/core';
import { RouterLink } from '@angular/router';
import {
  Action,
  Api,
  ConfirmDialog,
  dateTime,
  describeError,
  describeStatusChange,
  enumLabel,
  money,
  Shell,
  statusLabel,
} from '@astro/shared';
import {
  BookingStatus,
  RefundTier,
  type Booking,
  type GetCancellationQuoteResponse,
} from '@astro/shared/gen/astrobookings/booking/v1/booking_pb';
import type { LaunchStatusChange } from '@astro/shared/gen/astrobookings/common/v1/common_pb';

@Component({
  selector: 'app-booking',
  imports: [ConfirmDialog, RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Booking">
      <p><a routerLink="/">← My bookings</a></p>
      @if (booking(); as booking) {
        <dl class="facts">
          <dt>Launch</dt><dd>{{ booking.launch?.destination }} on {{ booking.launch?.rocketName }}</dd>
          <dt>Departs</dt><dd>{{ when(booking.launch?.scheduledAt) }}</dd>
          <dt>Launch status</dt><dd data-testid="launch-status">{{ launchStatus(booking) }}</dd>
          <dt>Booking</dt><dd data-testid="booking-status">{{ status(booking) }}</dd>
          <dt>Seats</dt><dd>{{ booking.seats }}</dd>
          <dt>Total</dt><dd>{{ amount(booking.totalAmount) }}</dd>
          @if (booking.status === cancelled) {
            <dt>Refunded</dt><dd data-testid="refunded">{{ amount(booking.refundedAmount) }}</dd>
          }
        </dl>

        <h2>Passengers</h2>
        <ul>
          @for (passenger of booking.passengers; track $index) {
            <li>{{ passenger.fullName }}, born {{ passenger.dateOfBirth }}</li>
          }
        </ul>

        <h2>Launch history</h2>
        <ol data-testid="history">
          @for (change of history(); track $index) {
            <li>{{ describeStatusChange(change) }}</li>
          } @empty {
            <li class="muted">No changes since it was scheduled.</li>
          }
        </ol>

        @if (booking.status === confirmed) {
          <h2>Cancel this booking</h2>
          @if (quote(); as quote) {
            @if (quote.cancellable) {
              <p data-testid="quote">Refund: {{ quote.refundPercent }}% ({{ tier(quote) }}), {{ amount(quote.refundAmount) }}.</p>
              <button type="button" (click)="cancel()" [disabled]="action.busy()">Cancel booking</button>
            } @else {
              <p class="notice">This booking can no longer be cancelled.</p>
            }
          } @else {
            <button type="button" class="secondary" (click)="getQuote()" [disabled]="action.busy()">See the refund</button>
          }
        }
        @if (action.failure(); as failure) {
          <p class="error" role="alert">{{ failure.message }}</p>
        }
      } @else if (action.failure(); as failure) {
        <p class="error" role="alert">{{ failure.message }}</p>
      } @else {
        <p aria-live="polite">Loading…</p>
      }
      <astro-confirm title="Cancel this booking?" yes="Cancel booking" />
    </astro-shell>
  `,
})
export class BookingPage {
  private readonly api = inject(Api);
  readonly id = input.required<string>();
  protected readonly confirmed = BookingStatus.CONFIRMED;
  protected readonly cancelled = BookingStatus.CANCELLED;
  protected readonly booking = signal<Booking | null>(null);
  protected readonly history = signal<LaunchStatusChange[]>([]);
  protected readonly quote = signal<GetCancellationQuoteResponse | null>(null);
  protected readonly action = new Action();
  protected readonly describeStatusChange = describeStatusChange;
  private readonly confirm = viewChild.required(ConfirmDialog);

  constructor() {
    effect(() => void this.load(this.id()));
  }

  protected when = dateTime;
  protected amount = money;

  protected launchStatus(booking: Booking): string {
    return booking.launch ? statusLabel(booking.launch.status) : '';
  }

  protected status(booking: Booking): string {
    return enumLabel(BookingStatus, booking.status);
  }

  protected tier(quote: GetCancellationQuoteResponse): string {
    return enumLabel(RefundTier, quote.refundTier);
  }

  protected async getQuote(): Promise<void> {
    const quote = await this.action.run(() => this.api.booking.getCancellationQuote({ id: this.id() }));
    this.quote.set(quote ?? null);
  }

  protected async cancel(): Promise<void> {
    const quote = this.quote();
    const refund = quote ? `You get ${money(quote.refundAmount)} back (${quote.refundPercent}%).` : '';
    if (!(await this.confirm().ask(`${refund} This cannot be undone.`))) {
      return;
    }
    const answer = await this.action.run(() =>
      this.api.booking.cancelBooking({ id: this.id(), reason: 'Cancelled by the traveler' }),
    );
    if (answer) {
      this.booking.set(answer.booking ?? null);
      this.quote.set(null);
    }
  }

  private async load(id: string): Promise<void> {
    try {
      const answer = await this.api.booking.getBooking({ id });
      this.booking.set(answer.booking ?? null);
      this.history.set(answer.launchHistory);
    } catch (error) {
      this.action.failure.set(describeError(error));
    }
  }
}
