// Field messages for the forms: the browser's own checks first, then what the service said
// about that field (its `google.rpc.BadRequest` names fields as the contract does).
import { signal } from '@angular/core';
import type { AbstractControl, FormGroup } from '@angular/forms';
import type { ShownError } from './errors';

/** The message of a control's first failed rule, or '' when it passes. */
export function controlMessage(control: AbstractControl | null, hint = ''): string {
  const errors = control?.errors;
  if (!errors) {
    return '';
  }
  if (errors['required']) {
    return 'Required.';
  }
  if (errors['email']) {
    return 'Enter an e-mail address such as name@example.com.';
  }
  if (errors['minlength']) {
    return `At least ${errors['minlength'].requiredLength} characters.`;
  }
  if (errors['maxlength']) {
    return `At most ${errors['maxlength'].requiredLength} characters.`;
  }
  if (errors['min']) {
    return `At least ${errors['min'].min}.`;
  }
  if (errors['date']) {
    return 'Enter a date.';
  }
  if (errors['tooYoung']) {
    return `Passengers must be at least 18 on the launch date (this one is ${errors['tooYoung'].age}).`;
  }
  if (errors['tooOld']) {
    return `Passengers must be at most 70 on the launch date (this one is ${errors['tooOld'].age}).`;
  }
  if (errors['mismatch']) {
    return 'The two entries differ.';
  }
  return hint || 'Check this value.';
}

/** A form's field messages: shown once a field was left or the form was submitted. */
export class FieldErrors {
  readonly submitted = signal(false);
  readonly server = signal<Record<string, string>>({});

  constructor(private readonly form: FormGroup) {}

  /** The message for the control at `path`, whose contract field is `field`. */
  of(path: string, field: string, hint = ''): string {
    const control = this.form.get(path);
    const shown = control && (control.touched || this.submitted());
    return (shown ? controlMessage(control, hint) : '') || this.server()[field] || '';
  }

  /** Before a call: mark every field as shown; false when the browser's checks fail. */
  submit(): boolean {
    this.submitted.set(true);
    this.server.set({});
    this.form.markAllAsTouched();
    return this.form.valid;
  }

  failed(error: ShownError): void {
    this.server.set(error.fields);
  }
}
