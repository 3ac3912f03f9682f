/**
 * Every error the library raises, once: its class, its stable code and when it comes. The classes
 * below take their codes from here, and the README's list is generated from it (`npm run docs`; a
 * test checks that the README is up to date).
 */
export const ERROR_CODES = [
  {
    error: 'InvalidOptionError',
    code: 'ERR_WASI_THREADS_INVALID_OPTION',
    when: 'an option (of `initWasiMain`, `startWasiMain`, `createRuntime`, `run`, `instantiate` or a call) is missing, conflicting or out of range',
  },
  { error: 'WasmLoadError', code: 'ERR_WASI_THREADS_WASM_LOAD', when: 'the wasm file cannot be read, or is not a valid WebAssembly module' },
  {
    error: 'ModuleRequirementError',
    code: 'ERR_WASI_THREADS_MODULE',
    when: 'the module does not meet the wasi-threads requirements (missing `wasi_thread_start`, memory not imported or not shared, limits that do not fit, missing `initMethod`), or is the wrong kind for the call (`run()` of a reactor, `instantiate()` of a command)',
  },
  {
    error: 'ThreadTrapError',
    code: 'ERR_WASI_THREADS_TRAP',
    when: 'a wasm thread trapped or threw, and the program (or run, or instance) was ended; `threadId` names the thread (0: the main thread)',
  },
  {
    error: 'WorkerFailedError',
    code: 'ERR_WASI_THREADS_WORKER',
    when: 'a worker failed outside wasm (its script threw, it crashed, exited or was terminated by someone else), or no worker could be had',
  },
  { error: 'ProgramDestroyedError', code: 'ERR_WASI_THREADS_DESTROYED', when: 'the program was destroyed by its owner before it ended by itself' },
  {
    error: 'ProgramExitedError',
    code: 'ERR_WASI_THREADS_EXITED',
    when: "a reactor instance's program called `proc_exit` (in a call or in `_initialize`): that call and every later one reject with it, and the instance is ended; `exitCode` is the code it exited with",
  },
  { error: 'RunTimeoutError', code: 'ERR_WASI_THREADS_TIMEOUT', when: 'a run or a call took longer than its `timeoutMs`, and was ended' },
  { error: 'RunAbortedError', code: 'ERR_WASI_THREADS_ABORTED', when: 'a run or a call was aborted through its `signal`, and was ended' },
  {
    error: 'RunOutputLimitError',
    code: 'ERR_WASI_THREADS_OUTPUT_LIMIT',
    when: "a run's stdout or stderr captured with `'buffer'` went past its `maxBuffer`, and the run was ended (as `child_process`'s `maxBuffer`)",
  },
  {
    error: 'RunOutputError',
    code: 'ERR_WASI_THREADS_OUTPUT',
    when: "a run's (or an instance's) stdout or stderr `Writable` failed (a write reported an error, or it emitted `'error'`), and the run was ended; `cause` is the stream's error, which does not bring the process down",
  },
  { error: 'RuntimeClosedError', code: 'ERR_WASI_THREADS_RUNTIME_CLOSED', when: 'the runtime was closed: it takes no more runs, and ended those it had' },
  { error: 'WasiThreadsError', code: 'ERR_WASI_THREADS_NOT_A_WORKER', when: '`initWasiWorker()` was called outside a worker the library started' },
] as const;

type ErrorCode = (typeof ERROR_CODES)[number]['code'];

/** The README's list of error codes (between its `<!-- error-codes -->` markers). */
export function errorCodesTable(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  return [
    '| error | `code` | when |',
    '| --- | --- | --- |',
    ...ERROR_CODES.map(({ error, code, when }) => `| \`${error}\` | \`${code}\` | ${cell(when)} |`),
  ].join('\n');
}

/** Base class of every error this library raises; `code` is stable, the message says what to do. */
export class WasiThreadsError extends Error {
  readonly code: string;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option of `initWasiMain` is missing, conflicting or out of range. */
export class InvalidOptionError extends WasiThreadsError {
  constructor(message: string) {
    super('ERR_WASI_THREADS_INVALID_OPTION', message);
  }
}

/** The wasm file cannot be read or is not a valid WebAssembly module. */
export class WasmLoadError extends WasiThreadsError {
  constructor(message: string, cause?: unknown) {
    super('ERR_WASI_THREADS_WASM_LOAD', message, { cause });
  }
}

/** The module does not meet the wasi-threads requirements (exports, shared memory, limits). */
export class ModuleRequirementError extends WasiThreadsError {
  constructor(message: string) {
    super('ERR_WASI_THREADS_MODULE', message);
  }
}

/** The message of the ModuleRequirementError for a command run with no `_start` and no `initMethod`. */
export const NO_START = 'the module exports no _start: set initMethod to the function that runs the program';

/** A wasm thread trapped (or threw); the whole program was ended. `threadId` 0 is the main thread. */
export class ThreadTrapError extends WasiThreadsError {
  readonly threadId: number;
  constructor(threadId: number, trap: { name: string; message: string; stack?: string }) {
    const where = threadId === 0 ? 'the wasm main thread' : `wasm thread ${threadId}`;
    super('ERR_WASI_THREADS_TRAP', `${where} trapped: ${trap.name}: ${trap.message}`);
    this.threadId = threadId;
    if (trap.stack) this.stack = `${this.name}: ${this.message}\n${trap.stack.split('\n').slice(1).join('\n')}`;
  }
}

/** A worker of the program failed outside wasm (its script threw, it crashed or exited early). */
export class WorkerFailedError extends WasiThreadsError {
  constructor(message: string, cause?: unknown) {
    super('ERR_WASI_THREADS_WORKER', message, { cause });
  }
}

/** The program was destroyed by its owner before it ended by itself. */
export class ProgramDestroyedError extends WasiThreadsError {
  constructor(namespace: string) {
    super('ERR_WASI_THREADS_DESTROYED', `wasm program "${namespace}" was destroyed before it ended`);
  }
}

/** A reactor instance's program exited (`proc_exit`): its calls reject with this, carrying the exit code. */
export class ProgramExitedError extends WasiThreadsError {
  readonly exitCode: number;
  constructor(namespace: string, exitCode: number) {
    super('ERR_WASI_THREADS_EXITED', `wasm program "${namespace}" exited with code ${exitCode}: the instance has ended`);
    this.exitCode = exitCode;
  }
}

/** A run (or a call into an instance) took longer than its `timeoutMs`; it was ended. */
export class RunTimeoutError extends WasiThreadsError {
  constructor(timeoutMs: number, what = 'the run') {
    super('ERR_WASI_THREADS_TIMEOUT', `${what} did not end within its timeoutMs of ${timeoutMs} ms and was ended: raise timeoutMs if it needs longer`);
  }
}

/** A run's output captured with 'buffer' went past its maxBuffer; the run was ended. */
export class RunOutputLimitError extends WasiThreadsError {
  constructor(stream: 'stdout' | 'stderr', maxBuffer: number) {
    super(
      'ERR_WASI_THREADS_OUTPUT_LIMIT',
      `the run's ${stream} went past its maxBuffer of ${maxBuffer} bytes and the run was ended: raise maxBuffer, or pass a Writable to take the output as it comes`,
    );
  }
}

/** A run's (or an instance's) output stream failed; the run was ended, as nothing could take its output. */
export class RunOutputError extends WasiThreadsError {
  constructor(stream: 'stdout' | 'stderr', cause: unknown, what = 'the run') {
    super(
      'ERR_WASI_THREADS_OUTPUT',
      `${what}'s ${stream} stream failed${cause instanceof Error ? ` (${cause.message})` : ''} and ${what} was ended: nothing could take its output`,
      { cause },
    );
  }
}

/** A run (or a call into an instance) was aborted through its AbortSignal; it was ended. */
export class RunAbortedError extends WasiThreadsError {
  constructor(reason: unknown, what = 'the run') {
    super('ERR_WASI_THREADS_ABORTED', `${what} was aborted by its signal${reason instanceof Error ? `: ${reason.message}` : ''}`, { cause: reason });
  }
}

/** The runtime was closed: it takes no more runs, and the runs and instances it had were ended. */
export class RuntimeClosedError extends WasiThreadsError {
  constructor() {
    super('ERR_WASI_THREADS_RUNTIME_CLOSED', 'the runtime is closed: create another one with createRuntime()');
  }
}
