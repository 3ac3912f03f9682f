/** Base class of every error this library raises; `code` is stable, the message says what to do. */
export class WasiThreadsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
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

/** A run (or a call into an instance) took longer than its `timeoutMs`; it was ended. */
export class RunTimeoutError extends WasiThreadsError {
  constructor(timeoutMs: number, what = 'the run') {
    super('ERR_WASI_THREADS_TIMEOUT', `${what} did not end within its timeoutMs of ${timeoutMs} ms and was ended: raise timeoutMs if it needs longer`);
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
