import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ByteCollector } from '../../src/host/runtime/byte-collector.js';

describe('a capture of many writes', () => {
  it('gives back every byte in order, across blocks, for writes from 0 bytes to several blocks long', () => {
    const collector = new ByteCollector();
    const writes: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const size = i % 50 === 0 ? 150_000 + i : i % 7 === 0 ? 0 : (i * 37) % 3000;
      const bytes = randomBytes(size);
      writes.push(Buffer.from(bytes));
      collector.add(bytes);
      // The collector copied them: the writer may reuse its buffer at once.
      bytes.fill(0);
    }
    const expected = Buffer.concat(writes);
    expect(collector.length).toBe(expected.length);
    expect(collector.bytes().equals(expected)).toBe(true);
    expect(new ByteCollector().bytes().length).toBe(0);
  });

  it('gives back a short capture, in its small first block, and one that outgrows it', () => {
    const short = new ByteCollector();
    short.add(Buffer.from('12345678'));
    expect(short.bytes().toString()).toBe('12345678');
    const longer = new ByteCollector();
    const parts = [randomBytes(3999), randomBytes(2), randomBytes(70_000), randomBytes(1)];
    for (const part of parts) longer.add(part);
    expect(longer.bytes().equals(Buffer.concat(parts))).toBe(true);
  });
});
