// Bad input gets a typed error that names the problem, before any worker could hang.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, ModuleRequirementError, startWasiMain, type WasiMainConfig, WasmLoadError, WorkerFailedError } from '../../src/index.js';
import { fixture, hostFile } from '../helpers/run-host.js';

/** The counter program with `overrides`, which may be invalid on purpose (hence the cast). */
const base = (overrides: Record<string, unknown> = {}): WasiMainConfig =>
  ({
    entryFile: hostFile,
    wasmFile: fixture('counter'),
    ...overrides,
  }) as WasiMainConfig;

async function rejection(config: WasiMainConfig): Promise<Error> {
  try {
    await startWasiMain(config);
  } catch (error) {
    return error as Error;
  }
  throw new Error('startWasiMain accepted bad input');
}

describe('bad input', () => {
  it('names an unreadable wasm file', async () => {
    const error = await rejection(base({ wasmFile: '/nonexistent/prog.wasm' }));
    expect(error).toBeInstanceOf(WasmLoadError);
    expect(error.message).toMatch(/cannot read wasm file "\/nonexistent\/prog.wasm": ENOENT/);
  });

  it.each(['/dev/zero', '/tmp'])('refuses %s as a wasm file before reading it (not a regular file)', async (path) => {
    const error = await rejection(base({ wasmFile: path }));
    expect(error).toBeInstanceOf(WasmLoadError);
    expect(error.message).toBe(`cannot read wasm file "${path}": not a regular file`);
  });

  it('names a file that is not WebAssembly', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'wtw-')), 'not.wasm');
    writeFileSync(path, 'hello, not wasm');
    const error = await rejection(base({ wasmFile: path }));
    expect(error).toBeInstanceOf(WasmLoadError);
    expect(error.message).toMatch(/is not a valid WebAssembly module/);
  });

  it('wants exactly one of wasmFile and wasmModule', async () => {
    const module = new WebAssembly.Module(readFileSync(fixture('counter')));
    expect(await rejection(base({ wasmModule: module }))).toBeInstanceOf(InvalidOptionError);
    const neither = await rejection({ entryFile: hostFile } as WasiMainConfig);
    expect(neither).toBeInstanceOf(InvalidOptionError);
    expect(neither.message).toMatch(/wasmFile or wasmModule is required/);
  });

  it('wants an entryFile that exists, when one is given', async () => {
    const missing = await rejection(base({ entryFile: '' }));
    expect(missing).toBeInstanceOf(InvalidOptionError);
    expect(missing.message).toMatch(/entryFile must be/);
    const absent = await rejection(base({ entryFile: '/nonexistent/entry.mjs' }));
    expect(absent.message).toMatch(/entryFile "\/nonexistent\/entry.mjs" cannot be read/);
    expect((await rejection(base({ threadFile: '/nonexistent/thread.mjs' }))).message).toMatch(/threadFile/);
  });

  it('refuses a threaded module whose memory is not imported', async () => {
    const error = await rejection(base({ wasmFile: fixture('own_memory') }));
    expect(error).toBeInstanceOf(ModuleRequirementError);
    expect(error.message).toMatch(/does not import its memory/);
  });

  it('refuses a threaded module whose memory is not shared', async () => {
    const error = await rejection(base({ wasmFile: fixture('unshared_memory') }));
    expect(error).toBeInstanceOf(ModuleRequirementError);
    expect(error.message).toMatch(/not shared/);
  });

  it('refuses thread-spawn without wasi_thread_start', async () => {
    const error = await rejection(base({ wasmFile: fixture('no_thread_start') }));
    expect(error).toBeInstanceOf(ModuleRequirementError);
    expect(error.message).toMatch(/does not export wasi_thread_start/);
  });

  it('refuses a module without _start before any worker starts, with the ready-made worker script', () => {
    // Through the built package, whose ready-made worker script is the one it knows.
    const script = `
      import { startWasiMain } from 'wasi-threads-wrapper';
      import { fileURLToPath } from 'node:url';
      const entryFile = fileURLToPath(import.meta.resolve('wasi-threads-wrapper/worker'));
      startWasiMain({ entryFile, wasmFile: ${JSON.stringify(fixture('no_start'))} }).then(
        () => console.log('started'),
        (error) => console.log(error.name + ': ' + error.message));`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    expect(output).toBe('ModuleRequirementError: the module exports no _start: set initMethod to the function that runs the program\n');
  });

  it('ends a program without _start with a ModuleRequirementError, not a trap, when a config function could have set noWasiStart', async () => {
    const program = await startWasiMain(base({ wasmFile: fixture('no_start'), poolSize: 1 }));
    const error = await program.exited.catch((e: Error) => e);
    expect(error).toBeInstanceOf(ModuleRequirementError);
    expect((error as Error).message).toMatch(/exports no _start/);
    expect(program.liveWorkers).toBe(0);
  });

  it('refuses an initMethod the module does not export', async () => {
    const error = await rejection(base({ initMethod: 'nope' }));
    expect(error).toBeInstanceOf(ModuleRequirementError);
    expect(error.message).toMatch(/initMethod "nope" is not exported/);
  });

  it('refuses memory limits outside those the module declares', async () => {
    const tight = fixture('tight_memory');
    expect((await rejection(base({ wasmFile: tight, memorySetting: { initial: 1 } }))).message).toMatch(/needs at least 2/);
    expect((await rejection(base({ wasmFile: tight, memorySetting: { maximum: 10 } }))).message).toMatch(/allows at most 3/);
    expect((await rejection(base({ memorySetting: { initial: 100, maximum: 50 } }))).message).toMatch(/above memorySetting.maximum/);
    expect(await rejection(base({ memorySetting: { initial: -1 } }))).toBeInstanceOf(InvalidOptionError);
  });

  it.each([
    [{ poolSize: -1 }, /poolSize must be a whole number from 0/],
    [{ poolSize: 1.5 }, /poolSize must be a whole number/],
    [{ poolSize: '4' as unknown as number }, /poolSize must be a whole number/],
    [{ maxThreads: 0 }, /maxThreads must be a whole number from 1/],
    [{ poolSize: 8, maxThreads: 4 }, /poolSize \(8\) cannot exceed maxThreads \(4\)/],
    [{ namespace: '' }, /namespace must be a non-empty string/],
    [{ wasiOptions: { version: 'preview2' as 'preview1' } }, /wasiOptions.version/],
    [{ wasiOptions: { args: 'abc' as unknown as string[] } }, /wasiOptions.args must be an array of strings/],
    [{ wasiOptions: { args: ['ok', 'cut\0here'] } }, /wasiOptions.args\[1\] contains a NUL character/],
    [{ wasiOptions: { args: ['ok', 7 as unknown as string] } }, /wasiOptions.args\[1\] must be a string/],
    [{ wasiOptions: { env: { 'A=B': 'x' } } }, /wasiOptions.env name "A=B" must be non-empty and without "="/],
    [{ wasiOptions: { env: { 'A\0B': 'x' } } }, /wasiOptions.env name contains a NUL/],
    [{ wasiOptions: { env: { A: 'x\0y' } } }, /wasiOptions.env\["A"\] contains a NUL/],
    [{ wasiOptions: { env: { A: 1 as unknown as string } } }, /wasiOptions.env\["A"\] must be a string/],
    [{ wasiOptions: { stdout: -1 } }, /wasiOptions.stdout must be a file descriptor/],
    [{ wasiOptions: { stdout: 9999 } }, /wasiOptions.stdout is 9999, which is not an open file descriptor/],
    [{ wasiOptions: { stdout: 'abc' as unknown as number } }, /wasiOptions.stdout must be a file descriptor/],
    [{ wasiOptions: { stderr: 1.5 } }, /wasiOptions.stderr must be a file descriptor/],
    [{ wasiOptions: { preopens: { '/d': 5 as unknown as string } } }, /wasiOptions.preopens\["\/d"\] must be a string/],
    [{ wasmFile: new URL('http://example.invalid/prog.wasm') }, /http: URLs are not fetched/],
  ])('refuses the option %o', async (options, message) => {
    const error = await rejection(base(options));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).code).toBe('ERR_WASI_THREADS_INVALID_OPTION');
    expect(error.message).toMatch(message);
  });

  it('turns a compiled module whose limits do not link into a clear error, ending every worker', async () => {
    // A compiled module hides its limits, so the mismatch surfaces at link time inside the workers.
    const module = new WebAssembly.Module(readFileSync(fixture('tight_memory')));
    const program = await startWasiMain({ entryFile: hostFile, wasmModule: module, poolSize: 2 });
    const error = await program.exited.catch((e: Error) => e);
    expect(error).toBeInstanceOf(ModuleRequirementError);
    expect((error as Error).message).toMatch(/cannot be linked: .*memory/);
    expect(program.liveWorkers).toBe(0);
  });

  it('fails, and does not hang, when the entryFile never calls initWasiWorker()', async () => {
    const entryFile = fileURLToPath(new URL('../helpers/not-a-worker.mjs', import.meta.url));
    const program = await startWasiMain({ entryFile, wasmFile: fixture('counter'), poolSize: 1 });
    const error = await program.exited.catch((e: Error) => e);
    expect(error).toBeInstanceOf(WorkerFailedError);
    expect((error as Error).message).toMatch(/did its script call initWasiWorker\(\)\?/);
    expect(program.liveWorkers).toBe(0);
  });
});
