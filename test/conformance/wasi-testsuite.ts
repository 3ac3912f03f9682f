/**
 * Runs the official WebAssembly wasi-testsuite (branch prod/testsuite-all: prebuilt wasm32-wasip1
 * tests with JSON specs) against this project's CLI, the way the suite's own runner does: for each
 * test a fresh copy of its directories, its args and env, then its exit code and stdout checked.
 * Each test runs with the shared WASI and with `--wasi node`, and the pass counts are printed side
 * by side. The suite is never part of this repository: give a git directory of it.
 *
 *   npm run conformance -- [GIT_DIR] [--only NAME] [--verbose]
 *   GIT_DIR default: $WASI_TESTSUITE_GIT, else /work/.mirror/WebAssembly+wasi-testsuite/repo
 *
 * Without the suite on the machine it says so and exits 0.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BRANCH = 'prod/testsuite-all';
const SUITES = ['c', 'rust', 'assemblyscript'];
const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

const argv = process.argv.slice(2);
const verbose = argv.includes('--verbose');
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? argv[onlyAt + 1] : undefined;
const gitDir =
  argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--only') ?? process.env.WASI_TESTSUITE_GIT ?? '/work/.mirror/WebAssembly+wasi-testsuite/repo';

if (!existsSync(gitDir)) {
  console.log(`wasi-testsuite: no git directory at ${gitDir}; nothing run (give one as the first argument)`);
  process.exit(0);
}

interface Spec {
  args: string[];
  env: Record<string, string>;
  dirs: string[];
  exitCode: number;
  stdout?: string;
}

function readSpec(wasm: string): Spec {
  const file = wasm.replace(/\.wasm$/, '.json');
  const raw = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  type Operation = { type: string; args?: string[]; env?: Record<string, string>; dirs?: string[]; exit_code?: number; id?: string; payload?: string };
  const operations = raw.operations as Operation[] | undefined;
  if (operations) {
    const run: Operation = operations.find((o) => o.type === 'run') ?? { type: 'run' };
    const wait: Operation = operations.find((o) => o.type === 'wait') ?? { type: 'wait' };
    const read = operations.find((o) => o.type === 'read' && (o.id ?? 'stdout') === 'stdout');
    return { args: run.args ?? [], env: run.env ?? {}, dirs: run.dirs ?? [], exitCode: wait.exit_code ?? 0, stdout: read?.payload };
  }
  return {
    args: (raw.args as string[]) ?? [],
    env: (raw.env as Record<string, string>) ?? {},
    dirs: (raw.dirs as string[]) ?? [],
    exitCode: (raw.exit_code as number) ?? 0,
    stdout: raw.stdout as string | undefined,
  };
}

/** Runs one test in a fresh copy of its directory; returns null when it passed, else why not. */
function runTest(suiteDir: string, wasm: string, wasi: 'shared' | 'node'): string | null {
  const spec = readSpec(wasm);
  const work = mkdtempSync(join(tmpdir(), 'wtw-wasi-testsuite-'));
  try {
    for (const dir of spec.dirs) cpSync(join(suiteDir, dir), join(work, dir), { recursive: true, verbatimSymlinks: true });
    const args = [cli, 'run', '--wasi', wasi];
    for (const [key, value] of Object.entries(spec.env)) args.push('--env', `${key}=${value}`);
    for (const dir of spec.dirs) args.push('--dir', `${dir}::${dir}`);
    args.push(wasm, ...spec.args);
    const result = spawnSync(process.execPath, args, { cwd: work, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.error) return `did not finish: ${result.error.message}`;
    if (result.status !== spec.exitCode) {
      // The program's own words (a Rust panic message), not the backtrace lines.
      const said = result.stderr.split('\n').filter((line) => line.trim() !== '' && !/^\s+at |^wasm backtrace:|^note: /.test(line));
      return `exit ${result.status}, expected ${spec.exitCode}: ${said.slice(0, 3).join(' | ').slice(0, 300)}`;
    }
    if (spec.stdout !== undefined && result.stdout !== spec.stdout)
      return `stdout ${JSON.stringify(result.stdout.slice(0, 200))}, expected ${JSON.stringify(spec.stdout.slice(0, 200))}`;
    return null;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const root = mkdtempSync(join(tmpdir(), 'wtw-wasi-testsuite-src-'));
try {
  // The suite's files, as they are on the branch (never copied into this repository).
  execFileSync('sh', ['-c', `git --git-dir="${gitDir}" archive ${BRANCH} tests | tar x -C "${root}"`]);
  const totals: Record<string, { shared: number; node: number; count: number }> = {};
  const differences: string[] = [];
  for (const suite of SUITES) {
    const suiteDir = join(root, 'tests', suite, 'testsuite', 'wasm32-wasip1');
    if (!existsSync(suiteDir)) continue;
    const tests = readdirSync(suiteDir)
      .filter((f) => f.endsWith('.wasm') && (!only || basename(f, '.wasm') === only))
      .sort();
    const total = { shared: 0, node: 0, count: tests.length };
    totals[suite] = total;
    for (const test of tests) {
      const wasm = join(suiteDir, test);
      const shared = runTest(suiteDir, wasm, 'shared');
      const node = runTest(suiteDir, wasm, 'node');
      if (shared === null) total.shared++;
      if (node === null) total.node++;
      const name = `${suite}/${basename(test, '.wasm')}`;
      if (verbose || (shared !== null) !== (node !== null)) {
        differences.push(`${name}: shared ${shared === null ? 'pass' : `FAIL (${shared})`}; node:wasi ${node === null ? 'pass' : `FAIL (${node})`}`);
      }
    }
  }
  const rows = Object.entries(totals).map(([suite, t]) => `| ${suite} | ${t.count} | ${t.shared} | ${t.node} |`);
  const sum = Object.values(totals).reduce((a, t) => ({ count: a.count + t.count, shared: a.shared + t.shared, node: a.node + t.node }), {
    count: 0,
    shared: 0,
    node: 0,
  });
  console.log(
    ['| suite | tests | shared WASI | node:wasi |', '| --- | --- | --- | --- |', ...rows, `| total | ${sum.count} | ${sum.shared} | ${sum.node} |`].join('\n'),
  );
  if (differences.length > 0) console.log(`\n${verbose ? 'every test' : 'tests where the two differ'}:\n${differences.join('\n')}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
