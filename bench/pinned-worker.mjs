// The worker script of the placed spawn benchmarks: every worker pins itself by its role before it
// instantiates (WTW_PLACEMENT: same = all on CPU 0, other = the wasm main thread on 0, the pool on 1).
import { initWasiWorker } from '../dist/index.js';
import { cpuFor, pinThisThread } from './pin.mjs';

await initWasiWorker((_namespace, role) => {
  const placement = process.env.WTW_PLACEMENT;
  if (placement) pinThisThread(cpuFor(placement, role));
  return {};
});
