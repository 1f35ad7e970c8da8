// The agency's rockets: add, edit, retire (no new launches) and delete (only without launches).
import { ChangeDetectionStrategy, Component, inject, signal, viewChild } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { Action, Api, ConfirmDialog, describeError, FieldErrors, RANGES, rangeLabel, Shell } from '@astro/shared';
import type { Rocket } from '@astro/shared/gen/astrobookings/agency/v1/agency_pb';
import { AgencyNav } from './nav';

@Component({
  selector: 'app-rockets',
  imports: [AgencyNav, ConfirmDialog, ReactiveFormsModule, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Rockets">
      <app-agency-nav />
      <h2>{{ editing() ? 'Edit ' + editing()?.name : 'Add a rocket' }}</h2>
      <form class="grid" [formGroup]="form" (ngSubmit)="save()" novalidate [attr.aria-label]="editing() ? 'Edit rocket' : 'Add a rocket'">
        <p>
          <label>Name <input formControlName="name" [attr.aria-invalid]="!!errors.of('name', 'name')" aria-describedby="rocket-name-error" /></label>
          <span id="rocket-name-error" class="field-error">{{ errors.of('name', 'name') }}</span>
        </p>
        <p>
          <label>Passenger seats <input type="number" min="1" formControlName="capacity" [attr.aria-invalid]="!!errors.of('capacity', 'passenger_capacity')" aria-describedby="capacity-error" /></label>
          <span id="capacity-error" class="field-error">{{ errors.of('capacity', 'passenger_capacity') }}</span>
        </p>
        <p>
          <label>Range
            <select formControlName="range" [attr.aria-invalid]="!!errors.of('range', 'range')" aria-describedby="range-error">
              <option value="">Choose a range</option>
              @for (range of ranges; track range.value) { <option [value]="range.value">{{ range.label }}</option> }
            </select>
          </label>
          <span id="range-error" class="field-error">{{ errors.of('range', 'range') }}</span>
        </p>
        <p class="pager">
          <button type="submit" [disabled]="action.busy()">{{ editing() ? 'Save' : 'Add rocket' }}</button>
          @if (editing()) { <button type="button" class="secondary" (click)="stopEditing()">Stop editing</button> }
        </p>
      </form>
      @if (action.failure(); as failure) {
        <p class="error" role="alert">{{ failure.message }}</p>
      }
      <table>
        <caption class="muted">Your rockets, retired ones included</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Seats</th><th scope="col">Range</th><th scope="col">Upcoming launches</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          @for (rocket of rockets(); track rocket.id) {
            <tr data-testid="rocket-row">
              <td>{{ rocket.name }}</td>
              <td>{{ rocket.passengerCapacity }}</td>
              <td>{{ range(rocket) }}</td>
              <td>{{ rocket.upcomingLaunchCount }}</td>
              <td>{{ rocket.retired ? 'Retired' : 'Active' }}</td>
              <td class="pager">
                @if (!rocket.retired) {
                  <button type="button" class="secondary" (click)="edit(rocket)">Edit {{ rocket.name }}</button>
                  <button type="button" class="secondary" (click)="retire(rocket)">Retire {{ rocket.name }}</button>
                }
                <button type="button" class="secondary" (click)="remove(rocket)">Delete {{ rocket.name }}</button>
              </td>
            </tr>
          } @empty {
            <tr><td colspan="6" class="muted">No rockets yet.</td></tr>
          }
        </tbody>
      </table>
      <astro-confirm title="Change this rocket?" yes="Yes" />
    </astro-shell>
  `,
})
export class Rockets {
  private readonly api = inject(Api);
  protected readonly ranges = RANGES;
  protected readonly rockets = signal<Rocket[]>([]);
  protected readonly editing = signal<Rocket | null>(null);
  protected readonly form = inject(FormBuilder).nonNullable.group({
    name: ['', [Validators.required, Validators.maxLength(100)]],
    capacity: ['', [Validators.required, Validators.min(1)]],
    range: ['', Validators.required],
  });
  protected readonly errors = new FieldErrors(this.form);
  protected readonly action = new Action(this.errors);
  private readonly confirm = viewChild.required(ConfirmDialog);

  constructor() {
    void this.load();
  }

  protected range(rocket: Rocket): string {
    return rangeLabel(rocket.range);
  }

  protected edit(rocket: Rocket): void {
    this.editing.set(rocket);
    this.form.setValue({ name: rocket.name, capacity: String(rocket.passengerCapacity), range: String(rocket.range) });
  }

  protected stopEditing(): void {
    this.editing.set(null);
    this.form.reset();
    this.errors.submitted.set(false);
  }

  protected async save(): Promise<void> {
    if (this.action.busy() || !this.errors.submit()) {
      return;
    }
    const value = this.form.getRawValue();
    const fields = { name: value.name.trim(), passengerCapacity: Number(value.capacity), range: Number(value.range) };
    const editing = this.editing();
    await this.run(async () => {
      if (editing) {
        await this.api.agency.updateRocket({ id: editing.id, ...fields });
      } else {
        await this.api.agency.createRocket(fields);
      }
      this.stopEditing();
    });
  }

  protected async retire(rocket: Rocket): Promise<void> {
    if (await this.confirm().ask(`Retire ${rocket.name}? It can no longer be used for new launches.`)) {
      await this.run(() => this.api.agency.retireRocket({ id: rocket.id }));
    }
  }

  protected async remove(rocket: Rocket): Promise<void> {
    if (await this.confirm().ask(`Delete ${rocket.name}? Only a rocket that never had a launch can be deleted.`)) {
      await this.run(() => this.api.agency.deleteRocket({ id: rocket.id }));
    }
  }

  private async run(change: () => Promise<unknown>): Promise<void> {
    await this.action.run(async () => {
      await change();
      await this.load();
    });
  }

  private async load(): Promise<void> {
    try {
      const answer = await this.api.agency.listRockets({ includeRetired: true, pageSize: 100 });
      this.rockets.set(answer.rockets);
    } catch (error) {
      this.action.failure.set(describeError(error));
    }
  }
}
