import { defineConfig } from 'vitest/config';

/**
 * Tests by kind: `test/unit` (one module, no program), `test/e2e` (real threaded programs through
 * the public API, the CLI or the package) and `test/soak` (many programs or runs in one process,
 * for leaks over time). `npm test` runs unit and e2e; `npm run test:soak` the soaks.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Each test starts real worker threads (or whole processes): two files at a time fit 2 cores.
    maxWorkers: 2,
  },
});
