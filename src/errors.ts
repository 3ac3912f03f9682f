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
