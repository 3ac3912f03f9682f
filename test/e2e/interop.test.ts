// Node interop: options for the library's workers, TypeScript hosts run with tsx.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, startWasiMain } from '../../src/index.js';
import { fixture, hostFile, runNode } from '../helpers/run-host.js';

const host = (name: string) => fileURLToPath(new URL(`../helpers/${name}`, import.meta.url));
const tsxCli = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
/** Node 22 and later run module hooks (tsx's) in workers; Node 20 does not. */
const workersTakeHooks = Number(process.versions.node.split('.')[0]) >= 22;

describe('worker options', () => {
  it('starts every worker with workerOptions: env, execArgv and resourceLimits', async () => {
    const result = await runNode([host('worker-options.mjs'), fixture('counter')]);
    expect(result.stdout).toBe('counter=10 expected=10\n');
    const seen = result.stderr
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line.replace(/^worker: /, '')));
    expect(seen.length).toBeGreaterThanOrEqual(2); // the main thread's worker and a pool worker
    for (const worker of seen) expect(worker).toEqual({ mark: 'given', home: null, execArgv: ['--no-deprecation'], maxOld: 48 });
  });

  it('turns execArgv that Node refuses for workers into an InvalidOptionError, with nothing left running', async () => {
    const program = await startWasiMain({ entryFile: hostFile, wasmFile: fixture('counter'), workerOptions: { execArgv: ['--stack-trace-limit=7'] } });
    const error = await program.exited.catch((e: Error) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(/^workerOptions: Node refused to start a worker: .*--stack-trace-limit=7/);
    expect(program.liveWorkers).toBe(0);
  });

  it('refuses workerOptions it does not know', async () => {
    const config = { entryFile: hostFile, wasmFile: fixture('counter'), workerOptions: { argv: ['x'] } as never };
    await expect(startWasiMain(config)).rejects.toThrow(/workerOptions has no option "argv" \(it takes execArgv, env, resourceLimits\)/);
  });
});

describe(`a TypeScript host run with tsx (module hooks in workers on this Node: ${workersTakeHooks})`, () => {
  it.runIf(workersTakeHooks).each([
    ['as is', []],
    ["with workerOptions.execArgv ['--import', 'tsx']", ['import-tsx']],
  ])('runs, its workers loading the same .ts file: %s', async (_label: string, mode: string[]) => {
    const result = await runNode([tsxCli, host('tsx-host.ts'), fixture('counter'), ...mode]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('counter=20 expected=20\n');
    expect(result.status).toBe(0);
  });

  it.skipIf(workersTakeHooks)('on Node 20, fails with an error that says what to do', async () => {
    const result = await runNode([tsxCli, host('tsx-host.ts'), fixture('counter'), 'import-tsx']);
    expect(result.status).toBe(70);
    expect(result.stderr).toMatch(/^WorkerFailedError: .*Unknown file extension "\.ts".*wasi-threads-wrapper\/worker/);
  });
});
