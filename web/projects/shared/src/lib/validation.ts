// Form rules checked in the browser before a call: the same bounds the contracts document, so
// the user learns at once; the services still decide.
import type { AbstractControl, ValidationErrors, ValidatorFn } from '@angular/forms';

/** Passwords are 12 to 128 characters (SystemAPI's rule). */
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;

/** E.164: a plus sign and 8 to 15 digits. */
export const E164 = /^\+[1-9]\d{7,14}$/;

/** ISO 3166-1 alpha-2, upper case. */
export const COUNTRY = /^[A-Z]{2}$/;

/** Whole years between `birthDate` and `on` (both `YYYY-MM-DD`), or null for a bad date. */
export function ageOn(birthDate: string, on: Date): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(birthDate);
  if (!match) {
    return null;
  }
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const born = new Date(Date.UTC(year, month - 1, day));
  if (born.getUTCMonth() !== month - 1 || born.getUTCDate() !== day) {
    return null;
  }
  let age = on.getUTCFullYear() - year;
  const beforeBirthday =
    on.getUTCMonth() < month - 1 || (on.getUTCMonth() === month - 1 && on.getUTCDate() < day);
  if (beforeBirthday) {
    age -= 1;
  }
  return age;
}

/** Passengers must be 18 to 70 years old (inclusive) on the launch date (BookingAPI's rule). */
export const PASSENGER_MIN_AGE = 18;
export const PASSENGER_MAX_AGE = 70;

/** The passenger-age rule against the launch date `launchAt` gives (today until it is known). */
export function passengerAgeOn(launchAt: () => Date | null): ValidatorFn {
  return (control: AbstractControl): ValidationErrors | null => {
    const value = String(control.value ?? '');
    if (!value) {
      return null;
    }
    const at = launchAt();
    const age = ageOn(value, at ?? new Date());
    if (age === null) {
      return { date: true };
    }
    if (age < PASSENGER_MIN_AGE) {
      return { tooYoung: { age } };
    }
    return age > PASSENGER_MAX_AGE ? { tooOld: { age } } : null;
  };
}

/** Both entries of a group are equal (a repeated new password). */
export function sameAs(first: string, second: string): ValidatorFn {
  return (group: AbstractControl): ValidationErrors | null => {
    const a = group.get(first)?.value;
    const b = group.get(second)?.value;
    return a && b && a !== b ? { mismatch: true } : null;
  };
}
