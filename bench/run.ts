/**
 * The benchmark suite: every figure is measured in this one run, so the ratios hold on a shared,
 * noisy machine. Writes BENCHMARKS.md and bench/results/full.json; `--quick` runs small sizes
 * (under a minute, for CI), writes bench/results/quick.json only and leaves BENCHMARKS.md alone.
 *   npm run bench [-- --quick]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { Bench } from 'tinybench';
import { runNode, runProgram, type ProgramSpec } from '../fixtures/run-host.js';
import { atomicsWakeFloor, latencyOf, workerStartFloor, type LatencyStats } from './floors.js';
import { renderReport, type Report } from './report.js';
import { renderServer, serverBenchmarks } from './server.js';

const quick = process.argv.includes('--quick');
const sizes = quick
  ? { warmSpawns: 300, coldSpawns: 10, emnapiSpawns: 5, wakes: 2000, workerStarts: 5, warmThroughput: 5000, coldThroughput: 10,
      emnapiThroughput: 5, piscinaTasks: 500, primesLimit: 300_000, soak: 10_000, startups: 3, ioCalls: 2_000 }
  : { warmSpawns: 3000, coldSpawns: 100, emnapiSpawns: 40, wakes: 20_000, workerStarts: 30, warmThroughput: 50_000, coldThroughput: 100,
      emnapiThroughput: 40, piscinaTasks: 20_000, primesLimit: 5_000_000, soak: 100_000, startups: 9, ioCalls: 100_000 };
const WARM_POOL = 4;
const timeoutMs = 300_000;

const log = (text: string) => process.stderr.write(`${text}\n`);

type Measurement = Record<string, number>;

/** The one JSON line a spawnbench mode prints (the idle mode prints none). */
function measurement(stdout: string): Measurement {
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  return line ? JSON.parse(line) : {};
}

async function ours(args: string[], spec: Partial<ProgramSpec> = {}) {
  const run = await runProgram({ fixture: 'spawnbench', args, ...spec }, { timeoutMs });
  if (run.exitCode !== 0) throw new Error(`spawnbench ${args.join(' ')} failed: ${JSON.stringify(run.error)}\n${run.stderr}`);
  return { m: measurement(run.stdout), stats: run.stats!, rss: run.rss, startedNs: run.startedNs };
}

async function emnapi(args: string[], reuseWorker: boolean) {
  const host = fileURLToPath(new URL('./peers/emnapi-host.mjs', import.meta.url));
  const run = await runNode(['--disable-warning=ExperimentalWarning', host, JSON.stringify({ fixture: 'spawnbench', args, reuseWorker })], { timeoutMs });
  if (run.status !== 0) throw new Error(`emnapi spawnbench ${args.join(' ')} exited ${run.status}:\n${run.stderr.slice(0, 2000)}`);
  return measurement(run.stdout);
}

const nsToMs = (ns: number) => ns / 1e6;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function spawnLatency(): Promise<Report['latency']> {
  log('spawn latency: ours warm, ours cold, @emnapi/wasi-threads, floors');
  const warm = await ours(['latency', String(sizes.warmSpawns)], { poolSize: WARM_POOL });
  const cold = await ours(['latency', String(sizes.coldSpawns)], { poolSize: 0 });
  const emnapiDefault = await emnapi(['latency', String(sizes.emnapiSpawns)], false);
  const emnapiReuse = await emnapi(['latency', String(sizes.emnapiSpawns)], true);
  const wake = await atomicsWakeFloor(sizes.wakes);
  const workerStart = await workerStartFloor(sizes.workerStarts);
  const fromProgram = (m: Measurement): LatencyStats => ({ medianMs: nsToMs(m.median_ns!), p99Ms: nsToMs(m.p99_ns!), samples: m.n! });
  return {
    warm: { ...fromProgram(warm.m), warmSpawns: warm.stats.warmSpawns, coldSpawns: warm.stats.coldSpawns },
    cold: { ...fromProgram(cold.m), warmSpawns: cold.stats.warmSpawns, coldSpawns: cold.stats.coldSpawns },
    emnapiDefault: fromProgram(emnapiDefault),
    emnapiReuse: fromProgram(emnapiReuse),
    wakeFloor: wake,
    workerStartFloor: workerStart,
  };
}

async function piscinaRate(): Promise<number> {
  const pool = new Piscina({ filename: fileURLToPath(new URL('./piscina-task.mjs', import.meta.url)) });
  const bench = new Bench({ iterations: sizes.piscinaTasks, time: 0, warmupIterations: 50 });
  bench.add('piscina empty task', () => pool.run(null));
  await bench.run();
  await pool.destroy();
  return 1000 / latencyOf(bench).medianMs;
}

async function throughput(): Promise<Report['throughput']> {
  log('short-thread throughput: spawn + join in a loop');
  const warm = await ours(['throughput', String(sizes.warmThroughput), '1'], { poolSize: WARM_POOL });
  const cold = await ours(['throughput', String(sizes.coldThroughput), '1'], { poolSize: 0 });
  const emnapiDefault = await emnapi(['throughput', String(sizes.emnapiThroughput), '1'], false);
  const emnapiReuse = await emnapi(['throughput', String(sizes.emnapiThroughput), '1'], true);
  return {
    warm: { threadsPerSecond: warm.m.threads_per_s!, threads: warm.m.n!, warmSpawns: warm.stats.warmSpawns },
    cold: { threadsPerSecond: cold.m.threads_per_s!, threads: cold.m.n!, warmSpawns: cold.stats.warmSpawns },
    emnapiDefault: { threadsPerSecond: emnapiDefault.threads_per_s!, threads: emnapiDefault.n! },
    emnapiReuse: { threadsPerSecond: emnapiReuse.threads_per_s!, threads: emnapiReuse.n! },
    piscinaTasksPerSecond: await piscinaRate(),
  };
}

async function speedup(): Promise<Report['speedup']> {
  log('parallel speedup: primes on 1 and 2 threads');
  const limit = String(sizes.primesLimit);
  const one = await ours(['primes', '1', limit]);
  const two = await ours(['primes', '2', limit]);
  if (one.m.primes !== two.m.primes) throw new Error(`primes disagree: ${one.m.primes} vs ${two.m.primes}`);
  return { limit: sizes.primesLimit, oneThreadMs: nsToMs(one.m.elapsed_ns!), twoThreadsMs: nsToMs(two.m.elapsed_ns!) };
}

async function memory(): Promise<Report['memory']> {
  log('memory: idle pools, and a soak of short threads');
  const idleMs = 1500;
  const sampleAt = 1200;
  const pool0 = await ours(['idle', String(idleMs)], { poolSize: 0, rssAfterMs: [sampleAt] });
  const pool8 = await ours(['idle', String(idleMs)], { poolSize: 8, rssAfterMs: [sampleAt] });
  const soak = await ours(['throughput', String(sizes.soak), '1', '200'], { poolSize: WARM_POOL, rssAtSpawns: [1000, sizes.soak] });
  const rssPool0 = pool0.rss!.afterMs[sampleAt]!;
  const rssPool8 = pool8.rss!.afterMs[sampleAt]!;
  return {
    rssPool0Mb: rssPool0 / 2 ** 20,
    rssPool8Mb: rssPool8 / 2 ** 20,
    perIdleWorkerMb: (rssPool8 - rssPool0) / 8 / 2 ** 20,
    soakThreads: sizes.soak,
    rssAfter1000Mb: soak.rss!.atSpawns[1000]! / 2 ** 20,
    rssAfterSoakMb: soak.rss!.atSpawns[sizes.soak]! / 2 ** 20,
  };
}

async function startup(): Promise<Report['startup']> {
  log('start-up: initWasiMain to the first step of the wasm main thread');
  const samples: Record<'pool0' | 'pool8', number[]> = { pool0: [], pool8: [] };
  // Interleaved, so that drift in the machine's load hits both alike.
  for (let i = 0; i < sizes.startups; i++) {
    for (const [key, poolSize] of [['pool0', 0], ['pool8', 8]] as const) {
      const run = await ours(['startup'], { poolSize });
      samples[key].push(nsToMs(run.m.first_step_ns! - Number(run.startedNs)));
    }
  }
  return { pool0Ms: median(samples.pool0), pool8Ms: median(samples.pool8), runs: sizes.startups };
}

async function wasiOverhead(): Promise<Report['wasi']> {
  log('WASI: fd_write and fd_read per call, shared implementation and node:wasi');
  const dir = mkdtempSync(join(tmpdir(), 'wtw-bench-io-'));
  try {
    const measure = async (wasiImplementation: 'shared' | 'node') => {
      const { m } = await ours(['io', String(sizes.ioCalls)], { wasiImplementation, preopens: { '/bench': dir }, poolSize: 0 });
      return { writeNs: m.write_ns_per_call!, readNs: m.read_ns_per_call! };
    };
    return { calls: sizes.ioCalls, shared: await measure('shared'), node: await measure('node') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const report: Report = {
  machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  date: new Date().toISOString(),
  quick,
  warmPoolSize: WARM_POOL,
  latency: await spawnLatency(),
  throughput: await throughput(),
  speedup: await speedup(),
  memory: await memory(),
  startup: await startup(),
  wasi: await wasiOverhead(),
};

const server = await serverBenchmarks(quick);
const markdown = `${renderReport(report).trimEnd()}\n\n<!-- server -->\n${renderServer(server)}<!-- /server -->\n`;
const results = new URL('./results/', import.meta.url);
mkdirSync(results, { recursive: true });
writeFileSync(new URL(quick ? 'quick.json' : 'full.json', results), `${JSON.stringify({ ...report, server }, null, 2)}\n`);
if (!quick) writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), markdown);
process.stdout.write(markdown);
