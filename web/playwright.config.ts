import { defineConfig } from '@playwright/test';

// Browser tests of the web apps against a real gateway and mesh. The Rust e2e tests
// (tests/tests/e2e/web_apps.rs) start a mesh of their own and run one spec each, passing its
// address as ASTRO_WEB_BASE_URL; run by hand against `./dev up` with
// ASTRO_WEB_BASE_URL=http://127.0.0.1:8080 npx playwright test.
export default defineConfig({
  testDir: './e2e',
  outputDir: process.env['ASTRO_WEB_OUTPUT_DIR'] ?? 'test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    baseURL: process.env['ASTRO_WEB_BASE_URL'] ?? 'http://127.0.0.1:8080',
    viewport: { width: 1280, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      // Debian's Chromium (installed by ./dev), never a browser Playwright downloads.
      executablePath: process.env['ASTRO_CHROMIUM'] ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
});
