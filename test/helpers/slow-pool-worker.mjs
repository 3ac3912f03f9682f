// A worker script whose pool workers take POOL_DELAY_MS (from the program's env) to come up: the
// wasm main thread's worker is ready at once.
import { initWasiWorker } from '../../dist/index.js';

await initWasiWorker(async (_namespace, role) => {
  if (role === 'thread') await new Promise((resolve) => setTimeout(resolve, Number(process.env.POOL_DELAY_MS ?? 1500)));
  return {};
});
