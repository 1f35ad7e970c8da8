// A traveler or an agency opening SystemWeb gets the "not allowed" page, and the employees'
// RPCs answer them 403.
import { expect, test } from '@playwright/test';
import { checkPage, given, PASSWORD, signIn, watchErrors } from './helpers';

for (const who of ['TRAVELER', 'AGENCY']) {
  test(`a ${who.toLowerCase()} is not allowed into SystemWeb`, async ({ page }) => {
    const errors = watchErrors(page);
    await page.goto('/auth/login?next=/system/invoices');
    await signIn(page, given(`${who}_EMAIL`), PASSWORD);
    await expect(page).toHaveURL('/system/not-allowed');
    await expect(page.getByRole('heading', { name: 'Not allowed' })).toBeVisible();
    await checkPage(page, `system-not-allowed-${who.toLowerCase()}`);
    const session = JSON.parse((await page.evaluate(() => localStorage.getItem('astro.session'))) ?? '{}');
    const authorization = `Bearer ${session.tokens.accessToken}`;
    for (const path of ['/v1/employees', '/v1/users', '/v1/logs', '/v1/notifications', '/v1/invoices?statuses=INVOICE_STATUS_OVERDUE', '/v1/reports/annual/2026']) {
      const answer = await page.request.get(path, { headers: { authorization } });
      if (who === 'AGENCY' && path.startsWith('/v1/invoices')) {
        // An agency lists its own invoices; the others are not its to see.
        expect(answer.status(), path).toBe(200);
        continue;
      }
      expect(answer.status(), `${path}: ${await answer.text()}`).toBe(403);
    }
    errors.expectNone();
  });
}
