/**
 * Where a program's workers come from. A program of its own starts a Worker for each of its threads
 * and ends them all with it (`OwnWorkers`); a runtime lends it workers that go back to the runtime
 * when the program is done with them (runtime-workers.ts).
 */
import { writeSync } from 'node:fs';
import { type ResourceLimits, type TransferListItem, Worker } from 'node:worker_threads';
import { InvalidOptionError } from '../base/errors.js';
import type { ResolvedConfig } from '../base/options.js';
import { BOOT_KEY, type BootData, type InboxMessage, type WorkerMessage } from '../shared/messages.js';

/** What a worker tells the program it works for. */
export interface WorkerEvents {
  message(message: WorkerMessage): void;
  error(error: Error): void;
  exit(exitCode: number): void;
}

/** One worker, as lent to one program. */
export interface WorkerHandle {
  /** Puts a message in the worker's inbox (a runtime's worker; a worker of its own has none). */
  send(message: InboxMessage): void;
  /**
   * The program is done with the worker. `out`: it is out of the program's wasm for good and
   * leaves by itself, so a runtime may take it back; otherwise (or if it does not come back in
   * time) it is terminated. Resolves once the worker can no longer touch the program.
   */
  end(out: boolean): Promise<void>;
  /** Hands the program, now, the messages the worker sent that are not handled yet. */
  drain(): void;
}

export interface WorkerSource {
  /** Whether the workers outlive the program (a runtime's): then it pays to let them leave by themselves. */
  readonly reusesWorkers: boolean;
  /** A worker booted for `boot`, or undefined when the host is at its cap on workers. Throws a typed error when Node refuses. */
  start(boot: BootData, events: WorkerEvents): WorkerHandle | undefined;
  /** Whether no worker is free now but some are on their way back: one will be free in a moment. */
  workersComingBack?(): boolean;
  /**
   * At the cap on workers, a running program's spawn needs one: frees workers held by programs that
   * do not run yet (a runtime's prepared runs). True when some will be free in a moment; the
   * program hears of it through `ProgramWorkers.workerFreed`.
   */
  reclaim?(): boolean;
  /**
   * A runtime's: the worker behind `handle`, lent and parked in a pool, passes to run `run` without
   * leaving it (see `SharedControl.rearm`): its events go to `events` from now on, and `handle` is
   * spent. Undefined when the worker is no longer lent (it ended).
   */
  transfer?(handle: WorkerHandle, run: number, events: WorkerEvents): WorkerHandle | undefined;
}

/**
 * How long the end of a program (or a runtime's `close`) waits for its workers to be gone. A worker
 * blocked in the kernel, writing to a stdout or stderr socket nobody reads, cannot be ended until
 * that call returns (a pipe has a non-blocking descriptor of its own, see fd-owner.ts, but a socket
 * cannot be reopened): past this the program ends without it. Such a worker can touch neither the
 * program's descriptors (it is in a write to the caller's own fd, which the library never closes)
 * nor, once the call returns, anything else (it was terminated), and nothing of the program is
 * used again while it lives (its memory is let go, its descriptor table not reused).
 */
export const STUCK_WORKER_GRACE_MS = 2000;

/** Waits for `promises`, at most `ms`; resolves with how many had not settled by then. */
export async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<number> {
  let pending = promises.length;
  const all = Promise.all(promises.map((promise) => promise.finally(() => pending--)));
  // One that rejects after `ms` is no one's to handle any more: not an unhandled rejection.
  all.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  // Not unref'd: a caller awaiting this must get its answer even with nothing else in the loop.
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([all, late]);
  } finally {
    clearTimeout(timer);
  }
  return pending;
}

/**
 * Terminates `worker`; resolves once its thread is gone. It no longer keeps the process alive
 * meanwhile: one blocked in the kernel (see STUCK_WORKER_GRACE_MS) may take long to go.
 */
export async function endWorker(worker: Worker): Promise<void> {
  const ended = worker.terminate();
  worker.unref();
  await ended;
}

/** Writes all of `chunk` to `fd`, also when another part of the process made it non-blocking. */
export function writeAllSync(fd: number, chunk: Uint8Array): void {
  let offset = 0;
  while (offset < chunk.length) {
    try {
      offset += writeSync(fd, chunk, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

/** A worker's V8 limits: the caller's, over the library's defaults for that worker; undefined when neither has any. */
export function resourceLimitsFor(defaults: ResourceLimits | undefined, callers: ResourceLimits | undefined): ResourceLimits | undefined {
  return defaults || callers ? { ...defaults, ...callers } : undefined;
}

/**
 * Node's Worker with the options every library worker gets. With `pipeConsole` its JS console goes
 * to this process's stdout and stderr; reading those streams keeps the process alive for as long as
 * the worker lives, whatever `unref()` says, so a runtime's workers (which print nothing) skip it.
 */
export function newWorker(
  file: string,
  config: Pick<ResolvedConfig, 'workerOptions'>,
  workerData: unknown,
  { transferList, pipeConsole = true, defaultLimits }: { transferList?: TransferListItem[]; pipeConsole?: boolean; defaultLimits?: ResourceLimits } = {},
): Worker {
  const { execArgv, env } = config.workerOptions;
  const resourceLimits = resourceLimitsFor(defaultLimits, config.workerOptions.resourceLimits);
  let worker: Worker;
  try {
    worker = new Worker(file, {
      workerData,
      ...(transferList && { transferList }),
      ...(execArgv && { execArgv }),
      ...(env && { env }),
      ...(resourceLimits && { resourceLimits }),
      // Without these Node opens process.stdout in this thread, which makes a pipe on fd 1 non-blocking.
      stdout: true,
      stderr: true,
    });
  } catch (error) {
    // Node checks execArgv only here (ERR_WORKER_INVALID_EXEC_ARGV).
    throw new InvalidOptionError(`workerOptions: Node refused to start a worker: ${(error as Error).message}`);
  }
  if (pipeConsole) {
    worker.stdout.on('data', (chunk: Uint8Array) => writeAllSync(1, chunk));
    worker.stderr.on('data', (chunk: Uint8Array) => writeAllSync(2, chunk));
  }
  return worker;
}

/** A new Worker for each thread of one program, running the program's entry or thread file; all end with the program. */
export class OwnWorkers implements WorkerSource {
  readonly reusesWorkers = false;

  constructor(private readonly config: ResolvedConfig) {}

  start(boot: BootData, events: WorkerEvents): WorkerHandle {
    const worker = newWorker(boot.role === 'main' ? this.config.entryFile : this.config.threadFile, this.config, { [BOOT_KEY]: boot });
    worker.on('message', (message: WorkerMessage) => events.message(message));
    worker.on('error', (error) => events.error(error));
    worker.on('exit', (exitCode) => events.exit(exitCode));
    return {
      send: () => undefined,
      end: () => endWorker(worker),
      drain: () => undefined,
    };
  }
}
