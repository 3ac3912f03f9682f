import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { HEADER_WORDS, Header, MAX_TID, SharedControl, SlotState, controlBufferBytes, layoutFor } from '../src/ring.js';

describe('SharedControl ring', () => {
  it('declares the header words in order, each index once, filling the header', () => {
    expect(Object.values(Header)).toEqual(Array.from({ length: HEADER_WORDS }, (_, i) => i));
  });

  it('rounds the ring up to a power of two that holds every slot', () => {
    expect(layoutFor(1)).toEqual({ ringCapacity: 1, slotCount: 1 });
    expect(layoutFor(5)).toEqual({ ringCapacity: 8, slotCount: 5 });
    expect(layoutFor(64)).toEqual({ ringCapacity: 64, slotCount: 64 });
    expect(controlBufferBytes(layoutFor(5))).toBe((HEADER_WORDS + 8 * 2 + 5 * 4) * 4);
  });

  it('is empty at first and hands slots back in release order', () => {
    const control = SharedControl.create(4);
    expect(control.claimIdleSlot()).toBe(-1);
    for (const slot of [2, 0, 3]) control.releaseSlot(slot);
    expect([control.claimIdleSlot(), control.claimIdleSlot(), control.claimIdleSlot(), control.claimIdleSlot()]).toEqual([2, 0, 3, -1]);
  });

  it('keeps working across many wrap-arounds of its positions', () => {
    const control = SharedControl.create(3);
    for (let round = 0; round < 10_000; round++) {
      control.releaseSlot(round % 3);
      control.releaseSlot((round + 1) % 3);
      expect(control.claimIdleSlot()).toBe(round % 3);
      expect(control.claimIdleSlot()).toBe((round + 1) % 3);
    }
    expect(control.claimIdleSlot()).toBe(-1);
  });

  it('waits a grace period for a release, and no longer', async () => {
    const control = SharedControl.create(2);
    const started = performance.now();
    expect(control.claimIdleSlotWithin(20)).toBe(-1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
    control.releaseSlot(1);
    expect(control.claimIdleSlotWithin(20)).toBe(1);
  });

  it('assigns a thread to a slot and lets its worker take it', () => {
    const control = SharedControl.create(2);
    control.assign(1, 7, 0x1234);
    expect(control.assignedTid(1)).toBe(7);
    control.awaitAssignment(1);
    expect([control.assignedTid(1), control.assignedStartArg(1)]).toEqual([7, 0x1234]);
    expect(control.load(control.slotState(1))).toBe(SlotState.Running);
    control.markIdle(1);
    expect(control.load(control.slotState(1))).toBe(SlotState.Idle);
  });

  it('counts up to a limit and never past it', () => {
    const control = SharedControl.create(1);
    expect([1, 2, 3, 4].map(() => control.incrementBelow(Header.LiveThreads, 3))).toEqual([1, 2, 3, 0]);
    expect(control.load(Header.LiveThreads)).toBe(3);
    control.raiseTo(Header.PeakLiveThreads, 5);
    control.raiseTo(Header.PeakLiveThreads, 2);
    expect(control.load(Header.PeakLiveThreads)).toBe(5);
  });

  it('hands out tids from 1 and wraps after 0x1FFFFFFF', () => {
    const control = SharedControl.create(1);
    expect(control.nextTid()).toBe(1);
    control.words[Header.LastTid] = MAX_TID - 1;
    expect([control.nextTid(), control.nextTid()]).toEqual([MAX_TID, 1]);
  });

  it('never loses a slot nor hands one out twice under concurrent claims and releases', async () => {
    const slots = 8;
    const control = SharedControl.create(slots);
    for (let slot = 0; slot < slots; slot++) control.releaseSlot(slot);
    // owners[s] is 1 while some worker holds slot s: a second claim of a held slot is a failure.
    const owners = new Int32Array(new SharedArrayBuffer(slots * 4));
    const workerSource = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.ringModule).then(({ SharedControl, layoutFor }) => {
        const control = new SharedControl(workerData.buffer, layoutFor(workerData.slots));
        const owners = workerData.owners;
        let claims = 0, doubleClaims = 0;
        for (let i = 0; i < workerData.rounds; i++) {
          const slot = control.claimIdleSlot();
          if (slot < 0) continue;
          claims++;
          if (Atomics.compareExchange(owners, slot, 0, 1) !== 0) doubleClaims++;
          Atomics.store(owners, slot, 0);
          control.releaseSlot(slot);
        }
        parentPort.postMessage({ claims, doubleClaims });
      });`;
    const ringModule = new URL('../dist/ring.js', import.meta.url).href;
    const results = await Promise.all(
      Array.from({ length: 4 }, () => {
        const worker = new Worker(workerSource, {
          eval: true,
          workerData: { ringModule, buffer: control.buffer, slots, owners, rounds: 50_000 },
        });
        return new Promise<{ claims: number; doubleClaims: number }>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        });
      }),
    );
    expect(results.reduce((sum, r) => sum + r.doubleClaims, 0)).toBe(0);
    // Four holders of at most one slot each never empty a ring of eight.
    expect(results.reduce((sum, r) => sum + r.claims, 0)).toBe(200_000);
    const remaining = new Set<number>();
    for (let slot = control.claimIdleSlot(); slot >= 0; slot = control.claimIdleSlot()) remaining.add(slot);
    expect([...remaining].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
