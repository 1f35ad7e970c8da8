// Each portal refuses the other roles with a clear page, sends visitors to sign in, and the
// account page lists "my notifications" and changes the password. PublicWeb also works on a
// phone-sized screen.
import { devices, expect, test } from '@playwright/test';
import { checkPage, given, PASSWORD, signIn, watchErrors } from './helpers';

test('a traveler typing an agency URL is told it is not allowed', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/agency/rockets');
  await expect(page).toHaveURL(/\/auth\/login\?next=%2Fagency%2Frockets/);
  await signIn(page, given('EMAIL'));
  await expect(page).toHaveURL('/agency/not-allowed');
  await expect(page.getByRole('heading', { name: 'Not allowed' })).toBeVisible();
  await expect(page.getByRole('alert')).toContainText('not available to your account');
  await expect(page.getByRole('link', { name: 'Go to your start page' })).toHaveAttribute('href', '/traveler/');
  await checkPage(page, 'agency-not-allowed');

  await page.goto('/auth/account');
  await expect(page.getByRole('heading', { name: 'My notifications' })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'User registered' })).toBeVisible({ timeout: 20_000 });
  await checkPage(page, 'auth-account');

  // Wrong current password: the service's answer, shown; then the real change.
  await page.getByLabel('Current password').fill('not my password at all');
  await page.getByLabel('New password (12 characters or more)').fill('a brand new passphrase');
  await page.getByLabel('New password again').fill('a brand new passphrase');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.locator('form[aria-label="Change password"] .error')).toBeVisible();
  await page.getByLabel('Current password').fill(given('PASSWORD'));
  await page.getByLabel('New password (12 characters or more)').fill('a brand new passphrase');
  await page.getByLabel('New password again').fill('a brand new passphrase');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status')).toHaveText('Your password was changed.');

  await page.getByRole('button', { name: 'Sign out' }).first().click();
  await expect(page).toHaveURL('/public/');
  await page.goto('/auth/login');
  await signIn(page, given('EMAIL'), 'a brand new passphrase');
  await expect(page).toHaveURL('/traveler/');
  errors.expectNone();
});

test('an agency signing in with the keyboard only and opening TravelerWeb is told it is not allowed', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/auth/login?next=/traveler/');
  // Tab from the top of the page: the skip link first, then to the e-mail field; the focused
  // field shows a focus ring.
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
  const email = page.getByLabel('E-mail');
  for (let presses = 0; presses < 10 && !(await email.evaluate((field) => field === document.activeElement)); presses += 1) {
    await page.keyboard.press('Tab');
  }
  await expect(email).toBeFocused();
  const ring = await email.evaluate((field) => getComputedStyle(field).outlineStyle);
  expect(ring).not.toBe('none');
  await page.keyboard.type(given('AGENCY_EMAIL'));
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Password')).toBeFocused();
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL('/traveler/not-allowed');
  await expect(page.getByRole('link', { name: 'Go to your start page' })).toHaveAttribute('href', '/agency/');
  await checkPage(page, 'traveler-not-allowed');
  errors.expectNone();
});

test('PublicWeb works on a phone-sized screen', async ({ browser }) => {
  const context = await browser.newContext(devices['Pixel 7']);
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto('/public/');
  await expect(page.getByRole('heading', { name: 'Upcoming launches' })).toBeVisible();
  await expect(page.getByTestId('result-count')).toContainText('found');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, 'no sideways scrolling').toBeLessThanOrEqual(0);
  await checkPage(page, 'public-catalogue-phone');
  errors.expectNone();
  await context.close();
});
