/**
 * The coordinator: runs on the main JS thread, starts the wasm main thread's worker and the warm
 * pool, refills the pool in the background, serves cold spawns, and ends every worker when the
 * program ends. It never blocks, so a wasm thread waiting on it can never deadlock it.
 *
 * Its workers come from a `WorkerHost`: a worker of its own each (`OneShotHost`, for
 * `startWasiMain`), or a runtime's workers, which outlive the program (runtime-workers.ts).
 */

import { availableParallelism } from 'node:os';
import { SharedControl } from './control.js';
import { InvalidOptionError, ModuleRequirementError, ProgramDestroyedError, ThreadTrapError, type WasiThreadsError, WorkerFailedError } from './errors.js';
import type { LoadedProgram } from './module-loader.js';
import type { ResolvedConfig } from './options.js';
import type { BootData, ErrorInfo, RunConfig, ThreadRole, WorkerMessage } from './protocol.js';
import { answerReply, type ReplyCell } from './reply-cell.js';
import { EAGAIN } from './spawn.js';
import {
  closeProgramWasi,
  createProgramWasi,
  emptyProgramWasi,
  installPreopens,
  installStdio,
  type OpenedPreopens,
  type ProgramWasi,
  serveFdRequest,
} from './wasi/fd-owner.js';
import { type StdinSource, stdinRelay } from './wasi/stdin-relay.js';
import type { WasmMemory } from './wasm-types.js';
import { OneShotHost, STUCK_WORKER_GRACE_MS, settledWithin, type WorkerEvents, type WorkerHandle, type WorkerHost } from './worker-host.js';

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
  /** Warm spawns whose worker was still spinning (not parked): they needed no `Atomics.notify`. */
  spinHits: number;
  /** CPU time idle workers spent spinning for their next thread, in milliseconds (all workers together). */
  spinMs: number;
}

/**
 * A claim leaves the pool short. The coordinator refills it only if no worker came back within this
 * long: short threads return their workers at once, and a refill then would only push them out.
 */
const REFILL_DELAY_MS = 5;

/** How long the end of a runtime's program waits for a thread that is returning, rather than end its worker. */
const RETURN_GRACE_MS = 20;

/** How long `call` polls for a short call's answer before it leaves it to the event loop. */
const CALL_SPIN_MS = 0.1;

/** How long a cold spawn that finds every slot held waits for a trimmed worker to free one. */
const COLD_SLOT_WAIT_MS = 50;

/**
 * Returning workers always park, so a spawn+join loop never retires a worker only to start another
 * (hysteresis). Idle workers beyond poolSize are trimmed when no spawn came for this long.
 */
const TRIM_IDLE_MS = 1000;

/** Initial pool workers booting at once: all CPUs but the one the wasm main thread needs. */
const INITIAL_POOL_CONCURRENCY = Math.max(1, availableParallelism() - 1);

/** How often a pool start put off while the program's threads hold every CPU looks again. */
const DEFERRED_POOL_MS = 10;

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
  /** Out of the program's wasm for good (its thread returned, trapped or exited): it leaves by itself. */
  leaving: boolean;
  /** Instantiated: its script did call initWasiWorker(). */
  ready: boolean;
  /** The main thread of a prepared run or of a reactor between calls: it waits in its inbox, not in wasm. */
  inInbox: boolean;
}

/** How a runtime starts a prepared program: its WASI config, stdio and preopens. */
export interface ProgramStart {
  config: RunConfig;
  /** Host fds (or RELAYED numbers) for fds 0-2. */
  stdio: number[];
  preopens: OpenedPreopens;
  /** A reactor: `_initialize`, then calls; else `_start`. */
  reactor: boolean;
  maxThreads: number;
  /** Serves reads of a relayed stdin. */
  stdin?: StdinSource;
  /** Takes the program's relayed stdout (1) and stderr (2); calls `taken` once the sink took the bytes (the program may write more then). */
  output?: (stream: 1 | 2, bytes: Uint8Array, taken: () => void) => void;
}

/** How a program is set up: as a program of its own, or prepared by a runtime to start later. */
export interface ProgramSetup {
  host?: WorkerHost;
  /** The program's number in its runtime; 0 for one of its own. */
  run?: number;
  /** Prepared: workers are instantiated now, and the main thread waits for `go()`. */
  prepared?: boolean;
  /** The memory comes from an earlier run: the main thread zeroes it before anything else touches it. */
  clearMemory?: boolean;
}

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

type Outcome = { code: number } | { error: WasiThreadsError };

const running = new Map<string, Program>();

function rebuildError(info: ErrorInfo, where: string): WasiThreadsError {
  if (info.code === 'ERR_WASI_THREADS_MODULE') return new ModuleRequirementError(info.message);
  return new WorkerFailedError(`${where} failed to start: ${info.name}: ${info.message}`, info);
}

export class Program {
  readonly namespace: string;
  readonly exited: Promise<number>;
  private readonly control: SharedControl;
  private readonly workers = new Map<WorkerHandle, WorkerInfo>();
  private readonly freeSlots: number[];
  private workersCreated = 0;
  private initialPoolPending: number;
  /** Workers of the initial pool not started yet (see `startInitialPool`). */
  private initialPoolToStart: number;
  private refillTimer: NodeJS.Timeout | undefined;
  private trimTimer: NodeJS.Timeout | undefined;
  /** Set while a pool start (initial pool or refill) is put off because the program holds every CPU. */
  private poolTimer: NodeJS.Timeout | undefined;
  /** Spawns counted at the last trim look: a surplus is trimmed only if none came since. */
  private spawnsAtTrim = -1;
  private waitingColdSpawns: WaitingColdSpawn[] = [];
  private mainExitCode: number | undefined;
  private outcome: Outcome | undefined;
  private settle!: { resolve: (code: number) => void; reject: (error: Error) => void };
  /**
   * Workers the program's end stopped waiting for (see STUCK_WORKER_GRACE_MS): terminated, blocked
   * in the kernel, and maybe still holding the program's memory. Its memory is not passed on.
   */
  workersLeftBehind = 0;
  private readonly wasi: ProgramWasi | undefined;
  private readonly host: WorkerHost;
  private readonly run: number;
  private readonly prepared: boolean;
  private readonly clearMemory: boolean;
  /** Set once the program may run: from the start for a program of its own, at `go()` for a prepared one. */
  private started: ProgramStart | undefined;
  /** The wasm main thread's worker, once started. */
  private main: { handle: WorkerHandle; info: WorkerInfo } | undefined;
  /** Resolves once a prepared program's main instance and initial pool are ready to start. */
  readonly ready: Promise<void>;
  private settleReady!: () => void;
  private nextCallId = 1;
  /** How long the last call took (see `call`). */
  private lastCallMs = 0;
  private outputNext = 0;
  private readonly outputWaiting = new Map<number, { stream: 1 | 2; bytes: Uint8Array }>();
  private readonly calls = new Map<number, PendingCall>();
  /** Resolves once a reactor ran `_initialize`. */
  private initialized: PendingCall | undefined;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly program: LoadedProgram,
    setup: ProgramSetup = {},
  ) {
    if (running.has(config.namespace)) {
      throw new InvalidOptionError(`namespace "${config.namespace}" is already running a program: choose another one`);
    }
    this.namespace = config.namespace;
    this.host = setup.host ?? new OneShotHost(config);
    this.run = setup.run ?? 0;
    this.prepared = setup.prepared ?? false;
    this.clearMemory = setup.clearMemory ?? false;
    if (config.wasiImplementation === 'shared') this.wasi = this.prepared ? emptyProgramWasi() : createProgramWasi(config.wasiOptions);
    // Slots for every thread that may live at once, a full idle pool beside them, and as many again
    // for workers whose thread has returned and who are on their way back or out (a retiring
    // worker holds its slot until its message is handled here).
    const slotCount = 2 * config.maxThreads + config.poolSize;
    this.control = SharedControl.create(slotCount, config.maxThreads);
    this.freeSlots = Array.from({ length: slotCount }, (_, i) => slotCount - 1 - i);
    this.initialPoolPending = config.poolSize;
    this.initialPoolToStart = config.poolSize;
    this.exited = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    // A caller that only destroys the program need not also catch `exited`.
    this.exited.catch(() => undefined);
    this.ready = new Promise<void>((resolve) => (this.settleReady = resolve));
    running.set(this.namespace, this);
  }

  start(): void {
    if (!this.startWorker('main', -1) && !this.outcome) {
      void this.finish({ error: new WorkerFailedError(`"${this.namespace}" found no worker for its main thread: the runtime is at its maxWorkers`) });
      return;
    }
    // The pool starts once the main thread's instance exists (its 'ready'): its workers would wait
    // for that anyway, and starting them sooner only takes CPU from the main thread's start. They
    // are counted as starting from now, so an early spawn waits for them rather than ask for more.
    this.control.poolWorkersStarting(this.config.poolSize);
    this.control.reservePool(this.config.poolSize);
    if (this.config.poolSize === 0) this.markPoolReady();
    this.watchEvents();
    this.trimTimer = setInterval(() => this.trimIdle(), TRIM_IDLE_MS);
    this.trimTimer.unref();
  }

  /** The program's shared memory (absent for a module that has none to share). */
  get memory(): WasmMemory | undefined {
    return this.program.memory;
  }

  /** Whether a prepared program's main instance and initial pool are ready (its start will not wait). */
  get isReady(): boolean {
    return (this.main?.info.ready ?? false) && this.initialPoolPending === 0;
  }

  private checkReady(): void {
    if (this.isReady) this.settleReady();
  }

  /**
   * Starts a prepared program: installs its stdio and preopens, hands its config to the workers
   * that were booted without one, and lets the main thread go.
   */
  go(start: ProgramStart): void {
    if (!this.prepared || this.started) throw new Error('go() is for a prepared program, once');
    this.started = start;
    if (this.outcome) return;
    if (this.wasi) {
      installStdio(this.wasi, start.stdio);
      installPreopens(this.wasi, start.preopens);
    }
    this.control.limitThreads(Math.min(start.maxThreads, this.config.maxThreads));
    const { config } = start;
    for (const [handle, info] of this.workers) {
      if (info.role === 'thread') {
        handle.send({ type: 'config', run: this.run, config });
      } else {
        handle.send({ type: 'go', run: this.run, config, reactor: start.reactor });
        // It leaves its inbox for the program now. Still marked in it, a main thread stuck in the
        // program's wasm at the end (joining threads that trapped, or aborted) was sent an \`end\` it
        // never read, and waited for until LEAVE_GRACE_MS ended it: 0.5 s more for such a run.
        info.inInbox = false;
      }
    }
  }

  /** A reactor: resolves once `_initialize` has run (rejects if the program ended first). */
  whenInitialized(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.outcome) return reject(this.endError());
      this.initialized = { resolve: () => resolve(), reject };
    });
  }

  /**
   * A reactor: calls an export on the main thread's instance; resolves with what it returned.
   * While the last call came back within CALL_SPIN_MS, this one is awaited by polling the worker's
   * outbox for that long first: a short call then costs two thread wake-ups, not an event-loop turn.
   */
  call(name: string, args: unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.outcome) return reject(this.endError());
      const id = this.nextCallId++;
      const sentAt = performance.now();
      this.calls.set(id, {
        resolve: (value) => {
          this.lastCallMs = performance.now() - sentAt;
          resolve(value);
        },
        reject,
      });
      const { handle, info } = this.main!;
      info.inInbox = false;
      handle.send({ type: 'call', run: this.run, id, name, args });
      // A call that took longer stops the polling; every 16th call polls again, to notice short calls.
      if (this.lastCallMs > CALL_SPIN_MS && id % 16 !== 0) return;
      while (this.calls.has(id) && performance.now() - sentAt < CALL_SPIN_MS) handle.drain();
      if (this.calls.has(id)) this.lastCallMs = Infinity;
    });
  }

  private endError(): Error {
    const outcome = this.outcome!;
    return 'error' in outcome ? outcome.error : new ProgramDestroyedError(this.namespace);
  }

  /** Ends the program with `error` (a timeout, an abort); `exited` rejects with it unless it had ended. */
  async abort(error: WasiThreadsError): Promise<void> {
    await this.finish({ error });
  }

  stats(): ProgramStats {
    const { warmSpawns, coldSpawns, failedSpawns, peakLiveThreads, liveThreads, spinHits, spinMs } = this.control.counters();
    return { warmSpawns, coldSpawns, failedSpawns, peakLiveThreads, liveThreads, workersCreated: this.workersCreated, spinHits, spinMs };
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
  private fillPool(): void {
    while (!this.outcome && this.freeSlots.length > 0 && this.control.reservePoolPlaceBelow(this.config.poolSize)) {
      this.control.poolWorkersStarting(1);
      if (this.startPoolWorker(false)) continue;
      // The runtime is at its cap on workers: the pool stays short.
      this.control.reservePool(-1);
      break;
    }
  }

  /**
   * Starts the next workers of the initial pool, at most INITIAL_POOL_CONCURRENCY booting at once
   * (the next starts when one is ready): a worker's boot is CPU-bound, and booting them all at once
   * takes the CPU (and V8's background threads) from the wasm main thread's start.
   */
  private startInitialPool(): void {
    if (this.initialPoolToStart === 0 || this.outcome) return;
    if (this.poolStartsWait()) {
      this.deferPoolStart();
      return;
    }
    const booting = this.initialPoolPending - this.initialPoolToStart;
    for (let i = booting; i < INITIAL_POOL_CONCURRENCY && this.initialPoolToStart > 0 && !this.outcome; i++) {
      this.initialPoolToStart--;
      // Counted as starting (and its pool place taken) when the program started.
      if (this.startPoolWorker(true)) continue;
      // The runtime is at its cap on workers: the pool stays short; spawns stop waiting for it.
      const missing = this.initialPoolToStart + 1;
      this.control.poolWorkersFailed(this.initialPoolToStart);
      this.control.reservePool(-missing);
      this.initialPoolToStart = 0;
      this.initialPoolPending -= missing;
      if (this.initialPoolPending === 0) this.markPoolReady();
      return;
    }
  }

  /**
   * Whether pool workers that no spawn waits for (the initial pool, refills) should start later:
   * - while the program's threads hold every CPU and no spawn waits for a worker: booting one now
   *   (tens of milliseconds of CPU) would only slow them. Measured on 2 cores: primes on 2 threads
   *   took 0.78 s with poolSize 2 and 1.13 s with poolSize 8 while the pool booted beside them.
   *   The wasm main thread is counted busy too (it may be blocked in a join; it may not).
   * - while no runtime worker is free but some are on their way back: one will do in a moment,
   *   where a new one takes tens of milliseconds to start.
   */
  private poolStartsWait(): boolean {
    return this.control.threadsHoldEveryCpu() || this.host.workersComingBack?.() === true;
  }

  /** Looks again in DEFERRED_POOL_MS (and at the next event: a spawn that waits says so). */
  private deferPoolStart(): void {
    this.poolTimer ??= setTimeout(() => {
      this.poolTimer = undefined;
      this.startInitialPool();
      this.checkEvents();
    }, DEFERRED_POOL_MS);
  }

  /**
   * Starts the pool workers that spawns asked for (`SharedControl.requestWorker`, which counted
   * them as starting). They join the pool beyond poolSize; a surplus that stays idle is trimmed.
   */
  private serveWorkerRequests(): void {
    for (let n = this.control.takeWorkerRequests(); n > 0; n--) {
      this.control.reservePool(1);
      if (!this.startPoolWorker(false)) this.control.reservePool(-1);
    }
  }

  /** Starts a pool worker on a free slot (counted as starting by the caller); false, and uncounted, if it could not. */
  private startPoolWorker(initialPool: boolean): boolean {
    const slot = this.outcome ? undefined : this.freeSlots.pop();
    if (slot !== undefined) {
      if (this.startWorker('thread', slot, undefined, initialPool)) return true;
      this.freeSlots.push(slot);
    }
    this.control.poolWorkersFailed(1);
    return false;
  }

  private startWorker(role: ThreadRole, slot: number, coldReply?: ReplyCell, initialPool = false): boolean {
    const { config, program } = this;
    const boot: BootData = {
      run: this.run,
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
      sharedWasi: this.wasi && { fdTable: this.wasi.table.buffer },
      runConfig: this.prepared ? this.started?.config : { args: config.wasiOptions.args, env: config.wasiOptions.env, preopens: this.wasi?.preopens ?? [] },
      awaitGo: this.prepared && role === 'main',
      clearMemory: this.clearMemory && role === 'main',
      memoryAddress: program.memoryAddress,
      initMethod: config.initMethod,
      poolSize: config.poolSize,
      maxThreads: config.maxThreads,
    };
    const info: WorkerInfo = { role, slot, initialPool, leaving: false, ready: false, inInbox: false };
    const events: WorkerEvents = {
      message: (message) => this.onMessage(handle, info, message),
      error: (error) => this.onWorkerError(info, error),
      exit: (exitCode) => this.onWorkerExit(handle, info, exitCode),
    };
    let handle: WorkerHandle;
    try {
      const started = this.host.start(boot, events);
      if (!started) return false;
      handle = started;
    } catch (error) {
      void this.finish({ error: error as WasiThreadsError });
      return false;
    }
    this.workersCreated++;
    this.workers.set(handle, info);
    if (role === 'main') this.main = { handle, info };
    return true;
  }

  /** Writes relayed output in the order the program wrote it (see `Header.OutputSeq`). */
  private takeOutput(write: { seq: number; stream: 1 | 2; bytes: Uint8Array }): void {
    this.outputWaiting.set(write.seq, write);
    for (let next = this.outputWaiting.get(this.outputNext); next; next = this.outputWaiting.get(this.outputNext)) {
      this.outputWaiting.delete(this.outputNext++);
      this.deliver(next);
    }
  }

  /** Hands a write to the run's sink; the threads may write more once the sink has taken it (see `SharedControl.reserveOutput`). */
  private deliver({ stream, bytes }: { stream: 1 | 2; bytes: Uint8Array }): void {
    const taken = () => this.control.outputTaken(bytes.byteLength);
    if (this.started?.output) this.started.output(stream, bytes, taken);
    else taken();
  }

  /** At the end: a thread ended between numbering a write and sending it leaves a gap; write the rest in order. */
  private flushOutput(): void {
    for (const seq of [...this.outputWaiting.keys()].sort((a, b) => a - b)) {
      this.deliver(this.outputWaiting.get(seq)!);
    }
    this.outputWaiting.clear();
  }

  private onWorkerError(info: WorkerInfo, error: Error): void {
    const hint =
      (error as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION'
        ? ' (this worker has no TypeScript loader: Node 20 does not give workers the module hooks a loader such as tsx registers, Node 22+ does;' +
          " point entryFile/threadFile at a .js file such as wasi-threads-wrapper/worker, or give workers a loader with workerOptions: { execArgv: ['--import', ...] })"
        : '';
    void this.finish({ error: new WorkerFailedError(`the worker of ${this.describe(info)} threw: ${error.message}${hint}`, error) });
  }

  private onWorkerExit(handle: WorkerHandle, info: WorkerInfo, exitCode: number): void {
    this.workers.delete(handle);
    const expected = info.leaving || (info.role === 'main' && this.mainExitCode !== undefined);
    if (!expected && !this.outcome) {
      const error = new WorkerFailedError(
        `the worker of ${this.describe(info)} exited (code ${exitCode}) while the program was running` +
          (info.ready ? '' : '; did its script call initWasiWorker()?'),
      );
      void this.finish({ error });
    }
  }

  private describe(info: WorkerInfo): string {
    const { control } = this;
    let who: string;
    if (info.role === 'main') who = 'the wasm main thread';
    else if (control.slotRunning(info.slot)) who = `wasm thread ${control.assignedTid(info.slot)}`;
    else who = `an idle pool worker (slot ${info.slot})`;
    return `${who} of "${this.namespace}"`;
  }

  private onMessage(handle: WorkerHandle, info: WorkerInfo, message: WorkerMessage): void {
    // Output written before the end still counts (it is drained while the program ends).
    if (message.type === 'output') {
      this.takeOutput(message);
      return;
    }
    if (this.outcome) return;
    switch (message.type) {
      case 'ready':
        info.ready = true;
        if (info.role === 'main') {
          info.inInbox = this.prepared && !this.started;
          this.startInitialPool();
        }
        if (info.initialPool) {
          if (--this.initialPoolPending === 0) this.markPoolReady();
          this.startInitialPool();
        }
        this.checkReady();
        break;
      case 'initialized':
        info.inInbox = true;
        this.initialized?.resolve(undefined);
        this.initialized = undefined;
        break;
      case 'call-done':
        info.inInbox = true;
        this.calls.get(message.id)?.resolve(message.value);
        this.calls.delete(message.id);
        break;
      case 'cold-spawn':
        this.coldSpawn(message.tid, message.startArg, message.reply);
        break;
      case 'exit':
        info.leaving = true;
        void this.finish({ code: message.code });
        break;
      case 'trap':
        info.leaving = true;
        void this.finish({ error: new ThreadTrapError(message.tid, message.error) });
        break;
      case 'main-done':
        info.leaving = true;
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
        // poolSize 0: the worker has left the program and never touches its slot again.
        this.releaseWorker(message.slot, [handle, info]);
        break;
      case 'fatal':
        info.leaving = true;
        void this.finish({ error: rebuildError(message.error, `the worker of ${this.describe(info)}`) });
        break;
      case 'stdin-read':
      case 'stdin-poll':
        (this.started?.stdin ?? stdinRelay).submit(message, this);
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
      this.control.assignToNewWorker(slot, tid, startArg);
      if (!this.startWorker('thread', slot, reply)) {
        // The runtime is at its cap on workers.
        this.freeSlots.push(slot);
        answerReply(reply, -EAGAIN);
      }
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

  /** The initial pool is up (the program did not wait for it): refills may start from now on. */
  private markPoolReady(): void {
    this.checkEvents();
    this.checkReady();
  }

  /** Follows `Header.Events` without blocking: workers bump it on claims and when the last thread returns. */
  private watchEvents(): void {
    if (this.outcome) return;
    const seen = this.control.events();
    this.checkEvents();
    const wait = this.control.waitForEvents(seen);
    if (wait.async) void wait.value.then(() => this.watchEvents());
    else setImmediate(() => this.watchEvents());
  }

  private checkEvents(): void {
    if (this.outcome) return;
    this.serveWorkerRequests();
    // A spawn that waits for a pool worker signals: a put-off pool start goes on now.
    if (this.poolTimer !== undefined && !this.poolStartsWait()) {
      clearTimeout(this.poolTimer);
      this.poolTimer = undefined;
      this.startInitialPool();
    }
    if (this.mainExitCode !== undefined && this.control.liveThreads() === 0) {
      void this.finish({ code: this.mainExitCode });
      return;
    }
    // A claim consumed the watch: look again in a moment (which re-arms it), never per claim.
    if (this.refillTimer !== undefined || this.initialPoolPending > 0) return;
    if (this.control.claimWatchTaken()) this.scheduleRefill();
  }

  /** Asks the next claim to signal; claims in between go unreported (see `Header.ClaimWatch`). */
  private watchClaims(): void {
    this.control.watchClaims();
    // A claim that came before the flag was set went unreported: look once more.
    if (this.poolShort() && this.control.takeClaimWatch()) this.scheduleRefill();
  }

  private poolShort(): boolean {
    return this.control.poolReserved() < this.config.poolSize;
  }

  private scheduleRefill(): void {
    const returns = this.control.returnsSoFar();
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      if (this.outcome) return;
      if (!this.poolShort()) this.watchClaims();
      else if (this.poolStartsWait()) this.scheduleRefill();
      else if (this.control.returnsSoFar() === returns) {
        this.fillPool();
        this.watchClaims();
      } else {
        this.scheduleRefill();
      }
    }, REFILL_DELAY_MS);
  }

  /**
   * Every TRIM_IDLE_MS: if no spawn came since the last look, idle workers beyond poolSize leave
   * (the most recently parked first; all are idle alike). A popped slot is this method's alone, so
   * its recall cannot fail; its worker leaves the program and goes back to its host.
   */
  private trimIdle(): void {
    if (this.outcome) return;
    const spawns = this.control.spawnsSoFar();
    const quiet = spawns === this.spawnsAtTrim;
    this.spawnsAtTrim = spawns;
    if (!quiet) return;
    while (this.control.poolReserved() > this.config.poolSize) {
      const slot = this.control.claimIdleSlot();
      if (slot < 0) break;
      this.control.recall(slot);
      this.control.reservePool(-1);
      this.releaseWorker(
        slot,
        [...this.workers].find(([, info]) => info.role === 'thread' && info.slot === slot),
      );
    }
  }

  /** A pool worker has left the program for good: it goes back to its host, and its slot is free again. */
  private releaseWorker(slot: number, worker: [WorkerHandle, WorkerInfo] | undefined): void {
    if (worker) {
      const [handle, info] = worker;
      info.leaving = true;
      this.workers.delete(handle);
      void handle.end(true);
    }
    this.freeSlots.push(slot);
    this.serveWaitingColdSpawn();
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
    clearTimeout(this.poolTimer);
    clearInterval(this.trimTimer);
    for (const waiting of this.waitingColdSpawns) clearTimeout(waiting.timer);
    this.waitingColdSpawns = [];
    const handles = [...this.workers.keys()];
    for (const handle of handles) handle.drain();
    // A worker out of the program's wasm goes back to its host (a runtime reuses it); one that may
    // still run the program's wasm is ended. Either way, none can touch the program's descriptors
    // or memory once this resolves, so closing its host fds below is safe; except a worker left
    // behind blocked in a write to a caller's fd (STUCK_WORKER_GRACE_MS), which touches none of the
    // fds closed below, and whose table and memory are then not reused.
    this.workersLeftBehind = await settledWithin(
      handles.map((handle) => this.release(handle)),
      STUCK_WORKER_GRACE_MS,
    );
    for (const handle of handles) handle.drain();
    this.flushOutput();
    // Every thread is gone now, also one whose wasm had returned (and been joined) but whose worker
    // had not yet counted it out when the end came.
    this.control.clearLiveThreads();
    (this.started?.stdin ?? stdinRelay).cancel(this);
    if (this.wasi) closeProgramWasi(this.wasi, this.workersLeftBehind > 0);
    running.delete(this.namespace);
    const error = this.endError();
    this.initialized?.reject(error);
    for (const call of this.calls.values()) call.reject(error);
    this.calls.clear();
    if ('code' in outcome) this.settle.resolve(outcome.code);
    else this.settle.reject(outcome.error);
  }

  /**
   * At the program's end: gives a worker that is out of the program's wasm back to its host (a
   * runtime reuses it) and ends any other. Resolves once the worker can touch neither the program's
   * memory nor its descriptors.
   */
  private async release(handle: WorkerHandle): Promise<void> {
    const info = this.workers.get(handle)!;
    if (info.role === 'thread' && !info.leaving) {
      // A worker of its own is ended anyway: no need to wait for its thread.
      const recalled = await this.control.recallWithin(info.slot, this.host.reusesWorkers ? RETURN_GRACE_MS : 0);
      const back = handle.end(recalled);
      // A recalled pool worker waits in the library's code and never enters the program again
      // (see `SharedControl.recall`): a runtime's program need not wait for it to wake and say it
      // is back (measured: 0.5-3 ms of a 3 ms run on 2 vCPUs). Its host lends it again only then.
      if (!(recalled && this.host.reusesWorkers)) await back;
      return;
    }
    // Out for good (its wasm returned, trapped or exited: the host still waits for it to be back
    // in its loop, since a program may catch the proc_exit unwinding), or a main worker in its inbox.
    let out = info.leaving;
    if (!out && info.inInbox) {
      handle.send({ type: 'end', run: this.run });
      out = true;
    }
    await handle.end(out);
  }
}
