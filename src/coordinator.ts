/**
 * The coordinator: runs on the main JS thread, starts the wasm main thread's worker and the warm
 * pool, refills the pool in the background, serves cold spawns, and ends every worker when the
 * program ends. It never blocks, so a wasm thread waiting on it can never deadlock it.
 */
import { writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import {
  InvalidOptionError,
  ModuleRequirementError,
  ProgramDestroyedError,
  ThreadTrapError,
  WorkerFailedError,
  type WasiThreadsError,
} from './errors.js';
import type { LoadedProgram } from './module-loader.js';
import type { ResolvedConfig } from './options.js';
import { BOOT_KEY, type BootData, type ErrorInfo, type ThreadRole, type WorkerMessage } from './protocol.js';
import { answerReply, type ReplyCell } from './reply-cell.js';
import { Header, SharedControl, SlotState } from './ring.js';
import { EAGAIN } from './spawn.js';
import { closeProgramWasi, createProgramWasi, serveFdRequest, type ProgramWasi } from './wasi/fd-owner.js';
import { stdinRelay } from './wasi/stdin-relay.js';

export interface ProgramStats {
  /** Spawns served by a parked pool worker. */
  warmSpawns: number;
  /** Spawns that had to start a new worker. */
  coldSpawns: number;
  /** Spawns refused (maxThreads reached, or the program was ending). */
  failedSpawns: number;
  peakLiveThreads: number;
  liveThreads: number;
  /** Every worker started for this program, the main thread's included. */
  workersCreated: number;
}

/**
 * A claim leaves the pool short. The coordinator refills it only if no worker came back within this
 * long: short threads return their workers at once, and a refill then would only push them out.
 */
const REFILL_DELAY_MS = 5;

/** How long a cold spawn that finds every slot held waits for a retiring worker to free one. */
const COLD_SLOT_WAIT_MS = 50;

interface WaitingColdSpawn {
  tid: number;
  startArg: number;
  reply: ReplyCell;
  timer: NodeJS.Timeout;
}

interface WorkerInfo {
  role: ThreadRole;
  slot: number;
  /** Part of the pool started with the program, which the wasm main thread waits for. */
  initialPool: boolean;
  retiring: boolean;
  /** Instantiated: its script did call initWasiWorker(). */
  ready: boolean;
}

type Outcome = { code: number } | { error: WasiThreadsError };

const running = new Map<string, Program>();

/** Writes all of `chunk` to `fd`, also when another part of the process made it non-blocking. */
function writeAllSync(fd: number, chunk: Uint8Array): void {
  let offset = 0;
  while (offset < chunk.length) {
    try {
      offset += writeSync(fd, chunk, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

function rebuildError(info: ErrorInfo, where: string): WasiThreadsError {
  if (info.code === 'ERR_WASI_THREADS_MODULE') return new ModuleRequirementError(info.message);
  return new WorkerFailedError(`${where} failed to start: ${info.name}: ${info.message}`, info);
}

export class Program {
  readonly namespace: string;
  readonly exited: Promise<number>;
  private readonly control: SharedControl;
  private readonly workers = new Map<Worker, WorkerInfo>();
  private readonly freeSlots: number[];
  private workersCreated = 0;
  private initialPoolPending: number;
  private refillTimer: NodeJS.Timeout | undefined;
  private waitingColdSpawns: WaitingColdSpawn[] = [];
  private mainExitCode: number | undefined;
  private outcome: Outcome | undefined;
  private settle!: { resolve: (code: number) => void; reject: (error: Error) => void };
  private readonly wasi: ProgramWasi | undefined;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly program: LoadedProgram,
  ) {
    if (running.has(config.namespace)) {
      throw new InvalidOptionError(`namespace "${config.namespace}" is already running a program: choose another one`);
    }
    this.namespace = config.namespace;
    this.wasi = config.wasiImplementation === 'shared' ? createProgramWasi(config.wasiOptions) : undefined;
    // Slots for every thread that may live at once, a full idle pool beside them, and as many again
    // for workers whose thread has returned and who are on their way back or out (a retiring
    // worker holds its slot until its message is handled here).
    const slotCount = 2 * config.maxThreads + config.poolSize;
    this.control = SharedControl.create(slotCount);
    this.freeSlots = Array.from({ length: slotCount }, (_, i) => slotCount - 1 - i);
    this.initialPoolPending = config.poolSize;
    this.exited = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    // A caller that only destroys the program need not also catch `exited`.
    this.exited.catch(() => undefined);
    running.set(this.namespace, this);
  }

  start(): void {
    this.startWorker('main', -1);
    this.fillPool(true);
    if (this.config.poolSize === 0) this.markPoolReady();
    this.watchEvents();
  }

  stats(): ProgramStats {
    const { control } = this;
    return {
      warmSpawns: control.load(Header.WarmSpawns),
      coldSpawns: control.load(Header.ColdSpawns),
      failedSpawns: control.load(Header.FailedSpawns),
      peakLiveThreads: control.load(Header.PeakLiveThreads),
      liveThreads: control.load(Header.LiveThreads),
      workersCreated: this.workersCreated,
    };
  }

  /** Ends every worker now; `exited` rejects with ProgramDestroyedError unless the program had ended. */
  async destroy(): Promise<void> {
    await this.finish({ error: new ProgramDestroyedError(this.namespace) });
  }

  /** Number of workers still alive: 0 once the program has ended. */
  get liveWorkers(): number {
    return this.workers.size;
  }

  /** Starts pool workers until the pool's places are all taken (returning workers take them too). */
  private fillPool(initialPool: boolean): void {
    while (!this.outcome && this.freeSlots.length > 0 && this.control.incrementBelow(Header.PoolReserved, this.config.poolSize) > 0) {
      this.startWorker('thread', this.freeSlots.pop()!, undefined, initialPool);
    }
  }

  private startWorker(role: ThreadRole, slot: number, coldReply?: ReplyCell, initialPool = false): void {
    const { config, program } = this;
    const boot: BootData = {
      namespace: this.namespace,
      role,
      module: program.module,
      memory: program.memory,
      privateMemory: program.privateMemory,
      memoryImport: program.memoryImport,
      control: this.control.buffer,
      slotCount: this.control.layout.slotCount,
      slot,
      coldReply,
      wasiOptions: config.wasiOptions,
      sharedWasi: this.wasi && { fdTable: this.wasi.table.buffer, preopens: this.wasi.preopens },
      initMethod: config.initMethod,
      poolSize: config.poolSize,
      maxThreads: config.maxThreads,
    };
    const { execArgv, env, resourceLimits } = config.workerOptions;
    let worker: Worker;
    try {
      worker = new Worker(role === 'main' ? config.entryFile : config.threadFile, {
        workerData: { [BOOT_KEY]: boot },
        ...(execArgv && { execArgv }),
        ...(env && { env }),
        ...(resourceLimits && { resourceLimits }),
        // Without these Node opens process.stdout in this thread, which makes a pipe on fd 1 non-blocking.
        stdout: true,
        stderr: true,
      });
    } catch (error) {
      // Node checks execArgv only here (ERR_WORKER_INVALID_EXEC_ARGV).
      void this.finish({ error: new InvalidOptionError(`workerOptions: Node refused to start a worker: ${(error as Error).message}`) });
      return;
    }
    this.workersCreated++;
    const info: WorkerInfo = { role, slot, initialPool, retiring: false, ready: false };
    this.workers.set(worker, info);
    worker.stdout.on('data', (chunk: Uint8Array) => writeAllSync(1, chunk));
    worker.stderr.on('data', (chunk: Uint8Array) => writeAllSync(2, chunk));
    worker.on('message', (message: WorkerMessage) => this.onMessage(worker, info, message));
    worker.on('error', (error) => {
      const hint =
        (error as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION'
          ? ' (this worker has no TypeScript loader: Node 20 does not give workers the module hooks a loader such as tsx registers, Node 22+ does;' +
            " point entryFile/threadFile at a .js file such as wasi-threads-wrapper/worker, or give workers a loader with workerOptions: { execArgv: ['--import', ...] })"
          : '';
      void this.finish({ error: new WorkerFailedError(`the worker of ${this.describe(info)} threw: ${error.message}${hint}`, error) });
    });
    worker.on('exit', (exitCode) => {
      this.workers.delete(worker);
      const expected = info.retiring || (role === 'main' && this.mainExitCode !== undefined);
      if (!expected && !this.outcome) {
        const error = new WorkerFailedError(
          `the worker of ${this.describe(info)} exited (code ${exitCode}) while the program was running` +
            (info.ready ? '' : '; did its script call initWasiWorker()?'),
        );
        void this.finish({ error });
      }
    });
  }

  private describe(info: WorkerInfo): string {
    const { control } = this;
    let who: string;
    if (info.role === 'main') who = 'the wasm main thread';
    else if (control.load(control.slotState(info.slot)) === SlotState.Running) who = `wasm thread ${control.assignedTid(info.slot)}`;
    else who = `an idle pool worker (slot ${info.slot})`;
    return `${who} of "${this.namespace}"`;
  }

  private onMessage(worker: Worker, info: WorkerInfo, message: WorkerMessage): void {
    if (this.outcome) return;
    switch (message.type) {
      case 'ready':
        info.ready = true;
        if (info.initialPool && --this.initialPoolPending === 0) this.markPoolReady();
        break;
      case 'cold-spawn':
        this.coldSpawn(message.tid, message.startArg, message.reply);
        break;
      case 'exit':
        void this.finish({ code: message.code });
        break;
      case 'trap':
        void this.finish({ error: new ThreadTrapError(message.tid, message.error) });
        break;
      case 'main-done':
        this.mainExitCode = message.code;
        if (message.destroyWhenEnd) {
          void this.finish({ code: message.code });
        } else {
          // Set before looking at LiveThreads: either we see 0 or the last thread sees the flag.
          this.control.watchLastThread();
          this.checkEvents();
        }
        break;
      case 'retire':
        info.retiring = true;
        this.freeSlots.push(message.slot);
        void worker.terminate();
        this.serveWaitingColdSpawn();
        break;
      case 'fatal':
        void this.finish({ error: rebuildError(message.error, `the worker of ${this.describe(info)}`) });
        break;
      case 'stdin-read':
      case 'stdin-poll':
        stdinRelay.submit(message, this);
        break;
      case 'path-open':
      case 'fd-close':
        // Only the shared WASI sends these, so this.wasi is there.
        if (this.wasi) serveFdRequest(this.wasi, message);
        break;
    }
  }

  private coldSpawn(tid: number, startArg: number, reply: ReplyCell): void {
    const slot = this.freeSlots.pop();
    if (slot !== undefined) {
      this.control.assign(slot, tid, startArg);
      this.startWorker('thread', slot, reply);
      return;
    }
    // Every slot is held, some by workers whose retirement is on its way here: wait a little for one.
    const waiting = { tid, startArg, reply, timer: setTimeout(() => this.refuseColdSpawn(waiting), COLD_SLOT_WAIT_MS) };
    this.waitingColdSpawns.push(waiting);
  }

  private serveWaitingColdSpawn(): void {
    const waiting = this.waitingColdSpawns.shift();
    if (!waiting) return;
    clearTimeout(waiting.timer);
    this.coldSpawn(waiting.tid, waiting.startArg, waiting.reply);
  }

  private refuseColdSpawn(waiting: WaitingColdSpawn): void {
    this.waitingColdSpawns = this.waitingColdSpawns.filter((w) => w !== waiting);
    answerReply(waiting.reply, -EAGAIN);
  }

  private markPoolReady(): void {
    this.control.markPoolReady();
    this.checkEvents();
  }

  /** Follows `Header.Events` without blocking: workers bump it on claims and when the last thread returns. */
  private watchEvents(): void {
    if (this.outcome) return;
    const seen = this.control.load(Header.Events);
    this.checkEvents();
    const wait = this.control.waitForEvents(seen);
    if (wait.async) void wait.value.then(() => this.watchEvents());
    else setImmediate(() => this.watchEvents());
  }

  private checkEvents(): void {
    if (this.outcome) return;
    if (this.mainExitCode !== undefined && this.control.load(Header.LiveThreads) === 0) {
      void this.finish({ code: this.mainExitCode });
      return;
    }
    // A claim consumed the watch: look again in a moment (which re-arms it), never per claim.
    if (this.refillTimer !== undefined || this.initialPoolPending > 0) return;
    if (this.control.load(Header.ClaimWatch) === 0) this.scheduleRefill();
  }

  /** Asks the next claim to signal; claims in between go unreported (see `Header.ClaimWatch`). */
  private watchClaims(): void {
    this.control.watchClaims();
    // A claim that came before the flag was set went unreported: look once more.
    if (this.poolShort() && this.control.takeClaimWatch()) this.scheduleRefill();
  }

  private poolShort(): boolean {
    return this.control.load(Header.PoolReserved) < this.config.poolSize;
  }

  private scheduleRefill(): void {
    const returns = this.control.load(Header.Returns);
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      if (this.outcome) return;
      if (!this.poolShort()) this.watchClaims();
      else if (this.control.load(Header.Returns) === returns) {
        this.fillPool(false);
        this.watchClaims();
      } else {
        this.scheduleRefill();
      }
    }, REFILL_DELAY_MS);
  }

  private async finish(outcome: Outcome): Promise<void> {
    if (this.outcome) {
      await this.exited.catch(() => undefined);
      return;
    }
    this.outcome = outcome;
    this.control.markEnding();
    // Wake the event watch so that its pending Atomics.waitAsync settles: a wait that is never woken
    // keeps this program (its memory reserves gigabytes of address space) reachable for good.
    this.control.signalCoordinator();
    clearTimeout(this.refillTimer);
    for (const waiting of this.waitingColdSpawns) clearTimeout(waiting.timer);
    this.waitingColdSpawns = [];
    await Promise.all([...this.workers.keys()].map((worker) => worker.terminate()));
    // Every thread is gone now, also one whose wasm had returned (and been joined) but whose worker
    // had not yet counted it out when the end came.
    this.control.clearLiveThreads();
    stdinRelay.cancel(this);
    if (this.wasi) closeProgramWasi(this.wasi);
    running.delete(this.namespace);
    if ('code' in outcome) this.settle.resolve(outcome.code);
    else this.settle.reject(outcome.error);
  }
}
