/**
 * A program's workers and their slots, on the main JS thread: which worker runs what, the free
 * slots a new worker may take, and how each worker is let go when it leaves or the program ends.
 *
 * A slot is free (`freeSlots`) or held by exactly one worker; a worker gives its slot back only
 * once it can no longer touch it (it left the program, or it ended). Workers come from the
 * program's `WorkerSource` and go back to it: a runtime lends them again, a program of its own ends them.
 */
import type { WasiThreadsError } from '../../base/errors.js';
import type { SharedControl } from '../../shared/control/control.js';
import type { BootData, RunConfig, ThreadRole, WorkerMessage } from '../../shared/messages.js';
import type { ReplyCell } from '../../shared/reply-cell.js';
import { STUCK_WORKER_GRACE_MS, settledWithin, type WorkerEvents, type WorkerHandle, type WorkerSource } from '../worker-source.js';
import type { KeptPool } from './types.js';

/**
 * How long the end of a runtime's program waits for threads that are returning, rather than end
 * their workers: one deadline for the whole end, first for its pool to come to rest so that it can
 * pass on (`comeToRest` in pool-handover.ts), then for each worker it recalls (`releaseAll`). A
 * joined thread's worker counts itself out a few microseconds after its wasm returned (longer on a
 * loaded machine); a thread still in its wasm when the grace is over is ended with its worker.
 */
export const RETURN_GRACE_MS = 20;

export interface WorkerInfo {
  role: ThreadRole;
  slot: number;
  /** Part of the pool started with the program, which the wasm main thread waits for. */
  initialPool: boolean;
  /** Out of the program's wasm for good (its thread returned, trapped or exited): it leaves by itself. */
  leaving: boolean;
  /** Instantiated: its script did call initWasiWorker(). */
  ready: boolean;
  /** The main thread of a reactor between calls: it waits in its inbox, not in wasm. */
  inInbox: boolean;
  /** The main thread of a prepared run, instantiated: it waits on the main seat for `Go`, not in wasm. */
  onSeat?: boolean;
  /** The main thread of a prepared run whose entry returned: it waits on the main seat for its next order. */
  seated?: boolean;
  /**
   * A worker an earlier run left on the block (`KeptPool`), not booted for this run: a pool worker
   * (it asks for its config), or the main thread's (ordered to `Prepare` when the run starts).
   */
  kept?: boolean;
}

/** What the workers need of their program: each one's boot, and where its events go. */
export interface WorkersOwner {
  readonly namespace: string;
  readonly ended: boolean;
  bootFor(role: ThreadRole, slot: number, coldReply: ReplyCell | undefined): BootData;
  onMessage(handle: WorkerHandle, info: WorkerInfo, message: WorkerMessage): void;
  onWorkerError(info: WorkerInfo, error: Error): void;
  onWorkerExit(handle: WorkerHandle, info: WorkerInfo, exitCode: number): void;
  /** A worker could not be started for a reason that ends the program. */
  fail(error: WasiThreadsError): void;
  /** A slot came free. */
  slotFreed(): void;
}

/**
 * Recalls the pool worker of `slot` (waiting a moment for a thread that returns) and gives it back
 * to its source, or ends it if its thread still runs. Resolves once it can no longer touch the
 * program's memory or descriptors.
 */
export async function releasePoolWorker(
  control: SharedControl,
  slot: number,
  handle: WorkerHandle,
  reusesWorkers: boolean,
  ready = true,
  graceMs = RETURN_GRACE_MS,
): Promise<void> {
  // A worker of its own is ended anyway: no need to wait for its thread.
  const recalled = await control.slots.recallWithin(slot, reusesWorkers ? graceMs : 0);
  const back = handle.end(recalled);
  // A recalled pool worker waits in the library's code and never enters the program again
  // (see `SlotMailbox.recall`): a runtime's program need not wait for it to wake and say it is
  // back (0.5-3 ms of a 3 ms run on 2 vCPUs). Its source lends it again only then. Except one
  // that has not said it is ready: it may still be making its instance on the program's memory
  // (the module's start function and active data segments write into it), so the memory is not
  // passed on before it is back.
  if (!(recalled && reusesWorkers && ready)) await back;
}

export class ProgramWorkers {
  private readonly all = new Map<WorkerHandle, WorkerInfo>();
  private readonly freeSlots: number[];
  /** Every worker started for the program, the main thread's included. */
  created = 0;
  /** A worker of the pool `adopt` took had ended. */
  adoptFailed = false;
  /** Pool workers an earlier run left parked, which `adopt` took. */
  kept = 0;
  /** The wasm main thread's worker, once started. */
  main: { handle: WorkerHandle; info: WorkerInfo } | undefined;

  constructor(
    private readonly control: SharedControl,
    private readonly source: WorkerSource,
    private readonly run: number,
    private readonly owner: WorkersOwner,
  ) {
    const { slotCount } = control.layout;
    this.freeSlots = Array.from({ length: slotCount }, (_, i) => slotCount - 1 - i);
  }

  /** Workers alive (0 once the program has ended). */
  get size(): number {
    return this.all.size;
  }

  /** Every worker alive, with what it runs. */
  entries(): IterableIterator<[WorkerHandle, WorkerInfo]> {
    return this.all.entries();
  }

  /** Where the events of the worker of `info` go (`handle()`: its handle, once known). */
  private eventsFor(handle: () => WorkerHandle, info: WorkerInfo): WorkerEvents {
    return {
      message: (message) => this.owner.onMessage(handle(), info, message),
      error: (error) => this.owner.onWorkerError(info, error),
      exit: (exitCode) => this.owner.onWorkerExit(handle(), info, exitCode),
    };
  }

  /**
   * The workers of a pool an earlier run left parked join this program as they are, each on its
   * slot (they are on the idle stack already). If one of them has ended, `adoptFailed` is set: the
   * program cannot run (a spawn could be handed to it).
   */
  adopt(pool: KeptPool): void {
    for (const { handle: earlier, slot } of pool.workers) {
      const info: WorkerInfo = { role: 'thread', slot, initialPool: false, leaving: false, ready: true, inInbox: false, kept: true };
      this.freeSlots.splice(this.freeSlots.indexOf(slot), 1);
      this.kept++;
      this.take(earlier, info);
    }
    if (pool.main) {
      const info: WorkerInfo = { role: 'main', slot: -1, initialPool: false, leaving: false, ready: false, inInbox: false, kept: true };
      const handle = this.take(pool.main, info);
      if (handle) this.main = { handle, info };
    }
  }

  /** A worker an earlier run left joins this program (`adoptFailed` if it has ended). */
  private take(earlier: WorkerHandle, info: WorkerInfo): WorkerHandle | undefined {
    let handle: WorkerHandle | undefined;
    handle = this.source.transfer?.(
      earlier,
      this.run,
      this.eventsFor(() => handle!, info),
    );
    if (handle) this.all.set(handle, info);
    else this.adoptFailed = true;
    return handle;
  }

  /** At an end at rest: the main thread's worker, if it waits on the main seat, leaves this program as it is, for a later run. */
  detachSeatedMain(): WorkerHandle | undefined {
    const main = this.main;
    if (!main?.info.seated || !this.all.has(main.handle)) return undefined;
    main.handle.drain();
    this.all.delete(main.handle);
    return main.handle;
  }

  /**
   * At an end with no thread alive: the pool workers leave this program as they are, parked on
   * their slots, for a later run (`KeptPool`). Undefined, and nothing changed, unless every one of
   * them waits for a thread: then none is taken.
   */
  detachParkedPool(): KeptPool['workers'] | undefined {
    const pool: KeptPool['workers'] = [];
    for (const [handle, info] of this.all) {
      if (info.role !== 'thread') continue;
      if (!info.ready || info.leaving || !this.control.slots.waiting(info.slot)) return undefined;
      pool.push({ handle, slot: info.slot });
    }
    for (const { handle } of pool) {
      // What it wrote before its thread returned is this program's: taken now, never by a later run.
      handle.drain();
      this.all.delete(handle);
    }
    return pool;
  }

  /**
   * A prepared program starts: its config to the workers booted without one, and `Go` (or
   * `GoReactor`) to the main thread on its seat.
   */
  go(config: RunConfig, reactor: boolean): void {
    for (const [handle, info] of this.all) {
      if (info.role === 'thread') {
        // A kept pool worker asks for it if its thread needs it: sent to an idle one, it would wait unread.
        if (!info.kept) handle.send({ type: 'config', run: this.run, config });
      } else {
        this.control.seat.go(config, reactor, () => handle.send({ type: 'config', run: this.run, config }));
        // It leaves its seat for the program now. Still marked on it, a main thread stuck in the
        // program's wasm at the end (joining threads that trapped, or aborted) would be taken as
        // out of it, and waited for until LEAVE_GRACE_MS ended it: 0.5 s more for such a run.
        info.onSeat = false;
      }
    }
  }

  /** Starts a worker for `role` on `slot` (-1: the main thread); false when the host has none to give. */
  start(role: ThreadRole, slot: number, coldReply?: ReplyCell, initialPool = false): boolean {
    const boot = this.owner.bootFor(role, slot, coldReply);
    const info: WorkerInfo = { role, slot, initialPool, leaving: false, ready: false, inInbox: false };
    let handle: WorkerHandle;
    try {
      const started = this.source.start(
        boot,
        this.eventsFor(() => handle, info),
      );
      if (!started) return false;
      handle = started;
    } catch (error) {
      this.owner.fail(error as WasiThreadsError);
      return false;
    }
    this.created++;
    this.all.set(handle, info);
    if (role === 'main') this.main = { handle, info };
    return true;
  }

  /** Starts a pool worker on a free slot (counted as starting by the caller); false, and uncounted, if it could not. */
  startPoolWorker(initialPool: boolean): boolean {
    const slot = this.owner.ended ? undefined : this.freeSlots.pop();
    if (slot !== undefined) {
      if (this.start('thread', slot, undefined, initialPool)) return true;
      this.freeSlots.push(slot);
    }
    this.control.idle.poolWorkersFailed(1);
    return false;
  }

  /** Starts a worker for the thread a cold spawn assigned to `slot`. */
  startThreadWorker(slot: number, reply: ReplyCell): boolean {
    return this.start('thread', slot, reply);
  }

  /** At the cap on workers: asks the source to free one for a spawn of this running program. */
  reclaimWorker(): boolean {
    return this.source.reclaim?.() ?? false;
  }

  hasFreeSlot(): boolean {
    return this.freeSlots.length > 0;
  }

  takeFreeSlot(): number | undefined {
    return this.freeSlots.pop();
  }

  giveBackSlot(slot: number): void {
    this.freeSlots.push(slot);
  }

  /** The worker of the idle, recalled `slot` leaves the program. */
  retireIdle(slot: number): void {
    this.release(
      slot,
      [...this.all].find(([, info]) => info.role === 'thread' && info.slot === slot),
    );
  }

  /** A pool worker has left the program for good: it goes back to its source, and its slot is free again. */
  release(slot: number, worker: [WorkerHandle, WorkerInfo] | undefined): void {
    if (worker) {
      const [handle, info] = worker;
      info.leaving = true;
      this.all.delete(handle);
      void handle.end(true);
    }
    this.freeSlots.push(slot);
    this.owner.slotFreed();
  }

  /** A worker exited. */
  exited(handle: WorkerHandle): void {
    this.all.delete(handle);
  }

  /** Who a worker runs, in words, for errors. */
  describe(info: WorkerInfo): string {
    const { slots } = this.control;
    let who: string;
    if (info.role === 'main') who = 'the wasm main thread';
    else if (slots.running(info.slot)) who = `wasm thread ${slots.assignedTid(info.slot)}`;
    else who = `an idle pool worker (slot ${info.slot})`;
    return `${who} of "${this.owner.namespace}"`;
  }

  /**
   * At the program's end: every worker goes back to its source or is ended (see `releaseAtEnd`),
   * a returning thread's waited for up to `graceMs` (what is left of RETURN_GRACE_MS). Resolves
   * with the number it stopped waiting for after STUCK_WORKER_GRACE_MS: terminated, blocked in the
   * kernel, and maybe still holding the program's memory.
   */
  async releaseAll(graceMs = RETURN_GRACE_MS): Promise<number> {
    const handles = [...this.all.keys()];
    for (const handle of handles) handle.drain();
    const leftBehind = await settledWithin(
      handles.map((handle) => this.releaseAtEnd(handle, graceMs)),
      STUCK_WORKER_GRACE_MS,
    );
    for (const handle of handles) handle.drain();
    return leftBehind;
  }

  /**
   * Gives a worker that is out of the program's wasm back to its source (a runtime reuses it) and
   * ends any other. Resolves once the worker can touch neither the program's memory nor its descriptors.
   */
  private async releaseAtEnd(handle: WorkerHandle, graceMs: number): Promise<void> {
    const info = this.all.get(handle)!;
    if (info.role === 'thread' && !info.leaving) return releasePoolWorker(this.control, info.slot, handle, this.source.reusesWorkers, info.ready, graceMs);
    // Out for good (its wasm returned, trapped or exited: its source still waits for it to be back
    // in its loop, since a program may catch the proc_exit unwinding), or a main worker on its
    // seat or in its inbox. The main thread is ordered to leave its seat: a prepared run's may be
    // there, or on its way (the order waits for it); any other never looks at it.
    let out = info.leaving || info.onSeat === true;
    if (info.role === 'main') this.control.seat.leave();
    if (!out && info.inInbox) {
      handle.send({ type: 'end', run: this.run });
      out = true;
    }
    await handle.end(out);
  }
}
