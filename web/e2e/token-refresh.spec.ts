// Access tokens expire mid-session (the mesh issues 1-second tokens; verifiers allow 60 s of
// clock skew): the next call is refused, the app refreshes once and retries, and the traveler
// sees the page as if nothing happened.
import { expect, test } from '@playwright/test';
import { given, report, signIn, watchErrors } from './helpers';

test('an expired session is refreshed without the traveler noticing', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = watchErrors(page);
  let refreshes = 0;
  page.on('request', (request) => {
    if (request.url().endsWith('/astrobookings.system.v1.SystemService/RefreshTokens')) {
      refreshes += 1;
    }
  });
  await page.goto('/auth/login');
  await signIn(page, given('EMAIL'));
  await expect(page).toHaveURL('/traveler/');
  await expect(page.getByTestId('booking-row')).toHaveCount(1);
  const before = await page.evaluate(() => localStorage.getItem('astro.session'));

  // Past the token's 1 s life and the 60 s leeway.
  await page.waitForTimeout(63_000);
  expect(refreshes).toBe(0);
  await page.getByTestId('booking-row').getByRole('link').click();
  await expect(page.getByTestId('booking-status')).toHaveText('Confirmed');
  await expect(page.getByRole('alert')).toHaveCount(0);
  await page.getByRole('link', { name: '← My bookings' }).click();
  await expect(page.getByTestId('booking-row')).toHaveCount(1);
  await expect(page.getByRole('alert')).toHaveCount(0);

  const after = await page.evaluate(() => localStorage.getItem('astro.session'));
  expect(after).not.toBeNull();
  expect(after).not.toEqual(before);
  expect(refreshes).toBe(1);
  report({ refreshes });
  errors.expectNone();
});
