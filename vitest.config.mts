import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons and the threads pool don't mix: each test file gets its own process.
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
