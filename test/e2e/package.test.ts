// The package as users get it: `npm pack`, installed into an empty project, used through its bin
// and its exports (the library and the ready-made worker script).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixture, runNode } from '../helpers/run-host.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const project = mkdtempSync(join(tmpdir(), 'wtw-package-'));
const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('the packed package', () => {
  beforeAll(() => {
    const tarball = npm(['pack', '--silent', '--pack-destination', project], repo).trim().split('\n').pop()!;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
    npm(['install', '--offline', '--no-audit', '--no-fund', join(project, tarball)], project);
  }, 120_000);

  it('ships its ready-made worker script as one file that imports only Node modules (every worker loads it)', () => {
    // One file, not the 19 modules tsc writes: a worker start took ~45 ms more than an empty
    // worker's with those, ~19 ms with this (Node 20, this VM), and nearly every program start is one.
    const script = readFileSync(join(project, 'node_modules', 'wasi-threads-wrapper', 'dist', 'worker-entry.js'), 'utf8');
    const imported = [...script.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
    expect(imported.length).toBeGreaterThan(0);
    expect(imported.filter((specifier) => !specifier!.startsWith('node:'))).toEqual([]);
    expect(script).toMatch(/^await initWasiWorker\(\);$/m);
  });

  it('installs the wasi-threads-wrapper command', async () => {
    const bin = join(project, 'node_modules', 'wasi-threads-wrapper', 'dist', 'cli', 'main.js');
    const result = await runNode([bin, 'run', '--stats', fixture('counter'), '2', '500']);
    expect(result.stdout).toBe('counter=1000 expected=1000\n');
    expect(result.status).toBe(0);
    expect(npm(['exec', '--offline', '--', 'wasi-threads-wrapper', '--version'], project).trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('ships an example program that `npx wasi-threads-wrapper run` runs as the README says, work split across threads', () => {
    const example = join('node_modules', 'wasi-threads-wrapper', 'examples', 'split_sum.wasm');
    const out = npm(['exec', '--offline', '--', 'wasi-threads-wrapper', 'run', example], project);
    expect(out.match(/^a thread summed its share: \d+$/gm)).toHaveLength(4);
    expect(out).toMatch(/^all threads together: 1 \+ 2 \+ \.\.\. \+ 10000000 = 50000005000000$/m);
    const three = npm(['exec', '--offline', '--', 'wasi-threads-wrapper', 'run', example, '3'], project);
    expect(three.match(/^a thread summed its share/gm)).toHaveLength(3);
    expect(three).toMatch(/= 50000005000000$/m);
    expect(existsSync(join(project, 'node_modules', 'wasi-threads-wrapper', 'examples', 'split_sum.wat'))).toBe(true);
  });

  it("runs the README's quick start as written, in a project that installed the package", async () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/<!-- readme-test: (sh|js) -->\n```\w+\n([\s\S]*?)```/g)].map(([, kind, code]) => ({ kind, code: code! }));
    expect(blocks.map((b) => b.kind)).toEqual(['sh', 'js']);
    for (const { kind, code } of blocks) {
      if (kind === 'sh') {
        const [command, ...args] = code.trim().split(/\s+/);
        expect(command).toBe('npx');
        const out = npm(['exec', '--offline', '--', ...args], project);
        expect(out).toMatch(/= 50000005000000$/m);
      } else {
        writeFileSync(join(project, 'quick.mjs'), code);
        const result = await runNode([join(project, 'quick.mjs')], { cwd: project });
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        expect(result.stdout).toMatch(/^exit 0:\n(a thread summed its share: \d+\n){2}all threads together: .* = 50000005000000\n/);
      }
    }
  });

  it('loads through require() too (a CommonJS user file), on every supported Node line', async () => {
    writeFileSync(
      join(project, 'main.cjs'),
      `const { initWasiMain, WasiThreadsError } = require('wasi-threads-wrapper');
       const entryFile = require.resolve('wasi-threads-wrapper/worker');
       if (typeof WasiThreadsError !== 'function') throw new Error('no WasiThreadsError export');
       initWasiMain({ entryFile, wasmFile: ${JSON.stringify(fixture('nested'))}, wasiOptions: { args: ['nested', '2'] } })
         .then((code) => { process.exitCode = code; });`,
    );
    const result = await runNode([join(project, 'main.cjs')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('nodes=7 expected=7\n');
    expect(result.status).toBe(0);
  });

  it('ships its LICENSE, and the sources its source maps point to', () => {
    const installed = join(project, 'node_modules', 'wasi-threads-wrapper');
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    const maps = readdirSync(join(installed, 'dist'), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(installed, 'dist', map), 'utf8')) as { sources: string[] };
      for (const source of sources) expect(existsSync(join(installed, 'dist', dirname(map), source)), `${map} -> ${source}`).toBe(true);
    }
  });

  it('has types that compile without the DOM lib, and that want exactly one of wasmFile / wasmModule', () => {
    const dir = join(project, 'types');
    mkdirSync(dir, { recursive: true });
    // A strict Node project: ES lib only, @types/node, every declaration file checked.
    symlinkSync(join(repo, 'node_modules', '@types'), join(project, 'node_modules', '@types'), 'dir');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: ['node'],
          strict: true,
          skipLibCheck: false,
          noEmit: true,
        },
        include: ['main.ts'],
      }),
    );
    writeFileSync(
      join(dir, 'main.ts'),
      `import { createRuntime, initWasiMain, startWasiMain, type RunOptions, type WasiMainConfig, type WorkerConfig } from 'wasi-threads-wrapper';
       const runOptions: RunOptions = { args: ['p'], stdout: 'buffer', timeoutMs: 100 };
       void createRuntime({ wasmFile: 'p.wasm', poolSize: 2 }).then(async (runtime) => {
         const { exitCode, stdout } = await runtime.run(runOptions);
         const instance = await runtime.instantiate();
         const value: unknown = await instance.call('f', 1, 2n);
         void [exitCode, stdout.length, value, instance.memory?.buffer.byteLength];
       });
       const module = new (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object } }).WebAssembly.Module(new Uint8Array());
       const fromFile: WasiMainConfig = { entryFile: 'w.js', wasmFile: 'p.wasm', poolSize: 2 };
       const fromModule: WasiMainConfig = { entryFile: 'w.js', wasmModule: module };
       // @ts-expect-error exactly one of wasmFile / wasmModule: not both
       const both: WasiMainConfig = { entryFile: 'w.js', wasmFile: 'p.wasm', wasmModule: module };
       // @ts-expect-error exactly one of wasmFile / wasmModule: not neither
       const neither: WasiMainConfig = { entryFile: 'w.js' };
       const worker: WorkerConfig = { wasmImports: { env: { f: () => 1 } } };
       void initWasiMain(fromFile); void startWasiMain(fromModule); void both; void neither; void worker;`,
    );
    execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
  });

  it('runs a program from a user file through the exports, with the ready-made worker script', async () => {
    writeFileSync(
      join(project, 'main.mjs'),
      `import { fileURLToPath } from 'node:url';
       import { initWasiMain } from 'wasi-threads-wrapper';
       const code = await initWasiMain({
         entryFile: fileURLToPath(import.meta.resolve('wasi-threads-wrapper/worker')),
         wasmFile: ${JSON.stringify(fixture('nested'))},
         wasiOptions: { args: ['nested', '2'] },
       });
       process.exitCode = code;`,
    );
    const result = await runNode([join(project, 'main.mjs')]);
    expect(result.stdout).toBe('nodes=7 expected=7\n');
    expect(result.status).toBe(0);
  });
});
