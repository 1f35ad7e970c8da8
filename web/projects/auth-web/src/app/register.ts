// Self-registration in one step: a traveler with contact, tax and billing data
// (BookingService.RegisterTraveler) or an agency with tax id and legal address
// (AgencyService.RegisterAgency), then signed in. One idempotency key per attempt: a retry of
// the same attempt registers once.
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { RouterLink } from '@angular/router';
import {
  Action,
  Api,
  COUNTRY,
  E164,
  FieldErrors,
  PASSWORD_MAX,
  PASSWORD_MIN,
  Shell,
} from '@astro/shared';
import { signIn } from './sign-in';

type Kind = 'traveler' | 'agency';

@Component({
  selector: 'app-register',
  imports: [ReactiveFormsModule, RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Register">
      <form [formGroup]="form" (ngSubmit)="submit()" novalidate aria-label="Register">
        <fieldset>
          <legend>I register as</legend>
          <label class="inline"><input type="radio" formControlName="kind" value="traveler" (change)="kindChanged()" /> a traveler</label>
          <label class="inline"><input type="radio" formControlName="kind" value="agency" (change)="kindChanged()" /> a space agency</label>
        </fieldset>

        <fieldset>
          <legend>Account</legend>
          <div class="grid">
            <p>
              <label>{{ kind() === 'agency' ? 'Contact person' : 'Full name' }}
                <input formControlName="name" autocomplete="name" [attr.aria-invalid]="!!err('name')" aria-describedby="name-error" />
              </label>
              <span id="name-error" class="field-error">{{ err('name') }}</span>
            </p>
            <p>
              <label>E-mail
                <input type="email" formControlName="email" autocomplete="email" [attr.aria-invalid]="!!err('email')" aria-describedby="email-error" />
              </label>
              <span id="email-error" class="field-error">{{ err('email') }}</span>
            </p>
            <p>
              <label>Password ({{ passwordMin }} characters or more)
                <input type="password" formControlName="password" autocomplete="new-password" [attr.aria-invalid]="!!err('password')" aria-describedby="password-error" />
              </label>
              <span id="password-error" class="field-error">{{ err('password') }}</span>
            </p>
          </div>
        </fieldset>

        @if (kind() === 'agency') {
          <fieldset>
            <legend>Agency</legend>
            <div class="grid">
              <p>
                <label>Agency name
                  <input formControlName="agencyName" autocomplete="organization" [attr.aria-invalid]="!!err('agencyName')" aria-describedby="agencyName-error" />
                </label>
                <span id="agencyName-error" class="field-error">{{ err('agencyName') }}</span>
              </p>
              <p>
                <label>Contact e-mail
                  <input type="email" formControlName="contactEmail" [attr.aria-invalid]="!!err('contactEmail')" aria-describedby="contactEmail-error" />
                </label>
                <span id="contactEmail-error" class="field-error">{{ err('contactEmail') }}</span>
              </p>
              <p>
                <label>Description (optional)
                  <textarea formControlName="description" rows="2"></textarea>
                </label>
              </p>
            </div>
          </fieldset>
        }

        <fieldset>
          <legend>Contact and tax</legend>
          <div class="grid">
            <p>
              <label>Phone (international, e.g. +14155550100)
                <input type="tel" formControlName="phone" autocomplete="tel" [attr.aria-invalid]="!!err('phone')" aria-describedby="phone-error" />
              </label>
              <span id="phone-error" class="field-error">{{ err('phone') }}</span>
            </p>
            <p>
              <label>Tax id
                <input formControlName="taxId" [attr.aria-invalid]="!!err('taxId')" aria-describedby="taxId-error" />
              </label>
              <span id="taxId-error" class="field-error">{{ err('taxId') }}</span>
            </p>
          </div>
        </fieldset>

        <fieldset formGroupName="address">
          <legend>{{ kind() === 'agency' ? 'Legal address' : 'Billing address' }}</legend>
          <div class="grid">
            @for (line of addressLines; track line.key) {
              <p>
                <label>{{ line.label }}
                  <input [formControlName]="line.key" [attr.autocomplete]="line.autocomplete"
                         [attr.aria-invalid]="!!err('address.' + line.key)" [attr.aria-describedby]="'address-' + line.key + '-error'" />
                </label>
                <span [id]="'address-' + line.key + '-error'" class="field-error">{{ err('address.' + line.key) }}</span>
              </p>
            }
          </div>
        </fieldset>

        @if (action.failure(); as failure) {
          <p class="error" role="alert">{{ failure.message }}</p>
        }
        <button type="submit" [disabled]="action.busy()">Create my account</button>
      </form>
      <p>Already registered? <a routerLink="/login" queryParamsHandling="preserve">Sign in</a>.</p>
    </astro-shell>
  `,
})
export class RegisterPage {
  private readonly api = inject(Api);
  protected readonly passwordMin = PASSWORD_MIN;
  protected readonly addressLines = [
    { key: 'line1', label: 'Street and number', contract: 'line1', autocomplete: 'address-line1' },
    { key: 'line2', label: 'Suite, floor (optional)', contract: 'line2', autocomplete: 'address-line2' },
    { key: 'city', label: 'City', contract: 'city', autocomplete: 'address-level2' },
    { key: 'region', label: 'State or region (optional)', contract: 'region', autocomplete: 'address-level1' },
    { key: 'postalCode', label: 'Postal code', contract: 'postal_code', autocomplete: 'postal-code' },
    { key: 'countryCode', label: 'Country code (e.g. US)', contract: 'country_code', autocomplete: 'country' },
  ];
  protected readonly form = inject(FormBuilder).nonNullable.group({
    kind: 'traveler' as Kind,
    name: ['', [Validators.required, Validators.maxLength(100)]],
    email: ['', [Validators.required, Validators.email]],
    password: ['', [Validators.required, Validators.minLength(PASSWORD_MIN), Validators.maxLength(PASSWORD_MAX)]],
    agencyName: [''],
    contactEmail: [''],
    description: [''],
    phone: ['', [Validators.required, Validators.pattern(E164)]],
    taxId: ['', [Validators.required, Validators.minLength(2), Validators.maxLength(50)]],
    address: inject(FormBuilder).nonNullable.group({
      line1: ['', [Validators.required, Validators.maxLength(200)]],
      line2: ['', Validators.maxLength(200)],
      city: ['', [Validators.required, Validators.maxLength(100)]],
      region: ['', Validators.maxLength(100)],
      postalCode: ['', Validators.maxLength(20)],
      countryCode: ['', [Validators.required, Validators.pattern(COUNTRY)]],
    }),
  });
  protected readonly errors = new FieldErrors(this.form);
  protected readonly kind = signal<Kind>('traveler');
  protected readonly action = new Action(this.errors);
  /** The idempotency key of the attempt being made; a new one once the answer is in. */
  private attemptKey = crypto.randomUUID();

  /** The message for a control: the client's check, or what the service said about it. */
  protected err(path: string): string {
    return this.errors.of(path, this.contractField(path), this.hint(path));
  }

  protected kindChanged(): void {
    const kind = this.form.controls.kind.value;
    this.kind.set(kind);
    const agencyOnly = [this.form.controls.agencyName, this.form.controls.contactEmail];
    for (const control of agencyOnly) {
      control.setValidators(kind === 'agency' ? [Validators.required, Validators.maxLength(100)] : []);
      control.updateValueAndValidity();
    }
    if (kind === 'agency') {
      this.form.controls.contactEmail.addValidators(Validators.email);
    }
  }

  protected async submit(): Promise<void> {
    if (this.action.busy() || !this.errors.submit()) {
      return;
    }
    const done = await this.action.run(() => this.register(this.form.getRawValue()));
    if (done === undefined) {
      // The next attempt is a new one (this one was answered).
      this.attemptKey = crypto.randomUUID();
    }
  }

  private async register(value: ReturnType<RegisterPage['form']['getRawValue']>): Promise<true> {
    const address = {
      line1: value.address.line1.trim(),
      line2: value.address.line2.trim(),
      city: value.address.city.trim(),
      region: value.address.region.trim(),
      postalCode: value.address.postalCode.trim(),
      countryCode: value.address.countryCode.trim().toUpperCase(),
    };
    const email = value.email.trim();
    if (value.kind === 'agency') {
      await this.api.agency.registerAgency({
        email,
        password: value.password,
        contactName: value.name.trim(),
        agencyName: value.agencyName.trim(),
        description: value.description.trim(),
        contactEmail: value.contactEmail.trim(),
        contactPhone: value.phone.trim(),
        taxId: value.taxId.trim(),
        legalAddress: address,
        idempotencyKey: this.attemptKey,
      });
    } else {
      await this.api.booking.registerTraveler({
        email,
        password: value.password,
        name: value.name.trim(),
        phone: value.phone.trim(),
        taxId: value.taxId.trim(),
        billingAddress: address,
        idempotencyKey: this.attemptKey,
      });
    }
    await signIn(this.api, email, value.password);
    return true;
  }

  /** The contract's name of a control, as the service's field errors spell it. */
  private contractField(path: string): string {
    const agency = this.kind() === 'agency';
    const line = this.addressLines.find((candidate) => `address.${candidate.key}` === path);
    if (line) {
      return `${agency ? 'legal_address' : 'billing_address'}.${line.contract}`;
    }
    const names: Record<string, string> = agency
      ? { name: 'contact_name', agencyName: 'agency_name', contactEmail: 'contact_email', phone: 'contact_phone', taxId: 'tax_id' }
      : { taxId: 'tax_id' };
    return names[path] ?? path;
  }

  private hint(path: string): string {
    if (path === 'phone') {
      return 'Use the international format: + and the country code, e.g. +14155550100.';
    }
    if (path === 'address.countryCode') {
      return 'Two capital letters, e.g. US.';
    }
    return '';
  }
}
