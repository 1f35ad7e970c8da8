// An agency pays its invoice through the payment gateway (the Stripe emulator): the gateway's
// signed webhook makes it PAID and the page shows it without a reload.
import { expect, test } from '@playwright/test';
import { checkPage, given, signIn, watchErrors } from './helpers';

test('an agency pays an invoice and sees it paid without reloading', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/auth/login?next=/agency/invoices');
  await signIn(page, given('EMAIL'));
  await expect(page.getByTestId('invoice-row')).toHaveCount(1);
  await checkPage(page, 'agency-invoices');
  await page.getByTestId('invoice-row').getByRole('link').click();
  await expect(page.getByTestId('invoice-status')).toHaveText('Issued');
  let navigations = 0;
  page.on('framenavigated', () => (navigations += 1));
  await page.getByRole('button', { name: 'Pay $1,000.00' }).click();
  await expect(page.getByRole('status')).toContainText('waiting for the payment gateway');
  await expect(page.getByTestId('invoice-status')).toHaveText('Paid', { timeout: 30_000 });
  await expect(page.getByTestId('amount-due')).toHaveText('$0.00');
  expect(navigations, 'the page was not reloaded').toBe(0);
  await checkPage(page, 'agency-invoice-paid');
  errors.expectNone();
});
