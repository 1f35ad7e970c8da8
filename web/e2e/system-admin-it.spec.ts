// An ADMIN creates an IT employee, who signs in, finds a failed notification by its recipient,
// retries it and sees it SENT (the Rust test finds the e-mail at the SMTP catcher). The queue's
// counts and failure reasons are on the page.
import { expect, test } from '@playwright/test';
import { checkPage, given, PASSWORD, signIn, uniqueEmail, watchErrors } from './helpers';

test('an admin adds an IT employee who retries a failed e-mail', async ({ page }) => {
  const errors = watchErrors(page);
  const recipient = given('RECIPIENT');
  await page.goto('/system/');
  await expect(page).toHaveURL(/\/auth\/login\?next=%2Fsystem%2F/);
  await signIn(page, given('ADMIN_EMAIL'), given('ADMIN_PASSWORD'));
  await expect(page).toHaveURL('/system/employees');
  const itEmail = uniqueEmail('web-it');
  await page.getByLabel('Name').fill('Ivy Operator');
  await page.getByLabel('E-mail').fill(itEmail);
  await page.getByLabel('First password').fill(PASSWORD);
  await page.getByLabel('Role').selectOption({ label: 'IT' });
  await page.getByRole('button', { name: 'Add employee' }).click();
  await expect(page.getByRole('status')).toHaveText(`${itEmail} can sign in now.`);
  await expect(page.getByTestId('employee-row').filter({ hasText: itEmail })).toContainText('IT');
  await checkPage(page, 'system-employees');
  await page.getByRole('navigation', { name: 'Operations' }).getByRole('link', { name: 'Users' }).click();
  await page.getByLabel('Name or e-mail').fill(itEmail);
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByTestId('user-row')).toHaveCount(1);
  await checkPage(page, 'system-users');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL('/public/');

  await page.goto('/auth/login?next=/system/');
  await signIn(page, itEmail);
  await expect(page).toHaveURL('/system/notifications');
  await page.getByLabel('Recipient (e-mail or name)').fill(recipient);
  await page.getByLabel('Status').selectOption({ label: 'Failed' });
  await page.getByRole('button', { name: 'Show' }).click();
  const row = page.getByTestId('notification-row');
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId('notification-status')).toHaveText('Failed');
  await expect(row).toContainText('smtp 554');
  await expect(page.getByTestId('status-counts')).toContainText('Failed: 1');
  await checkPage(page, 'system-notifications');

  await row.getByRole('button', { name: 'Retry' }).click();
  await expect(page.getByRole('dialog')).toContainText(`Send the e-mail to ${recipient} again now?`);
  await page.getByRole('dialog').getByRole('button', { name: 'Yes' }).click();
  // The retried e-mail is sent by NotifyAPI's worker: shown once it is.
  await page.getByLabel('Status').selectOption({ label: 'Any status' });
  await expect(async () => {
    await page.getByRole('button', { name: 'Show' }).click();
    await expect(page.getByTestId('notification-status')).toHaveText('Sent', { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
  await checkPage(page, 'system-notifications-sent');
  errors.expectNone();
});
