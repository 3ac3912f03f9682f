import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { newWorker, resourceLimitsFor } from '../../src/host/worker-source.js';
import { RUNTIME_WORKER_LIMITS } from '../../src/shared/garbage.js';

// Any script will do: the test reads the limits a worker was started with, then ends it.
const script = fileURLToPath(new URL('../helpers/not-a-worker.mjs', import.meta.url));

describe("a library worker's V8 limits", () => {
  it("are the caller's over the library's defaults for the worker, and none when neither has any", () => {
    expect(RUNTIME_WORKER_LIMITS.maxYoungGenerationSizeMb).toBe(2);
    expect(resourceLimitsFor(RUNTIME_WORKER_LIMITS, undefined)).toEqual({ maxYoungGenerationSizeMb: 2 });
    expect(resourceLimitsFor(RUNTIME_WORKER_LIMITS, { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 })).toEqual({
      maxYoungGenerationSizeMb: 8,
      maxOldGenerationSizeMb: 64,
    });
    expect(resourceLimitsFor(RUNTIME_WORKER_LIMITS, { maxOldGenerationSizeMb: 64 })).toEqual({ maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 });
    expect(resourceLimitsFor(undefined, { maxOldGenerationSizeMb: 64 })).toEqual({ maxOldGenerationSizeMb: 64 });
    expect(resourceLimitsFor(undefined, undefined)).toBeUndefined();
  });

  it("reach the worker: a runtime's gets the library's young generation, or the caller's", async () => {
    for (const [callers, young] of [
      [undefined, 2],
      [{ maxYoungGenerationSizeMb: 8 }, 8],
    ] as const) {
      const worker = newWorker(script, { workerOptions: { resourceLimits: callers } }, null, { pipeConsole: false, defaultLimits: RUNTIME_WORKER_LIMITS });
      try {
        expect(worker.resourceLimits?.maxYoungGenerationSizeMb).toBe(young);
      } finally {
        await worker.terminate();
      }
    }
  });
});
