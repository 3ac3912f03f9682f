import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProgramStats } from '../../src/index.js';

/** Runs fixture programs in child `node` processes through test/helpers/host.mjs, for tests and benchmarks. */
export const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/build/${name}.wasm`, import.meta.url));
/** A new directory of its own under the system's temporary directory, named after `name`. */
export const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `wtw-${name}-`));
export const hostFile = fileURLToPath(new URL('./host.mjs', import.meta.url));

export interface ProgramSpec {
  fixture: string;
  args?: string[];
  poolSize?: number;
  maxThreads?: number;
  namespace?: string;
  initMethod?: string;
  memorySetting?: { initial?: number; maximum?: number };
  wasiImplementation?: 'shared' | 'node';
  /** wasiOptions.preopens: guest path -> host directory. */
  preopens?: Record<string, string>;
  /** Sample the host's RSS once this many spawns have happened. */
  rssAtSpawns?: number[];
  /** Sample the host's RSS this long after the start. */
  rssAfterMs?: number[];
  /** A file the host opens and passes as wasiOptions.stdout. */
  stdoutFile?: string;
}

interface RoleSettings {
  destroyWhenEnd?: boolean;
  noWasiStart?: boolean;
  hostValue?: number;
  /** host.value() calls process.exit(code) in the worker. */
  exitWorkerInImport?: number;
  customWasiArgs?: string[];
}

export interface ProgramResult {
  /** process.hrtime.bigint() just before startWasiMain, as a string. */
  startedNs: string;
  rss?: { atSpawns: Record<string, number>; afterMs: Record<string, number> };
  namespace?: string;
  exitCode?: number;
  error?: { name: string; code: string; message: string; threadId?: number };
  stats?: ProgramStats;
  liveWorkers?: number;
  /** With `stdoutFile`: whether the host's fd was still open after the program ended. */
  stdoutFdOpenAfter?: boolean;
  /** The host process's peak RSS when this program ended. */
  maxRssBytes?: number;
}

export interface HostRun extends NodeRun {
  results: ProgramResult[];
}

export interface NodeRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** With `markLine`: milliseconds from that line's appearance on stdout to the process's end. */
  msAfterMark?: number;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Pause reading stdout this long at first: the pipe fills up and the program's writes must block. */
  readerPauseMs?: number;
  /** Send SIGINT (Ctrl-C) once stdout shows this. */
  interruptOnLine?: string;
  /** Written to the process's stdin, which then closes; `'hold'` keeps stdin an open pipe nobody writes to. */
  stdin?: string | 'hold';
  markLine?: string;
  /** The process's working directory (default: this one's). */
  cwd?: string;
  /** Variables added to this process's environment for the child. */
  env?: Record<string, string>;
}

/**
 * Runs `node ...args` and waits for the process to end by itself. A process still alive after
 * `timeoutMs` is killed and the run fails as a hang.
 */
export function runNode(args: string[], options: RunOptions = {}): Promise<NodeRun> {
  const { timeoutMs = 30_000, readerPauseMs = 0, interruptOnLine, stdin, markLine, cwd, env } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: env && { ...process.env, ...env },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    }) as ChildProcessWithoutNullStreams;
    if (typeof stdin === 'string' && stdin !== 'hold') child.stdin.end(stdin);
    let stdout = '';
    let stderr = '';
    let markedAt: number | undefined;
    let interrupted = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (markLine !== undefined && markedAt === undefined && stdout.includes(markLine)) markedAt = performance.now();
      if (interruptOnLine !== undefined && !interrupted && stdout.includes(interruptOnLine)) interrupted = child.kill('SIGINT');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    if (readerPauseMs > 0) {
      // A slow reader: the pipe fills up and the program's writes must block, not fail.
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), readerPauseMs);
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} hung for ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      child.stdin?.destroy();
      resolve({ status, stdout, stderr, msAfterMark: markedAt === undefined ? undefined : performance.now() - markedAt });
    });
  });
}

/** Runs programs at once in a fresh `node` process (test/helpers/host.mjs); see `runNode`. */
export async function runHost(
  programs: ProgramSpec[],
  options: { workerConfig?: { main?: RoleSettings; thread?: RoleSettings } } & RunOptions = {},
): Promise<HostRun> {
  const { workerConfig, ...runOptions } = options;
  const { status, stdout, stderr } = await runNode([hostFile, JSON.stringify({ programs, workerConfig })], runOptions);
  // The program's own stderr may not end in a newline, so the marker can start mid-line.
  const marker = /@@result (.*)\n/.exec(stderr);
  if (!marker) throw new Error(`host printed no result (status ${status})\nstdout: ${stdout}\nstderr: ${stderr}`);
  return { status, stdout, stderr: stderr.replace(marker[0], ''), results: JSON.parse(marker[1]!) };
}

/** Runs one program; see `runHost`. */
export async function runProgram(spec: ProgramSpec, options?: Parameters<typeof runHost>[1]): Promise<HostRun & ProgramResult> {
  const run = await runHost([spec], options);
  return { ...run, ...run.results[0]! };
}
