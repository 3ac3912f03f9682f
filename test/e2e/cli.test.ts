// The command-line runner, run as users run it: `node dist/cli/main.js run ...` in a child process.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES, FLAGS, readmeTables } from '../../src/cli/flags.js';
import { fixture, runNode } from '../helpers/run-host.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = (args: string[], options?: Parameters<typeof runNode>[1]) => runNode([cli, ...args], options);
/** `--stats` prints one JSON line, the last line of stderr. */
const statsOf = (stderr: string) => JSON.parse(stderr.trimEnd().split('\n').pop()!);

describe('wasi-threads-wrapper run', () => {
  it('runs a threaded program and exits with its exit code', async () => {
    const result = await run(['run', fixture('abnormal_end'), 'exit']);
    expect(result.stdout).toBe('thread exiting with 42\n');
    expect(result.status).toBe(42);
  });

  it('passes everything after the program to the program, flags included', async () => {
    const result = await run(['run', fixture('echo_args'), '--pool', '3', '-x']);
    const path = fixture('echo_args');
    expect(result.stdout).toBe(`main: ${path} --pool 3 -x\nthread: ${path} --pool 3 -x\n`);
    const afterDashes = await run(['run', '--', fixture('echo_args'), 'a']);
    expect(afterDashes.stdout).toBe(`main: ${path} a\nthread: ${path} a\n`);
  });

  it('sets the environment and preopened directories with --env and --dir, in every thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wtw-dir-'));
    writeFileSync(join(dir, 'hello.txt'), 'hi there\n');
    const result = await run(['run', '--env', 'GREETING=hello', '--env', 'OTHER=x', '--dir', `${dir}::/data`, fixture('env_dir')]);
    expect(result.stdout).toBe('main: GREETING=hello preopen=/data hello.txt=hi there\nthread: GREETING=hello preopen=/data hello.txt=hi there\n');
    expect(result.status).toBe(0);
  });

  it('prints spawn statistics with --stats, and follows --pool and --max-threads', async () => {
    const warm = await run(['run', '--stats', '--pool', '4', fixture('counter'), '4', '100']);
    expect(warm.stdout).toBe('counter=400 expected=400\n');
    expect(statsOf(warm.stderr)).toMatchObject({ warmSpawns: 4, coldSpawns: 0 });
    const cold = await run(['run', '--stats', '--pool', '0', fixture('counter'), '2', '100']);
    expect(statsOf(cold.stderr)).toMatchObject({ warmSpawns: 0, coldSpawns: 2 });
    const limited = await run(['run', '--stats', '--max-threads', '3', fixture('limit'), '10']);
    expect(limited.stdout).toBe('spawn 4 failed: SpawnFailed\nspawned=3 joined=3\n');
    expect(statsOf(limited.stderr)).toMatchObject({ failedSpawns: 1 });
  });

  it('caps the shared memory with --memory-max', async () => {
    // The program starts at 512 pages and uses a few; 560 leave no room to grow by 64, so
    // memory.grow fails and the program panics (a trap). Without the cap the same run succeeds.
    const result = await run(['run', '--memory-max', '560', fixture('grow'), '64']);
    expect(result.stderr).toMatch(/memory\.grow failed/);
    expect(result.status).toBe(134);
    expect((await run(['run', '--memory-max', '700', fixture('grow'), '64'])).status).toBe(0);
  });

  it('calls another entry with --invoke', async () => {
    const result = await run(['run', '--invoke', 'main2', fixture('init_method')]);
    expect(result.stdout).toBe('thread ran\n');
    expect(result.status).toBe(5);
  });

  it('exits 134 with the trap and its thread id on stderr', async () => {
    const result = await run(['run', fixture('abnormal_end'), 'trap']);
    expect(result.status).toBe(134);
    expect(result.stderr).toMatch(/^wasi-threads-wrapper: wasm thread 4 trapped: RuntimeError: unreachable$/m);
  });

  it('ends every worker and exits 130 on Ctrl-C', async () => {
    // Waves of threads 60 s apart: Ctrl-C (as a terminal sends it) once the first wave runs.
    const result = await run(['run', '--stats', fixture('staggered'), '2', '2', '60000'], { interruptOnLine: 'wave 1 spawned', timeoutMs: 15_000 });
    expect(result.status).toBe(130);
    expect(result.stdout).toBe('wave 1 spawned\n');
    // Two threads ran when Ctrl-C came; none is alive once the program has ended.
    expect(statsOf(result.stderr)).toMatchObject({ warmSpawns: 2, peakLiveThreads: 2, liveThreads: 0 });
  });

  it.each([
    [['run'], /^wasi-threads-wrapper: missing the program: wasi-threads-wrapper \[run\] <program.wasm> \(see --help\)\n$/],
    [['exec', 'x.wasm'], /^wasi-threads-wrapper: cannot read wasm file "exec": ENOENT[^\n]*\n$/],
    [['run', '/nonexistent.wasm'], /^wasi-threads-wrapper: cannot read wasm file "\/nonexistent.wasm": ENOENT[^\n]*\n$/],
    [
      ['run', fileURLToPath(new URL('../../package.json', import.meta.url))],
      /^wasi-threads-wrapper: wasm file "[^"]+" is not a valid WebAssembly module[^\n]*\n$/,
    ],
    [['run', fixture('unshared_memory')], /^wasi-threads-wrapper: the module's imported memory is not shared[^\n]*\n$/],
    [['run', '--pool', 'x', fixture('counter')], /^wasi-threads-wrapper: --pool needs a whole number, got "x" \(see --help\)\n$/],
    [['run', '--env', '=x', fixture('counter')], /^wasi-threads-wrapper: --env takes NAME\[=VALUE\], got "=x" \(see --help\)\n$/],
    [
      ['run', '-S', 'cli', fixture('counter')],
      /^wasi-threads-wrapper: -S\/--wasi cli: not supported by wasi-threads-wrapper \(it accepts -S\/--wasi threads\[=y\] for wasmtime compatibility\) \(see --help\)\n$/,
    ],
    [['run', '-W', 'threads=n', fixture('counter')], /^wasi-threads-wrapper: -W\/--wasm threads=n: threads cannot be turned off/],
    [['run', '--stats=yaml', fixture('counter')], /^wasi-threads-wrapper: --stats takes json or text, got "yaml"/],
    [['run', '--memory-max', '1', fixture('counter')], /^wasi-threads-wrapper: memorySetting.initial \(32 pages\) is above --memory-max \(1 pages\)\n$/],
    [['run', '--invoke', 'nope', fixture('counter')], /^wasi-threads-wrapper: --invoke "nope" is not exported by the module\n$/],
    [['run', fixture('no_start')], /^wasi-threads-wrapper: the module exports no _start: set --invoke to the function that runs the program\n$/],
    [['run', '--bogus', fixture('counter')], /^wasi-threads-wrapper: Unknown option '--bogus'[^\n]*\n$/],
  ])('a usage error %j prints one line and exits 2', async (args, message) => {
    const result = await run(args);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('prints help, with every flag and every exit status, and the version', async () => {
    const help = await run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: wasi-threads-wrapper \[run\] \[options\] <program.wasm>/);
    for (const flag of FLAGS) expect(help.stdout).toContain(`--${flag.name}`);
    for (const { code } of EXIT_CODES) expect(help.stdout).toMatch(new RegExp(`^  ${code} `, 'm'));
    const version = await run(['--version']);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(version.stdout).toBe(`${pkg.version}\n`);
  });
});

describe('compatibility with wasmtime run', () => {
  const path = fixture('echo_args');

  it('runs a program without the word run, as `wasmtime prog.wasm` does', async () => {
    const result = await run([path, 'a']);
    expect(result.stdout).toBe(`main: ${path} a\nthread: ${path} a\n`);
  });

  it('sets argv[0] with --argv0', async () => {
    const result = await run(['run', '--argv0', 'tool-mode', path, 'x']);
    expect(result.stdout).toBe('main: tool-mode x\nthread: tool-mode x\n');
  });

  it('drops a `--` right after the program, and passes a second one on', async () => {
    expect((await run(['run', path, '--', 'a', '--b'])).stdout).toBe(`main: ${path} a --b\nthread: ${path} a --b\n`);
    expect((await run(['run', path, '--', '--', 'x'])).stdout).toBe(`main: ${path} -- x\nthread: ${path} -- x\n`);
  });

  it("passes this process's value for --env NAME, and nothing when it has none", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wtw-env-'));
    writeFileSync(join(dir, 'hello.txt'), 'hi\n');
    const args = ['run', '--env', 'GREETING', '--env', 'WTW_SURELY_UNSET', '--dir', `${dir}::/data`, fixture('env_dir')];
    const result = await runNodeWithEnv([cli, ...args], { GREETING: 'from the host' });
    expect(result.stdout).toBe('main: GREETING=from the host preopen=/data hello.txt=hi\nthread: GREETING=from the host preopen=/data hello.txt=hi\n');
  });

  it("accepts wasmtime's -S threads and -W threads, in both spellings", async () => {
    for (const flags of [['-S', 'threads'], ['-Sthreads=y'], ['-W', 'threads=y', '-S', 'threads=yes'], ['--wasi', 'threads', '--wasm', 'threads']]) {
      const result = await run(['run', ...flags, fixture('counter'), '2', '10']);
      expect(result.stdout, flags.join(' ')).toBe('counter=20 expected=20\n');
    }
  });

  it('prints the wasm backtrace of a trap on stderr', async () => {
    const result = await run(['run', fixture('abnormal_end'), 'trap']);
    expect(result.status).toBe(134);
    expect(result.stderr).toMatch(
      /^wasi-threads-wrapper: wasm thread 4 trapped: RuntimeError: unreachable\nwasm backtrace:\n( {4}at [^\n]*wasm:\/\/wasm\/[^\n]*\n)+$/,
    );
  });

  it('prints --stats as pure JSON, or as text with --stats=text', async () => {
    const json = await run(['run', '--stats', fixture('counter'), '2', '10']);
    expect(Object.keys(JSON.parse(json.stderr))).toEqual([
      'warmSpawns',
      'coldSpawns',
      'failedSpawns',
      'peakLiveThreads',
      'liveThreads',
      'workersCreated',
      'spinHits',
      'spinMs',
      'growGuard',
    ]);
    expect(JSON.parse(json.stderr).growGuard).toMatchObject({ status: 'rewritten' });
    const text = await run(['run', '--stats=text', fixture('counter'), '2', '10']);
    expect(text.stderr).toMatch(
      /^wasi-threads-wrapper: 2 warm spawns, 0 cold, 0 failed; at most \d+ threads alive; \d+ workers started; grow guard: rewritten \(\d+ instructions, \d+ helpers\)\n$/,
    );
    const off = await run(['run', '--no-grow-guard', '--stats=text', fixture('counter'), '2', '10']);
    expect(off.stderr).toMatch(/; grow guard: off\n$/);
  });

  it("keeps the README's flag and exit-status tables as the flag table generates them (npm run docs)", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = /<!-- cli-flags -->\n([\s\S]*?)\n<!-- \/cli-flags -->/.exec(readme);
    expect(section, 'README has no <!-- cli-flags --> section').not.toBeNull();
    expect(section![1]).toBe(readmeTables());
  });
});

function runNodeWithEnv(args: string[], env: Record<string, string>) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return runNode(args);
  } finally {
    for (const key of Object.keys(env)) if (saved[key] === undefined) delete process.env[key];
  }
}
