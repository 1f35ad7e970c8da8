// What every browser test does on each page: no JavaScript errors, no serious accessibility
// violation (axe-core, WCAG 2 A/AA), and a screenshot under the test output.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const OUTPUT = process.env['ASTRO_WEB_OUTPUT_DIR'] ?? 'test-results';

export const PASSWORD = 'correct horse battery staple';

/** What the Rust test that started this spec passed in. */
export function given(name: string): string {
  const value = process.env[`ASTRO_WEB_${name}`];
  if (!value) {
    throw new Error(`ASTRO_WEB_${name} is not set: run this spec from tests/tests/e2e/web_apps.rs`);
  }
  return value;
}

/** Records a value for the Rust test to check after the spec (e.g. a booking id). */
export function report(values: Record<string, unknown>): void {
  const file = process.env['ASTRO_WEB_RESULT_FILE'];
  if (!file) {
    return;
  }
  const before = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  writeFileSync(file, JSON.stringify({ ...before, ...values }, null, 2));
}

/** Collects the page's JavaScript errors; `expectNone` fails the test if there were any. */
export function watchErrors(page: Page): { expectNone: () => void } {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') {
      errors.push(`console error: ${message.text()}`);
    }
  });
  return { expectNone: () => expect(errors, 'JavaScript errors on the page').toEqual([]) };
}

/** axe-core on the page as it is now (serious and critical violations fail), then a screenshot. */
export async function checkPage(page: Page, name: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const serious = results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
  expect(serious, `axe-core violations on ${name}`).toEqual([]);
  const folder = join(OUTPUT, 'screenshots');
  mkdirSync(folder, { recursive: true });
  await page.screenshot({ path: join(folder, `${name}.png`), fullPage: true });
}

export async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** A passenger row of the booking form. */
export async function fillPassenger(page: Page, index: number, name: string, birth: string): Promise<void> {
  const row = page.getByTestId(`passenger-${index}`);
  await row.getByLabel('Full name').fill(name);
  await row.getByLabel('Date of birth').fill(birth);
  await row.getByLabel('E-mail').fill(`passenger${index}@example.com`);
}

/** `YYYY-MM-DD` of someone exactly `age` years old on `at`'s date. */
export function bornYearsBefore(at: Date, age: number): string {
  const birth = new Date(Date.UTC(at.getUTCFullYear() - age, at.getUTCMonth(), at.getUTCDate()));
  return birth.toISOString().slice(0, 10);
}

export function uniqueEmail(label: string): string {
  return `${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}@example.com`;
}
