import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProgramStats } from '../src/index.js';

export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/build/${name}.wasm`, import.meta.url));
export const hostFile = fileURLToPath(new URL('./host/program.mjs', import.meta.url));

export interface ProgramSpec {
  fixture: string;
  args?: string[];
  poolSize?: number;
  maxThreads?: number;
  namespace?: string;
  initMethod?: string;
  memorySetting?: { initial?: number; maximum?: number };
}

interface RoleSettings {
  destroyWhenEnd?: boolean;
  noWasiStart?: boolean;
  hostValue?: number;
  customWasiArgs?: string[];
}

export interface ProgramResult {
  namespace?: string;
  exitCode?: number;
  error?: { name: string; code: string; message: string; threadId?: number };
  stats?: ProgramStats;
  liveWorkers?: number;
}

export interface HostRun {
  status: number | null;
  stdout: string;
  stderr: string;
  results: ProgramResult[];
}

/**
 * Runs programs in a fresh `node` process (test/host/program.mjs) and waits for that process to
 * end by itself. A process still alive after `timeoutMs` is killed and the run fails as a hang.
 */
export function runHost(
  programs: ProgramSpec[],
  options: { workerConfig?: { main?: RoleSettings; thread?: RoleSettings }; timeoutMs?: number; readerPauseMs?: number } = {},
): Promise<HostRun> {
  const { workerConfig, timeoutMs = 30_000, readerPauseMs = 0 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [hostFile, JSON.stringify({ programs, workerConfig })], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    if (readerPauseMs > 0) {
      // A slow reader: the pipe fills up and the program's writes must block, not fail.
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), readerPauseMs);
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`host process hung for ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      // The program's own stderr may not end in a newline, so the marker can start mid-line.
      const marker = /@@result (.*)\n/.exec(stderr);
      if (!marker) {
        reject(new Error(`host printed no result (status ${status})\nstdout: ${stdout}\nstderr: ${stderr}`));
        return;
      }
      resolve({ status, stdout, stderr: stderr.replace(marker[0], ''), results: JSON.parse(marker[1]!) });
    });
  });
}

/** Runs one program; see `runHost`. */
export async function runProgram(spec: ProgramSpec, options?: Parameters<typeof runHost>[1]): Promise<HostRun & ProgramResult> {
  const run = await runHost([spec], options);
  return { ...run, ...run.results[0]! };
}
