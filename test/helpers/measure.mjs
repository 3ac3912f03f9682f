// The process's RSS, virtual size, open descriptors and JS memory (and the resident size of this
// thread's young generation and of its whole V8 heap) after a full GC (run node with --expose-gc): what the leak tests sample. `collect: false` samples without the GC.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

export async function measure({ collect = true } = {}) {
  // Twice, with a turn of the event loop between: finalizers of the first pass free more.
  for (let i = 0; collect && i < 2; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)[1]) * 1024;
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  // This thread's young generation, resident: V8 grows it with the allocation rate, up to --max-semi-space-size.
  const spaces = getHeapSpaceStatistics();
  const young = spaces.find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0;
  // This thread's whole V8 heap, resident: what its own collections decide, young and old generations together.
  const heap = spaces.reduce((sum, space) => sum + space.physical_space_size, 0);
  const fds = readdirSync('/proc/self/fd');
  // Of them, the kinds each thread's event loop opens for itself when it starts (Node's workers
  // included: 4-5 a worker): a worker started late adds its own, which a leak of the library's is not.
  const loopFds = fds.filter((fd) => {
    try {
      return /^(anon_inode:\[(eventpoll|eventfd|io_uring)\]|pipe:)/.test(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false;
    }
  }).length;
  return { rss: kb('VmRSS'), virtual: kb('VmSize'), fds: fds.length, loopFds, heapUsed, external, arrayBuffers, young, heap };
}
