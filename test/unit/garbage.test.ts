import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  COLLECT_AFTER_DROPS,
  CollectRequester,
  createCollectEpoch,
  MAJOR_GC_EVERY,
  OLD_GROWTH_BEFORE_GC,
  oldGenerationBytes,
  RESETS_PER_PROGRAM,
  WorkerCollector,
} from '../../src/shared/garbage.js';

const own = globalThis as { gc?: () => void };
const real = own.gc;

/**
 * A collector whose gc() only counts (it collects nothing, so what the test holds stays resident),
 * and whose old generation is `old.bytes`, which the test sets.
 */
function counted(epoch = createCollectEpoch()): { collector: WorkerCollector; calls: () => number; epoch: SharedArrayBuffer; old: { bytes: number } } {
  let calls = 0;
  own.gc = () => {
    calls++;
  };
  const old = { bytes: 4 << 20 };
  return { collector: new WorkerCollector(epoch, () => old.bytes), calls: () => calls, epoch, old };
}

afterEach(() => {
  own.gc = real;
});

describe("a runtime worker's collections", () => {
  it(`run a full collection every ${MAJOR_GC_EVERY} programs`, () => {
    const { collector, calls } = counted();
    for (let i = 1; i < MAJOR_GC_EVERY; i++) collector.afterProgram();
    expect(calls()).toBe(0);
    collector.afterProgram();
    expect(calls()).toBe(1);
    for (let i = 1; i < MAJOR_GC_EVERY; i++) collector.afterProgram();
    expect(calls()).toBe(1);
    collector.afterProgram();
    expect(calls()).toBe(2);
  });

  it(`count ${RESETS_PER_PROGRAM} runs whose instance was reset as one program`, () => {
    const { collector, calls } = counted();
    for (let i = 1; i < MAJOR_GC_EVERY * RESETS_PER_PROGRAM; i++) collector.afterProgram(true);
    expect(calls()).toBe(0);
    collector.afterProgram(true);
    expect(calls()).toBe(1);
    // Mixed: half the programs' worth in resets, then the other half in new instances.
    for (let i = 0; i < (MAJOR_GC_EVERY / 2) * RESETS_PER_PROGRAM; i++) collector.afterProgram(true);
    for (let i = 1; i < MAJOR_GC_EVERY / 2; i++) collector.afterProgram();
    expect(calls()).toBe(1);
    collector.afterProgram();
    expect(calls()).toBe(2);
  });

  it(`run one as soon as the old generation grew by more than ${OLD_GROWTH_BEFORE_GC} bytes since the last, and measure again after it`, () => {
    const { collector, calls, old } = counted();
    old.bytes += OLD_GROWTH_BEFORE_GC;
    collector.afterProgram(true);
    expect(calls()).toBe(0);
    old.bytes += 1;
    collector.afterProgram(true);
    expect(calls()).toBe(1);
    // The size after that collection is the new base: as large, no second one.
    collector.afterProgram(true);
    expect(calls()).toBe(1);
    old.bytes += OLD_GROWTH_BEFORE_GC + 1;
    collector.afterProgram();
    expect(calls()).toBe(2);
  });

  it("read the thread's old generation, which holds what survives a collection", () => {
    setFlagsFromString('--expose-gc');
    const fullGc = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
    fullGc();
    const before = oldGenerationBytes();
    const held = Array.from({ length: 20_000 }, (_, i) => ({ i, text: `entry ${i}` }));
    // A full collection moves what survives out of the young generation.
    fullGc();
    expect(oldGenerationBytes() - before).toBeGreaterThan(held.length * 16);
    expect(held.length).toBe(20_000);
  });

  it('run one after the next program, once, when the runtime moved the epoch', () => {
    const { collector, calls, epoch } = counted();
    const requester = new CollectRequester(epoch, () => undefined);
    for (let i = 1; i < COLLECT_AFTER_DROPS; i++) requester.dropped();
    collector.afterProgram();
    expect(calls()).toBe(0);
    requester.dropped(); // the last memory of the count let go: the epoch moves
    collector.afterProgram();
    expect(calls()).toBe(1);
    collector.afterProgram();
    expect(calls()).toBe(1);
  });
});
