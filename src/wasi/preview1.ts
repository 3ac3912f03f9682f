/**
 * WASI preview1 for every thread of a program, over one shared descriptor table: the state one
 * thread's calls share (its view of the memory, the table, its reads and writes, its readdir
 * listing) and the step every call that works on a descriptor takes (`withFd`); the calls
 * themselves are in call-table.ts. Ordinary calls run with the synchronous node:fs functions on
 * the host fd. Calls that could block without end never block in a host call: sleeps are
 * `Atomics.wait`s, and reading the process's stdin is done by the coordinator while this thread
 * waits in `Atomics.wait`. A thread blocked in either can always be terminated, so ending a
 * program never hangs on it.
 */
import type { WasmMemory } from '../base/wasm-types.js';
import type { RunConfig } from '../shared/messages.js';
import { callTable, type WasiCalls } from './call-table.js';
import { Errno, errnoOf, Filetype } from './constants.js';
import { FdIo, readsProcessStdin } from './fd-io.js';
import type { FdOwnerClient } from './fd-owner.js';
import { FdTable, type Handle } from './fd-table.js';
import { GuestMemory } from './guest-memory.js';
import { type FinalAction, walkPath } from './path-walk.js';
import { DirectoryListing } from './readdir.js';
import type { StdinClient } from './stdin-client.js';

export interface SharedWasiOptions {
  /** Args, env and preopen names; when absent, `fetchConfig` gives them at the first call that needs them. */
  config?: RunConfig;
  fetchConfig?: () => RunConfig;
  fdTable: SharedArrayBuffer;
  /** Reads the program's stdin through the coordinator (the process's stdin, or the run's bytes). */
  stdin: StdinClient;
  /** Opens and closes the program's host fds (the coordinator). */
  owner: FdOwnerClient;
  /** Takes what the program writes to a relayed stdout or stderr (see RELAYED in fd-owner.ts). */
  output?: (stream: 1 | 2, bytes: Uint8Array) => void;
}

/** A run's config, encoded once for the calls that copy it into the program's memory. */
interface EncodedConfig {
  args: Uint8Array[];
  env: Uint8Array[];
  preopens: Uint8Array[];
}

const encoder = new TextEncoder();

export class SharedWasi implements WasiCalls {
  readonly wasiImport: Record<string, (...args: never[]) => number>;
  readonly memory = new GuestMemory();
  readonly table: FdTable;
  readonly io: FdIo;
  readonly listing = new DirectoryListing();
  readonly owner: FdOwnerClient;
  readonly stdin: StdinClient;
  private encoded: EncodedConfig | undefined;

  constructor(private readonly options: SharedWasiOptions) {
    this.owner = options.owner;
    this.stdin = options.stdin;
    this.table = new FdTable(options.fdTable, (released) => options.owner.release(released));
    this.io = new FdIo(this.table, options.stdin, options.output);
    if (options.config) this.configure(options.config);
    this.wasiImport = callTable(this);
  }

  /** Sets the args, env and preopen names the program sees (a prepared run gets them when it starts). */
  configure({ args, env, preopens }: RunConfig): void {
    this.encoded = {
      args: args.map((arg) => encoder.encode(`${arg}\0`)),
      env: Object.entries(env).map(([key, value]) => encoder.encode(`${key}=${value}\0`)),
      preopens: preopens.map((guest) => encoder.encode(guest)),
    };
  }

  /**
   * For a later run of the same program's control block, on the same descriptor table (emptied) and
   * memory (zeroed): what this thread knew of the run before is forgotten, its config (fetched
   * again when a call needs it) and its directory listing.
   */
  rearm(): void {
    this.encoded = undefined;
    this.listing.forget();
  }

  get config(): EncodedConfig {
    if (!this.encoded) this.configure(this.options.fetchConfig!());
    return this.encoded!;
  }

  getImportObject(): Record<string, Record<string, unknown>> {
    return { wasi_snapshot_preview1: this.wasiImport };
  }

  /** Gives the calls their memory; `instance` may be `{ exports: { memory } }`. */
  initialize(instance: { exports: Record<string, unknown> }): void {
    this.memory.memory = instance.exports.memory as WasmMemory;
  }

  /**
   * Runs a call that works on the fd `fd`, holding a reference to its handle for the whole call, so
   * that its host fd cannot be closed (and its number reused) under it. node:fs errors become their errno.
   */
  withFd(fd: number, needs: number, call: (handle: Handle) => number): number {
    const handle = this.table.acquire(fd);
    if (!handle) return Errno.BADF;
    try {
      if ((handle.rightsBase & needs) !== needs) return Errno.NOTCAPABLE;
      return call(handle);
    } catch (error) {
      return errnoOf(error);
    } finally {
      this.table.release(handle.index);
    }
  }

  /** Runs `act` on the final component of a guest path below the directory `fd` (see path-walk.ts). */
  withPath(fd: number, needs: number, pathPointer: number, pathLength: number, follow: boolean, act: FinalAction): number {
    const path = this.memory.path(pathPointer, pathLength);
    if (typeof path === 'number') return path;
    return this.withFd(fd, needs, (dir) => (dir.filetype === Filetype.DIRECTORY ? walkPath(dir.hostFd, path, follow, act) : Errno.NOTDIR));
  }

  ioCall(fd: number, needs: number, iovs: number, count: number, resultPointer: number, io: (entry: Handle, buffers: Uint8Array[]) => number): number {
    return this.withFd(fd, needs, (entry) => {
      const done = io(entry, this.memory.iovecs(iovs, count));
      if (done < 0) return -done;
      this.memory.view(resultPointer + 4).setUint32(resultPointer, done, true);
      return Errno.SUCCESS;
    });
  }

  /** Whether `fd` is the process's stdin (read through the coordinator); undefined when it is not open. */
  readsStdin(fd: number): boolean | undefined {
    const handle = this.table.acquire(fd);
    if (!handle) return undefined;
    this.table.release(handle.index);
    return readsProcessStdin(handle);
  }
}
