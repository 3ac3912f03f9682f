/**
 * A long-lived runtime for one module: it owns the workers and outlives the programs it runs, and it
 * keeps the next run prepared ahead of demand (its memory made, its main instance and warm pool
 * instantiated and parked), so that `run()` only hands the run its config and lets it go.
 *
 * Each run is a `Program` of its own (its memory, control block, descriptor table, preopens, args,
 * env and exit code); only workers pass from one run to the next, and only once they are back in
 * their loop holding nothing of the last run (runtime-workers.ts).
 */

import { ModuleRequirementError, RunAbortedError, RuntimeClosedError } from '../../base/errors.js';
import type { ResolvedConfig } from '../../base/options.js';
import { checkRunOptions, type RunOptions, type RuntimeLimits } from '../../base/run-options.js';
import type { WasmMemory } from '../../base/wasm-types.js';
import { RESET_EXPORT } from '../../shared/messages.js';
import { closePreopens, openPreopens } from '../../wasi/fd-owner.js';
import type { LoadedProgram } from '../module/module-loader.js';
import type { FunctionType } from '../module/wasm-binary.js';
import { Program } from '../program/program.js';
import type { ProgramStart } from '../program/types.js';
import { KeptPools } from './kept-pools.js';
import { MemoryPool } from './memory-pool.js';
import { RunLimits, stageHook, watchLimits } from './run-limits.js';
import { RunQueue } from './run-queue.js';
import { RunStdio } from './run-stdio.js';
import { RuntimeWorkers } from './runtime-workers.js';
import type { RunResult, RuntimeStats } from './types.js';
import { WasmInstance } from './wasm-instance.js';

export class Runtime {
  private readonly workers: RuntimeWorkers;
  private prepared: Program[] = [];
  private readonly live = new Set<Program>();
  private readonly queue: RunQueue;
  private readonly memories: MemoryPool;
  private readonly keptPools: KeptPools;
  private liveInstances = 0;
  private awaited = 0;
  private ended = 0;
  private hits = 0;
  private misses = 0;
  private nextRun = 1;
  private closed = false;
  /** Set when a run failed while being prepared (a module that cannot be instantiated): no more are prepared. */
  private broken: Error | undefined;
  /** Runs waiting for a worker to come back (see `awaitReturningWorkers`). */
  private workerBackWaiters: Array<() => void> = [];
  /** The module's exported functions (with their signatures when known), which instances' calls are checked against. */
  private functions: ReadonlyMap<string, FunctionType | undefined> | undefined;

  /** @internal Use createRuntime(). */
  constructor(
    private readonly config: ResolvedConfig,
    private readonly loaded: LoadedProgram,
    private readonly limits: RuntimeLimits,
  ) {
    this.workers = new RuntimeWorkers(
      config,
      limits.maxWorkers,
      // Enough idle workers for a full load (every run at once, and the prepared ones): fewer would be
      // ended after each burst and started again for the next.
      () => (limits.maxConcurrentRuns + limits.preparedRuns) * (1 + config.poolSize),
      () => {
        if (!this.giveWorkerToWaitingSpawn()) this.topUp();
        this.wakeWorkerBackWaiters();
      },
      () => this.reclaimPrepared(),
    );
    this.queue = new RunQueue(limits.maxConcurrentRuns, () => this.updateReferenced());
    this.memories = new MemoryPool(loaded, limits.maxConcurrentRuns + limits.preparedRuns, () => this.workers.collector.dropped());
    this.keptPools = new KeptPools(this.workers, this.memories, limits.maxConcurrentRuns + limits.preparedRuns, () => this.topUp());
    this.workers.setReferenced(false);
    this.topUp();
  }

  /** @internal Resolves once the first prepared run is ready (rejects with why it could not be prepared). */
  async firstPrepared(): Promise<void> {
    const first = this.prepared[0];
    if (!first) return;
    await this.hold(Promise.race([first.ready, first.exited.then(() => undefined)])).catch(() => undefined);
    if (this.broken) {
      await this.close();
      throw this.broken;
    }
  }

  stats(): RuntimeStats {
    return {
      ...this.workers.stats(),
      runs: this.ended,
      activeRuns: this.queue.active,
      queuedRuns: this.queue.queued,
      liveInstances: this.liveInstances,
      preparedHits: this.hits,
      preparedMisses: this.misses,
      memoriesCreated: this.memories.created,
      growGuard: this.loaded.growGuard,
      instanceReset: this.loaded.instanceReset,
    };
  }

  /**
   * Runs the module's `_start` once, with its own memory, descriptors, args, env and stdio.
   * Resolves with the exit code and captured output; rejects with a typed error when the run
   * traps, times out, is aborted, or the runtime closes.
   */
  async run(options: RunOptions = {}): Promise<RunResult> {
    const startedAt = performance.now();
    checkRunOptions(options, true, this.config.maxThreads, this.memoryLimits);
    if (!this.loaded.hasStart) throw new ModuleRequirementError('the module exports no _start (a reactor?): call instantiate() and then its exports');
    if (this.closed) throw new RuntimeClosedError();
    if (options.signal?.aborted) throw new RunAbortedError(options.signal.reason);
    // Armed before the first await: the limits, and the watch on the caller's streams.
    const limits = new RunLimits(options, 'the run', startedAt);
    const stdio = new RunStdio(options);
    const unwatch = stdio.watch();
    stdio.fail = (error) => limits.fail(error);
    let admitted = false;
    let program: Program | undefined;
    try {
      await this.queue.admit(limits);
      admitted = true;
      if (stageHook.enter) await stageHook.enter('admitted');
      await limits.race(this.awaitReturningWorkers());
      program = this.start(options, stdio, false);
      const running = program;
      limits.during((error) => void running.abort(error));
      if (stageHook.enter) await stageHook.enter('started');
      const exitCode = await program.exited;
      if (stageHook.enter) await stageHook.enter('ending');
      // Output the program wrote before its end, delivered as it ended (a write that waited for
      // an earlier one of another thread), may have failed after the abort could change anything.
      // An abort or a timeout that lands here changes nothing: the program has ended.
      if (stdio.failure) throw stdio.failure;
      return { exitCode, stdout: stdio.captures(1), stderr: stdio.captures(2), stats: program.stats(), durationMs: performance.now() - startedAt };
    } finally {
      unwatch();
      limits.disarm();
      if (program) this.live.delete(program);
      this.ended++;
      if (admitted) this.queue.leave();
    }
  }

  /**
   * A live instance of a reactor module (one that exports `_initialize` and no `_start`): its
   * `_initialize` runs once, then `call()` runs its exports on the instance's main thread; threads
   * they spawn come from the instance's pool. `timeoutMs` and `signal` here bound `_initialize`.
   */
  async instantiate(options: RunOptions = {}): Promise<WasmInstance> {
    const startedAt = performance.now();
    checkRunOptions(options, false, this.config.maxThreads, this.memoryLimits);
    if (this.loaded.hasStart) throw new ModuleRequirementError('the module exports _start (a command): run() it; instantiate() is for reactors');
    if (this.closed) throw new RuntimeClosedError();
    if (options.signal?.aborted) throw new RunAbortedError(options.signal.reason, "the instance's _initialize");
    const stdio = new RunStdio(options, 'the instance');
    const unwatch = stdio.watch();
    let program: Program;
    try {
      program = this.start(options, stdio, true);
    } catch (error) {
      unwatch();
      throw error;
    }
    stdio.fail = (error) => void program.abort(error);
    this.liveInstances++;
    void program.exited
      .catch(() => undefined)
      .finally(() => {
        unwatch();
        this.live.delete(program);
        this.liveInstances--;
      });
    const disarm = watchLimits(options, "the instance's _initialize", (error) => void program.abort(error), startedAt);
    try {
      await this.hold(program.whenInitialized());
    } finally {
      disarm();
    }
    this.functions ??= new Map(
      WebAssembly.Module.exports(this.loaded.module as WebAssembly.Module)
        // The instance reset's export is the library's, not the program's.
        .filter((e) => e.kind === 'function' && e.name !== RESET_EXPORT)
        .map((e) => [e.name, this.loaded.exportTypes?.get(e.name)]),
    );
    return new WasmInstance(program, this.functions, this);
  }

  /** Ends every run and instance (they reject with RuntimeClosedError) and every worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeWorkerBackWaiters();
    this.queue.refuseAll(() => new RuntimeClosedError());
    const programs = [...this.prepared, ...this.live];
    this.prepared = [];
    await Promise.all([...programs.map((program) => program.abort(new RuntimeClosedError())), this.keptPools.close()]);
    await this.workers.close();
  }

  /**
   * The workers keep the process alive only while a caller awaits the runtime (a run, a call, an
   * instance's or the runtime's start): an idle runtime, even one never closed, lets it end.
   */
  private updateReferenced(): void {
    this.workers.setReferenced(this.queue.active + this.queue.queued + this.awaited > 0);
  }

  /** @internal Counts a promise a caller awaits (see `updateReferenced`) until it settles. */
  async hold<T>(work: Promise<T>): Promise<T> {
    this.awaited++;
    this.updateReferenced();
    try {
      return await work;
    } finally {
      this.awaited--;
      this.updateReferenced();
    }
  }

  /**
   * A run ends without waiting for its idle pool workers to wake and say they are back (see
   * `ProgramWorkers.releaseAtEnd`): the next run, when none is prepared or being prepared, waits for them
   * here (they prepare it as they come back) rather than start new workers, which takes tens of
   * milliseconds. They come back or are ended within LEAVE_GRACE_MS.
   */
  private async awaitReturningWorkers(): Promise<void> {
    while (!this.closed && this.prepared.length === 0 && this.workers.returning > 0) {
      await new Promise<void>((resolve) => this.workerBackWaiters.push(resolve));
    }
  }

  /** A worker came back (or the runtime closed): the runs in `awaitReturningWorkers` look again. */
  private wakeWorkerBackWaiters(): void {
    for (const resolve of this.workerBackWaiters.splice(0)) resolve();
  }

  /** Takes a prepared run (or prepares one now) and lets it go with this run's config and stdio. */
  private start(options: RunOptions, stdio: RunStdio, reactor: boolean): Program {
    if (this.closed) throw new RuntimeClosedError();
    if (this.broken) throw this.broken;
    const preopens = openPreopens(options.preopens ?? {});
    let program: Program;
    try {
      const index = this.prepared.findIndex((p) => p.isReady);
      const ownMaximum = options.maxMemoryPages !== undefined && options.maxMemoryPages !== this.memoryLimits?.maximum;
      if (ownMaximum) {
        this.misses++;
        program = this.prepare(options.maxMemoryPages);
      } else if (index >= 0) {
        this.hits++;
        program = this.prepared.splice(index, 1)[0]!;
      } else if (this.keptPools.hasReady) {
        // None is ready, but a pool is: a run made on it now, rather than one still booting its own
        // pool (which would end before its pool is up, and so leave none to the next run).
        this.misses++;
        program = this.prepare();
      } else {
        this.misses++;
        program = this.prepared.shift() ?? this.prepare();
      }
    } catch (error) {
      closePreopens(preopens);
      throw error;
    }
    this.live.add(program);
    const start: ProgramStart = {
      config: { args: options.args ?? [], env: options.env ?? {}, preopens: preopens.names },
      stdio: stdio.fds,
      preopens,
      reactor,
      maxThreads: options.maxThreads ?? this.config.maxThreads,
      stdin: stdio.stdin,
      output: stdio.output,
    };
    program.go(start);
    this.topUp();
    return program;
  }

  /** A worker came free: a running program's spawn that waits for one comes before the next prepared run. Whether one took it. */
  private giveWorkerToWaitingSpawn(): boolean {
    for (const program of this.live) if (program.workerFreed()) return true;
    return false;
  }

  /**
   * Spawn priority: a running program's spawn found the runtime at maxWorkers. The prepared run
   * made last gives its workers back (it has not started: nothing of it is lost, and the runtime
   * prepares another once workers are free again). False when no run is prepared.
   */
  private reclaimPrepared(): boolean {
    if (this.keptPools.releaseOne()) return true;
    const program = this.prepared.pop();
    if (!program) return false;
    void program.abort(new RuntimeClosedError());
    return true;
  }

  /** Prepares runs until `preparedRuns` are, while the workers allow. */
  private topUp(): void {
    for (;;) {
      // A kept pool's workers are lent already: only the main thread's (unless kept too) and the rest of the pool are needed.
      const needs = (this.keptPools.nextHasMain ? 0 : 1) + Math.max(0, this.config.poolSize - this.keptPools.nextPoolSize);
      if (this.closed || this.broken || this.prepared.length >= this.limits.preparedRuns || this.workers.available < needs) return;
      // Workers on their way back will do: starting new ones now would only add to the idle.
      if (this.workers.idle < needs && this.workers.returning > 0) return;
      this.prepared.push(this.prepare());
    }
  }

  /** The runtime's memory limits in pages (absent for a module that makes its own memory). */
  private get memoryLimits(): { initial: number; maximum?: number } | undefined {
    return this.memories.limits;
  }

  /** @internal A caller was given `memory` (`WasmInstance.memory`): it is never passed on to another run. */
  handOut(memory: WasmMemory): void {
    this.memories.handOut(memory);
  }

  private prepare(maximum = this.memoryLimits?.maximum): Program {
    const run = this.nextRun++;
    // Only runs with the runtime's maximum take and keep pools: the prepared runs have it.
    const standard = maximum === this.memoryLimits?.maximum;
    // A pool the run before left parked on its memory, or a memory (passed on or new) and a pool to boot.
    const taken = standard ? this.keptPools.take() : undefined;
    const { memory, address, reused } = taken ? { ...taken.memory, reused: true } : this.memories.forRun(maximum);
    const keeping = memory && standard ? this.keptPools.keeperFor(run, { memory, address }, maximum) : undefined;
    const program = new Program(
      { ...this.config, namespace: `${this.config.namespace}_run${run}` },
      { ...this.loaded, memory, memoryAddress: address },
      {
        source: this.workers,
        run,
        prepared: true,
        clearMemory: reused,
        keptPool: taken?.pool,
        poolKeeper: keeping?.keeper,
      },
    );
    program.start();
    program.exited
      .catch((error: Error) => {
        const index = this.prepared.indexOf(program);
        if (index < 0) return; // it had started: its run reports the error
        this.prepared.splice(index, 1);
        if (!this.closed) this.broken = error;
      })
      .finally(() => {
        // A worker left behind may still write into it once its blocked call returns.
        if (memory && !keeping?.kept()) this.memories.runEnded({ memory, address }, maximum, program.workersLeftBehind, this.closed);
      });
    return program;
  }
}
