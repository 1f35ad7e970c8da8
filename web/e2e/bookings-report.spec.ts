// The bookings report of a launch that flew: its rows in the page, and the CSV download.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { checkPage, given, signIn, watchErrors } from './helpers';

test('an agency reads and downloads the bookings report of a successful launch', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto(`/auth/login?next=/agency/launches/${given('LAUNCH_ID')}`);
  await signIn(page, given('EMAIL'));
  await expect(page.getByTestId('status')).toHaveText('Successful');
  await expect(page.getByRole('button', { name: 'Delay' })).toHaveCount(0);
  await expect(page.getByRole('cell', { name: 'Passenger 0, Passenger 1' })).toBeVisible();
  await expect(page.getByTestId('net-revenue')).toHaveText('Net revenue: $50,000.00');
  await checkPage(page, 'agency-bookings-report');

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download CSV' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/\.csv$/);
  const csv = readFileSync((await file.path()) ?? '', 'utf8');
  expect(csv).toContain('Passenger 0');
  expect(csv.split('\n')[0]).toContain('booking');
  errors.expectNone();
});
