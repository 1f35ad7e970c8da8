// The agency's profile (AgencyService.GetAgencyProfile / UpdateAgencyProfile).
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { Action, Api, COUNTRY, describeError, E164, FieldErrors, Shell } from '@astro/shared';
import type { Agency } from '@astro/shared/gen/astrobookings/agency/v1/agency_pb';
import { AgencyNav } from './nav';

@Component({
  selector: 'app-profile',
  imports: [AgencyNav, ReactiveFormsModule, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Agency profile">
      <app-agency-nav />
      @if (agency(); as agency) {
        <p class="muted">Account {{ agency.accountEmail }} · {{ agency.successfulLaunchCount }} successful launches{{ agency.reliable ? ' · reliable' : '' }}</p>
      }
      <form class="grid" [formGroup]="form" (ngSubmit)="save()" novalidate aria-label="Agency profile">
        @for (field of fields; track field.key) {
          <p>
            <label>{{ field.label }}
              <input [formControlName]="field.key" [attr.aria-invalid]="!!errors.of(field.key, field.contract)" [attr.aria-describedby]="field.key + '-error'" />
            </label>
            <span class="field-error" [id]="field.key + '-error'">{{ errors.of(field.key, field.contract) }}</span>
          </p>
        }
        @if (action.failure(); as failure) {
          <p class="error" role="alert">{{ failure.message }}</p>
        }
        @if (saved()) {
          <p class="ok" role="status">Saved.</p>
        }
        <p><button type="submit" [disabled]="action.busy()">Save profile</button></p>
      </form>
    </astro-shell>
  `,
})
export class ProfilePage {
  private readonly api = inject(Api);
  protected readonly fields = [
    { key: 'name', label: 'Agency name', contract: 'name' },
    { key: 'description', label: 'Description', contract: 'description' },
    { key: 'contactEmail', label: 'Contact e-mail', contract: 'contact_email' },
    { key: 'contactPhone', label: 'Contact phone', contract: 'contact_phone' },
    { key: 'taxId', label: 'Tax id', contract: 'tax_id' },
    { key: 'line1', label: 'Street and number', contract: 'legal_address.line1' },
    { key: 'city', label: 'City', contract: 'legal_address.city' },
    { key: 'postalCode', label: 'Postal code', contract: 'legal_address.postal_code' },
    { key: 'countryCode', label: 'Country code', contract: 'legal_address.country_code' },
  ];
  protected readonly form = inject(FormBuilder).nonNullable.group({
    name: ['', Validators.required],
    description: [''],
    contactEmail: ['', [Validators.required, Validators.email]],
    contactPhone: ['', [Validators.required, Validators.pattern(E164)]],
    taxId: ['', [Validators.required, Validators.minLength(2)]],
    line1: ['', Validators.required],
    city: ['', Validators.required],
    postalCode: [''],
    countryCode: ['', [Validators.required, Validators.pattern(COUNTRY)]],
  });
  protected readonly errors = new FieldErrors(this.form);
  protected readonly agency = signal<Agency | null>(null);
  protected readonly action = new Action(this.errors);
  protected readonly saved = signal(false);
  private region = '';
  private line2 = '';

  constructor() {
    void this.load();
  }

  protected async save(): Promise<void> {
    this.saved.set(false);
    if (this.action.busy() || !this.errors.submit()) {
      return;
    }
    const value = this.form.getRawValue();
    const answer = await this.action.run(() =>
      this.api.agency.updateAgencyProfile({
        name: value.name.trim(),
        description: value.description.trim(),
        contactEmail: value.contactEmail.trim(),
        contactPhone: value.contactPhone.trim(),
        taxId: value.taxId.trim(),
        legalAddress: {
          line1: value.line1.trim(),
          line2: this.line2,
          city: value.city.trim(),
          region: this.region,
          postalCode: value.postalCode.trim(),
          countryCode: value.countryCode.trim().toUpperCase(),
        },
      }),
    );
    if (answer) {
      this.agency.set(answer.agency ?? null);
      this.saved.set(true);
    }
  }

  private async load(): Promise<void> {
    try {
      const agency = (await this.api.agency.getAgencyProfile({})).agency ?? null;
      this.agency.set(agency);
      if (agency) {
        const address = agency.legalAddress;
        this.region = address?.region ?? '';
        this.line2 = address?.line2 ?? '';
        this.form.setValue({
          name: agency.name,
          description: agency.description,
          contactEmail: agency.contactEmail,
          contactPhone: agency.contactPhone,
          taxId: agency.taxId,
          line1: address?.line1 ?? '',
          city: address?.city ?? '',
          postalCode: address?.postalCode ?? '',
          countryCode: address?.countryCode ?? '',
        });
      }
    } catch (error) {
      this.action.failure.set(describeError(error));
    }
  }
}
