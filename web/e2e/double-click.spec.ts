// A double click on "Book" makes one booking: the button is disabled while the call runs, and
// the attempt carries one idempotency key (the Rust test counts the bookings in OperationsDB).
import { expect, test } from '@playwright/test';
import { bornYearsBefore, fillPassenger, given, signIn, watchErrors } from './helpers';

test('a double click on Book books once', async ({ page }) => {
  const slug = given('SLUG');
  const errors = watchErrors(page);
  await page.goto(`/traveler/book/${slug}`);
  await expect(page).toHaveURL(/\/auth\/login\?next=/);
  await signIn(page, given('EMAIL'));
  await expect(page).toHaveURL(`/traveler/book/${slug}`);
  await fillPassenger(page, 0, 'Quick Clicker', bornYearsBefore(new Date(given('LAUNCH_AT')), 40));
  await page.getByRole('button', { name: 'Book', exact: true }).dblclick();
  await expect(page).toHaveURL(/\/traveler\/bookings\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('booking-status')).toHaveText('Confirmed');
  await page.goto('/traveler/');
  await expect(page.getByTestId('booking-status')).toHaveText('Confirmed');
  await expect(page.getByTestId('booking-row')).toHaveCount(1);
  errors.expectNone();
});
