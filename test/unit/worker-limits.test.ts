import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { newWorker } from '../../src/host/worker-source.js';
import { RUNTIME_WORKER_LIMITS } from '../../src/shared/garbage.js';

// Any script will do: the test reads the limits the worker was started with, then ends it.
const script = fileURLToPath(new URL('../helpers/not-a-worker.mjs', import.meta.url));

async function limitsOf(resourceLimits: Record<string, number> | undefined, defaultLimits?: Record<string, number>) {
  const worker = newWorker(script, { workerOptions: { resourceLimits } }, null, { pipeConsole: false, defaultLimits });
  try {
    return { ...worker.resourceLimits };
  } finally {
    await worker.terminate();
  }
}

describe("a library worker's V8 limits", () => {
  it("a runtime's worker gets the library's default young generation, and the caller's limits over it", async () => {
    expect(RUNTIME_WORKER_LIMITS.maxYoungGenerationSizeMb).toBe(2);
    expect((await limitsOf(undefined, RUNTIME_WORKER_LIMITS)).maxYoungGenerationSizeMb).toBe(2);
    const theirs = await limitsOf({ maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 }, RUNTIME_WORKER_LIMITS);
    expect(theirs).toMatchObject({ maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 });
    expect(await limitsOf({ maxOldGenerationSizeMb: 64 }, RUNTIME_WORKER_LIMITS)).toMatchObject({ maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 });
  });

  it("any other worker gets only the caller's limits (Node's defaults otherwise)", async () => {
    expect((await limitsOf(undefined)).maxYoungGenerationSizeMb).toBe(-1);
    expect(await limitsOf({ maxOldGenerationSizeMb: 64 })).toMatchObject({ maxYoungGenerationSizeMb: -1, maxOldGenerationSizeMb: 64 });
  });
});
