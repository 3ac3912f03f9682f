/**
 * The grow guard's costs (BENCHMARKS section 7): how fast the rewrite runs on real third-party
 * binaries, what it costs real programs, and what each rewritten instruction kind costs in a tight
 * loop. Every ratio is guarded over unguarded within one round; a figure is the median of the
 * rounds, with their spread; guarded and unguarded alternate within each round. The section holds one
 * table set per Node line it was run on (`NODE=... tsx bench/grow-guard.ts`).
 *   tsx bench/grow-guard.ts [--quick]
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createRuntime, guardMemoryGrowth } from '../dist/index.js';
import { THIRD_PARTY, thirdPartyWasm } from '../fixtures/third-party.js';
import { fixture } from '../test/helpers/run-host.js';
import { type Figure, figure, log, sectionCommand } from './sections.js';

interface Ratio {
  guarded: Figure;
  unguarded: Figure;
  /** Guarded over unguarded, within each round. */
  ratio: Figure;
}

export interface GrowGuardLine {
  node: string;
  v8: string;
  cpu: string;
  measuredOn: string;
  rounds: number;
  /** `firstMbPerSecond`: the first rewrite of the input in the process (the decoder not yet tiered up), once. */
  rewrite: { input: string; bytes: number; sites: number; helpers: number; firstMbPerSecond: number; mbPerSecond: Figure }[];
  programs: ({ program: string; args: string[] } & Ratio)[];
  /** Nanoseconds an instruction, in a loop of `iterations`. */
  micro: ({ kind: string } & Ratio)[];
  iterations: number;
}

/** Results by Node major version. */
export type GrowGuardResults = Record<string, GrowGuardLine>;

const MICRO_KINDS = ['plain_load', 'fill64', 'copy64', 'init16', 'atomic_load', 'atomic_store', 'atomic_rmw', 'atomic_cmpxchg', 'notify', 'size'] as const;

/** Runs `measure(side)` for both sides in each round, in alternating order; returns the figures. */
async function interleaved(rounds: number, measure: (guarded: boolean) => Promise<number> | number): Promise<Ratio> {
  const values = { guarded: [] as number[], unguarded: [] as number[], ratio: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [true, false] : [false, true];
    const seen: Record<string, number> = {};
    for (const guarded of order) seen[String(guarded)] = await measure(guarded);
    values.guarded.push(seen.true!);
    values.unguarded.push(seen.false!);
    values.ratio.push(seen.true! / seen.false!);
  }
  return { guarded: figure(values.guarded), unguarded: figure(values.unguarded), ratio: figure(values.ratio) };
}

async function measureLine(quick: boolean): Promise<GrowGuardLine> {
  const rounds = quick ? 2 : 7;
  const inputs = quick ? (['oxc-parser'] as const) : (Object.keys(THIRD_PARTY) as (keyof typeof THIRD_PARTY)[]);

  log('grow guard: rewrite throughput');
  const rewrite = inputs.map((input) => {
    const bytes = thirdPartyWasm(input);
    const first = performance.now();
    const { report } = guardMemoryGrowth(bytes); // the counts
    const firstMbPerSecond = bytes.length / 1e6 / ((performance.now() - first) / 1000);
    for (let i = 0; i < 5; i++) guardMemoryGrowth(bytes); // warm-up: the decoder tiers up
    const perRound: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const repeat = 5;
      const started = performance.now();
      for (let i = 0; i < repeat; i++) guardMemoryGrowth(bytes);
      perRound.push(bytes.length / 1e6 / ((performance.now() - started) / 1000 / repeat));
    }
    return {
      input: `${THIRD_PARTY[input].name}@${THIRD_PARTY[input].version}`,
      bytes: bytes.length,
      sites: report.sites,
      helpers: report.helpers,
      firstMbPerSecond,
      mbPerSecond: figure(perRound),
    };
  });

  log('grow guard: real programs, guarded and not, on one runtime each');
  const programSpecs: { program: string; args: string[] }[] = quick
    ? [{ program: 'primes', args: ['primes', '2', '300000'] }]
    : [
        { program: 'primes', args: ['primes', '2', '3000000'] },
        { program: 'alloc_fill', args: ['alloc_fill', '2', '40000'] },
      ];
  const programs = [];
  for (const spec of programSpecs) {
    const runtimes = {
      true: await createRuntime({ wasmFile: fixture(spec.program), maxConcurrentRuns: 1, poolSize: 2 }),
      false: await createRuntime({ wasmFile: fixture(spec.program), maxConcurrentRuns: 1, poolSize: 2, growGuard: false }),
    };
    const once = async (guarded: boolean) => {
      const result = await runtimes[String(guarded) as 'true' | 'false'].run({ args: spec.args, stdout: 'buffer' });
      if (result.exitCode !== 0) throw new Error(`${spec.program} exited ${result.exitCode}`);
      return result.durationMs;
    };
    for (const guarded of [true, false, true, false]) await once(guarded); // warm-up: compile, tier up
    const runsPerRound = quick ? 1 : 5;
    programs.push({
      ...spec,
      ...(await interleaved(rounds, async (guarded) => {
        let total = 0;
        for (let i = 0; i < runsPerRound; i++) total += await once(guarded);
        return total / runsPerRound;
      })),
    });
    await Promise.all([runtimes.true.close(), runtimes.false.close()]);
  }

  log('grow guard: cost per instruction kind');
  const iterations = quick ? 100_000 : 2_000_000;
  const original = new Uint8Array(readFileSync(fixture('guard_micro')));
  const sides = Object.fromEntries(
    [true, false].map((guarded) => {
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
      const bytes = guarded ? guardMemoryGrowth(original).bytes : original;
      const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { env: { memory } });
      return [String(guarded), exports as Record<string, (n: number) => void>];
    }),
  );
  const micro = [];
  for (const kind of MICRO_KINDS) {
    for (let i = 0; i < 20; i++) for (const side of Object.values(sides)) side[kind]!(iterations / 10); // tier up
    micro.push({
      kind,
      ...(await interleaved(rounds, (guarded) => {
        const started = performance.now();
        sides[String(guarded)]![kind]!(iterations);
        return ((performance.now() - started) * 1e6) / iterations;
      })),
    });
  }
  return {
    node: process.version,
    v8: process.versions.v8,
    cpu: `${cpus()[0]?.model ?? 'unknown'} (${cpus().length} vCPUs)`,
    measuredOn: new Date().toISOString().slice(0, 10),
    rounds,
    rewrite,
    programs,
    micro,
    iterations,
  };
}

export async function growGuardBenchmarks(quick: boolean, previous: GrowGuardResults = {}): Promise<GrowGuardResults> {
  const line = await measureLine(quick);
  return { ...previous, [line.node.slice(1).split('.')[0]!]: line };
}

const spread = (f: Figure, digits: number) => `${f.median.toFixed(digits)} (${f.min.toFixed(digits)}-${f.max.toFixed(digits)})`;

export function renderGrowGuard(results: GrowGuardResults): string {
  const lines = Object.values(results).sort((a, b) => Number(a.node.slice(1).split('.')[0]) - Number(b.node.slice(1).split('.')[0]));
  const out = [
    '## 7. Grow guard: what the load-time rewrite costs',
    '',
    "The rewrite that keeps threads from trapping on memory another thread has just grown (README, V8's stale memory size). Generated by `bench/grow-guard.ts`. Each figure is the median of the rounds, with the lowest and highest round in brackets; guarded and unguarded alternate within each round, and each ratio is guarded over unguarded within one round. Nothing is pinned: the programs run 3 threads on the 2 vCPUs.",
    '',
  ];
  for (const line of lines) {
    out.push(`### ${line.node} (V8 ${line.v8}), ${line.measuredOn}, ${line.cpu}, ${line.rounds} rounds`, '');
    out.push('Rewrite throughput (input bytes over the time of one `guardMemoryGrowth`, 5 a round after 5 to warm up, on this thread):', '');
    out.push('| input | size | instructions replaced | helpers | MB/s | first rewrite in the process, MB/s (once) |', '| --- | --- | --- | --- | --- | --- |');
    for (const r of line.rewrite)
      out.push(
        `| ${r.input} | ${(r.bytes / 1e6).toFixed(1)} MB | ${r.sites} | ${r.helpers} | ${spread(r.mbPerSecond, 0)} | ${r.firstMbPerSecond.toFixed(0)} |`,
      );
    out.push('', "Real programs (a runtime's `run()` from call to end, `durationMs`, the mean of 5 runs a round; one runtime each way):", '');
    out.push('| program | guarded ms | unguarded ms | guarded / unguarded |', '| --- | --- | --- | --- |');
    for (const p of line.programs) out.push(`| \`${p.args.join(' ')}\` | ${spread(p.guarded, 1)} | ${spread(p.unguarded, 1)} | ${spread(p.ratio, 3)} |`);
    out.push(
      '',
      `Each instruction kind in a loop of ${line.iterations.toLocaleString('en-US')} on this thread, after tier-up (ns an iteration, the loop's own counter and store included; \`plain_load\` is not rewritten, the control):`,
      '',
    );
    out.push('| kind | guarded ns | unguarded ns | guarded / unguarded |', '| --- | --- | --- | --- |');
    for (const m of line.micro) out.push(`| \`${m.kind}\` | ${spread(m.guarded, 2)} | ${spread(m.unguarded, 2)} | ${spread(m.ratio, 2)} |`);
    const slowest = Math.min(...line.rewrite.map((r) => r.mbPerSecond.median));
    const ratios = line.programs.map((p) => p.ratio.median);
    out.push(
      '',
      `On this line: the slowest input's median rewrite ran at ${slowest.toFixed(0)} MB/s (target >= 100; the first rewrite in a process, before the decoder is compiled by TurboFan, is slower); real programs ran at ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}x their unguarded time (target <= 1.03), the median of rounds whose spread is in the table.`,
      '',
    );
  }
  out.push(
    'Reading the costs: a rewritten instruction costs a call into its helper and an i64 compare against `memory.size` (the refresh itself runs only when the compare finds the size stale). `memory.size` becomes `memory.grow 0`, a call into V8 that makes a new buffer object each time: microseconds on Node 20 in a process that has made many memories, ~0.1 µs on Node 26; programs call it when they size or grow their heap, not in their loops, which is why the real programs do not show it. The real programs are the fixtures `primes` (trial division, few guarded instructions on its path) and `alloc_fill` (page allocator under a lock, `@memset`/`@memcpy` as `memory.fill`/`memory.copy`, atomic counters).',
    '',
  );
  return `${out.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const resultsFile = new URL('./results/grow-guard.json', import.meta.url);
  let previous: GrowGuardResults = {};
  try {
    previous = JSON.parse(readFileSync(resultsFile, 'utf8'));
  } catch {}
  await sectionCommand('grow-guard', (quick) => growGuardBenchmarks(quick, quick ? {} : previous), renderGrowGuard);
}
