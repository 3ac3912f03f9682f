/**
 * Spawn benchmarks, measured side by side in one run: warm spawn latency by CPU placement against
 * the wake floor measured in the same process and placement, latency by poolSize and by concurrent
 * spawners, bursts, cold spawns and the peer, sequential spawn+join throughput against piscina
 * (both as n / elapsed wall time), start-up by poolSize, the first spawn, spin and idle CPU.
 * Every figure is the median of interleaved rounds with the spread (min-max of the round medians).
 * Charts are SVG files written by this script (bench/charts/), never edited by hand.
 *   tsx bench/spawn.ts [--quick] [--render]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { runNode } from '../test/helpers/run-host.js';
import { type Figure, figure, log, median, sectionCommand } from './sections.js';

/** Spawn-to-first-step latency percentiles of one series, in µs (medians over rounds of each percentile). */
export interface Distribution {
  p10: number;
  p25: number;
  p50: number;
  p75: number;
  p90: number;
  p99: number;
}

export interface SpawnReport {
  quick: boolean;
  machine: { cores: number; cpu: string; node: string };
  date: string;
  rounds: number;
  samples: number;
  placed: Record<
    'same' | 'other',
    { warmUs: Figure; floorUs: Figure; ratio: Figure; spinUsPerSpawn: Figure; spinHitShare: Figure; warm: Distribution; floor: Distribution }
  >;
  byPoolSize: Record<string, Figure>;
  bySpawners: Record<string, Figure>;
  unpinned: { warmUs: Figure; firstUs: Figure; warm: Distribution };
  cold: { us: Figure; spawns: number; dist: Distribution };
  burst: { n: number; medianUs: Figure; meanUs: Figure; coldSpawns: number; dist: Distribution };
  emnapi: { default: { us: Figure; dist: Distribution }; reuse: { us: Figure; dist: Distribution }; spawns: number };
  throughput: { oursPerSecond: Figure; piscinaPerSecond: Figure; ratio: Figure; threads: number };
  startup: { pool0Ms: Figure; pool8Ms: Figure; ratio: Figure };
  idleCpu: { pool0Ms: number; pool8Ms: number; seconds: number; spinMs: number };
}

type Line = Record<string, number | string>;

const hostFile = fileURLToPath(new URL('./spawn-host.mjs', import.meta.url));

interface HostSpec {
  placement?: 'same' | 'other' | null;
  poolSize: number;
  maxThreads?: number;
  args: string[];
  floorSamples?: number;
  idleCpuMs?: number;
}

/** Runs one measurement in a process of its own (bench/spawn-host.mjs); returns its lines by mode. */
async function host(spec: HostSpec): Promise<Record<string, Line>> {
  const run = await runNode([hostFile, JSON.stringify(spec)], { timeoutMs: 300_000 });
  if (run.status !== 0) throw new Error(`spawn-host ${JSON.stringify(spec)} exited ${run.status}:\n${run.stderr.slice(0, 2000)}`);
  const lines: Record<string, Line> = {};
  for (const text of run.stdout.split('\n')) if (text.startsWith('{')) lines[(JSON.parse(text) as Line).mode as string] = JSON.parse(text);
  if (lines.stats?.exitCode !== 0) throw new Error(`spawnbench ${spec.args.join(' ')} failed: ${run.stderr.slice(0, 2000)}`);
  return lines;
}

async function emnapi(args: string[], reuseWorker: boolean): Promise<Line> {
  const peer = fileURLToPath(new URL('./peers/emnapi-host.mjs', import.meta.url));
  const run = await runNode(['--disable-warning=ExperimentalWarning', peer, JSON.stringify({ fixture: 'spawnbench', args, reuseWorker })], {
    timeoutMs: 300_000,
  });
  if (run.status !== 0) throw new Error(`emnapi spawnbench ${args.join(' ')} exited ${run.status}:\n${run.stderr.slice(0, 2000)}`);
  return JSON.parse(run.stdout.split('\n').find((l) => l.startsWith('{'))!);
}

const us = (line: Line, key: string) => Number(line[key]) / 1000;

/** Collects one series' percentiles over rounds; the figure of each percentile is its median over rounds. */
class Series {
  private readonly rounds: Line[] = [];
  add(line: Line): void {
    this.rounds.push(line);
  }
  dist(): Distribution {
    const at = (key: string) => median(this.rounds.map((line) => us(line, `${key}_ns`)));
    return { p10: at('p10'), p25: at('p25'), p50: at('median'), p75: at('p75'), p90: at('p90'), p99: at('p99') };
  }
  figure(key = 'median_ns'): Figure {
    return figure(this.rounds.map((line) => us(line, key)));
  }
}

async function piscinaRate(pool: Piscina, tasks: number): Promise<number> {
  for (let i = 0; i < 200; i++) await pool.run(null);
  const started = process.hrtime.bigint();
  for (let i = 0; i < tasks; i++) await pool.run(null);
  return tasks / (Number(process.hrtime.bigint() - started) / 1e9);
}

export async function spawnBenchmarks(quick: boolean): Promise<SpawnReport> {
  const rounds = quick ? 1 : 5;
  const n = quick ? 300 : 2000;
  const coldSpawns = quick ? 5 : 20;
  const peerSpawns = quick ? 3 : 10;
  const threads = quick ? 5000 : 20_000;
  const burstN = 100;
  // How long a program waits for its pool to come up before it measures (a program does not wait
  // for its pool): a big pool, and the idle pools. Shorter in quick mode, whose figures are not published.
  const bigPoolWaitMs = quick ? 1000 : 4000;
  const idleSettleMs = quick ? 800 : 4000;
  const placed = {
    same: { warm: new Series(), floor: new Series(), ratio: [] as number[], spin: [] as number[], hits: [] as number[] },
    other: { warm: new Series(), floor: new Series(), ratio: [] as number[], spin: [] as number[], hits: [] as number[] },
  };
  // Quick mode (CI: does the suite still run?) measures the ends of each range only.
  const poolSizes = quick ? [1, 64] : [1, 4, 16, 64];
  const spawners = quick ? [1, 8] : [1, 2, 4, 8];
  const byPool = new Map(poolSizes.map((p) => [p, new Series()]));
  const bySpawners = new Map(spawners.map((s) => [s, new Series()]));
  const unpinned = new Series();
  const cold = new Series();
  const burst = new Series();
  const burstCold: number[] = [];
  const emnapiDefault = new Series();
  const emnapiReuse = new Series();
  const ours: number[] = [];
  const piscina: number[] = [];
  const start0: number[] = [];
  const start8: number[] = [];
  const pool = new Piscina({ filename: fileURLToPath(new URL('./piscina-task.mjs', import.meta.url)) });
  try {
    for (let round = 0; round < rounds; round++) {
      log(`spawn: round ${round + 1} of ${rounds}`);
      for (const placement of ['same', 'other'] as const) {
        const lines = await host({ placement, poolSize: 4, args: ['latency', String(n), '300'], floorSamples: n });
        const p = placed[placement];
        p.warm.add(lines.latency!);
        p.floor.add(lines.floor!);
        p.ratio.push(Number(lines.latency!.median_ns) / Number(lines.floor!.median_ns));
        p.spin.push((Number(lines.stats!.spinMs) * 1000) / n);
        p.hits.push(Number(lines.stats!.spinHits) / Number(lines.stats!.warmSpawns));
      }
      const plain = await host({ poolSize: 4, args: ['latency', String(n), '300'] });
      unpinned.add(plain.latency!);
      for (const poolSize of poolSizes)
        byPool
          .get(poolSize)!
          .add((await host({ poolSize, maxThreads: 64, args: ['latency', String(n), String(poolSize >= 16 ? bigPoolWaitMs : 300)] })).latency!);
      for (const count of spawners)
        bySpawners.get(count)!.add((await host({ poolSize: 4, args: ['spawners', String(count), String(Math.ceil(n / count)), '300'] })).spawners!);
      cold.add((await host({ poolSize: 0, args: ['latency', String(coldSpawns), '0'] })).latency!);
      const b = await host({ poolSize: 4, args: ['burst', String(burstN), '300'] });
      burst.add(b.burst!);
      burstCold.push(Number(b.stats!.coldSpawns));
      emnapiDefault.add(await emnapi(['latency', String(peerSpawns)], false));
      emnapiReuse.add(await emnapi(['latency', String(peerSpawns)], true));
      const t = await host({ poolSize: 4, args: ['throughput', String(threads), '1'] });
      ours.push(Number(t.throughput!.threads_per_s));
      piscina.push(await piscinaRate(pool, threads));
      for (const [poolSize, into] of [
        [0, start0],
        [8, start8],
      ] as const) {
        const s = await host({ poolSize, args: ['startup'] });
        into.push((Number(s.startup!.first_step_ns) - Number(s.stats!.startedNs)) / 1e6);
      }
    }
  } finally {
    await pool.destroy();
  }
  log('spawn: idle CPU of a parked pool');
  const idleMs = quick ? 500 : 5000;
  const idle0 = await host({ poolSize: 0, args: ['idle', String(idleMs + idleSettleMs)], idleCpuMs: idleMs });
  const idle8 = await host({ poolSize: 8, args: ['idle', String(idleMs + idleSettleMs)], idleCpuMs: idleMs });
  const placedFigures = (p: (typeof placed)['same']) => ({
    warmUs: p.warm.figure(),
    floorUs: p.floor.figure(),
    ratio: figure(p.ratio),
    spinUsPerSpawn: figure(p.spin),
    spinHitShare: figure(p.hits),
    warm: p.warm.dist(),
    floor: p.floor.dist(),
  });
  return {
    quick,
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    date: new Date().toISOString(),
    rounds,
    samples: n,
    placed: { same: placedFigures(placed.same), other: placedFigures(placed.other) },
    byPoolSize: Object.fromEntries(poolSizes.map((p) => [String(p), byPool.get(p)!.figure()])),
    bySpawners: Object.fromEntries(spawners.map((s) => [String(s), bySpawners.get(s)!.figure()])),
    unpinned: { warmUs: unpinned.figure(), firstUs: unpinned.figure('first_ns'), warm: unpinned.dist() },
    cold: { us: cold.figure(), spawns: coldSpawns, dist: cold.dist() },
    burst: { n: burstN, medianUs: burst.figure(), meanUs: burst.figure('mean_ns'), coldSpawns: Math.max(...burstCold), dist: burst.dist() },
    emnapi: {
      default: { us: emnapiDefault.figure(), dist: emnapiDefault.dist() },
      reuse: { us: emnapiReuse.figure(), dist: emnapiReuse.dist() },
      spawns: peerSpawns,
    },
    throughput: { oursPerSecond: figure(ours), piscinaPerSecond: figure(piscina), ratio: figure(ours.map((o, i) => o / piscina[i]!)), threads },
    startup: { pool0Ms: figure(start0), pool8Ms: figure(start8), ratio: figure(start8.map((s, i) => s / start0[i]!)) },
    idleCpu: { pool0Ms: Number(idle0.stats!.idleCpuMs), pool8Ms: Number(idle8.stats!.idleCpuMs), seconds: idleMs / 1000, spinMs: Number(idle8.stats!.spinMs) },
  };
}

// ---- rendering -------------------------------------------------------------------------------

const num = (value: number, digits: number) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const time = (micros: number) => (micros >= 1000 ? `${num(micros / 1000, micros >= 10_000 ? 0 : 1)} ms` : `${num(micros, micros >= 100 ? 0 : 1)} µs`);
const spread = (f: Figure, show: (v: number) => string) => `${show(f.median)} (${show(f.min)}-${show(f.max)})`;
const times = (v: number) => `${num(v, v >= 10 ? 0 : 2)}x`;
const rate = (v: number) => `${num(v, 0)}/s`;

export function spawnTargets(r: SpawnReport): [string, string, boolean][] {
  const { same, other } = r.placed;
  const first = r.unpinned.firstUs.median / r.unpinned.warmUs.median;
  const idleExtra = r.idleCpu.pool8Ms - r.idleCpu.pool0Ms;
  return [
    ['warm spawn median <= 3 µs, same CPU', time(same.warmUs.median), same.warmUs.median <= 3],
    ['warm spawn median <= 3 µs, other CPU', time(other.warmUs.median), other.warmUs.median <= 3],
    ['warm spawn within 1.5x of the wake floor, same CPU', times(same.ratio.median), same.ratio.median <= 1.5],
    ['warm spawn within 1.5x of the wake floor, other CPU', times(other.ratio.median), other.ratio.median <= 1.5],
    ['spawn+join >= 100,000 threads/s', rate(r.throughput.oursPerSecond.median), r.throughput.oursPerSecond.median >= 100_000],
    ['spawn+join >= piscina empty tasks (both n / elapsed)', times(r.throughput.ratio.median), r.throughput.ratio.median >= 1],
    ['start-up with poolSize 8 within 1.3x of poolSize 0', times(r.startup.ratio.median), r.startup.ratio.median <= 1.3],
    ['first warm spawn within 10x of the steady median', times(first), first <= 10],
    [
      `idle CPU of a parked pool of 8 unchanged (over ${r.idleCpu.seconds} s, vs poolSize 0)`,
      `${idleExtra >= 0 ? '+' : ''}${num(idleExtra, 1)} ms CPU, ${num(r.idleCpu.spinMs, 2)} ms spinning`,
      idleExtra <= 10 * r.idleCpu.seconds && r.idleCpu.spinMs === 0,
    ],
    [`burst of ${r.burst.n}: median <= 100 µs`, time(r.burst.medianUs.median), r.burst.medianUs.median <= 100],
    [`burst of ${r.burst.n}: mean <= 1 ms`, time(r.burst.meanUs.median), r.burst.meanUs.median <= 1000],
  ];
}

export function renderSpawn(r: SpawnReport): string {
  const { other } = r.placed;
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const head = (cells: string[]) => `${row(cells)}\n${row(cells.map(() => '---'))}`;
  const lat = (f: Figure) => spread(f, time);
  return `## 1. Spawn

Measured by \`npm run bench:spawn\` (bench/spawn.ts) on ${r.machine.cores} cores (${r.machine.cpu}), Node ${r.machine.node},
${r.date.slice(0, 10)}${r.quick ? ' (quick mode: small sizes, one round)' : ''}. Each figure is the median of ${r.rounds} interleaved rounds,
with the spread (lowest-highest round median) in brackets; each round's latency figure is the median of
${num(r.samples, 0)} spawns. Latency is from the \`thread-spawn\` call to the new thread's first step, both read
inside the program with WASI \`clock_time_get(MONOTONIC)\` (Node's \`process.hrtime\`). Every latency in
this section is that one statistic; every rate is n / elapsed wall time.

### Targets

${head(['target', 'measured', 'met'])}
${spawnTargets(r)
  .map(([t, m, ok]) => row([t, m, ok ? 'yes' : '**no**']))
  .join('\n')}

### Warm spawn by CPU placement, against the wake floor

Each row is one process: the wake floor first (a worker parked in \`Atomics.wait\` is woken by another,
which stored the clock just before its \`Atomics.notify\`; the woken one reads the clock first thing),
then a \`spawnbench latency\` program with poolSize 4, both placed the same way. Workers pin themselves
with \`taskset -pc\` (thread id from \`/proc/thread-self\`): "same CPU" puts the spawner and the pool
on CPU 0; "other CPU" puts the spawner (the wasm main thread) on CPU 0 and the pool on CPU 1.

${head(['placement', 'warm spawn', 'wake floor', 'spawn / floor', 'spin CPU per spawn', 'spawns that found the worker spinning'])}
${(['same', 'other'] as const)
  .map((p) => {
    const x = r.placed[p];
    return row([
      `${p} CPU`,
      lat(x.warmUs),
      lat(x.floorUs),
      spread(x.ratio, times),
      spread(x.spinUsPerSpawn, time),
      spread(x.spinHitShare, (v) => `${num(v * 100, 0)}%`),
    ]);
  })
  .join('\n')}

On the other CPU, a worker that has just run a thread spins (up to 20 µs, only while a CPU is spare)
and sees the next assignment without being woken: ${num(other.spinHitShare.median * 100, 0)}% of the spawns found it spinning and
skipped the wake; the rest woke it from \`Atomics.wait\`. The median follows that share from round to
round (round medians ${time(other.warmUs.min)}-${time(other.warmUs.max)}): the spin gets under the floor only while it catches the spawn. On
the same CPU, spinning cannot help (the spawner needs that CPU), yet the worker cannot tell where it
runs: its bound is learnt from how soon its next thread came, and "spin CPU per spawn" is what that
costs there.

![Spawn latency distribution](bench/charts/spawn-latency.svg)

The chart: each bar runs from the 25th to the 75th percentile, the whiskers from the 10th to the 90th,
the dot is the median and the tick the 99th percentile (medians over rounds of each percentile), on a
log axis. Cold spawns (poolSize 0) start a worker per thread; @emnapi/wasi-threads is set up as its
README shows for Node (${r.emnapi.spawns} spawns a round).

### Latency by poolSize and by concurrent spawners (not pinned)

${head(['poolSize', ...Object.keys(r.byPoolSize)])}
${row(['warm spawn', ...Object.values(r.byPoolSize).map(lat)])}

${head(['spawners (poolSize 4)', ...Object.keys(r.bySpawners)])}
${row(['spawn latency', ...Object.values(r.bySpawners).map(lat)])}

![Spawn latency by poolSize and by spawners](bench/charts/spawn-scaling.svg)

The pool is a LIFO stack: the next spawn gets the worker that returned last, so a larger pool does not
make a spawn wake a deeply idle worker. With poolSize 16 and 64 the program waits 4 s before it
measures, so that its pool is up (a program does not wait for its pool). With S spawners, each
spawns and joins threads in a loop; S spawners and S threads on ${r.machine.cores} cores queue for the CPUs.

### Bursts, cold spawns, the peer

${head(['what', 'median', 'other'])}
${row([`burst: ${r.burst.n} spawns back to back, joined at the end (poolSize 4)`, lat(r.burst.medianUs), `mean ${lat(r.burst.meanUs)}; at most ${r.burst.coldSpawns} cold spawns in a round`])}
${row(['cold spawn (poolSize 0: a new worker per thread)', lat(r.cold.us), `${r.cold.spawns} spawns a round`])}
${row(['@emnapi/wasi-threads, default', lat(r.emnapi.default.us), ''])}
${row(['@emnapi/wasi-threads, reuseWorker: 4', lat(r.emnapi.reuse.us), ''])}
${row(['ours, warm, not pinned (poolSize 4)', lat(r.unpinned.warmUs), `first spawn of the program ${lat(r.unpinned.firstUs)}`])}

In a burst, a spawn that finds no idle worker waits for one that is returning or, if none comes within
2 ms, asks the coordinator for one more pool worker and takes whichever comes first; a cold spawn
remains only for poolSize 0. The first spawn of a program is still far slower than the steady state
(the target is missed). Each worker runs the spawn path and a WASI call once on scratch state when it
starts, so V8's first-call compilation of the library's JS is no longer part of it (that took the
first spawn from 1-5 ms to under 1 ms). Instrumented, what remains is the wake of a worker parked since
it started (about 0.35 ms, against 0.07 ms for a worker that ran a thread moments ago) and V8's lazy
compilation of \`wasi_thread_start\` and what it calls at the first call (about 0.3-0.9 ms;
\`node --no-wasm-lazy-compilation\` removes it, at the price of compiling every function of the
module when it is loaded).

### Throughput, start-up, idle

${head(['what', 'figure'])}
${row([`spawn+join one at a time, ${num(r.throughput.threads, 0)} threads (poolSize 4)`, spread(r.throughput.oursPerSecond, rate)])}
${row([`piscina: ${num(r.throughput.threads, 0)} empty tasks, each awaited before the next`, spread(r.throughput.piscinaPerSecond, rate)])}
${row(['ours / piscina', spread(r.throughput.ratio, times)])}
${row(['start-up to the first step of the wasm main thread, poolSize 0', spread(r.startup.pool0Ms, (v) => `${num(v, 1)} ms`)])}
${row(['start-up, poolSize 8', spread(r.startup.pool8Ms, (v) => `${num(v, 1)} ms`)])}
${row(['start-up ratio 8 / 0', spread(r.startup.ratio, times)])}
${row([`CPU of the whole process over ${r.idleCpu.seconds} s, program asleep, poolSize 0`, `${num(r.idleCpu.pool0Ms, 1)} ms`])}
${row([`the same, poolSize 8 (pool parked)`, `${num(r.idleCpu.pool8Ms, 1)} ms (spinning: ${num(r.idleCpu.spinMs, 2)} ms)`])}

A spawn+join loop is bounded by the join: the program's joiner sleeps in \`memory.atomic.wait32\` and
the thread's end wakes it, one wake per thread that no host can skip.
`;
}

// ---- charts ----------------------------------------------------------------------------------

const FONT = 'font-family="sans-serif" font-size="12"';

function logScale(minUs: number, maxUs: number, x0: number, x1: number) {
  const lo = Math.log10(minUs);
  const hi = Math.log10(maxUs);
  return (v: number) => x0 + ((Math.log10(Math.max(v, minUs)) - lo) / (hi - lo)) * (x1 - x0);
}

function decades(minUs: number, maxUs: number): number[] {
  const out: number[] = [];
  for (let v = minUs; v <= maxUs * 1.0001; v *= 10) out.push(v);
  return out;
}

const label = (v: number) => (v >= 1e6 ? `${v / 1e6} s` : v >= 1000 ? `${v / 1000} ms` : `${v} µs`);

/** Box-and-whisker rows on a log axis: one row per series. */
export function latencyChart(r: SpawnReport): string {
  const rows: [string, Distribution][] = [
    ['wake floor, same CPU', r.placed.same.floor],
    ['warm spawn, same CPU', r.placed.same.warm],
    ['wake floor, other CPU', r.placed.other.floor],
    ['warm spawn, other CPU', r.placed.other.warm],
    ['warm spawn, not pinned', r.unpinned.warm],
    [`burst of ${r.burst.n}`, r.burst.dist],
    ['cold spawn (poolSize 0)', r.cold.dist],
    ['@emnapi/wasi-threads', r.emnapi.default.dist],
    ['@emnapi, reuseWorker', r.emnapi.reuse.dist],
  ];
  const width = 760;
  const left = 190;
  const right = width - 20;
  const rowH = 26;
  const top = 30;
  const height = top + rows.length * rowH + 40;
  const [minUs, maxUs] = [0.1, 1e6];
  const x = logScale(minUs, maxUs, left, right);
  const parts: string[] = [];
  parts.push(
    `<text x="${left}" y="18" ${FONT} font-weight="bold">Spawn-to-first-step latency (log scale; box 25-75%, whiskers 10-90%, dot median, tick 99%)</text>`,
  );
  for (const v of decades(minUs, maxUs)) {
    parts.push(`<line x1="${x(v)}" y1="${top - 4}" x2="${x(v)}" y2="${top + rows.length * rowH}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(v)}" y="${top + rows.length * rowH + 16}" ${FONT} text-anchor="middle">${label(v)}</text>`);
  }
  rows.forEach(([name, d], i) => {
    const y = top + i * rowH + rowH / 2;
    const color = name.startsWith('wake floor') ? '#888' : name.includes('emnapi') ? '#c60' : name.startsWith('cold') ? '#a33' : '#2a6';
    parts.push(`<text x="${left - 8}" y="${y + 4}" ${FONT} text-anchor="end">${name}</text>`);
    parts.push(`<line x1="${x(d.p10)}" y1="${y}" x2="${x(d.p90)}" y2="${y}" stroke="${color}"/>`);
    parts.push(
      `<rect x="${x(d.p25)}" y="${y - 7}" width="${Math.max(1, x(d.p75) - x(d.p25))}" height="14" fill="${color}" fill-opacity="0.35" stroke="${color}"/>`,
    );
    parts.push(`<circle cx="${x(d.p50)}" cy="${y}" r="3.5" fill="${color}"/>`);
    parts.push(`<line x1="${x(d.p99)}" y1="${y - 7}" x2="${x(d.p99)}" y2="${y + 7}" stroke="${color}" stroke-width="2"/>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
}

/** Two panels: median latency (with the round spread) by poolSize and by spawners, log y axis. */
export function scalingChart(r: SpawnReport): string {
  const panels: [string, Record<string, Figure>][] = [
    ['by poolSize', r.byPoolSize],
    ['by concurrent spawners (poolSize 4)', r.bySpawners],
  ];
  const width = 760;
  const height = 300;
  const panelW = 330;
  const [minUs, maxUs] = [1, 1e4];
  const y = (v: number) => 250 - ((Math.log10(Math.max(v, minUs)) - Math.log10(minUs)) / (Math.log10(maxUs) - Math.log10(minUs))) * 210;
  const parts: string[] = [`<text x="20" y="18" ${FONT} font-weight="bold">Warm spawn latency, median of rounds (bar: lowest-highest round), log scale</text>`];
  panels.forEach(([title, data], p) => {
    const x0 = 60 + p * (panelW + 50);
    parts.push(`<text x="${x0 + panelW / 2}" y="34" ${FONT} text-anchor="middle">${title}</text>`);
    for (const v of decades(minUs, maxUs)) {
      parts.push(`<line x1="${x0}" y1="${y(v)}" x2="${x0 + panelW}" y2="${y(v)}" stroke="#ddd"/>`);
      parts.push(`<text x="${x0 - 6}" y="${y(v) + 4}" ${FONT} text-anchor="end">${label(v)}</text>`);
    }
    const keys = Object.keys(data);
    const step = panelW / keys.length;
    keys.forEach((key, i) => {
      const f = data[key]!;
      const cx = x0 + step * (i + 0.5);
      parts.push(`<rect x="${cx - step * 0.3}" y="${y(f.median)}" width="${step * 0.6}" height="${250 - y(f.median)}" fill="#2a6" fill-opacity="0.5"/>`);
      parts.push(`<line x1="${cx}" y1="${y(f.min)}" x2="${cx}" y2="${y(f.max)}" stroke="#000"/>`);
      parts.push(`<text x="${cx}" y="${y(f.median) - 6}" ${FONT} text-anchor="middle">${time(f.median)}</text>`);
      parts.push(`<text x="${cx}" y="268" ${FONT} text-anchor="middle">${key}</text>`);
    });
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
}

/** The section, after writing its charts (full runs only: a quick run's figures are not published). */
export function renderSpawnWithCharts(report: SpawnReport): string {
  if (!report.quick) {
    const charts = new URL('./charts/', import.meta.url);
    mkdirSync(charts, { recursive: true });
    writeFileSync(new URL('spawn-latency.svg', charts), latencyChart(report));
    writeFileSync(new URL('spawn-scaling.svg', charts), scalingChart(report));
  }
  return renderSpawn(report);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await sectionCommand('spawn', spawnBenchmarks, renderSpawnWithCharts);
