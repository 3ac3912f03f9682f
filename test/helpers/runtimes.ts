/**
 * Runtimes a test file makes with `runtimeFor(fixtureName, options)`: each is closed after the test
 * that made it (afterEach), so that no test leaves workers to the next.
 */
import { afterEach } from 'vitest';
import { createRuntime, type Runtime } from '../../dist/index.js';
import { fixture } from './run-host.js';

export function useRuntimes(): (name: string, options?: Record<string, unknown>) => Promise<Runtime> {
  const runtimes: Runtime[] = [];
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
  });
  return async (name, options = {}) => {
    const runtime = await createRuntime({ wasmFile: fixture(name), ...options });
    runtimes.push(runtime);
    return runtime;
  };
}
