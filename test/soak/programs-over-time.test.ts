// Many programs one after another in one process: nothing of a program outlives its end (workers,
// descriptors, memory reservations, JS objects), however many came before.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixture, runNode } from '../helpers/run-host.js';

const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `wtw-${name}-`));

describe('no program outlives its end', () => {
  // 1,000 as the issue asks on the machine's own Node; CI's other Node lines run fewer (a leaked
  // program reserves ~10 GB of address space, so even 200 programs show a leak at once).
  const count = Number(process.env.WTW_LEAK_PROGRAMS ?? 1000);
  it(`${count} programs one after another in one process: RSS, address space and descriptors stay flat`, async () => {
    const host = fileURLToPath(new URL('../helpers/many-programs.mjs', import.meta.url));
    // Sixteen samples, from program 100 on (from the fifth of the way with fewer programs).
    const first = Math.min(100, Math.round(count / 5));
    const samples = Array.from({ length: 16 }, (_, i) => first + Math.round((i * (count - first)) / 15));
    const spec = { wasm: fixture('liftoff_wait'), count, samples, preopen: tempDir('many') };
    const result = await runNode(['--expose-gc', host, JSON.stringify(spec)], { timeoutMs: 300_000 });
    expect(result.stderr).toBe('');
    const { seen, codes } = JSON.parse(result.stdout) as {
      seen: Record<string, { rss: number; virtual: number; fds: number; young: number }>;
      codes: number[];
    };
    expect(codes).toEqual([0]);
    const points = samples.map((at) => ({ at, ...seen[at]! }));
    const [early, late] = [points[0]!, points.at(-1)!];
    expect(late.fds).toBe(early.fds);
    // One leaked program alone would add ~10 GB of reserved address space.
    expect(late.virtual - early.virtual).toBeLessThan(1024 ** 3);
    // RSS less this thread's young generation, and by its floor, not single samples. V8 grows and
    // shrinks the young generation with the allocation rate (here 1.3 <-> 8 MB resident between
    // samples on Node 20, up to its --max-semi-space-size), and glibc keeps the stacks of ended
    // threads and its arenas' free pages for a while, more of them when the machine is loaded; so
    // RSS swells and falls back (in CI on Node 20: 56.7 MB at program 100, 66.4 MB at 1,000, of
    // which ~7 MB young generation). What a program leaks can never be given back, so it lifts the
    // lowest of the late samples over the lowest of the early ones: a leak of 11 KB a program lifts
    // it by 10% across the 540 or more programs between the groups.
    const rest = (p: (typeof points)[number]) => p.rss - p.young;
    const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    const shown = points.map((p) => `${p.at}: ${mb(p.rss)} MB (${mb(p.young)} young)`).join(', ');
    const floor = (group: typeof points) => Math.min(...group.map(rest));
    const [earlyFloor, lateFloor] = [floor(points.slice(0, 4)), floor(points.slice(-4))];
    expect(lateFloor - earlyFloor, `lowest late RSS over lowest early RSS, young generation left out (${shown})`).toBeLessThan(earlyFloor * 0.1);
    expect(Math.max(...points.map(rest)), `highest RSS sample, young generation left out (${shown})`).toBeLessThan(earlyFloor * 1.25);
  }, 320_000);
});
