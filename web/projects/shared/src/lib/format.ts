// How values of the contracts read on a page.
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { Money } from '../gen/astrobookings/common/v1/common_pb';
import { LaunchStatus, Role, RocketRange, type LaunchStatusChange } from '../gen/astrobookings/common/v1/common_pb';

/** Minor units per major unit; ISO 4217 currencies without cents are listed. */
const ZERO_DECIMAL = new Set(['JPY', 'KRW', 'CLP', 'VND', 'ISK']);

export function minorPerMajor(currency: string): number {
  return ZERO_DECIMAL.has(currency.toUpperCase()) ? 1 : 100;
}

export function money(value: Money | undefined): string {
  if (!value) {
    return '';
  }
  const major = Number(value.amountMinor) / minorPerMajor(value.currency);
  return new Intl.NumberFormat('en-US', { style: 'currency', currency: value.currency }).format(major);
}

export function dateTime(value: Timestamp | undefined): string {
  if (!value) {
    return '';
  }
  return new Intl.DateTimeFormat('en-GB', {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: 'UTC',
  }).format(timestampDate(value)) + ' UTC';
}

/** `LOW_EARTH_ORBIT` → `Low earth orbit`. */
function words(name: string | undefined): string {
  if (!name) {
    return '';
  }
  const text = name.toLowerCase().replaceAll('_', ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function rangeLabel(range: RocketRange): string {
  return words(RocketRange[range]);
}

export function statusLabel(status: LaunchStatus): string {
  return words(LaunchStatus[status]);
}

export const RANGES: { value: RocketRange; label: string }[] = [
  RocketRange.SUBORBITAL,
  RocketRange.LOW_EARTH_ORBIT,
  RocketRange.INTERPLANETARY,
].map((value) => ({ value, label: rangeLabel(value) }));

/** The label of any generated enum's value: `enumLabel(BookingStatus, 2)` → `Confirmed`. */
export function enumLabel(values: Record<number, string>, value: number): string {
  return words(values[value]);
}

/** One entry of a launch's status history: `Delayed: from … to … (reason)`. */
export function describeStatusChange(change: LaunchStatusChange): string {
  const moved =
    change.previousScheduledAt && change.scheduledAt && change.previousScheduledAt.seconds !== change.scheduledAt.seconds
      ? `: from ${dateTime(change.previousScheduledAt)} to ${dateTime(change.scheduledAt)}`
      : '';
  const reason = change.reason ? ` (${change.reason})` : '';
  return `${statusLabel(change.status)}${moved}${reason}`;
}

const ROLE_LABELS: Record<number, string> = {
  [Role.TRAVELER]: 'Traveler',
  [Role.AGENCY]: 'Agency',
  [Role.FINANCE]: 'Finance',
  [Role.IT]: 'IT',
  [Role.ADMIN]: 'Admin',
};

export function roleLabel(role: number): string {
  return ROLE_LABELS[role] ?? '';
}
