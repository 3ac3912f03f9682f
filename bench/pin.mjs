// Pins the calling thread (main thread or worker) to one CPU: its Linux thread id comes from
// /proc/thread-self, and `taskset -pc` moves just that thread.
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';

export function pinThisThread(cpu) {
  const tid = readlinkSync('/proc/thread-self').split('/').pop();
  execFileSync('taskset', ['-pc', String(cpu), tid], { stdio: 'ignore' });
}

/** Where each role's thread goes: the spawner (wasm main thread) on CPU 0, the pool on 0 or 1. */
export function cpuFor(placement, role) {
  if (role === 'main' || role === 'spawner') return 0;
  return placement === 'same' ? 0 : 1;
}
