import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest start first, so that the two workers end together. In a clean clone
 * (CI) vitest has no timings and starts the largest files first; isolation.test.ts (its 1,000
 * programs take 110-150 s on Node 20) then started last and ran alone for ~50 s at the end.
 * Measured in CI on Node 20, longest first.
 */
const LONGEST_FIRST = ['isolation', 'runtime', 'programs', 'cli', 'pool'];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = LONGEST_FIRST.findIndex((name) => file.moduleId.endsWith(`/${name}.test.ts`));
      return index < 0 ? LONGEST_FIRST.length : index;
    };
    return [...(await super.sort(files))].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Each test starts real worker threads (or whole processes): two files at a time fit 2 cores.
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
  },
});
