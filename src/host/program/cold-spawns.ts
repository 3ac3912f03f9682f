/**
 * Cold spawns: a spawn that found no pool worker (with `poolSize: 0`, or at the runtime's cap on
 * workers) asks the coordinator for a worker of its own and blocks on its reply cell until the new
 * worker has instantiated and stored the tid there. The coordinator answers -EAGAIN when no
 * worker can be had. A spawn waits at most COLD_SLOT_WAIT_MS for a free slot, and at most
 * RECLAIM_WAIT_MS for a worker its program's source frees for it (a runtime's prepared run gives
 * its workers back: a running program's spawn comes first).
 */

import type { SlotMailbox } from '../../shared/control/slot-mailbox.js';
import { answerReply, type ReplyCell } from '../../shared/reply-cell.js';
import { Errno } from '../../wasi/constants.js';

/** How long a cold spawn that finds every slot held waits for a trimmed worker to free one. */
const COLD_SLOT_WAIT_MS = 50;
/** How long a cold spawn at the cap on workers waits for a worker its source frees for it. */
const RECLAIM_WAIT_MS = 1000;

/** What cold spawns need of their program: its free slots, and a worker started on one. */
export interface ColdSpawnOwner {
  takeFreeSlot(): number | undefined;
  giveBackSlot(slot: number): void;
  /** Starts a worker for the thread assigned to `slot`; false when the runtime is at its cap on workers. */
  startThreadWorker(slot: number, reply: ReplyCell): boolean;
  /** At the cap on workers: asks the source to free one (see `WorkerSource.reclaim`); whether one will come. */
  reclaimWorker(): boolean;
}

interface WaitingColdSpawn {
  tid: number;
  startArg: number;
  reply: ReplyCell;
  timer: NodeJS.Timeout;
  /** What it waits for: a free slot, or a worker its source frees. */
  awaits: 'slot' | 'worker';
}

export class ColdSpawns {
  private waiting: WaitingColdSpawn[] = [];

  constructor(
    private readonly slots: SlotMailbox,
    private readonly owner: ColdSpawnOwner,
  ) {}

  /** A worker's request: thread `tid` needs a worker of its own; `reply` gets its tid, or -EAGAIN. */
  serve(tid: number, startArg: number, reply: ReplyCell): void {
    const slot = this.owner.takeFreeSlot();
    if (slot !== undefined) {
      this.slots.assignToNewWorker(slot, tid, startArg);
      if (this.owner.startThreadWorker(slot, reply)) return;
      this.owner.giveBackSlot(slot);
      if (this.owner.reclaimWorker() || this.waitingFor('worker')) this.wait(tid, startArg, reply, 'worker', RECLAIM_WAIT_MS);
      else answerReply(reply, -Errno.AGAIN);
      return;
    }
    // Every slot is held, some by workers whose retirement is on its way here: wait a little for one.
    this.wait(tid, startArg, reply, 'slot', COLD_SLOT_WAIT_MS);
  }

  /** A slot came free: the oldest spawn waiting for a slot takes it. */
  slotFreed(): void {
    this.serveNext('slot');
  }

  /** A worker came free at the program's source: the oldest spawn waiting for one takes it. Whether one did. */
  workerFreed(): boolean {
    return this.serveNext('worker');
  }

  private waitingFor(awaits: 'slot' | 'worker'): boolean {
    return this.waiting.some((w) => w.awaits === awaits);
  }

  private wait(tid: number, startArg: number, reply: ReplyCell, awaits: 'slot' | 'worker', ms: number): void {
    const waiting: WaitingColdSpawn = { tid, startArg, reply, awaits, timer: setTimeout(() => this.refuse(waiting), ms) };
    this.waiting.push(waiting);
  }

  private serveNext(awaits: 'slot' | 'worker'): boolean {
    const index = this.waiting.findIndex((w) => w.awaits === awaits);
    if (index < 0) return false;
    const [waiting] = this.waiting.splice(index, 1);
    clearTimeout(waiting!.timer);
    this.serve(waiting!.tid, waiting!.startArg, waiting!.reply);
    return true;
  }

  /** The program ends: no spawn waits any more (its thread is ended with the program). */
  end(): void {
    for (const waiting of this.waiting) clearTimeout(waiting.timer);
    this.waiting = [];
  }

  private refuse(waiting: WaitingColdSpawn): void {
    this.waiting = this.waiting.filter((w) => w !== waiting);
    answerReply(waiting.reply, -Errno.AGAIN);
  }
}
