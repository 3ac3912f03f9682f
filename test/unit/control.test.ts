import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { SharedControl } from '../../src/shared/control/control.js';
import {
  ControlWords,
  controlBufferBytes,
  HEADER_WORDS,
  Header,
  layoutFor,
  MAX_SLOTS,
  MAX_TID,
  SEAT_CONFIG_BYTES,
  SlotState,
} from '../../src/shared/control/layout.js';
import { SeatOrder } from '../../src/shared/control/main-seat.js';
import { SpinPolicy } from '../../src/shared/control/slot-mailbox.js';

describe('SharedControl idle stack', () => {
  it('declares the header words in order, each index once, filling the header', () => {
    expect(Object.values(Header)).toEqual(Array.from({ length: HEADER_WORDS }, (_, i) => i));
  });

  it('sizes the buffer as the header plus five words a slot, and refuses more slots than the stack can name', () => {
    expect(controlBufferBytes(layoutFor(5))).toBe((HEADER_WORDS + 5 * 5) * 4 + SEAT_CONFIG_BYTES);
    expect(() => layoutFor(MAX_SLOTS + 1)).toThrow(RangeError);
  });

  it('is empty at first and hands slots back last in, first out', () => {
    const control = SharedControl.create(4);
    expect(control.idle.claim()).toBe(-1);
    for (const slot of [2, 0, 3]) control.idle.release(slot);
    expect([control.idle.claim(), control.idle.claim(), control.idle.claim(), control.idle.claim()]).toEqual([3, 0, 2, -1]);
  });

  it('keeps working across many wrap-arounds of its tag', () => {
    const control = SharedControl.create(3);
    // Four operations a round: the 18-bit tag wraps about four times.
    let wrong = 0;
    for (let round = 0; round < 300_000; round++) {
      control.idle.release(round % 3);
      control.idle.release((round + 1) % 3);
      if (control.idle.claim() !== (round + 1) % 3) wrong++;
      if (control.idle.claim() !== round % 3) wrong++;
    }
    expect(wrong).toBe(0);
    expect(control.idle.claim()).toBe(-1);
  });

  it('gives the slot of the worker that returned last to the next spawn, at every pool size', () => {
    for (const size of [1, 4, 16, 64]) {
      const control = SharedControl.create(size);
      for (let slot = 0; slot < size; slot++) control.idle.release(slot);
      // A spawn+join loop: the same worker every time.
      for (let i = 0; i < 10; i++) {
        const slot = control.idle.claim();
        expect(slot).toBe(size - 1);
        control.idle.release(slot);
      }
    }
  });

  it('waits a grace period for a release, and no longer', async () => {
    const control = SharedControl.create(2);
    const started = performance.now();
    expect(control.idle.claimWithin(20)).toBe(-1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
    control.idle.release(1);
    expect(control.idle.claimWithin(20)).toBe(1);
  });

  it('assigns a thread to a slot and lets its worker take it', () => {
    const control = SharedControl.create(2);
    expect(control.slots.assign(1, 7, 0x1234, 514)).toBe(true);
    expect(control.slots.assignedTid(1)).toBe(7);
    // The memory size the spawner saw travels with the thread.
    expect(control.slots.assignedPages(1)).toBe(514);
    // Idle, not parked: no notify was needed.
    expect(control.load(Header.SpinHits)).toBe(1);
    expect(control.slots.awaitAssignment(1)).toBe(true);
    expect([control.slots.assignedTid(1), control.slots.assignedStartArg(1)]).toEqual([7, 0x1234]);
    expect(control.load(control.slots.stateWord(1))).toBe(SlotState.Running);
    control.slots.markIdle(1);
    expect(control.load(control.slots.stateWord(1))).toBe(SlotState.Idle);
  });

  it('counts up to a limit and never past it', () => {
    const control = SharedControl.create(1);
    const words = new ControlWords(new Int32Array(control.buffer));
    expect([1, 2, 3, 4].map(() => words.incrementBelow(Header.LiveThreads, 3))).toEqual([1, 2, 3, 0]);
    expect(control.load(Header.LiveThreads)).toBe(3);
    words.raiseTo(Header.PeakLiveThreads, 5);
    words.raiseTo(Header.PeakLiveThreads, 2);
    expect(control.load(Header.PeakLiveThreads)).toBe(5);
  });

  it('hands out tids from 1 and wraps after 0x1FFFFFFF', () => {
    const control = SharedControl.create(1);
    expect(control.threads.nextTid()).toBe(1);
    // The word is private to SharedControl; the test jumps it ahead on the raw buffer.
    Atomics.add(new Int32Array(control.buffer), Header.LastTid, MAX_TID - 2);
    expect([control.threads.nextTid(), control.threads.nextTid()]).toEqual([MAX_TID, 1]);
  });

  it('never loses a slot nor hands one out twice under concurrent claims and releases', async () => {
    const slots = 8;
    const control = SharedControl.create(slots);
    for (let slot = 0; slot < slots; slot++) control.idle.release(slot);
    // owners[s] is 1 while some worker holds slot s: a second claim of a held slot is a failure.
    const owners = new Int32Array(new SharedArrayBuffer(slots * 4));
    const workerSource = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.stackModule).then(({ SharedControl }) => {
        const control = new SharedControl(workerData.buffer, { slotCount: workerData.slots });
        const owners = workerData.owners;
        let claims = 0, doubleClaims = 0;
        for (let i = 0; i < workerData.rounds; i++) {
          const slot = control.idle.claim();
          if (slot < 0) continue;
          claims++;
          if (Atomics.compareExchange(owners, slot, 0, 1) !== 0) doubleClaims++;
          Atomics.store(owners, slot, 0);
          control.idle.release(slot);
        }
        parentPort.postMessage({ claims, doubleClaims });
      });`;
    const stackModule = new URL('../../dist/shared/control/control.js', import.meta.url).href;
    const results = await Promise.all(
      Array.from({ length: 4 }, () => {
        const worker = new Worker(workerSource, {
          eval: true,
          workerData: { stackModule, buffer: control.buffer, slots, owners, rounds: 50_000 },
        });
        return new Promise<{ claims: number; doubleClaims: number }>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        });
      }),
    );
    expect(results.reduce((sum, r) => sum + r.doubleClaims, 0)).toBe(0);
    // Four holders of at most one slot each never empty a stack of eight.
    expect(results.reduce((sum, r) => sum + r.claims, 0)).toBe(200_000);
    const remaining = new Set<number>();
    for (let slot = control.idle.claim(); slot >= 0; slot = control.idle.claim()) remaining.add(slot);
    expect([...remaining].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('runs every assignment exactly once while workers spin, park and are woken, under concurrent spawners', async () => {
    const slots = 4;
    const perSpawner = 20_000;
    const control = SharedControl.create(slots, slots, { cores: 2 });
    // ran[s]: assignments slot s's worker ran; done: 1 once the spawners finished.
    const ran = new Int32Array(new SharedArrayBuffer((slots + 1) * 4));
    const workerSource = `
      const { workerData, parentPort } = require('node:worker_threads');
      Promise.all([import(workerData.controlModule), import(workerData.mailboxModule)]).then(([{ SharedControl }, { SpinPolicy }]) => {
        const control = new SharedControl(workerData.buffer, { slotCount: workerData.slots });
        const { ran, role, slot } = workerData;
        if (role === 'worker') {
          const spin = new SpinPolicy();
          control.idle.release(slot);
          while (control.slots.awaitAssignment(slot, spin)) {
            Atomics.add(ran, slot, 1);
            control.slots.markIdle(slot);
            control.idle.release(slot);
          }
          parentPort.postMessage('left');
        } else {
          let assigned = 0;
          while (assigned < workerData.spawns) {
            const claimed = control.idle.claimWithin(1000);
            if (claimed >= 0 && control.slots.assign(claimed, 1, assigned)) assigned++;
          }
          parentPort.postMessage(assigned);
        }
      });`;
    const controlModule = new URL('../../dist/shared/control/control.js', import.meta.url).href;
    const mailboxModule = new URL('../../dist/shared/control/slot-mailbox.js', import.meta.url).href;
    const start = (workerData: object) => {
      const worker = new Worker(workerSource, { eval: true, workerData: { controlModule, mailboxModule, buffer: control.buffer, slots, ran, ...workerData } });
      return new Promise<unknown>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    };
    const workers = Array.from({ length: slots }, (_, slot) => start({ role: 'worker', slot }));
    const assigned = await Promise.all([start({ role: 'spawner', spawns: perSpawner }), start({ role: 'spawner', spawns: perSpawner })]);
    expect(assigned).toEqual([perSpawner, perSpawner]);
    // Every worker is idle again once its last thread ran: recall them all (spinning or parked).
    const total = () => Array.from({ length: slots }, (_, s) => Atomics.load(ran, s)).reduce((a, b) => a + b, 0);
    const deadline = Date.now() + 10_000;
    while (total() < 2 * perSpawner && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(total()).toBe(2 * perSpawner);
    control.markEnding();
    for (let recalled = 0; recalled < slots; ) {
      const slot = control.idle.claim();
      if (slot >= 0 && control.slots.recall(slot)) recalled++;
      else await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(await Promise.all(workers)).toEqual(Array(slots).fill('left'));
    // Some spawns found their worker spinning and some parked: both paths ran.
    expect(control.load(Header.SpinHits)).toBeGreaterThan(0);
    expect(control.load(Header.SpinHits)).toBeLessThanOrEqual(2 * perSpawner);
  }, 60_000);

  it('does not spin when new, spins after a quick hand-over, and backs off to nothing after slow ones', () => {
    const spin = new SpinPolicy();
    expect(spin.boundUs).toBe(0);
    spin.learn(30);
    expect(spin.boundUs).toBe(20);
    for (let i = 0; i < 6; i++) spin.learn(5000);
    expect(spin.boundUs).toBe(0);
    spin.learn(3);
    expect(spin.boundUs).toBe(20);
  });
});

describe('the control block: each protocol keeps to its words', () => {
  it('every header word is touched only by the protocol the layout names beside it, and nothing outside shared/control/ writes one', () => {
    const dir = new URL('../../src/shared/control/', import.meta.url);
    const layout = readFileSync(new URL('layout.ts', dir), 'utf8');
    // "/** threads: ..." above `State: 0,`: the owner of each word, as the layout declares it.
    const owners = new Map<string, string>();
    for (const m of layout.matchAll(/\/\*\*[\s*]*(threads|idle stack|slot mailbox|coordinator events|output credit|main seat)\b[\s\S]*?\*\/\s*(\w+):/g))
      owners.set(m[2]!, m[1]!);
    expect([...owners.keys()].sort()).toEqual(Object.keys(Header).sort());
    const files: Record<string, string> = {
      threads: 'threads.ts',
      'idle stack': 'idle-stack.ts',
      'slot mailbox': 'slot-mailbox.ts',
      'coordinator events': 'coordinator-events.ts',
      'output credit': 'output-credit.ts',
      'main seat': 'main-seat.ts',
    };
    const strays: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'layout.ts')) {
      const text = readFileSync(new URL(file, dir), 'utf8');
      for (const [, word] of text.matchAll(/Header\.(\w+)/g)) if (files[owners.get(word!)!] !== file) strays.push(`${file} touches ${word}`);
    }
    expect(strays).toEqual([]);
    // Elsewhere a word is only read (`control.load(Header.X)`, for stats and diagnostics).
    const src = fileURLToPath(new URL('../../src/', import.meta.url));
    const elsewhere = (readdirSync(src, { recursive: true }) as string[])
      .filter((file) => file.endsWith('.ts') && !file.startsWith('shared/control/'))
      .flatMap((file) =>
        readFileSync(join(src, file), 'utf8')
          .split('\n')
          .map((line) => `${file}: ${line}`),
      )
      .filter((line) => /Header\./.test(line) && !/\.load\(Header\.\w+\)/.test(line));
    expect(elsewhere).toEqual([]);
  });
});

describe('a control block passed from one run to the next', () => {
  it('rearm: the block serves the new run as a new one would (tids from 1, counters at 0, no main instance, running), and keeps its parked pool', () => {
    const control = SharedControl.create(4, 4, { run: 7 });
    const fresh = SharedControl.create(4, 4, { run: 8 });
    // Run 7: two pool workers park, a thread spawns, returns, writes output; the run ends.
    control.idle.poolWorkersStarting(2);
    control.idle.reserve(2);
    control.idle.poolWorkerReady(0);
    control.idle.poolWorkerReady(1);
    control.threads.markMainInstantiated();
    expect(control.threads.admit(0)).toBe(1);
    expect(control.threads.nextTid()).toBe(1);
    control.warmSpawned();
    control.output.reserve(10);
    control.threads.countOut();
    control.idle.rejoin(control.idle.claim());
    control.markEnding();
    expect(control.idle.atRest()).toBe(true);
    control.rearm(8);
    // Every per-run word reads as in a new block for run 8 (the counters the program's stats come from too).
    for (const word of [Header.State, Header.LastTid, Header.LiveThreads, Header.PeakLiveThreads, Header.WarmSpawns, Header.ColdSpawns, Header.FailedSpawns]) {
      expect(control.load(word), `word ${word}`).toBe(fresh.load(word));
    }
    for (const word of [
      Header.MainInstantiated,
      Header.OutputSeq,
      Header.OutputInFlight,
      Header.ClaimWatch,
      Header.LastThreadWatch,
      Header.SpinHits,
      Header.SpinMicros,
      Header.Run,
    ]) {
      expect(control.load(word), `word ${word}`).toBe(fresh.load(word));
    }
    expect(control.threads.currentRun()).toBe(8);
    expect(control.threads.running()).toBe(true);
    expect(control.threads.nextTid()).toBe(1);
    expect(control.output.reserve(1)).toBe(0);
    // The pool stays: its two workers are on the stack, their places taken.
    expect(control.idle.reserved()).toBe(2);
    expect([control.idle.claim(), control.idle.claim(), control.idle.claim()].sort()).toEqual([-1, 0, 1]);
  });

  it('is at rest only with no pool worker starting, none asked for, none on its way back and no spawn waiting', () => {
    const control = SharedControl.create(4);
    expect(control.idle.atRest()).toBe(true);
    control.idle.poolWorkersStarting(1);
    expect(control.idle.atRest()).toBe(false);
    control.idle.poolWorkerReady(0);
    expect(control.idle.atRest()).toBe(true);
    control.idle.threadReturning();
    expect(control.idle.atRest()).toBe(false);
    control.idle.threadReturned();
    control.idle.requestWorker();
    expect(control.idle.atRest()).toBe(false);
  });
});

describe('the main seat: a run handed to the main thread worker without a message', () => {
  it('delivers each Go with its own run config, and a later order replaces one not yet taken', () => {
    const control = SharedControl.create(2);
    const { seat } = control;
    const sent: unknown[] = [];
    expect(seat.go({ args: ['a', 'long argument'], env: { K: 'v' }, preopens: ['/d'] }, false, (c) => sent.push(c))).toBe(true);
    expect(seat.take()).toBe(SeatOrder.Go);
    expect(seat.config()).toEqual({ args: ['a', 'long argument'], env: { K: 'v' }, preopens: ['/d'] });
    // A shorter config after a longer one: nothing of the longer one is read.
    seat.go({ args: ['b'], env: {}, preopens: [] }, true, (c) => sent.push(c));
    expect(seat.take()).toBe(SeatOrder.GoReactor);
    expect(seat.config()).toEqual({ args: ['b'], env: {}, preopens: [] });
    expect(sent).toEqual([]);
    // Go replaces a Prepare the worker has not taken; Leave replaces anything.
    seat.prepare();
    seat.go({ args: [], env: {}, preopens: [] }, false, () => undefined);
    expect(seat.take()).toBe(SeatOrder.Go);
    seat.prepare();
    seat.leave();
    expect(seat.take()).toBe(SeatOrder.Leave);
    // A stale Leave does not reach the next run on the block.
    seat.leave();
    control.rearm(2);
    expect(control.load(Header.SeatOrder)).toBe(SeatOrder.None);
  });

  it('sends a config too large for its area through the inbox, and the worker reads none from the area', () => {
    const { seat } = SharedControl.create(2);
    const big = { args: ['x'.repeat(SEAT_CONFIG_BYTES)], env: {}, preopens: [] };
    const sent: unknown[] = [];
    // Multi-byte characters count as the bytes they take, not as characters.
    const wide = { args: ['é'.repeat(SEAT_CONFIG_BYTES / 2)], env: {}, preopens: [] };
    expect(seat.go(big, false, (c) => sent.push(c))).toBe(false);
    expect(seat.take()).toBe(SeatOrder.Go);
    expect(seat.config()).toBeUndefined();
    expect(seat.go(wide, false, (c) => sent.push(c))).toBe(false);
    expect(seat.config()).toBeUndefined();
    expect(sent).toEqual([big, wide]);
  });

  it('never loses an order given before the worker waits, and hands 2,000 runs back to back to a worker thread, each with its own config', async () => {
    const control = SharedControl.create(2);
    const workerSource = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.controlModule).then(({ SharedControl }) => {
        const control = new SharedControl(workerData.buffer, { slotCount: 2 });
        for (;;) {
          const order = control.seat.take();
          if (order === 4) break;
          parentPort.postMessage(order === 1 ? 'prepared' : control.seat.config().args[0]);
        }
        parentPort.postMessage('left');
      });`;
    const controlModule = new URL('../../dist/shared/control/control.js', import.meta.url).href;
    const worker = new Worker(workerSource, { eval: true, workerData: { controlModule, buffer: control.buffer } });
    const replies: string[] = [];
    let wake: (() => void) | undefined;
    worker.on('message', (m: string) => {
      replies.push(m);
      wake?.();
    });
    const reply = async () => {
      while (replies.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return replies.shift();
    };
    const got: string[] = [];
    for (let run = 0; run < 2000; run++) {
      // Every third run is started before its Prepare is taken: the Go replaces it.
      if (run % 3 !== 0) {
        control.seat.prepare();
        expect(await reply()).toBe('prepared');
      }
      control.seat.go({ args: [`run ${run}${'.'.repeat(run % 50)}`], env: {}, preopens: [] }, false, () => undefined);
      got.push((await reply())!);
    }
    control.seat.leave();
    expect(await reply()).toBe('left');
    await worker.terminate();
    expect(got).toEqual(Array.from({ length: 2000 }, (_, run) => `run ${run}${'.'.repeat(run % 50)}`));
  });
});
