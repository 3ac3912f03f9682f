/**
 * One program's life on the main JS thread (the coordinator): it starts the wasm main thread's
 * worker and the warm pool (pool-policy.ts), answers its workers' messages (cold spawns in
 * cold-spawns.ts, relayed output in output-relay.ts, a reactor's calls in reactor-calls.ts,
 * descriptors and stdin in wasi/), and ends every worker when the program ends. It never blocks,
 * so a wasm thread waiting on it can never deadlock it.
 *
 * Its workers come from a `WorkerSource`: a worker of its own each (`OwnWorkers`, for
 * `startWasiMain`), or a runtime's workers, which outlive the program (runtime-workers.ts).
 */

import { InvalidOptionError, ProgramDestroyedError, ProgramExitedError, ThreadTrapError, type WasiThreadsError, WorkerFailedError } from '../../base/errors.js';
import type { ResolvedConfig } from '../../base/options.js';
import { TRACE, trace } from '../../base/trace.js';
import type { WasmMemory } from '../../base/wasm-types.js';
import type { SharedControl } from '../../shared/control/control.js';
import { type BootData, MAIN_THREAD_ID, type ThreadRole, type WorkerMessage } from '../../shared/messages.js';
import type { ReplyCell } from '../../shared/reply-cell.js';
import { closeProgramWasi, createProgramWasi, emptyProgramWasi, installRunDescriptors, type ProgramWasi, serveFdRequest } from '../../wasi/fd-owner.js';
import { stdinRelay } from '../../wasi/stdin-relay.js';
import type { LoadedProgram } from '../module/module-loader.js';
import { OwnWorkers, type WorkerHandle, type WorkerSource } from '../worker-source.js';
import { bootData } from './boot-data.js';
import { ColdSpawns } from './cold-spawns.js';
import { OutputRelay } from './output-relay.js';
import { controlFor, deferred, offerPool } from './pool-handover.js';
import { PoolPolicy } from './pool-policy.js';
import { ProgramWorkers, RETURN_GRACE_MS, type WorkerInfo } from './program-workers.js';
import { ReactorCalls } from './reactor-calls.js';
import type { PoolKeeper, ProgramSetup, ProgramStart, ProgramStats } from './types.js';
import { workerExited, workerFatal, workerThrew } from './worker-failures.js';

type Outcome = { code: number } | { error: WasiThreadsError };

const running = new Map<string, Program>();

export class Program {
  readonly namespace: string;
  readonly exited: Promise<number>;
  private readonly control: SharedControl;
  private readonly workers: ProgramWorkers;
  private readonly pool: PoolPolicy;
  private readonly coldSpawns: ColdSpawns;
  private readonly output: OutputRelay;
  private readonly calls: ReactorCalls;
  private mainExitCode: number | undefined;
  private outcome: Outcome | undefined;
  private settle!: { resolve: (code: number) => void; reject: (error: Error) => void };
  /**
   * Workers the program's end stopped waiting for (see STUCK_WORKER_GRACE_MS): terminated, blocked
   * in the kernel, and maybe still holding the program's memory. Its memory is not passed on.
   */
  workersLeftBehind = 0;
  private readonly wasi: ProgramWasi | undefined;
  private readonly source: WorkerSource;
  private readonly run: number;
  private readonly prepared: boolean;
  private readonly clearMemory: boolean;
  private readonly poolKeeper: PoolKeeper | undefined;
  private endStats: ProgramStats | undefined;
  /** Set when a prepared run's main thread called proc_exit: settles once its worker, out of its wasm by the exit's unwinding, is on its seat (main-done). */
  private mainUnwinding: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Set once the program may run: from the start for a program of its own, at `go()` for a prepared one. */
  private started: ProgramStart | undefined;
  /** Resolves once a prepared program's main instance and initial pool are ready to start. */
  readonly ready: Promise<void>;
  private settleReady!: () => void;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly program: LoadedProgram,
    setup: ProgramSetup = {},
  ) {
    if (running.has(config.namespace)) {
      throw new InvalidOptionError(`namespace "${config.namespace}" is already running a program: choose another one`);
    }
    this.namespace = config.namespace;
    this.source = setup.source ?? new OwnWorkers(config);
    this.run = setup.run ?? 0;
    this.prepared = setup.prepared ?? false;
    this.clearMemory = setup.clearMemory ?? false;
    this.poolKeeper = setup.poolKeeper;
    const kept = setup.keptPool;
    if (config.wasiImplementation === 'shared') this.wasi = this.prepared ? emptyProgramWasi(kept?.fdTable) : createProgramWasi(config.wasiOptions);
    this.control = controlFor(config, this.run, kept);
    this.workers = new ProgramWorkers(this.control, this.source, this.run, this);
    if (kept) this.workers.adopt(kept);
    this.pool = new PoolPolicy(this.control, config.poolSize, this.workers.kept, {
      ended: () => this.ended,
      hasFreeSlot: () => this.workers.hasFreeSlot(),
      startPoolWorker: (initialPool) => this.workers.startPoolWorker(initialPool),
      workersComingBack: () => this.source.workersComingBack?.() === true,
      retireIdle: (slot) => this.workers.retireIdle(slot),
      poolReady: () => {
        this.checkEvents();
        this.checkReady();
      },
      checkEvents: () => this.checkEvents(),
    });
    this.coldSpawns = new ColdSpawns(this.control.slots, this.workers);
    this.output = new OutputRelay(this.control.output, () => this.started?.output);
    this.calls = new ReactorCalls(
      this.run,
      () => this.workers.main!,
      () => (this.outcome ? this.endError() : undefined),
    );
    this.exited = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    // A caller that only destroys the program need not also catch `exited`.
    this.exited.catch(() => undefined);
    this.ready = new Promise<void>((resolve) => (this.settleReady = resolve));
    running.set(this.namespace, this);
  }

  start(): void {
    if (this.workers.adoptFailed) {
      void this.finish({ error: new WorkerFailedError(`"${this.namespace}": a pool worker the run before left parked has ended`) });
      return;
    }
    if (this.workers.main?.info.kept) {
      // The main thread's worker an earlier run left on the seat makes its instance for this run.
      this.control.seat.prepare();
    } else if (!this.workers.start('main', -1) && !this.outcome) {
      void this.finish({ error: new WorkerFailedError(`"${this.namespace}" found no worker for its main thread: the runtime is at its maxWorkers`) });
      return;
    }
    this.pool.start();
    // Follows the control block's events without blocking: workers signal claims, requests and the last thread gone.
    this.control.events.follow(
      () => this.ended,
      () => this.checkEvents(),
    );
  }

  /** The program's shared memory (absent for a module that has none to share). */
  get memory(): WasmMemory | undefined {
    return this.program.memory;
  }

  /** Whether a prepared program's main instance and initial pool are ready (its start will not wait). */
  get isReady(): boolean {
    return (this.workers.main?.info.ready ?? false) && this.pool.initialPoolReady;
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
    if (this.wasi) installRunDescriptors(this.wasi, start.stdio, start.preopens);
    this.control.threads.limit(Math.min(start.maxThreads, this.config.maxThreads));
    this.workers.go(start.config, start.reactor);
  }

  /** A reactor: resolves once `_initialize` has run (rejects if the program ended first). */
  whenInitialized(): Promise<void> {
    return this.calls.whenInitialized();
  }

  /** A reactor: calls an export on the main thread's instance; resolves with what it returned. */
  call(name: string, args: unknown[]): Promise<unknown> {
    return this.calls.call(name, args);
  }

  private endError(): Error {
    const outcome = this.outcome!;
    return 'error' in outcome ? outcome.error : new ProgramExitedError(this.namespace, outcome.code);
  }

  /** Ends the program with `error` (a timeout, an abort); `exited` rejects with it unless it had ended. */
  async abort(error: WasiThreadsError): Promise<void> {
    await this.finish({ error });
  }

  stats(): ProgramStats {
    // Once ended, as at its end: a kept control block serves the next run by then.
    if (this.endStats) return this.endStats;
    const { spinHits, spinMs, instancesReset, ...threads } = this.control.counters();
    const kept = this.prepared ? { poolWorkersKept: this.workers.kept, mainWorkerKept: this.workers.main?.info.kept === true, instancesReset } : {};
    return { ...threads, workersCreated: this.workers.created, ...kept, spinHits, spinMs, growGuard: this.program.growGuard };
  }

  /** Ends every worker now; `exited` rejects with ProgramDestroyedError unless the program had ended. */
  async destroy(): Promise<void> {
    await this.finish({ error: new ProgramDestroyedError(this.namespace) });
  }

  /** Number of workers still alive: 0 once the program has ended. */
  get liveWorkers(): number {
    return this.workers.size;
  }

  /** What a new worker of this program is told: the module, the memory, its slot and the program's config. */
  bootFor(role: ThreadRole, slot: number, coldReply: ReplyCell | undefined): BootData {
    const { config, wasi } = this;
    const runConfig = this.prepared ? this.started?.config : { args: config.wasiOptions.args, env: config.wasiOptions.env, preopens: wasi?.preopens ?? [] };
    const { run, namespace, program, control, prepared, clearMemory } = this;
    return bootData({ run, namespace, config, program, control, wasi, prepared, clearMemory }, role, slot, coldReply, runConfig);
  }

  onWorkerError(info: WorkerInfo, error: Error): void {
    void this.finish({ error: workerThrew(this.workers.describe(info), error) });
  }

  onWorkerExit(handle: WorkerHandle, info: WorkerInfo, exitCode: number): void {
    this.workers.exited(handle);
    const expected = info.leaving || (info.role === 'main' && this.mainExitCode !== undefined);
    if (!expected && !this.outcome) {
      void this.finish({ error: workerExited(this.workers.describe(info), exitCode, info.ready) });
    }
  }

  onMessage(handle: WorkerHandle, info: WorkerInfo, message: WorkerMessage): void {
    // Output written before the end still counts (it is drained while the program ends).
    if (message.type === 'output') {
      // Never another run's (a kept pool's worker hands in what it wrote before it is kept).
      if (message.run === this.run) this.output.take(message);
      return;
    }
    if (this.outcome) {
      // The main thread's worker on its seat, out of the wasm of the proc_exit that ended the run (see `offerPool` in pool-handover.ts).
      if (message.type === 'main-done' && info.role === 'main' && this.mainUnwinding) {
        info.seated = true;
        this.mainUnwinding.resolve();
      }
      return;
    }
    switch (message.type) {
      case 'ready':
        info.ready = true;
        if (info.role === 'main') {
          info.onSeat = this.prepared && !this.started;
          this.pool.mainReady();
        }
        if (info.initialPool) this.pool.initialWorkerReady();
        this.checkReady();
        break;
      case 'initialized':
        info.inInbox = true;
        this.calls.onInitialized();
        break;
      case 'call-done':
        info.inInbox = true;
        this.calls.onCallDone(message.id, message.value);
        break;
      case 'cold-spawn':
        this.coldSpawns.serve(message.tid, message.startArg, message.reply);
        break;
      case 'exit':
        info.leaving = true;
        if (message.tid === MAIN_THREAD_ID && this.prepared && this.started?.reactor === false) this.mainUnwinding = deferred();
        void this.finish({ code: message.code });
        break;
      case 'trap':
        info.leaving = true;
        void this.finish({ error: new ThreadTrapError(message.tid, message.error) });
        break;
      case 'main-done':
        info.leaving = true;
        // A prepared run's main thread waits on its seat now (main-seat.ts).
        info.seated = this.prepared;
        this.mainExitCode = message.code;
        if (message.destroyWhenEnd) {
          void this.finish({ code: message.code });
        } else {
          // Set before looking at LiveThreads: either we see 0 or the last thread sees the flag.
          this.control.events.watchLastThread();
          this.checkEvents();
        }
        break;
      case 'retire':
        // poolSize 0: the worker has left the program and never touches its slot again.
        this.workers.release(message.slot, [handle, info]);
        break;
      case 'fatal':
        info.leaving = true;
        void this.finish({ error: workerFatal(this.workers.describe(info), message.error) });
        break;
      case 'config-request':
        if (this.started && message.run === this.run) handle.send({ type: 'config', run: this.run, config: this.started.config });
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

  /** Whether the program has ended (or is ending). */
  get ended(): boolean {
    return this.outcome !== undefined;
  }

  /** A worker could not be started for a reason that ends the program. */
  fail(error: WasiThreadsError): void {
    void this.finish({ error });
  }

  /** A worker came free at the program's source: a cold spawn waiting for one takes it. Whether one did. */
  workerFreed(): boolean {
    return !this.ended && this.coldSpawns.workerFreed();
  }

  /** A slot came free: a cold spawn waiting for one takes it. */
  slotFreed(): void {
    this.coldSpawns.slotFreed();
  }

  checkEvents(): void {
    if (this.outcome) return;
    this.pool.serveRequests();
    if (this.mainExitCode !== undefined && this.control.threads.live() === 0) {
      void this.finish({ code: this.mainExitCode });
      return;
    }
    this.pool.refillIfClaimed();
  }

  private async finish(outcome: Outcome): Promise<void> {
    if (this.outcome) {
      await this.exited.catch(() => undefined);
      return;
    }
    this.outcome = outcome;
    if (TRACE) trace(`program ${this.namespace} ends: ${'code' in outcome ? `exit code ${outcome.code}` : outcome.error.message}`);
    this.control.markEnding();
    // Wake the event watch so that its pending Atomics.waitAsync settles: a wait that is never woken
    // keeps this program (its memory reserves gigabytes of address space) reachable for good.
    this.control.events.signal();
    this.pool.end();
    this.coldSpawns.end();
    const until = performance.now() + RETURN_GRACE_MS;
    const keepable = 'code' in outcome && this.started?.reactor === false && this.wasi !== undefined && this.poolKeeper !== undefined;
    const kept = keepable ? await offerPool(this.poolKeeper!, this.control, this.workers, this.wasi!.table.buffer, this.mainUnwinding, until) : undefined;
    // A worker out of the program's wasm goes back to its source (a runtime reuses it); one that may
    // still run the program's wasm is ended. Either way, none can touch the program's descriptors
    // or memory once this resolves, so closing its host fds below is safe; except a worker left
    // behind blocked in a write to a caller's fd (STUCK_WORKER_GRACE_MS), which touches none of the
    // fds closed below, and whose table and memory are then not reused.
    this.workersLeftBehind = await this.workers.releaseAll(Math.max(0, until - performance.now()));
    this.output.flush();
    // Every thread is gone now, also one whose wasm had returned (and been joined) but whose worker
    // had not yet counted it out when the end came.
    this.control.threads.clearLive();
    (this.started?.stdin ?? stdinRelay).cancel(this);
    // A kept pool's threads hold the table: emptied, it passes with them (unless a worker was left behind: then nothing is reused).
    if (this.wasi) closeProgramWasi(this.wasi, this.workersLeftBehind > 0, kept !== undefined);
    running.delete(this.namespace);
    this.endStats = this.stats();
    if (kept) this.poolKeeper!.settle(this.workersLeftBehind);
    this.calls.rejectAll(() => this.endError());
    if ('code' in outcome) this.settle.resolve(outcome.code);
    else this.settle.reject(outcome.error);
  }
}
