import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildExample, EXAMPLES } from '../../examples/build.js';

describe('the shipped examples', () => {
  it('are exactly what their sources build to (npm run examples)', async () => {
    expect(EXAMPLES).toContain('split_sum.wat');
    for (const file of EXAMPLES) {
      const shipped = new Uint8Array(readFileSync(new URL(`../../examples/${file.replace(/\.wat$/, '.wasm')}`, import.meta.url)));
      expect(Buffer.from(await buildExample(file)).equals(Buffer.from(shipped)), file).toBe(true);
    }
  });
});
