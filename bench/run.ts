/**
 * The benchmark suite: every figure is measured in this one run, so the ratios hold on a shared,
 * noisy machine. Writes BENCHMARKS.md and bench/results/full.json; `--quick` runs small sizes
 * (under a minute, for CI), writes bench/results/quick.json and spawn-quick.json only (untracked)
 * and leaves BENCHMARKS.md alone.
 *   npm run bench [-- --quick]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ProgramSpec, runProgram } from '../test/helpers/run-host.js';
import { type GrowGuardResults, growGuardBenchmarks, renderGrowGuard } from './grow-guard.js';
import { type Report, renderReport } from './report.js';
import { log, marked } from './sections.js';
import { renderServer, serverBenchmarks } from './server.js';
import { renderSpawnWithCharts, spawnBenchmarks } from './spawn.js';

const quick = process.argv.includes('--quick');
const sizes = quick ? { primesLimit: 300_000, soak: 10_000, ioCalls: 2_000 } : { primesLimit: 5_000_000, soak: 100_000, ioCalls: 100_000 };
const WARM_POOL = 4;
const timeoutMs = 300_000;

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

const nsToMs = (ns: number) => ns / 1e6;

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
  // The pool boots beside the program, a worker or two at a time: sampled once it is up (sooner in
  // quick mode, whose figures are not published).
  const idleMs = quick ? 1500 : 4000;
  const sampleAt = quick ? 1200 : 3500;
  const pool0 = await ours(['idle', String(idleMs)], { poolSize: 0, rssAfterMs: [sampleAt] });
  const pool8 = await ours(['idle', String(idleMs)], { poolSize: 8, rssAfterMs: [sampleAt] });
  const soak = await ours(['throughput', String(sizes.soak), '1', '200'], { poolSize: WARM_POOL, rssAtSpawns: [1000, 10_000, sizes.soak] });
  const rssPool0 = pool0.rss!.afterMs[sampleAt]!;
  const rssPool8 = pool8.rss!.afterMs[sampleAt]!;
  return {
    rssPool0Mb: rssPool0 / 2 ** 20,
    rssPool8Mb: rssPool8 / 2 ** 20,
    perIdleWorkerMb: (rssPool8 - rssPool0) / 8 / 2 ** 20,
    soakThreads: sizes.soak,
    rssAfter1000Mb: soak.rss!.atSpawns[1000]! / 2 ** 20,
    rssAfter10000Mb: soak.rss!.atSpawns[10_000]! / 2 ** 20,
    rssAfterSoakMb: soak.rss!.atSpawns[sizes.soak]! / 2 ** 20,
  };
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

log('spawn benchmarks (bench/spawn.ts)');
const spawn = await spawnBenchmarks(quick);
const report: Report = {
  machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  date: new Date().toISOString(),
  quick,
  warmPoolSize: WARM_POOL,
  speedup: await speedup(),
  memory: await memory(),
  wasi: await wasiOverhead(),
};

const server = await serverBenchmarks(quick);
const results = new URL('./results/', import.meta.url);
// The grow guard's section keeps the tables of the other Node lines it was run on (bench/grow-guard.ts).
const guardFile = new URL('grow-guard.json', results);
const previousGuard: GrowGuardResults = !quick && existsSync(guardFile) ? JSON.parse(readFileSync(guardFile, 'utf8')) : {};
const growGuard = await growGuardBenchmarks(quick, previousGuard);
const markdown = `${renderReport(report, renderSpawnWithCharts(spawn)).trimEnd()}\n\n${marked('server', renderServer(server))}\n\n${marked('grow-guard', renderGrowGuard(growGuard))}\n`;
mkdirSync(results, { recursive: true });
writeFileSync(new URL(quick ? 'grow-guard-quick.json' : 'grow-guard.json', results), `${JSON.stringify(growGuard, null, 2)}\n`);
writeFileSync(new URL(quick ? 'quick.json' : 'full.json', results), `${JSON.stringify({ ...report, server }, null, 2)}\n`);
writeFileSync(new URL(quick ? 'spawn-quick.json' : 'spawn.json', results), `${JSON.stringify(spawn, null, 2)}\n`);
if (!quick) writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), markdown);
process.stdout.write(markdown);
