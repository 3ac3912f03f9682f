// Many programs one after another in one process: nothing of a program outlives its end (workers,
// descriptors, memory reservations, JS objects), however many came before.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixture, runNode, tempDir } from '../helpers/run-host.js';

describe('no program outlives its end', () => {
  // 1,000 as the issue asks on the machine's own Node; CI's other Node lines run fewer (a leaked
  // program reserves ~10 GB of address space, so even 200 programs show a leak at once).
  const count = Number(process.env.WTW_LEAK_PROGRAMS ?? 1000);
  it(`${count} programs one after another in one process: RSS, address space and descriptors stay flat`, async () => {
    const host = fileURLToPath(new URL('../helpers/many-programs.mjs', import.meta.url));
    // Sixteen samples, from program 100 on (from the third of the way with fewer programs: past the
    // warm-up, in which Node 24's RSS rose from 73 to 78 MB between programs 20 and 25 of 100).
    const first = Math.min(100, Math.round(count / 3));
    const samples = Array.from({ length: 16 }, (_, i) => first + Math.round((i * (count - first)) / 15));
    const spec = { wasm: fixture('liftoff_wait'), count, samples, preopen: tempDir('many') };
    const result = await runNode(['--expose-gc', host, JSON.stringify(spec)], { timeoutMs: 300_000 });
    expect(result.stderr).toBe('');
    const { seen, codes } = JSON.parse(result.stdout) as {
      seen: Record<string, { rss: number; virtual: number; fds: number; heap: number; heapUsed: number }>;
      codes: number[];
    };
    expect(codes).toEqual([0]);
    const points = samples.map((at) => ({ at, ...seen[at]! }));
    const [firstSample, lastSample] = [points[0]!, points.at(-1)!];
    expect(lastSample.fds).toBe(firstSample.fds);
    // One leaked program alone would add ~10 GB of reserved address space.
    expect(lastSample.virtual - firstSample.virtual).toBeLessThan(1024 ** 3);
    // What the programs leave is judged apart from this thread's own V8 heap, and by floors, not
    // single samples. V8 sizes this thread's heap as it likes: its young generation moved between
    // 1.3 and 8 MB resident from sample to sample (Node 20), and when it shrank what it held moved
    // to the old generation (Node 24: young 3.8 -> 0.3 MB while the rest grew). So: (1) this
    // thread's JS objects, after a full collection, stay within 1 MB (a kilobyte kept a program);
    // (2) RSS less this thread's V8 heap, the native memory (workers' isolates, memories, malloc),
    // where glibc keeps the stacks of ended threads and free arena pages for a while, so RSS swells
    // and falls back: what a program leaks can never be given back, so it lifts the lowest of the
    // late samples over the lowest of the early ones (11 KB a program lifts it by 10% across the
    // 540 or more programs between the groups on the full count). With fewer programs (CI's other
    // lines) the bound is 20%: there the test is for leaks of a whole program (a worker's isolate,
    // megabytes each), and glibc may take one step of its own in a short run (Node 26, 100
    // programs: flat at 72.5-73.0 MB, then 78.4 MB from program 82 on, and flat again).
    const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    const shown = points.map((p) => `${p.at}: ${mb(p.rss)} MB (heap ${mb(p.heap)}, used ${mb(p.heapUsed)})`).join(', ');
    const native = (p: (typeof points)[number]) => p.rss - p.heap;
    const floor = (group: typeof points, of: (p: (typeof points)[number]) => number) => Math.min(...group.map(of));
    const [early, late] = [points.slice(0, 4), points.slice(-4)];
    expect(floor(late, (p) => p.heapUsed) - floor(early, (p) => p.heapUsed), `this thread's JS objects (${shown})`).toBeLessThan(2 ** 20);
    const earlyNative = floor(early, native);
    expect(floor(late, native) - earlyNative, `lowest late RSS over lowest early RSS, this thread's V8 heap left out (${shown})`).toBeLessThan(
      earlyNative * (count >= 1000 ? 0.1 : 0.2),
    );
    expect(Math.max(...points.map(native)), `highest RSS sample, this thread's V8 heap left out (${shown})`).toBeLessThan(earlyNative * 1.25);
  }, 320_000);
});
