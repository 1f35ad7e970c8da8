// Booking seats: one row per passenger, the age rule checked on the right row (in the browser
// against the launch date, and by BookingAPI, whose field errors name the row), and one
// idempotency key per attempt so a double click or a retry books once.
import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal } from '@angular/core';
import { FormArray, FormBuilder, FormControl, FormGroup, ReactiveFormsModule, Validators } from '@angular/forms';
import { Code } from '@connectrpc/connect';
import { Router, RouterLink } from '@angular/router';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import {
  Action,
  Api,
  controlMessage,
  dateTime,
  describeError,
  E164,
  money,
  passengerAgeOn,
  Shell,
  type ShownError,
} from '@astro/shared';
import type { CatalogueLaunch } from '@astro/shared/gen/astrobookings/booking/v1/booking_pb';

/** BookingAPI takes 1 to 6 passengers per booking. */
const MAX_PASSENGERS = 6;

/**
 * The payment method: Stripe's test-mode card. A production deployment collects the card with
 * Stripe.js (Elements) and sends the `pm_...` id it returns; the card never reaches us.
 */
const TEST_PAYMENT_METHOD = 'pm_card_visa';

type PassengerRow = FormGroup<{
  fullName: FormControl<string>;
  dateOfBirth: FormControl<string>;
  email: FormControl<string>;
  phone: FormControl<string>;
}>;

@Component({
  selector: 'app-book',
  imports: [ReactiveFormsModule, RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Book seats">
      @if (launch(); as launch) {
        <p>
          <strong>{{ launch.destination }} on {{ launch.rocketName }}</strong>, {{ dateTime(launch.scheduledAt) }}, from {{ launch.spaceport }}.
          {{ money(launch.pricePerSeat) }} per seat, {{ launch.seatsAvailable }} seats left.
        </p>
        <form [formGroup]="form" (ngSubmit)="book()" novalidate aria-label="Book seats">
          <div formArrayName="passengers">
            @for (row of passengers.controls; track row; let index = $index) {
              <fieldset [formGroupName]="index" [attr.data-testid]="'passenger-' + index">
                <legend>Passenger {{ index + 1 }}</legend>
                <div class="grid">
                  <p>
                    <label>Full name (as on the passport)
                      <input formControlName="fullName" [attr.aria-invalid]="!!rowError(index, 'fullName', 'full_name')" [attr.aria-describedby]="'p' + index + '-name-error'" />
                    </label>
                    <span class="field-error" [id]="'p' + index + '-name-error'">{{ rowError(index, 'fullName', 'full_name') }}</span>
                  </p>
                  <p>
                    <label>Date of birth
                      <input type="date" formControlName="dateOfBirth" [attr.aria-invalid]="!!rowError(index, 'dateOfBirth', 'date_of_birth')" [attr.aria-describedby]="'p' + index + '-birth-error'" />
                    </label>
                    <span class="field-error" [id]="'p' + index + '-birth-error'">{{ rowError(index, 'dateOfBirth', 'date_of_birth') }}</span>
                  </p>
                  <p>
                    <label>E-mail
                      <input type="email" formControlName="email" [attr.aria-invalid]="!!rowError(index, 'email', 'email')" [attr.aria-describedby]="'p' + index + '-email-error'" />
                    </label>
                    <span class="field-error" [id]="'p' + index + '-email-error'">{{ rowError(index, 'email', 'email') }}</span>
                  </p>
                  <p>
                    <label>Phone (optional, e.g. +14155550100)
                      <input type="tel" formControlName="phone" [attr.aria-invalid]="!!rowError(index, 'phone', 'phone')" [attr.aria-describedby]="'p' + index + '-phone-error'" />
                    </label>
                    <span class="field-error" [id]="'p' + index + '-phone-error'">{{ rowError(index, 'phone', 'phone') }}</span>
                  </p>
                </div>
                @if (passengers.length > 1) {
                  <button type="button" class="secondary" (click)="removePassenger(index)">Remove passenger {{ index + 1 }}</button>
                }
              </fieldset>
            }
          </div>
          <p>
            <button type="button" class="secondary" (click)="addPassenger()" [disabled]="passengers.length >= maxPassengers()">Add a passenger</button>
          </p>
          <p class="muted">Paid with the test card of the payment gateway's test mode.</p>
          <p><strong>Total: {{ total() }}</strong></p>
          @if (action.failure(); as failure) {
            <p class="error" role="alert">{{ failure.message }}</p>
          }
          <button type="submit" [disabled]="action.busy()">Book</button>
        </form>
      } @else if (loadError(); as error) {
        <p class="error" role="alert">{{ error.message }}</p>
        <p><a href="/public/">Back to the launches</a></p>
      } @else {
        <p aria-live="polite">Loading…</p>
      }
      <p><a routerLink="/">My bookings</a></p>
    </astro-shell>
  `,
})
export class BookPage {
  private readonly api = inject(Api);
  private readonly router = inject(Router);
  private readonly builder = inject(FormBuilder).nonNullable;
  readonly slug = input.required<string>();
  protected readonly launch = signal<CatalogueLaunch | null>(null);
  protected readonly loadError = signal<ShownError | null>(null);
  /** The booking call; its field errors name the passenger's row. */
  protected readonly action = new Action();
  protected readonly submitted = signal(false);
  protected readonly dateTime = dateTime;
  protected readonly money = money;
  private readonly seats = signal(1);
  protected readonly passengers = new FormArray<PassengerRow>([]);
  protected readonly form = new FormGroup({ passengers: this.passengers });
  protected readonly maxPassengers = computed(() => Math.min(MAX_PASSENGERS, this.launch()?.seatsAvailable ?? 1));
  protected readonly total = computed(() => {
    const launch = this.launch();
    if (!launch?.pricePerSeat) {
      return '';
    }
    const price = launch.pricePerSeat;
    return money({ ...price, amountMinor: price.amountMinor * BigInt(this.seats()) });
  });
  /** The key of the attempt in progress; a new one only after an answer. */
  private attemptKey = crypto.randomUUID();

  constructor() {
    this.addPassenger();
    effect(() => void this.load(this.slug()));
  }

  protected addPassenger(): void {
    if (this.passengers.length >= MAX_PASSENGERS) {
      return;
    }
    const launchDate = () => {
      const at = this.launch()?.scheduledAt;
      return at ? timestampDate(at) : null;
    };
    this.passengers.push(
      this.builder.group({
        fullName: ['', [Validators.required, Validators.maxLength(100)]],
        dateOfBirth: ['', [Validators.required, passengerAgeOn(launchDate)]],
        email: ['', [Validators.required, Validators.email]],
        phone: ['', Validators.pattern(E164)],
      }),
    );
    this.seats.set(this.passengers.length);
  }

  protected removePassenger(index: number): void {
    this.passengers.removeAt(index);
    this.seats.set(this.passengers.length);
    // The service's errors named rows by their old positions.
    this.action.failure.set(null);
  }

  /** The message of one passenger's field: the browser's check, else BookingAPI's. */
  protected rowError(index: number, control: string, field: string): string {
    const input = this.passengers.at(index)?.get(control) ?? null;
    const shown = input && (input.touched || this.submitted());
    const hint = control === 'phone' ? 'Use the international format, e.g. +14155550100.' : '';
    return (shown ? controlMessage(input, hint) : '') || this.action.failure()?.fields[`passengers[${index}].${field}`] || '';
  }

  protected async book(): Promise<void> {
    const launch = this.launch();
    if (this.action.busy() || !launch) {
      return;
    }
    this.submitted.set(true);
    this.action.failure.set(null);
    this.form.markAllAsTouched();
    if (this.form.invalid) {
      return;
    }
    const answer = await this.action.run(() =>
      this.api.booking.createBooking({
        launchId: launch.id,
        passengers: this.passengers.getRawValue().map((row) => ({
          fullName: row.fullName.trim(),
          dateOfBirth: row.dateOfBirth,
          email: row.email.trim(),
          phone: row.phone.trim(),
        })),
        paymentMethodId: TEST_PAYMENT_METHOD,
        idempotencyKey: this.attemptKey,
      }),
    );
    if (!answer) {
      // Answered: the next attempt is a new one.
      this.attemptKey = crypto.randomUUID();
      return;
    }
    const id = answer.booking?.id;
    await this.router.navigate(id ? ['/bookings', id] : ['/']);
  }

  private async load(slug: string): Promise<void> {
    try {
      const answer = await this.api.booking.getLaunch({ idOrSlug: slug });
      const launch = answer.launch ?? null;
      if (launch && !launch.bookable) {
        this.loadError.set({ code: Code.FailedPrecondition, message: 'This launch can no longer be booked.', fields: {} });
        return;
      }
      this.launch.set(launch);
      // The age rule depends on the launch date, now known.
      for (const row of this.passengers.controls) {
        row.controls.dateOfBirth.updateValueAndValidity();
      }
    } catch (error) {
      this.loadError.set(describeError(error));
    }
  }
}
