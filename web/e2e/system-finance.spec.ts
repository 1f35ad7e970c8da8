// FINANCE opens the invoice of a successful launch, records a partial payment (PARTIALLY_PAID),
// then the rest (PAID), and downloads the PDF; the annual report shows its chart and the same
// totals the API gives.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { checkPage, given, signIn, watchErrors } from './helpers';

test('FINANCE records two payments of an invoice and downloads its PDF', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/auth/login?next=/system/');
  await signIn(page, given('EMAIL'));
  await expect(page).toHaveURL('/system/invoices');
  await page.getByLabel('Launch id').fill(given('LAUNCH_ID'));
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page.getByTestId('invoice-row')).toHaveCount(1);
  await checkPage(page, 'system-invoices');
  await page.getByTestId('invoice-row').getByRole('link').click();
  await expect(page.getByTestId('invoice-status')).toHaveText('Issued');
  await expect(page.getByTestId('amount-due')).toHaveText('$500.00');

  await page.getByLabel('Amount (USD)').fill('200');
  await page.getByLabel('Reference').fill('BANK-0001');
  await page.getByRole('button', { name: 'Record payment' }).click();
  await expect(page.getByTestId('invoice-status')).toHaveText('Partially paid');
  await expect(page.getByTestId('amount-due')).toHaveText('$300.00');
  await checkPage(page, 'system-invoice-partially-paid');
  // More than is due: the service says no, next to nothing lost.
  await page.getByLabel('Amount (USD)').fill('400');
  await page.getByRole('button', { name: 'Record payment' }).click();
  await expect(page.getByRole('alert')).toBeVisible();
  await expect(page.getByTestId('invoice-status')).toHaveText('Partially paid');
  await page.getByLabel('Amount (USD)').fill('300');
  await page.getByRole('button', { name: 'Record payment' }).click();
  await expect(page.getByTestId('invoice-status')).toHaveText('Paid');
  await expect(page.getByTestId('amount-due')).toHaveText('$0.00');
  await expect(page.getByTestId('payment-row')).toHaveCount(2);

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download PDF' }).click();
  const pdf = readFileSync((await (await download).path()) ?? '');
  expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
  await checkPage(page, 'system-invoice-paid');

  await page.getByRole('navigation', { name: 'Operations' }).getByRole('link', { name: 'Annual report' }).click();
  await expect(page.getByTestId('annual-chart')).toBeVisible();
  await expect(page.getByTestId('annual-chart').locator('rect')).toHaveCount(36);
  // The same totals as the API's (REST, with this session's token).
  const session = JSON.parse((await page.evaluate(() => localStorage.getItem('astro.session'))) ?? '{}');
  const year = new Date().getUTCFullYear();
  const answer = await page.request.get(`/v1/reports/annual/${year}?currency=USD`, {
    headers: { authorization: `Bearer ${session.tokens.accessToken}` },
  });
  expect(answer.status()).toBe(200);
  const totals = (await answer.json()).totals as Record<string, { amountMinor: string }>;
  const dollars = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
  expect(totals['received']?.amountMinor, 'the two payments are received').toBe('50000');
  for (const figure of ['invoiced', 'received', 'pending', 'projected', 'credited']) {
    const minor = Number(totals[figure]?.amountMinor ?? 0);
    await expect(page.getByTestId(`total-${figure}`)).toHaveText(dollars.format(minor / 100));
  }
  await checkPage(page, 'system-annual-report');

  await page.getByRole('navigation', { name: 'Operations' }).getByRole('link', { name: 'Revenue report' }).click();
  await page.getByLabel('Agency id').fill(given('AGENCY_ID'));
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page.getByText('Fees paid')).toBeVisible();
  const csv = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download CSV' }).click();
  expect((await csv).suggestedFilename()).toMatch(/\.csv$/);
  await checkPage(page, 'system-revenue-report');
  errors.expectNone();
});
