// Scheduling a launch (AgencyService.ScheduleLaunch) on one of the agency's active rockets.
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { Router } from '@angular/router';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Action, Api, describeError, FieldErrors, minorPerMajor, Shell } from '@astro/shared';
import type { Rocket } from '@astro/shared/gen/astrobookings/agency/v1/agency_pb';
import { AgencyNav } from './nav';

const CURRENCIES = ['USD', 'EUR', 'GBP'];

@Component({
  selector: 'app-schedule',
  imports: [AgencyNav, ReactiveFormsModule, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Schedule a launch">
      <app-agency-nav />
      @if (rockets().length === 0 && loaded()) {
        <p class="notice">You have no active rocket yet. <a href="/agency/rockets">Add a rocket</a> first.</p>
      }
      <form class="grid" [formGroup]="form" (ngSubmit)="schedule()" novalidate aria-label="Schedule a launch">
        <p>
          <label>Rocket
            <select formControlName="rocketId" [attr.aria-invalid]="!!err('rocketId', 'rocket_id')" aria-describedby="rocket-error">
              <option value="">Choose a rocket</option>
              @for (rocket of rockets(); track rocket.id) {
                <option [value]="rocket.id">{{ rocket.name }} ({{ rocket.passengerCapacity }} seats)</option>
              }
            </select>
          </label>
          <span id="rocket-error" class="field-error">{{ err('rocketId', 'rocket_id') }}</span>
        </p>
        <p>
          <label>Spaceport <input formControlName="spaceport" [attr.aria-invalid]="!!err('spaceport', 'spaceport')" aria-describedby="spaceport-error" /></label>
          <span id="spaceport-error" class="field-error">{{ err('spaceport', 'spaceport') }}</span>
        </p>
        <p>
          <label>Destination <input formControlName="destination" [attr.aria-invalid]="!!err('destination', 'destination')" aria-describedby="destination-error" /></label>
          <span id="destination-error" class="field-error">{{ err('destination', 'destination') }}</span>
        </p>
        <p>
          <label>Departure (UTC) <input type="datetime-local" formControlName="scheduledAt" [attr.aria-invalid]="!!err('scheduledAt', 'scheduled_at')" aria-describedby="when-error" /></label>
          <span id="when-error" class="field-error">{{ err('scheduledAt', 'scheduled_at') }}</span>
        </p>
        <p>
          <label>Seat price <input type="number" min="0" step="0.01" formControlName="price" [attr.aria-invalid]="!!err('price', 'price_per_seat')" aria-describedby="price-error" /></label>
          <span id="price-error" class="field-error">{{ err('price', 'price_per_seat') }}</span>
        </p>
        <p>
          <label>Currency
            <select formControlName="currency">
              @for (currency of currencies; track currency) { <option [value]="currency">{{ currency }}</option> }
            </select>
          </label>
        </p>
        <p>
          <label>Minimum seats for the launch to fly <input type="number" min="1" formControlName="minimumOccupancy" [attr.aria-invalid]="!!err('minimumOccupancy', 'minimum_occupancy')" aria-describedby="minimum-error" /></label>
          <span id="minimum-error" class="field-error">{{ err('minimumOccupancy', 'minimum_occupancy') }}</span>
        </p>
        @if (action.failure(); as failure) {
          <p class="error" role="alert">{{ failure.message }}</p>
        }
        <p><button type="submit" [disabled]="action.busy()">Schedule</button></p>
      </form>
    </astro-shell>
  `,
})
export class ScheduleLaunch {
  private readonly api = inject(Api);
  private readonly router = inject(Router);
  protected readonly currencies = CURRENCIES;
  protected readonly rockets = signal<Rocket[]>([]);
  protected readonly loaded = signal(false);
  protected readonly form = inject(FormBuilder).nonNullable.group({
    rocketId: ['', Validators.required],
    spaceport: ['', [Validators.required, Validators.maxLength(100)]],
    destination: ['', [Validators.required, Validators.maxLength(100)]],
    scheduledAt: ['', Validators.required],
    price: ['', [Validators.required, Validators.min(0)]],
    currency: 'USD',
    minimumOccupancy: ['1', [Validators.required, Validators.min(1)]],
  });
  protected readonly errors = new FieldErrors(this.form);
  protected readonly action = new Action(this.errors);

  constructor() {
    void this.loadRockets();
  }

  protected err(path: string, field: string): string {
    return this.errors.of(path, field);
  }

  protected async schedule(): Promise<void> {
    if (this.action.busy() || !this.errors.submit()) {
      return;
    }
    const value = this.form.getRawValue();
    const answer = await this.action.run(() =>
      this.api.agency.scheduleLaunch({
        rocketId: value.rocketId,
        spaceport: value.spaceport.trim(),
        destination: value.destination.trim(),
        scheduledAt: timestampFromDate(new Date(`${value.scheduledAt}:00Z`)),
        pricePerSeat: {
          amountMinor: BigInt(Math.round(Number(value.price) * minorPerMajor(value.currency))),
          currency: value.currency,
        },
        minimumOccupancy: Number(value.minimumOccupancy),
      }),
    );
    if (answer?.launch) {
      await this.router.navigate(['/launches', answer.launch.id]);
    }
  }

  private async loadRockets(): Promise<void> {
    try {
      const answer = await this.api.agency.listRockets({ pageSize: 100 });
      this.rockets.set(answer.rockets.filter((rocket) => !rocket.retired));
    } catch (error) {
      this.action.failure.set(describeError(error));
    } finally {
      this.loaded.set(true);
    }
  }
}
