// A visitor filters the catalogue, opens a launch by its slug and registers as a traveler on
// the way to booking it; a 17-year-old passenger is refused on that row, then the booking of
// two seats is CONFIRMED in "my bookings" (the Rust test checks OperationsDB).
import { expect, test } from '@playwright/test';
import { bornYearsBefore, checkPage, fillPassenger, given, PASSWORD, report, uniqueEmail, watchErrors } from './helpers';

test('a visitor finds a launch, registers and books two seats', async ({ page }) => {
  const destination = given('DESTINATION');
  const slug = given('SLUG');
  const launchAt = new Date(given('LAUNCH_AT'));
  const errors = watchErrors(page);

  await page.goto('/');
  await expect(page).toHaveURL(/\/public\/$/);
  await expect(page.getByRole('heading', { name: 'Upcoming launches' })).toBeVisible();
  await expect(page.getByTestId('result-count')).toContainText('found');
  await checkPage(page, 'public-catalogue');

  await page.getByLabel('Destination').fill(destination);
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByTestId('result-count')).toHaveText('1 launch found');
  const launches = page.getByRole('list', { name: 'Launches' }).getByRole('listitem');
  await expect(launches).toHaveCount(1);
  await launches.getByRole('link').click();

  await expect(page).toHaveURL(`/public/launches/${slug}`);
  await expect(page.getByTestId('seats-left')).toHaveText('6 of 6');
  await checkPage(page, 'public-launch');

  // Booking needs an account: sign-in page, then registration, then back to the booking form.
  await page.getByRole('link', { name: 'Book seats' }).click();
  await expect(page).toHaveURL(/\/auth\/login\?next=/);
  await checkPage(page, 'auth-login');
  await page.getByRole('link', { name: 'Register as a traveler or an agency' }).click();
  await expect(page.getByRole('heading', { name: 'Register' })).toBeVisible();
  const email = uniqueEmail('web-traveler');
  await page.getByLabel('Full name').fill('Ada Traveler');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Phone').fill('+14155550123');
  await page.getByLabel('Tax id').fill('TX-123456');
  await page.getByLabel('Street and number').fill('1 Launch Road');
  await page.getByLabel('City').fill('Cape Canaveral');
  await page.getByLabel('Postal code').fill('32920');
  await page.getByLabel('Country code').fill('US');
  await checkPage(page, 'auth-register');
  await page.getByRole('button', { name: 'Create my account' }).click();

  await expect(page).toHaveURL(`/traveler/book/${slug}`);
  await expect(page.getByRole('heading', { name: 'Book seats' })).toBeVisible();
  await page.getByRole('button', { name: 'Add a passenger' }).click();
  await fillPassenger(page, 0, 'Ada Traveler', bornYearsBefore(launchAt, 35));
  await fillPassenger(page, 1, 'Young Traveler', bornYearsBefore(launchAt, 17));
  await page.getByRole('button', { name: 'Book', exact: true }).click();

  // Refused on the second row only, and nothing was booked.
  const young = page.getByTestId('passenger-1');
  await expect(young.getByText(/at least 18 on the launch date \(this one is 17\)/)).toBeVisible();
  await expect(young.getByLabel('Date of birth')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByTestId('passenger-0').locator('.field-error').filter({ hasText: /\S/ })).toHaveCount(0);
  await expect(page).toHaveURL(`/traveler/book/${slug}`);
  await checkPage(page, 'traveler-book-refused');

  await young.getByLabel('Date of birth').fill(bornYearsBefore(launchAt, 18));
  await page.getByRole('button', { name: 'Book', exact: true }).click();
  await expect(page).toHaveURL(/\/traveler\/bookings\/[0-9a-f-]{36}$/);
  const bookingId = page.url().split('/').pop() ?? '';
  await expect(page.getByTestId('booking-status')).toHaveText('Confirmed');
  await checkPage(page, 'traveler-booking');

  await page.getByRole('link', { name: 'My bookings' }).first().click();
  await expect(page.getByTestId('booking-row')).toHaveCount(1);
  await expect(page.getByTestId('booking-status')).toHaveText('Confirmed');
  await checkPage(page, 'traveler-my-bookings');
  report({ bookingId, email });
  errors.expectNone();
});
