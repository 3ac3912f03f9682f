// The shared descriptor table: its reference counting is what keeps a host fd from being closed
// (and its number reused) while any call uses it. Hammered from 4 workers at once.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { type FdEntry, FdTable, MAX_FDS, type Released } from '../../src/wasi/fd-table.js';

const entry = (hostFd: number): FdEntry => ({ hostFd, filetype: 4, fdflags: 0, preopen: -1, tty: false, owned: true, rightsBase: 0b110, rightsInheriting: 0 });

describe('FdTable', () => {
  it('gives the lowest free fd from 3, and EBADF for what is not open', () => {
    const closed: Released[] = [];
    const table = FdTable.create((r) => closed.push(r));
    expect([table.open(entry(100)), table.open(entry(101)), table.open(entry(102))]).toEqual([3, 4, 5]);
    expect(table.close(4)).toBe(true);
    expect(table.close(4)).toBe(false);
    expect(table.acquire(4)).toBeUndefined();
    expect(table.acquire(-1)).toBeUndefined();
    expect(table.acquire(MAX_FDS)).toBeUndefined();
    expect(table.open(entry(103))).toBe(4);
    expect(closed).toEqual([{ hostFd: 101, owned: true }]);
  });

  it('closes a host fd only when the last call using it is done', () => {
    const closed: number[] = [];
    const table = FdTable.create((r) => closed.push(r.hostFd));
    const fd = table.open(entry(200));
    const first = table.acquire(fd)!;
    const second = table.acquire(fd)!;
    expect(table.close(fd)).toBe(true);
    expect(table.acquire(fd)).toBeUndefined(); // no new call gets it
    expect(table.isClosing(first.index)).toBe(true);
    table.release(first.index);
    expect(closed).toEqual([]); // still in use by the second call
    table.release(second.index);
    expect(closed).toEqual([200]);
  });

  it('renumbers onto an open fd, closing what that fd held, and leaves calls in flight alone', () => {
    const closed: number[] = [];
    const table = FdTable.create((r) => closed.push(r.hostFd));
    const [a, b] = [table.open(entry(300)), table.open(entry(301))];
    const inFlight = table.acquire(a)!;
    expect(table.renumber(a, b)).toBe(true);
    expect(closed).toEqual([301]);
    expect(table.acquire(a)).toBeUndefined();
    const moved = table.acquire(b)!;
    expect(moved.hostFd).toBe(300);
    expect(moved.index).toBe(inFlight.index); // the same open file description, under a new number
    expect(moved.rightsBase).toBe(0b110);
    // Rights only narrow: a right it lacks cannot be had; dropping one sticks.
    expect(table.narrowRights(moved, 0b111, 0)).toBe(false);
    expect(table.narrowRights(moved, 0b010, 0)).toBe(true);
    expect(table.acquire(b)!.rightsBase).toBe(0b010);
    table.release(moved.index);
    table.release(moved.index);
    table.release(inFlight.index);
    expect(table.renumber(a, b)).toBe(false); // a is no longer open
    expect(table.renumber(b, b)).toBe(true);
    expect(closed).toEqual([301]);
  });

  it('never lets a call use a host fd after it was handed back for closing, under 4 threads opening, using, renumbering and closing at once', async () => {
    // Host fds are fake numbers 1..N; `closedFlags[n]` is set when the table hands n back. A call
    // that finds the flag set while it holds a reference has used a closed host fd.
    const hostFds = 1 << 19; // more than the opens the workers make (about 200,000)
    const table = FdTable.create(() => undefined);
    const shared = {
      table: table.buffer,
      closedFlags: new Int32Array(new SharedArrayBuffer(hostFds * 4)),
      nextHostFd: new Int32Array(new SharedArrayBuffer(4)),
    };
    const workerSource = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.tableModule).then(({ FdTable }) => {
        const { closedFlags, nextHostFd } = workerData;
        let doubleCloses = 0, usesAfterClose = 0, uses = 0;
        const table = new FdTable(workerData.table, ({ hostFd }) => {
          if (Atomics.exchange(closedFlags, hostFd, 1) !== 0) doubleCloses++;
        });
        let seed = workerData.seed;
        const random = (n) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
        for (let i = 0; i < workerData.rounds; i++) {
          const fd = 3 + random(24);
          switch (random(6)) {
            case 0: {
              const hostFd = Atomics.add(nextHostFd, 0, 1) + 1;
              if (table.open({ hostFd, filetype: 4, fdflags: 0, preopen: -1, tty: false, owned: true, rightsBase: 6, rightsInheriting: 0 }, 3) < 0) Atomics.store(closedFlags, hostFd, 1);
              break;
            }
            case 1: table.close(fd); break;
            case 2: table.renumber(fd, 3 + random(24)); break;
            default: {
              const handle = table.acquire(fd);
              if (!handle) break;
              uses++;
              if (Atomics.load(closedFlags, handle.hostFd) !== 0) usesAfterClose++;
              for (let spin = random(50); spin > 0; spin--);
              if (Atomics.load(closedFlags, handle.hostFd) !== 0) usesAfterClose++;
              table.release(handle.index);
            }
          }
        }
        parentPort.postMessage({ doubleCloses, usesAfterClose, uses });
      });`;
    const tableModule = new URL('../../dist/wasi/fd-table.js', import.meta.url).href;
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => {
        const worker = new Worker(workerSource, { eval: true, workerData: { ...shared, tableModule, seed: 17 + i, rounds: 300_000 } });
        return new Promise<{ doubleCloses: number; usesAfterClose: number; uses: number }>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        });
      }),
    );
    expect(results.reduce((sum, r) => sum + r.usesAfterClose, 0)).toBe(0);
    expect(results.reduce((sum, r) => sum + r.doubleCloses, 0)).toBe(0);
    // The test did contend: many calls used descriptors other threads were closing and renumbering.
    expect(results.reduce((sum, r) => sum + r.uses, 0)).toBeGreaterThan(50_000);

    // Every host fd handed out is, once the rest are closed, handed back exactly once.
    const finalTable = new FdTable(table.buffer, ({ hostFd }) => {
      expect(Atomics.exchange(shared.closedFlags, hostFd, 1)).toBe(0);
    });
    for (let fd = 0; fd < MAX_FDS; fd++) finalTable.close(fd);
    const handedOut = Atomics.load(shared.nextHostFd, 0);
    for (let hostFd = 1; hostFd <= handedOut; hostFd++) expect(shared.closedFlags[hostFd], `host fd ${hostFd}`).toBe(1);
  });
});
