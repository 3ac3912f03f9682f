/**
 * The `wasi.thread-spawn` import. It runs inside whichever worker's wasm calls it (threads spawn
 * threads), so the warm path touches only the shared control block: no postMessage, no promise.
 */
import { Header, ProgramState, type SharedControl } from './ring.js';

/** wasi-libc turns any negative result into EAGAIN; this is its errno value. */
export const EAGAIN = 6;

/** Asks the coordinator for a new worker and blocks until it runs `tid` (or returns a negative errno). */
export type ColdSpawn = (tid: number, startArg: number) => number;

export function createThreadSpawn(control: SharedControl, maxThreads: number, coldSpawn: ColdSpawn): (startArg: number) => number {
  return function threadSpawn(startArg: number): number {
    if (control.load(Header.State) !== ProgramState.Running || !control.incrementBelow(Header.LiveThreads, maxThreads)) {
      control.add(Header.FailedSpawns, 1);
      return -EAGAIN;
    }
    control.raiseTo(Header.PeakLiveThreads, control.load(Header.LiveThreads));
    const tid = control.nextTid();
    const slot = control.claimIdleSlot();
    if (slot >= 0) {
      control.assign(slot, tid, startArg);
      control.add(Header.PoolReserved, -1);
      control.add(Header.WarmSpawns, 1);
      control.signalCoordinator(); // the pool shrank: let the coordinator decide on a refill
      return tid;
    }
    const result = coldSpawn(tid, startArg);
    if (result < 0) {
      control.add(Header.LiveThreads, -1);
      control.add(Header.FailedSpawns, 1);
    } else {
      control.add(Header.ColdSpawns, 1);
    }
    return result;
  };
}

/** The cold path as seen from a worker: one message to the coordinator, then a blocking wait on a private word. */
export function coldSpawnVia(post: (message: { type: 'cold-spawn'; tid: number; startArg: number; reply: Int32Array }) => void): ColdSpawn {
  return (tid, startArg) => {
    const reply = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
    post({ type: 'cold-spawn', tid, startArg, reply });
    // 0 means pending: tids are positive and failures negative.
    while (Atomics.load(reply, 0) === 0) Atomics.wait(reply, 0, 0);
    return Atomics.load(reply, 0);
  };
}
