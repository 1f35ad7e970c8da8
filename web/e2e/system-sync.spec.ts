// IT starts a user-profile sync and watches the progress bar reach 100 %; a second start while
// it runs is refused with a clear message. Service status, logs and metrics pages open.
import { expect, test } from '@playwright/test';
import { checkPage, given, signIn, watchErrors } from './helpers';

test('IT watches a sync job to 100 % and a second start is refused', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/auth/login?next=/system/sync-jobs');
  await signIn(page, given('EMAIL'));
  await expect(page.getByRole('heading', { name: 'Sync jobs' })).toBeVisible();
  await page.getByRole('button', { name: 'Sync user profiles' }).click();
  await expect(page.getByTestId('sync-progress')).toBeVisible();
  await page.getByRole('button', { name: 'Sync user profiles' }).click();
  await expect(page.getByRole('alert')).toContainText('A user profiles sync is already');
  await expect(page.getByRole('alert')).toContainText('wait for it to finish');
  const seen = new Set<string>();
  await expect(async () => {
    seen.add(await page.getByTestId('sync-percent').innerText());
    await expect(page.getByTestId('sync-percent')).toHaveText('100%', { timeout: 200 });
  }).toPass({ timeout: 60_000, intervals: [100] });
  await expect(page.getByRole('heading', { name: 'User profiles: Succeeded' })).toBeVisible();
  expect(seen.size, `progress seen rising: ${[...seen].join(', ')}`).toBeGreaterThanOrEqual(2);
  await expect(page.getByTestId('sync-progress')).toHaveAttribute('value', '100');
  await checkPage(page, 'system-sync-jobs');

  const nav = page.getByRole('navigation', { name: 'Operations' });
  await nav.getByRole('link', { name: 'Service status' }).click();
  await expect(page.getByTestId('service-row').first()).toBeVisible();
  await checkPage(page, 'system-status');
  await nav.getByRole('link', { name: 'Activity logs' }).click();
  await expect(page.getByRole('heading', { name: 'Activity logs' })).toBeVisible();
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByTestId('log-row').first()).toBeVisible();
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export CSV' }).click();
  expect((await download).suggestedFilename()).toMatch(/\.csv$/);
  await checkPage(page, 'system-logs');
  await nav.getByRole('link', { name: 'Metrics' }).click();
  await expect(page.getByRole('heading', { name: 'Requests per second' })).toBeVisible();
  await checkPage(page, 'system-metrics');
  errors.expectNone();
});
