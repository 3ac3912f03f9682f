// The process's RSS, virtual size, open descriptors and JS memory after a full GC (run node with
// --expose-gc): what the leak tests sample. `collect: false` samples without the GC.
import { readFileSync, readdirSync } from 'node:fs';

export async function measure({ collect = true } = {}) {
  // Twice, with a turn of the event loop between: finalizers of the first pass free more.
  for (let i = 0; collect && i < 2; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)[1]) * 1024;
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss: kb('VmRSS'), virtual: kb('VmSize'), fds: readdirSync('/proc/self/fd').length, heapUsed, external, arrayBuffers };
}
