#!/usr/bin/env node
/**
 * `wasi-threads-wrapper [run] [options] program.wasm [--] [program args...]`: runs a wasi-threads
 * program the way `wasmtime run` does (its flags for threads are accepted), and exits with the
 * program's exit code. The flags and exit statuses are declared in flags.ts.
 */
import { readFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LIMITS } from '../base/options.js';
import { InvalidOptionError, ModuleRequirementError, type ProgramStats, startWasiMain, ThreadTrapError, type WasiProgram, WasmLoadError } from '../index.js';
import { EXIT, flagsTakingNextArg, inFlagTerms, parseArgsOptions, usageText } from './flags.js';

const say = (fd: number, text: string) => writeSync(fd, `${text}\n`);

class UsageError extends Error {
  constructor(
    message: string,
    readonly pointToHelp = true,
  ) {
    super(message);
  }
}

function wholeNumber(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${option} needs a whole number, got "${value}"`);
  return Number(value);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `--timeout DURATION`: a number with a unit (`500ms`, `2s`, `1.5m`, `1h`), or seconds alone; in ms. */
function duration(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  const ms = match ? Number(match[1]) * DURATION_UNITS[match[2] ?? 's']! : Number.NaN;
  if (!(ms > 0) || ms > LIMITS.timerMs) throw new UsageError(`${option} needs a duration such as 500ms, 2s, 1.5m or 1h (at most 24 days), got "${value}"`);
  return ms;
}

/** `--env NAME=VALUE`, or `--env NAME` for this process's own value (left out when it has none). */
function environment(values: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of values ?? []) {
    const at = value.indexOf('=');
    if (at === 0 || value === '') throw new UsageError(`--env takes NAME[=VALUE], got "${value}"`);
    if (at > 0) env[value.slice(0, at)] = value.slice(at + 1);
    else if (process.env[value] !== undefined) env[value] = process.env[value]!;
  }
  return env;
}

function preopens(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values ?? []) {
    const at = value.indexOf('::');
    if (at === 0) throw new UsageError(`--dir takes HOST[::GUEST], got "${value}"`);
    const [host, guest] = at < 0 ? [value, value] : [value.slice(0, at), value.slice(at + 2)];
    out[guest] = host;
  }
  return out;
}

/** wasmtime's `-S threads`, `-S threads=y`, `-W threads`: threads are always on here. Anything else is refused by name. */
const ON = new Set(['', 'y', 'yes', 'true', '1']);
function wasmtimeKeys(values: string[], flag: string): void {
  for (const key of values.flatMap((v) => v.split(','))) {
    const [name, setting = ''] = key.split('=', 2) as [string, string?];
    if (name === 'threads' && ON.has(setting)) continue;
    if (name === 'threads') throw new UsageError(`${flag} threads=${setting}: threads cannot be turned off in wasi-threads-wrapper`);
    throw new UsageError(`${flag} ${key}: not supported by wasi-threads-wrapper (it accepts ${flag} threads[=y] for wasmtime compatibility)`);
  }
}

/** `--wasi shared|node` chooses the WASI; wasmtime's `-S`/`--wasi threads` is accepted alongside. */
function wasiChoice(values: string[] | undefined): 'shared' | 'node' | undefined {
  let choice: 'shared' | 'node' | undefined;
  const wasmtime: string[] = [];
  for (const value of values ?? []) {
    if (value === 'shared' || value === 'node') choice = value;
    else wasmtime.push(value);
  }
  wasmtimeKeys(wasmtime, '-S/--wasi');
  return choice;
}

function statsFormat(value: string | undefined): 'json' | 'text' | undefined {
  if (value === undefined || value === 'json' || value === 'text') return value;
  throw new UsageError(`--stats takes json or text, got "${value}"`);
}

interface RunCommand {
  wasmFile: string;
  programArgs: string[];
  argv0?: string;
  poolSize?: number;
  maxThreads?: number;
  env: Record<string, string>;
  preopens: Record<string, string>;
  memoryMax?: number;
  invoke?: string;
  wasi?: 'shared' | 'node';
  stats?: 'json' | 'text';
  growGuard: boolean;
  /** `--timeout`, in ms. */
  timeoutMs?: number;
  timeoutText?: string;
}

/**
 * Splits the command line at the program path: our options before it, the program's arguments
 * after it (their own `--flags` included). `--` before the program ends our options; a `--` right
 * after the program path is dropped (`run prog.wasm -- args`). `--stats` alone means `--stats=json`.
 */
function splitArgv(argv: string[]): { ours: string[]; program: string[] } {
  const takesValue = flagsTakingNextArg();
  const ours: string[] = [];
  let i = 0;
  let optionsEnded = false;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!optionsEnded && arg === '--') {
      optionsEnded = true;
      continue;
    }
    if (!optionsEnded && arg.startsWith('-') && arg !== '-') {
      // A long flag and its value become one `--flag=value`, so that a value that starts with a dash
      // (`--pool -1`) reaches the flag's own check rather than parseArgs's "ambiguous" error.
      if (takesValue.has(arg) && i + 1 < argv.length) ours.push(...(arg.startsWith('--') ? [`${arg}=${argv[++i]}`] : [arg, argv[++i]!]));
      else ours.push(arg === '--stats' ? '--stats=json' : arg);
      continue;
    }
    // `run` is optional (`wasi-threads-wrapper prog.wasm`), as in wasmtime.
    if (ours.length === 0 && arg === 'run' && !optionsEnded) {
      continue;
    }
    break;
  }
  const program = argv.slice(i);
  if (program[1] === '--') program.splice(1, 1);
  return { ours, program };
}

function parseCommand(argv: string[]): RunCommand | 'help' | 'version' {
  const { ours, program } = splitArgv(argv);
  const { values } = parseArgs({ args: ours, allowPositionals: false, strict: true, options: parseArgsOptions() });
  if (values.help) return 'help';
  if (values.version) return 'version';
  const [wasmFile, ...programArgs] = program;
  if (wasmFile === undefined) throw new UsageError('missing the program: wasi-threads-wrapper [run] <program.wasm>');
  wasmtimeKeys((values.wasm as string[] | undefined) ?? [], '-W/--wasm');
  return {
    wasmFile,
    programArgs,
    argv0: values.argv0 as string | undefined,
    poolSize: wholeNumber(values.pool as string | undefined, '--pool'),
    maxThreads: wholeNumber(values['max-threads'] as string | undefined, '--max-threads'),
    env: environment(values.env as string[] | undefined),
    preopens: preopens(values.dir as string[] | undefined),
    memoryMax: wholeNumber(values['memory-max'] as string | undefined, '--memory-max'),
    invoke: values.invoke as string | undefined,
    wasi: wasiChoice(values.wasi as string[] | undefined),
    stats: statsFormat(values.stats as string | undefined),
    growGuard: !values['no-grow-guard'],
    timeoutMs: duration(values.timeout as string | undefined, '--timeout'),
    timeoutText: values.timeout as string | undefined,
  };
}

function version(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

function statsLine(stats: ProgramStats, format: 'json' | 'text'): string {
  if (format === 'json') return JSON.stringify(stats);
  const { status, sites, helpers, reason } = stats.growGuard;
  const guard = status === 'rewritten' ? `rewritten (${sites} instructions, ${helpers} helpers)` : reason ? `${status} (${reason})` : status;
  return `wasi-threads-wrapper: ${stats.warmSpawns} warm spawns, ${stats.coldSpawns} cold, ${stats.failedSpawns} failed; at most ${stats.peakLiveThreads} threads alive; ${stats.workersCreated} workers started; grow guard: ${guard}`;
}

/** The trap's message, then the wasm frames of its stack (the JS frames are the library's). */
function describeTrap(error: ThreadTrapError): string {
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at .*wasm:\/\//.test(line));
  return [`wasi-threads-wrapper: ${error.message}`, ...(frames.length > 0 ? ['wasm backtrace:', ...frames] : [])].join('\n');
}

async function run(command: RunCommand): Promise<number> {
  let program: WasiProgram;
  try {
    program = await startWasiMain({
      entryFile: fileURLToPath(new URL('../worker-entry.js', import.meta.url)),
      wasmFile: command.wasmFile,
      initMethod: command.invoke,
      wasiImplementation: command.wasi,
      poolSize: command.poolSize,
      maxThreads: command.maxThreads,
      growGuard: command.growGuard,
      memorySetting: command.memoryMax === undefined ? undefined : { maximum: command.memoryMax },
      wasiOptions: { args: [command.argv0 ?? command.wasmFile, ...command.programArgs], env: command.env, preopens: command.preopens },
    });
  } catch (error) {
    if (error instanceof WasmLoadError || error instanceof InvalidOptionError || error instanceof ModuleRequirementError) {
      throw new UsageError(inFlagTerms(error.message), false);
    }
    throw error;
  }
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    void program.destroy();
  };
  process.once('SIGINT', onInterrupt);
  let timedOut = false;
  const timer =
    command.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          void program.destroy();
        }, command.timeoutMs);
  try {
    return await program.exited;
  } catch (error) {
    if (interrupted) return EXIT.interrupted;
    if (timedOut) {
      say(2, `wasi-threads-wrapper: the program did not end within its --timeout of ${command.timeoutText} and was ended, every worker with it`);
      return EXIT.timeout;
    }
    if (error instanceof ThreadTrapError) {
      say(2, describeTrap(error));
      return EXIT.trap;
    }
    say(2, `wasi-threads-wrapper: ${inFlagTerms((error as Error).message)}`);
    return error instanceof ModuleRequirementError ? EXIT.usage : EXIT.failure;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onInterrupt);
    if (command.stats) say(2, statsLine(program.stats(), command.stats));
  }
}

async function main(argv: string[]): Promise<number> {
  try {
    const command = parseCommand(argv);
    if (command === 'help') {
      say(1, usageText());
      return 0;
    }
    if (command === 'version') {
      say(1, version());
      return 0;
    }
    return await run(command);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const hint = error instanceof UsageError && !error.pointToHelp ? '' : ' (see --help)';
      say(2, `wasi-threads-wrapper: ${(error as Error).message}${hint}`);
      return EXIT.usage;
    }
    throw error;
  }
}

// The process ends by itself once every worker has ended; exitCode carries the status.
process.exitCode = await main(process.argv.slice(2));
