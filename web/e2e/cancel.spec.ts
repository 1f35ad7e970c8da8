// A traveler quotes and cancels a booking of a launch 400 days out: the quote says 90 %, the
// cancellation shows the refund (the Rust test checks it at localstripe).
import { expect, test } from '@playwright/test';
import { bornYearsBefore, checkPage, fillPassenger, given, report, signIn, watchErrors } from './helpers';

test('a traveler sees the 90 % quote, then cancels', async ({ page }) => {
  const slug = given('SLUG');
  const errors = watchErrors(page);
  await page.goto('/auth/login');
  await signIn(page, given('EMAIL'));
  await expect(page).toHaveURL('/traveler/');
  await checkPage(page, 'traveler-my-bookings-empty');
  await page.goto(`/traveler/book/${slug}`);
  await fillPassenger(page, 0, 'Patient Planner', bornYearsBefore(new Date(given('LAUNCH_AT')), 30));
  await expect(page.getByText('Total: $25,000.00')).toBeVisible();
  await page.getByRole('button', { name: 'Book', exact: true }).click();
  await expect(page.getByTestId('booking-status')).toHaveText('Confirmed');
  const bookingId = page.url().split('/').pop() ?? '';

  await page.getByRole('button', { name: 'See the refund' }).click();
  await expect(page.getByTestId('quote')).toHaveText(/^Refund: 90% \(One year or more\), \$22,500\.00\.$/);
  await checkPage(page, 'traveler-cancellation-quote');
  await page.getByRole('button', { name: 'Cancel booking' }).click();
  const dialog = page.getByRole('dialog', { name: 'Cancel this booking?' });
  await expect(dialog).toContainText('You get $22,500.00 back (90%)');
  await checkPage(page, 'traveler-cancel-dialog');
  await dialog.getByRole('button', { name: 'Cancel booking' }).click();
  await expect(page.getByTestId('booking-status')).toHaveText('Cancelled');
  await expect(page.getByTestId('refunded')).toHaveText('$22,500.00');
  report({ bookingId });
  errors.expectNone();
});
