// An agency registers, manages its rockets, schedules a launch and finds it in the public
// catalogue; a traveler books it; the agency delays it and the traveler sees the delay in the
// launch's history.
import { expect, test, type Page } from '@playwright/test';
import { bornYearsBefore, checkPage, fillPassenger, PASSWORD, report, signIn, uniqueEmail, watchErrors } from './helpers';

async function addRocket(page: Page, name: string, seats: string): Promise<void> {
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Passenger seats').fill(seats);
  await page.getByLabel('Range').selectOption({ label: 'Low earth orbit' });
  await page.getByRole('button', { name: 'Add rocket' }).click();
  await expect(page.getByTestId('rocket-row').filter({ hasText: name })).toBeVisible();
}

async function confirm(page: Page): Promise<void> {
  await page.getByRole('dialog').getByRole('button', { name: /^Yes/ }).click();
}

test('an agency schedules a launch, a traveler books it, the agency delays it', async ({ page, browser }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  const suffix = Math.random().toString(36).slice(2, 8);
  const destination = `Europa ${suffix}`;

  // Registration as an agency, straight into AgencyWeb.
  await page.goto('/auth/register');
  await page.getByLabel('a space agency').check();
  await page.getByLabel('Contact person').fill('Grace Agent');
  await page.getByLabel('E-mail', { exact: true }).fill(uniqueEmail('web-agency'));
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Agency name').fill(`Nebula Lines ${suffix}`);
  await page.getByLabel('Contact e-mail').fill('ops@nebula.example.com');
  await page.getByLabel('Phone').fill('+14155550199');
  await page.getByLabel('Tax id').fill('US-99-1234567');
  await page.getByLabel('Street and number').fill('9 Orbit Way');
  await page.getByLabel('City').fill('Houston');
  await page.getByLabel('Postal code').fill('77058');
  await page.getByLabel('Country code').fill('US');
  await checkPage(page, 'auth-register-agency');
  await page.getByRole('button', { name: 'Create my account' }).click();
  await expect(page).toHaveURL('/agency/');
  await expect(page.getByRole('heading', { name: 'Launches' })).toBeVisible();

  // Rockets: add, edit, retire one, delete one.
  await page.getByRole('navigation', { name: 'Agency' }).getByRole('link', { name: 'Rockets' }).click();
  await addRocket(page, 'Lantern', '8');
  await page.getByRole('button', { name: 'Edit Lantern' }).click();
  await page.getByLabel('Name').fill('Lantern II');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('rocket-row').filter({ hasText: 'Lantern II' })).toBeVisible();
  await addRocket(page, 'Spare', '4');
  await page.getByRole('button', { name: 'Retire Spare' }).click();
  await confirm(page);
  await expect(page.getByTestId('rocket-row').filter({ hasText: 'Spare' })).toContainText('Retired');
  await addRocket(page, 'Mistake', '2');
  await page.getByRole('button', { name: 'Delete Mistake' }).click();
  await confirm(page);
  await expect(page.getByTestId('rocket-row').filter({ hasText: 'Mistake' })).toHaveCount(0);
  await checkPage(page, 'agency-rockets');

  // Schedule a launch on the active rocket.
  await page.getByRole('navigation', { name: 'Agency' }).getByRole('link', { name: 'Schedule a launch' }).click();
  await page.getByLabel('Rocket').selectOption({ label: 'Lantern II (8 seats)' });
  await page.getByLabel('Spaceport').fill('Kourou');
  await page.getByLabel('Destination').fill(destination);
  const departure = new Date(Date.now() + 90 * 86_400_000);
  await page.getByLabel('Departure (UTC)').fill(departure.toISOString().slice(0, 11) + '14:30');
  await page.getByLabel('Seat price').fill('125000');
  await page.getByLabel('Minimum seats for the launch to fly').fill('3');
  await checkPage(page, 'agency-schedule');
  // A visitor's catalogue page, open and filtered before the launch exists.
  const visitor = await browser.newPage();
  await visitor.goto('/public/');
  await visitor.getByLabel('Destination').fill(destination);
  await visitor.getByRole('button', { name: 'Search' }).click();
  await expect(visitor.getByTestId('result-count')).toHaveText('0 launches found');

  await page.getByRole('button', { name: 'Schedule' }).click();
  await expect(page).toHaveURL(/\/agency\/launches\/[0-9a-f-]{36}$/);
  const scheduledAt = Date.now();

  // The public catalogue lists it: searched again until it shows.
  let catalogueMillis = -1;
  for (let attempt = 0; attempt < 200 && catalogueMillis < 0; attempt += 1) {
    await visitor.getByRole('button', { name: 'Search' }).click();
    await expect(visitor.getByTestId('result-count')).toContainText('found');
    if ((await visitor.getByTestId('result-count').innerText()).startsWith('1 launch')) {
      catalogueMillis = Date.now() - scheduledAt;
    } else {
      await visitor.waitForTimeout(25);
    }
  }
  expect(catalogueMillis, 'the launch reached the catalogue').toBeGreaterThanOrEqual(0);
  console.log(`catalogue showed the launch ${catalogueMillis} ms after ScheduleLaunch answered`);
  await visitor.close();

  const launchId = page.url().split('/').pop() ?? '';
  await expect(page.getByTestId('status')).toHaveText('Scheduled');
  const slug = (await page.getByRole('link', { name: /^lantern-ii-kourou-europa-/ }).innerText()).trim();
  await checkPage(page, 'agency-launch');

  // A traveler (registered through the REST API) books a seat in the browser.
  const travelerEmail = uniqueEmail('web-delayed');
  const registered = await page.request.post('/v1/travelers', {
    data: {
      email: travelerEmail,
      password: PASSWORD,
      name: 'Tom Traveler',
      phone: '+14155550111',
      taxId: 'TX-778899',
      billingAddress: { line1: '2 Dock St', city: 'Boston', postalCode: '02110', countryCode: 'US' },
    },
  });
  expect(registered.status(), await registered.text()).toBe(200);
  const travelerContext = await browser.newContext();
  const traveler = await travelerContext.newPage();
  const travelerErrors = watchErrors(traveler);
  await traveler.goto(`/auth/login?next=/traveler/book/${slug}`);
  await signIn(traveler, travelerEmail);
  await expect(traveler).toHaveURL(`/traveler/book/${slug}`);
  await fillPassenger(traveler, 0, 'Tom Traveler', bornYearsBefore(departure, 44));
  await traveler.getByRole('button', { name: 'Book', exact: true }).click();
  await expect(traveler.getByTestId('booking-status')).toHaveText('Confirmed');

  // The agency delays the launch by a week.
  await page.reload();
  await expect(page.getByText('1 of 8 seats')).toBeVisible();
  const later = new Date(departure.getTime() + 7 * 86_400_000);
  await page.getByLabel('New departure (UTC)').fill(later.toISOString().slice(0, 11) + '09:00');
  await page.getByLabel('Reason').fill('Weather at the pad');
  await page.getByRole('button', { name: 'Delay' }).click();
  await expect(page.getByRole('dialog')).toContainText('Move this launch to the new date?');
  await checkPage(page, 'agency-delay-dialog');
  await confirm(page);
  await expect(page.getByTestId('status')).toHaveText('Delayed');
  await expect(page.getByTestId('history')).toContainText('Weather at the pad');
  await checkPage(page, 'agency-launch-delayed');

  // The traveler sees the delay in the launch's history (BookingAPI hears of it by its feed).
  await expect(async () => {
    await traveler.reload();
    await expect(traveler.getByTestId('launch-status')).toHaveText('Delayed', { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(traveler.getByTestId('history')).toContainText('Delayed');
  await expect(traveler.getByTestId('history')).toContainText('Weather at the pad');
  await checkPage(traveler, 'traveler-booking-delayed');

  // The launches list with occupancy, and the profile.
  await page.getByRole('navigation', { name: 'Agency' }).getByRole('link', { name: 'Launches' }).click();
  await expect(page.getByTestId('launch-row')).toContainText('1 of 8');
  await expect(page.getByTestId('launch-row')).toContainText('Not viable');
  await checkPage(page, 'agency-launches');
  await page.getByRole('navigation', { name: 'Agency' }).getByRole('link', { name: 'Profile' }).click();
  await expect(page.getByLabel('Agency name')).toHaveValue(`Nebula Lines ${suffix}`);
  await checkPage(page, 'agency-profile');

  const session = JSON.parse((await page.evaluate(() => localStorage.getItem('astro.session'))) ?? '{}');
  report({ launchId, catalogueMillis, agencyToken: session.tokens?.accessToken });
  errors.expectNone();
  travelerErrors.expectNone();
  await travelerContext.close();
});
