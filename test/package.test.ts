// The package as users get it: `npm pack`, installed into an empty project, used through its bin
// and its exports (the library and the ready-made worker script).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixture, runNode } from '../fixtures/run-host.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const project = mkdtempSync(join(tmpdir(), 'wtw-package-'));
const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('the packed package', () => {
  beforeAll(() => {
    const tarball = npm(['pack', '--silent', '--pack-destination', project], repo).trim().split('\n').pop()!;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
    npm(['install', '--offline', '--no-audit', '--no-fund', join(project, tarball)], project);
  }, 120_000);

  it('installs the wasi-threads-wrapper command', async () => {
    const bin = join(project, 'node_modules', 'wasi-threads-wrapper', 'dist', 'cli.js');
    const result = await runNode([bin, 'run', '--stats', fixture('counter'), '2', '500']);
    expect(result.stdout).toBe('counter=1000 expected=1000\n');
    expect(result.status).toBe(0);
    expect(npm(['exec', '--offline', '--', 'wasi-threads-wrapper', '--version'], project).trim()).toMatch(/^\d+\.\d+\.\d+$/);
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
