/**
 * A reactor's calls: `_initialize` once, then calls of its exports on the main thread's instance.
 * Each call is a message to the main thread's worker (which waits in its inbox between calls) and
 * its answer a message back; the answer settles the call's promise. When the program ends, every
 * call still pending rejects with the program's end.
 */
import type { WorkerHandle } from '../worker-source.js';

/** How long `call` polls for a short call's answer before it leaves it to the event loop. */
const CALL_SPIN_MS = 0.1;

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** The main thread's worker, and whether it waits in its inbox (not in wasm). */
export interface ReactorMain {
  handle: WorkerHandle;
  info: { inInbox: boolean };
}

export class ReactorCalls {
  private nextId = 1;
  /** How long the last call took (see `call`). */
  private lastCallMs = 0;
  private readonly pending = new Map<number, PendingCall>();
  /** Settles once the reactor ran `_initialize`. */
  private initialized: PendingCall | undefined;

  /** `ended`: the error that ended the program, once it has ended. */
  constructor(
    private readonly run: number,
    private readonly main: () => ReactorMain,
    private readonly ended: () => Error | undefined,
  ) {}

  /** Resolves once `_initialize` has run (rejects if the program ended first). */
  whenInitialized(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const error = this.ended();
      if (error) return reject(error);
      this.initialized = { resolve: () => resolve(), reject };
    });
  }

  /**
   * Calls an export on the main thread's instance; resolves with what it returned. While the last
   * call came back within CALL_SPIN_MS, this one is awaited by polling the worker's outbox for that
   * long first: a short call then costs two thread wake-ups, not an event-loop turn.
   */
  call(name: string, args: unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const error = this.ended();
      if (error) return reject(error);
      const id = this.nextId++;
      const sentAt = performance.now();
      this.pending.set(id, {
        resolve: (value) => {
          this.lastCallMs = performance.now() - sentAt;
          resolve(value);
        },
        reject,
      });
      const { handle, info } = this.main();
      info.inInbox = false;
      handle.send({ type: 'call', run: this.run, id, name, args });
      // A call that took longer stops the polling; every 16th call polls again, to notice short calls.
      if (this.lastCallMs > CALL_SPIN_MS && id % 16 !== 0) return;
      while (this.pending.has(id) && performance.now() - sentAt < CALL_SPIN_MS) handle.drain();
      if (this.pending.has(id)) this.lastCallMs = Infinity;
    });
  }

  /** The worker ran `_initialize`. */
  onInitialized(): void {
    this.initialized?.resolve(undefined);
    this.initialized = undefined;
  }

  /** The worker answered call `id`. */
  onCallDone(id: number, value: unknown): void {
    this.pending.get(id)?.resolve(value);
    this.pending.delete(id);
  }

  /** The program ended: rejects every call waiting, and the wait for `_initialize`, with `errorOf()` (made only if one waits: capturing its stack costs). */
  rejectAll(errorOf: () => Error): void {
    if (!this.initialized && this.pending.size === 0) return;
    const error = errorOf();
    this.initialized?.reject(error);
    this.initialized = undefined;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
  }
}
