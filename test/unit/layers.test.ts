// The folder listing is the architecture: each folder of src/ holds the code one thread runs, one job a file, and
// imports point one way only, down this list. Read from the sources, so that a new import that
// breaks the order fails here (Biome's noImportCycles catches cycles within a layer too).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../../src/', import.meta.url));

/** Each layer and the layers it may import (itself always). */
const MAY_IMPORT: Record<string, string[]> = {
  cli: ['api', 'base'],
  api: ['host', 'shared', 'base'],
  host: ['wasi', 'shared', 'base'],
  worker: ['wasi', 'shared', 'base'],
  'worker-entry': ['worker'],
  wasi: ['shared', 'base'],
  shared: ['base'],
  base: [],
};

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
  dynamic: boolean;
}

function layerOf(file: string): string {
  if (file === 'index.ts') return 'api';
  if (file === 'worker-entry.ts') return 'worker-entry';
  return file.split('/')[0]!;
}

function sourceFiles(dir = src): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [relative(src, join(dir, entry.name))] : [],
  );
}

function importsOf(file: string): Import[] {
  const text = readFileSync(join(src, file), 'utf8');
  const found: Import[] = [];
  const statement = /^(import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)'|^import\s+'(\.[^']+)'/gm;
  for (const m of text.matchAll(statement)) {
    const spec = m[3] ?? m[4]!;
    found.push({ from: file, to: normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts'), typeOnly: m[2] !== undefined, dynamic: false });
  }
  for (const m of text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)) {
    found.push({ from: file, to: normalize(join(dirname(file), m[1]!)).replace(/\.js$/, '.ts'), typeOnly: false, dynamic: true });
  }
  return found;
}

const files = sourceFiles();
const imports = files.flatMap(importsOf);

/** Every file `entry` loads when it is loaded: its static, not type-only imports, followed. */
function loadedBy(entry: string): Set<string> {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  for (let file = queue.pop(); file; file = queue.pop()) {
    for (const edge of imports) {
      if (edge.from !== file || edge.typeOnly || edge.dynamic || seen.has(edge.to)) continue;
      seen.add(edge.to);
      queue.push(edge.to);
    }
  }
  return seen;
}

describe('src/ by thread', () => {
  it('finds every import it checks: each names a file of src/', () => {
    expect(files.length).toBeGreaterThan(30);
    for (const edge of imports) expect(files, `${edge.from} imports ${edge.to}`).toContain(edge.to);
  });

  it('imports point down the list of layers only, types included', () => {
    const wrong = imports.filter((edge) => {
      const [from, to] = [layerOf(edge.from), layerOf(edge.to)];
      if (!(from in MAY_IMPORT)) return true;
      // The public entry names the worker's config types, and loads the worker side only when a worker asks.
      if (from === 'api' && to === 'worker' && (edge.typeOnly || edge.dynamic)) return false;
      return from !== to && !MAY_IMPORT[from]!.includes(to);
    });
    expect(wrong.map((edge) => `${edge.from} -> ${edge.to}`)).toEqual([]);
  });

  it('the main entry and the CLI load no worker-only module; the worker entry loads no main-thread-only module', () => {
    for (const entry of ['index.ts', 'cli/main.ts']) {
      const loaded = [...loadedBy(entry)];
      expect(loaded.filter((file) => file.startsWith('worker/'))).toEqual([]);
      // The walk does reach the main thread's side, so it is a real walk.
      expect(loaded).toContain('host/program/program.ts');
    }
    const worker = [...loadedBy('worker-entry.ts')];
    expect(worker.filter((file) => file.startsWith('host/') || file.startsWith('api/') || file.startsWith('cli/'))).toEqual([]);
    expect(worker).toContain('worker/thread-spawn.ts');
  });

  it('one job a file: no file of src/ holds more than 400 lines, and no class more than 330', () => {
    const long: string[] = [];
    for (const file of files) {
      const lines = readFileSync(join(src, file), 'utf8').split('\n');
      if (lines.length > 400) long.push(`${file}: ${lines.length} lines`);
      lines.forEach((line, i) => {
        const name = /^(?:export )?class (\w+)/.exec(line)?.[1];
        if (!name) return;
        const end = lines.findIndex((l, j) => j > i && l.startsWith('}'));
        if (end - i + 1 > 330) long.push(`${file}: class ${name}, ${end - i + 1} lines`);
      });
    }
    expect(long).toEqual([]);
  });
});
