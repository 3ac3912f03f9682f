import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Each test starts real worker threads (or whole processes): two files at a time fit 2 cores.
    maxWorkers: 2,
  },
});
