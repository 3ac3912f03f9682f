/** Turns one benchmark run into BENCHMARKS.md: tables of ratios to our warm pool, and the targets. */
import type { LatencyStats } from './floors.js';

interface ProgramLatency extends LatencyStats {
  warmSpawns: number;
  coldSpawns: number;
}

interface Rate {
  threadsPerSecond: number;
  threads: number;
  warmSpawns?: number;
}

export interface Report {
  machine: { cores: number; cpu: string; node: string };
  date: string;
  quick: boolean;
  /** poolSize of "ours, warm pool". */
  warmPoolSize: number;
  latency: {
    warm: ProgramLatency;
    cold: ProgramLatency;
    emnapiDefault: LatencyStats;
    emnapiReuse: LatencyStats;
    wakeFloor: LatencyStats;
    workerStartFloor: LatencyStats;
  };
  throughput: { warm: Rate; cold: Rate; emnapiDefault: Rate; emnapiReuse: Rate; piscinaTasksPerSecond: number };
  speedup: { limit: number; oneThreadMs: number; twoThreadsMs: number };
  memory: {
    rssPool0Mb: number;
    rssPool8Mb: number;
    perIdleWorkerMb: number;
    soakThreads: number;
    rssAfter1000Mb: number;
    rssAfterSoakMb: number;
  };
  startup: { pool0Ms: number; pool8Ms: number; runs: number };
  wasi: { calls: number; shared: { writeNs: number; readNs: number }; node: { writeNs: number; readNs: number } };
}

const ms = (value: number) => (value >= 10 ? value.toFixed(1) : value >= 0.1 ? value.toFixed(3) : `${(value * 1000).toFixed(1)} µs`).replace(/^(\d[\d.]*)$/, '$1 ms');
const times = (value: number) => `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)}x`;
const count = (value: number) => Math.round(value).toLocaleString('en-US');
const mb = (value: number) => `${value.toFixed(1)} MB`;

function table(header: string[], rows: string[][], r: Report): string {
  const caption = `_${r.machine.cores} cores, Node ${r.machine.node}, ${r.date.slice(0, 10)}_`;
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`), '', caption].join('\n');
}

export function targets(r: Report): { target: string; measured: string; met: boolean }[] {
  const warm = r.latency.warm.medianMs;
  const growth = r.memory.rssAfterSoakMb / r.memory.rssAfter1000Mb - 1;
  return [
    { target: 'warm spawn median >= 100x faster than our cold spawn', measured: times(r.latency.cold.medianMs / warm), met: r.latency.cold.medianMs / warm >= 100 },
    { target: 'warm spawn median within 3x of the raw Atomics wake floor', measured: times(warm / r.latency.wakeFloor.medianMs), met: warm / r.latency.wakeFloor.medianMs <= 3 },
    { target: 'warm spawn median >= 10x faster than @emnapi/wasi-threads default', measured: times(r.latency.emnapiDefault.medianMs / warm), met: r.latency.emnapiDefault.medianMs / warm >= 10 },
    { target: 'short-thread throughput >= 20,000 threads/s warm', measured: `${count(r.throughput.warm.threadsPerSecond)} threads/s`, met: r.throughput.warm.threadsPerSecond >= 20_000 },
    {
      target: `RSS after ${count(r.memory.soakThreads)} short threads within 10% of RSS after 1,000`,
      measured: `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%`,
      met: Math.abs(growth) <= 0.1,
    },
  ];
}

export function renderReport(r: Report): string {
  const { latency: l, throughput: t, speedup: s, memory: m, startup: st, wasi: w } = r;
  const warm = l.warm.medianMs;
  const warmRate = t.warm.threadsPerSecond;
  const latencyRow = (what: string, stats: LatencyStats) => [what, ms(stats.medianMs), ms(stats.p99Ms), count(stats.samples), times(stats.medianMs / warm)];
  const rateRow = (what: string, rate: number, threads: string) => [what, `${count(rate)}/s`, threads, times(warmRate / rate)];
  return `# Benchmarks

Measured by \`npm run bench\` (bench/run.ts, tinybench for the JS-side figures) in one run on
${r.machine.cores} cores (${r.machine.cpu}), Node ${r.machine.node}, ${r.date.slice(0, 10)}${r.quick ? ' (quick mode: small sizes)' : ''}.
The machine is shared and noisy: compare the ratios, which were measured side by side, rather than
the absolute times. Raw figures: \`bench/results/${r.quick ? 'quick' : 'full'}.json\`.

## Targets

${table(['target', 'measured', 'met'], targets(r).map((x) => [x.target, x.measured, x.met ? 'yes' : '**no**']), r)}

## 1. Spawn latency

From the \`thread-spawn\` call in the spawning thread to the first step of the new thread
(fixture \`spawnbench latency\`: spawn one trivial thread, join it, repeat). Both timestamps are
read inside the program with WASI \`clock_time_get(MONOTONIC)\`, which Node serves from one clock
for every thread. "slower than warm" is the median over our warm pool's median.

${table(['what', 'median', 'p99', 'samples', 'slower than warm'], [
    latencyRow(`**ours, warm pool** (poolSize ${r.warmPoolSize}; ${l.warm.warmSpawns} warm / ${l.warm.coldSpawns} cold)`, l.warm),
    latencyRow(`ours, cold (poolSize 0; ${l.cold.coldSpawns} cold)`, l.cold),
    latencyRow('@emnapi/wasi-threads, default', l.emnapiDefault),
    latencyRow('@emnapi/wasi-threads, reuseWorker: 4', l.emnapiReuse),
    latencyRow('floor: Atomics.notify wake between two workers (round trip / 2)', l.wakeFloor),
    latencyRow('floor: new Worker() to its first message', l.workerStartFloor),
  ], r)}

The wake floor is what a warm spawn cannot beat: it is one \`Atomics.notify\` to a worker parked in
\`Atomics.wait\`, with nothing else done. A warm spawn adds the slot claim (a few compare-and-swaps),
the worker's return from \`Atomics.wait\` into JS and its call into \`wasi_thread_start\`, and two clock
reads. The cold path is bounded below by the worker-start floor plus instantiating the module.
@emnapi/wasi-threads, set up as its README shows for Node, runs the wasm main thread on the main JS
thread; a finished worker goes back to its pool through a message to that thread, which cannot
handle it while it is blocked in a join, so here \`reuseWorker\` gains little over the default.

## 2. Short-thread throughput

Spawn and join trivial threads one at a time in a loop (\`spawnbench throughput N 1\`), timed inside
the program. piscina's figure is the rate of empty tasks dispatched one at a time and awaited (\`pool.run()\`),
what a user might pick instead of threads.

${table(['what', 'rate', 'threads', 'slower than warm'], [
    rateRow(`**ours, warm pool** (poolSize ${r.warmPoolSize}; ${count(t.warm.warmSpawns ?? 0)} warm spawns)`, t.warm.threadsPerSecond, count(t.warm.threads)),
    rateRow('ours, cold (poolSize 0)', t.cold.threadsPerSecond, count(t.cold.threads)),
    rateRow('@emnapi/wasi-threads, default', t.emnapiDefault.threadsPerSecond, count(t.emnapiDefault.threads)),
    rateRow('@emnapi/wasi-threads, reuseWorker: 4', t.emnapiReuse.threadsPerSecond, count(t.emnapiReuse.threads)),
    rateRow('piscina, empty task', t.piscinaTasksPerSecond, count(r.quick ? 500 : 20_000)),
  ], r)}

## 3. Parallel speedup

\`spawnbench primes T ${count(s.limit)}\`: count the primes below ${count(s.limit)} on T threads, timed inside the program
(default pool). The machine has ${r.machine.cores} cores, so 2x is the ceiling; while the two threads start, the
pool's background refill (two long threads leave the pool short) competes with them for the cores.

${table(['threads', 'time', 'speedup'], [
    ['1', ms(s.oneThreadMs), '1.00x'],
    ['2', ms(s.twoThreadsMs), times(s.oneThreadMs / s.twoThreadsMs)],
  ], r)}

## 4. Memory

RSS of the whole process (coordinator, main-thread worker and pool), sampled by the host.

${table(['what', 'RSS'], [
    ['idle program, poolSize 0', mb(m.rssPool0Mb)],
    ['idle program, poolSize 8', mb(m.rssPool8Mb)],
    ['per idle pool worker ((8 - 0) / 8)', mb(m.perIdleWorkerMb)],
    [`after 1,000 short threads (poolSize ${r.warmPoolSize})`, mb(m.rssAfter1000Mb)],
    [`after ${count(m.soakThreads)} short threads, same process`, `${mb(m.rssAfterSoakMb)} (${times(m.rssAfterSoakMb / m.rssAfter1000Mb)})`],
  ], r)}

## 5. Start-up

From \`startWasiMain()\` to the first step of the wasm main thread (median of ${st.runs} runs each,
interleaved). The main thread starts once the initial pool is parked, so the pool's cost is paid here.

${table(['what', 'median', 'ratio to poolSize 0'], [
    ['poolSize 0', ms(st.pool0Ms), '1.00x'],
    ['poolSize 8', ms(st.pool8Ms), times(st.pool8Ms / st.pool0Ms)],
  ], r)}

## 6. WASI call overhead

\`spawnbench io ${count(w.calls)}\`: ${count(w.calls)} \`fd_write\` calls, then ${count(w.calls)} \`fd_read\` calls, of 16 bytes each on
a file in a preopened directory, timed inside the program; the library's WASI (the default) against
\`node:wasi\` on the same program.

${table(['call', 'shared WASI', 'node:wasi', 'shared / node:wasi'], [
    ['fd_write, 16 bytes', `${count(w.shared.writeNs)} ns`, `${count(w.node.writeNs)} ns`, times(w.shared.writeNs / w.node.writeNs)],
    ['fd_read, 16 bytes', `${count(w.shared.readNs)} ns`, `${count(w.node.readNs)} ns`, times(w.shared.readNs / w.node.readNs)],
  ], r)}

\`node:wasi\` makes the system call from C++ straight out of wasm; the shared WASI goes
wasm -> JS -> \`node:fs\` -> C++ and keeps the file offset in its shared table (positional reads
and writes). A CPU profile of this run puts most of the shared WASI's time in \`node:fs\`'s native
read and write bindings; the gap is that JS layer: the price of one descriptor table for all
threads and of never blocking in a host call. Programs that do many tiny writes should buffer them
(as C's stdio and Rust's \`BufWriter\` do).
`;
}
