/**
 * Builds the shipped example programs (examples/*.wat -> examples/*.wasm) with the npm package wabt.
 * Usage: npm run examples. The test checks that each shipped .wasm is what its .wat builds to.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const here = dirname(fileURLToPath(import.meta.url));

/** The binary `file` (a .wat in examples/) builds to. */
export async function buildExample(file: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const features = { threads: true, bulk_memory: true };
  const module = wabt.parseWat(file, readFileSync(join(here, file), 'utf8'), features);
  try {
    (module.validate as (options: typeof features) => void)(features);
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

export const EXAMPLES = readdirSync(here).filter((f) => f.endsWith('.wat'));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const file of EXAMPLES) {
    writeFileSync(join(here, file.replace(/\.wat$/, '.wasm')), await buildExample(file));
    console.log(`wat  examples/${file}`);
  }
}
