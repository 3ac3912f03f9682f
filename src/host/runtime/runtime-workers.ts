/**
 * A runtime's workers: library workers that run one program after another. Each is either free
 * (back in its loop, holding nothing of any program), lent to one program, or on its way back.
 *
 * The protocol with a worker (the worker's side is `serveRuntime` in worker/runtime-loop.ts):
 * - coordinator -> worker: messages on its inbox (shared/inbox.ts: a port plus a doorbell word), since
 *   the worker is blocked, never in its event loop;
 * - worker -> coordinator: messages on its outbox port, which the program can also drain
 *   synchronously (`receiveMessageOnPort`) so that output written before the end is never lost;
 * - the worker says `free` (with the number of the program it left) each time it is back in its
 *   loop. A worker is lent again only after that: a program that has ended can never share a
 *   worker, a descriptor table or a host fd with the next one.
 * - A worker that may still be in a program's wasm when the program ends is terminated, not
 *   reused, and a new one takes its place when one is needed.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, type Worker } from 'node:worker_threads';
import type { ResolvedConfig } from '../../base/options.js';
import { LIBRARY_WORKER } from '../../base/options.js';
import { CollectRequester, createCollectEpoch, exposeGc, RUNTIME_WORKER_LIMITS } from '../../shared/garbage.js';
import { createDoorbell, InboxSender } from '../../shared/inbox.js';
import { type BootData, type InboxMessage, RUNTIME_KEY, type RuntimeWorkerData, type WorkerMessage } from '../../shared/messages.js';
import { endWorker, newWorker, STUCK_WORKER_GRACE_MS, settledWithin, type WorkerEvents, type WorkerHandle, type WorkerSource } from '../worker-source.js';

/**
 * How long a worker that left a program's wasm (its thread returned, trapped or called proc_exit)
 * has to be back in its loop before it is terminated. It runs only the library's code by then, so
 * this is a bound for a program that catches the proc_exit unwinding and runs on.
 */
export const LEAVE_GRACE_MS = 500;

/**
 * A worker that has served this many programs is ended when it comes back, and a new one takes its
 * place when one is needed: a bound on what any isolate may accumulate. It was 400, for RSS that
 * grew ~4-8 KB a program in a worker that was never fully collected (on Node 20 its "major"
 * collections were not: see garbage.ts). With full collections, 10,000 runs (poolSize 0) gave the
 * same RSS whether workers were replaced every 400 programs or never (Node 20: 131 MB both; Node
 * 24: 218 and 204 MB), so they now serve longer and the runtime starts fewer (~50 ms of CPU each).
 */
const PROGRAMS_PER_WORKER = 5000;

export interface RuntimeWorkerStats {
  /** Workers started by the runtime since it was created. */
  workersCreated: number;
  /** Times a free worker was lent to a program instead of a new one being started. */
  workersReused: number;
  /** Workers alive now, free or lent. */
  liveWorkers: number;
  /** Workers free now. */
  idleWorkers: number;
  /**
   * Workers an ended program gave back that are not back in their loop yet: out of its wasm for
   * good (recalled, or their thread ended), free in a moment or ended after LEAVE_GRACE_MS.
   */
  returningWorkers: number;
}

type State = 'starting' | 'free' | 'lent' | 'returning' | 'ending';

class RuntimeWorker {
  state: State = 'starting';
  /** It said `free` once: its loop runs. */
  started = false;
  /** Programs it was lent to. */
  served = 0;
  /** The program it is lent to (its number), and where that program hears from it. */
  run = 0;
  /** The program it was booted for: it says `free` with that number (it may have passed to later runs since, see `transfer`). */
  bootRun = 0;
  events: WorkerEvents | undefined;
  back: (() => void) | undefined;
  backTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly worker: Worker,
    readonly inbox: InboxSender,
    readonly outbox: MessagePort,
  ) {}

  send(message: InboxMessage): void {
    this.inbox.send(message);
  }
}

export class RuntimeWorkers implements WorkerSource {
  readonly reusesWorkers = true;
  private readonly all = new Set<RuntimeWorker>();
  private readonly byHandle = new WeakMap<WorkerHandle, RuntimeWorker>();
  private free: RuntimeWorker[] = [];
  private created = 0;
  private reused = 0;
  private referenced = true;
  private closed = false;
  /**
   * Asks for collections once enough memories were let go (garbage.ts). A worker's gc() is safe
   * to have: a program's wasm cannot reach a JS global.
   */
  private readonly epoch = createCollectEpoch();
  readonly collector = new CollectRequester(this.epoch, () => {
    for (const worker of this.free) worker.send({ type: 'collect' });
  });

  /**
   * `onFree` is called whenever a worker became free (the runtime may prepare a run with it).
   * At most `maxWorkers` are alive at once; at most `maxIdle` stay alive free. `reclaim` frees
   * workers for a running program's spawn (see `WorkerSource.reclaim`).
   */
  constructor(
    private readonly config: ResolvedConfig,
    private readonly maxWorkers: number,
    private readonly maxIdle: () => number,
    private readonly onFree: () => void,
    readonly reclaim: () => boolean = () => false,
  ) {}

  stats(): RuntimeWorkerStats {
    return {
      workersCreated: this.created,
      workersReused: this.reused,
      liveWorkers: this.all.size,
      idleWorkers: this.free.length,
      returningWorkers: this.returning,
    };
  }

  /** Workers that can be lent now or started: how many the runtime may still use. */
  get available(): number {
    return this.free.length + this.maxWorkers - this.all.size;
  }

  /** Workers free now. */
  get idle(): number {
    return this.free.length;
  }

  /** Workers an ended program gave back that are not in their loop yet: free in a moment. */
  get returning(): number {
    let n = 0;
    for (const worker of this.all) if (worker.state === 'returning') n++;
    return n;
  }

  workersComingBack(): boolean {
    return this.free.length === 0 && this.returning > 0;
  }

  start(boot: BootData, events: WorkerEvents): WorkerHandle | undefined {
    if (this.closed) return undefined;
    let worker = this.free.pop();
    if (worker) this.reused++;
    else if (this.all.size < this.maxWorkers) worker = this.spawn();
    else return undefined;
    worker.state = 'lent';
    worker.served++;
    worker.run = boot.run;
    worker.bootRun = boot.run;
    worker.events = events;
    worker.send({ type: 'boot', boot });
    return this.handleFor(worker, boot.run);
  }

  transfer(handle: WorkerHandle, run: number, events: WorkerEvents): WorkerHandle | undefined {
    const worker = this.byHandle.get(handle);
    if (worker?.state !== 'lent' || run < worker.run) return undefined;
    if (run > worker.run) worker.served++;
    worker.run = run;
    worker.events = events;
    return this.handleFor(worker, run);
  }

  /** The handle of `worker` as lent to run `run`: spent once the worker is free again or passed to another run. */
  private handleFor(worker: RuntimeWorker, run: number): WorkerHandle {
    const mine = () => worker.run === run && worker.state !== 'free';
    const handle: WorkerHandle = {
      send: (message) => {
        if (mine()) worker.send(message);
      },
      end: (out) => (mine() ? this.takeBack(worker, out) : Promise.resolve()),
      drain: () => {
        if (!mine()) return;
        for (let received = receiveMessageOnPort(worker.outbox); received; received = receiveMessageOnPort(worker.outbox)) {
          this.onMessage(worker, received.message as WorkerMessage);
        }
      },
    };
    this.byHandle.set(handle, worker);
    return handle;
  }

  /** Whether the workers keep the process alive: only while the runtime has work. */
  setReferenced(referenced: boolean): void {
    if (referenced === this.referenced) return;
    this.referenced = referenced;
    for (const worker of this.all) this.reference(worker);
  }

  private reference(worker: RuntimeWorker): void {
    if (this.referenced) {
      worker.worker.ref();
      worker.outbox.ref();
    } else {
      worker.worker.unref();
      worker.outbox.unref();
    }
  }

  /** Ends every worker. */
  async close(): Promise<void> {
    this.closed = true;
    this.free = [];
    await settledWithin(
      [...this.all].map((worker) => this.terminate(worker)),
      STUCK_WORKER_GRACE_MS,
    );
  }

  private spawn(): RuntimeWorker {
    exposeGc(+1);
    const inbox = new MessageChannel();
    const outbox = new MessageChannel();
    const doorbell = createDoorbell();
    const data: RuntimeWorkerData = { inbox: { port: inbox.port2, doorbell }, outbox: outbox.port2, collectEpoch: this.epoch };
    const worker = new RuntimeWorker(
      newWorker(
        LIBRARY_WORKER,
        this.config,
        { [RUNTIME_KEY]: data },
        {
          transferList: [inbox.port2, outbox.port2],
          pipeConsole: false,
          defaultLimits: RUNTIME_WORKER_LIMITS,
        },
      ),
      new InboxSender(inbox.port1, doorbell),
      outbox.port1,
    );
    this.created++;
    this.all.add(worker);
    // Listening refs a port: reference (or not) only after.
    worker.outbox.on('message', (message: WorkerMessage) => this.onMessage(worker, message));
    worker.inbox.unref();
    this.reference(worker);
    worker.worker.on('error', (error) => {
      if (worker.state === 'lent') worker.events?.error(error);
    });
    worker.worker.on('exit', (exitCode) => this.onExit(worker, exitCode));
    return worker;
  }

  private onMessage(worker: RuntimeWorker, message: WorkerMessage): void {
    if (message.type !== 'free') {
      if (worker.state === 'lent' || worker.state === 'returning') worker.events?.message(message);
      return;
    }
    if (!worker.started) {
      // Its first `free`: its isolate exists (and has taken its gc()).
      worker.started = true;
      exposeGc(-1);
    }
    // A `free` for an earlier lending (or the first one, of a worker started to be lent at once) is stale.
    if (message.after !== worker.bootRun || worker.state === 'ending') return;
    clearTimeout(worker.backTimer);
    worker.events = undefined;
    const back = worker.back;
    worker.back = undefined;
    if (this.closed || this.free.length >= this.maxIdle() || worker.served >= PROGRAMS_PER_WORKER) {
      // It is out of the program already (it said so): the program need not wait for its end.
      back?.();
      void this.terminate(worker);
      return;
    }
    worker.state = 'free';
    this.free.push(worker);
    back?.();
    this.onFree();
  }

  private takeBack(worker: RuntimeWorker, out: boolean): Promise<void> {
    if (!out || this.closed || worker.state === 'ending') return this.terminate(worker);
    if (worker.state === 'returning') return new Promise((resolve) => this.whenBack(worker, resolve));
    worker.state = 'returning';
    return new Promise((resolve) => {
      this.whenBack(worker, resolve);
      worker.backTimer = setTimeout(() => void this.terminate(worker).then(() => worker.back?.()), LEAVE_GRACE_MS);
    });
  }

  private whenBack(worker: RuntimeWorker, resolve: () => void): void {
    const earlier = worker.back;
    worker.back = () => {
      earlier?.();
      resolve();
    };
  }

  private async terminate(worker: RuntimeWorker): Promise<void> {
    clearTimeout(worker.backTimer);
    worker.state = 'ending';
    this.free = this.free.filter((w) => w !== worker);
    await endWorker(worker.worker);
  }

  private onExit(worker: RuntimeWorker, exitCode: number): void {
    const { state, events } = worker;
    if (!worker.started) exposeGc(-1);
    this.all.delete(worker);
    this.free = this.free.filter((w) => w !== worker);
    worker.worker.removeAllListeners();
    worker.outbox.close();
    worker.inbox.close();
    clearTimeout(worker.backTimer);
    const back = worker.back;
    worker.back = undefined;
    worker.events = undefined;
    back?.();
    // Ended by its program (or the runtime) is expected; anything else is the program's failure.
    if (state === 'lent' || state === 'returning') events?.exit(exitCode);
    if (!this.closed) this.onFree();
  }
}
