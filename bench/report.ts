/** Turns one benchmark run into BENCHMARKS.md: tables of ratios to our warm pool, and the targets. */
import { marked } from './sections.js';

export interface Report {
  machine: { cores: number; cpu: string; node: string };
  date: string;
  quick: boolean;
  /** poolSize of "ours, warm pool". */
  warmPoolSize: number;
  speedup: { limit: number; oneThreadMs: number; twoThreadsMs: number };
  memory: {
    rssPool0Mb: number;
    rssPool8Mb: number;
    perIdleWorkerMb: number;
    soakThreads: number;
    rssAfter1000Mb: number;
    rssAfter10000Mb: number;
    rssAfterSoakMb: number;
  };
  wasi: { calls: number; shared: { writeNs: number; readNs: number }; node: { writeNs: number; readNs: number } };
}

const ms = (value: number) =>
  (value >= 10 ? value.toFixed(1) : value >= 0.1 ? value.toFixed(3) : `${(value * 1000).toFixed(1)} µs`).replace(/^(\d[\d.]*)$/, '$1 ms');
const times = (value: number) => `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)}x`;
const count = (value: number) => Math.round(value).toLocaleString('en-US');
const mb = (value: number) => `${value.toFixed(1)} MB`;

function table(header: string[], rows: string[][], r: Report): string {
  const caption = `_${r.machine.cores} cores, Node ${r.machine.node}, ${r.date.slice(0, 10)}_`;
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`), '', caption].join('\n');
}

export function targets(r: Report): { target: string; measured: string; met: boolean }[] {
  const growth = r.memory.rssAfterSoakMb / r.memory.rssAfter10000Mb - 1;
  return [
    {
      target: `RSS after ${count(r.memory.soakThreads)} short threads within 10% of RSS after 10,000 (by then the pool, which boots beside the program, is up)`,
      measured: `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%`,
      met: Math.abs(growth) <= 0.1,
    },
  ];
}

export function renderReport(r: Report, spawnSection: string): string {
  const { speedup: s, memory: m, wasi: w } = r;
  return `# Benchmarks

Measured by \`npm run bench\` (bench/run.ts) in one run on ${r.machine.cores} cores (${r.machine.cpu}),
Node ${r.machine.node}, ${r.date.slice(0, 10)}${r.quick ? ' (quick mode: small sizes)' : ''}. The machine is shared and noisy: compare the
ratios, which were measured side by side, rather than the absolute times. Raw figures:
\`bench/results/${r.quick ? 'quick' : 'full'}.json\` and \`bench/results/spawn.json\` / \`server.json\`.

${marked('spawn', spawnSection)}

## 2. Targets of sections 3-5

${table(
  ['target', 'measured', 'met'],
  targets(r).map((x) => [x.target, x.measured, x.met ? 'yes' : '**no**']),
  r,
)}

## 3. Parallel speedup

\`spawnbench primes T ${count(s.limit)}\`: count the primes below ${count(s.limit)} on T threads, timed inside the program
(default pool). The machine has ${r.machine.cores} cores, so 2x is the ceiling.

${table(
  ['threads', 'time', 'speedup'],
  [
    ['1', ms(s.oneThreadMs), '1.00x'],
    ['2', ms(s.twoThreadsMs), times(s.oneThreadMs / s.twoThreadsMs)],
  ],
  r,
)}

## 4. Memory

RSS of the whole process (coordinator, main-thread worker and pool), sampled by the host. A
program no longer waits for its pool, which boots beside it a worker or two at a time: after 1,000
threads it may not be up yet, so the soak is compared with its RSS after 10,000.

${table(
  ['what', 'RSS'],
  [
    ['idle program, poolSize 0', mb(m.rssPool0Mb)],
    ['idle program, poolSize 8', mb(m.rssPool8Mb)],
    ['per idle pool worker ((8 - 0) / 8)', mb(m.perIdleWorkerMb)],
    [`after 1,000 short threads (poolSize ${r.warmPoolSize})`, mb(m.rssAfter1000Mb)],
    [`after 10,000 short threads, same process`, mb(m.rssAfter10000Mb)],
    [`after ${count(m.soakThreads)} short threads, same process`, `${mb(m.rssAfterSoakMb)} (${times(m.rssAfterSoakMb / m.rssAfter10000Mb)} of after 10,000)`],
  ],
  r,
)}

## 5. WASI call overhead

\`spawnbench io ${count(w.calls)}\`: ${count(w.calls)} \`fd_write\` calls, then ${count(w.calls)} \`fd_read\` calls, of 16 bytes each on
a file in a preopened directory, timed inside the program; the library's WASI (the default) against
\`node:wasi\` on the same program.

${table(
  ['call', 'shared WASI', 'node:wasi', 'shared / node:wasi'],
  [
    ['fd_write, 16 bytes', `${count(w.shared.writeNs)} ns`, `${count(w.node.writeNs)} ns`, times(w.shared.writeNs / w.node.writeNs)],
    ['fd_read, 16 bytes', `${count(w.shared.readNs)} ns`, `${count(w.node.readNs)} ns`, times(w.shared.readNs / w.node.readNs)],
  ],
  r,
)}

\`node:wasi\` makes the system call from C++ straight out of wasm; the shared WASI goes
wasm -> JS -> \`node:fs\` -> C++ and keeps the file offset in its shared table (positional reads
and writes). A CPU profile of this run puts most of the shared WASI's time in \`node:fs\`'s native
read and write bindings; the gap is that JS layer: the price of one descriptor table for all
threads and of never blocking in a host call. Programs that do many tiny writes should buffer them
(as C's stdio and Rust's \`BufWriter\` do).
`;
}
