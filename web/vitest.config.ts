import { defineConfig } from 'vitest/config';

// Unit tests of the shared library's plain TypeScript (session, errors, form rules).
export default defineConfig({
  test: {
    include: ['projects/**/*.spec.ts'],
    environment: 'node',
    setupFiles: ['./vitest.setup.ts'],
  },
});
