#!/usr/bin/env node
/**
 * `wasi-threads-wrapper run [options] program.wasm [--] [program args...]`: runs a wasi-threads
 * program like `wasmtime run`, and exits with its exit code.
 */
import { readFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { InvalidOptionError, ModuleRequirementError, ThreadTrapError, WasmLoadError, startWasiMain, type WasiProgram } from './index.js';

/** Exit statuses besides the program's own code. */
const EXIT = { usage: 2, failure: 1, trap: 134, interrupted: 130 } as const;

const USAGE = `Usage: wasi-threads-wrapper run [options] <program.wasm> [--] [program args...]

Runs a WebAssembly program built for wasi-threads (wasm32-wasip1-threads) on Node.js, with a warm
pool of thread workers. Exits with the program's exit code.

Options:
  --pool N              idle workers kept ready for thread spawns (default 4)
  --max-threads N       most threads alive at once; past it thread-spawn fails with EAGAIN (default 64)
  --env KEY=VALUE       set an environment variable for the program (repeatable)
  --dir HOST[::GUEST]   give the program the host directory HOST, seen as GUEST (repeatable)
  --memory-max PAGES    maximum size of the shared memory, in 64 KiB pages
  --invoke NAME         call the exported function NAME instead of _start
  --wasi shared|node    the library's WASI, one descriptor table for all threads (default), or a
                        node:wasi per thread
  --stats               print spawn statistics to stderr at exit
  -h, --help            print this help
  -v, --version         print the version

Exit status: the program's exit code; ${EXIT.trap} when a thread traps; ${EXIT.interrupted} on Ctrl-C;
${EXIT.usage} for a usage error (bad option, unreadable file, not a wasi-threads program).`;

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

function pairs(values: string[] | undefined, separator: string, option: string, form: string): [string, string][] {
  return (values ?? []).map((value) => {
    const at = value.indexOf(separator);
    if (option === '--dir' && at < 0) return [value, value];
    if (at <= 0) throw new UsageError(`${option} takes ${form}, got "${value}"`);
    return [value.slice(0, at), value.slice(at + separator.length)];
  });
}

function wasiChoice(value: string | undefined): 'shared' | 'node' | undefined {
  if (value === undefined || value === 'shared' || value === 'node') return value;
  throw new UsageError(`--wasi takes shared or node, got "${value}"`);
}

interface RunCommand {
  wasmFile: string;
  programArgs: string[];
  poolSize?: number;
  maxThreads?: number;
  env: Record<string, string>;
  preopens: Record<string, string>;
  memoryMax?: number;
  invoke?: string;
  wasi?: 'shared' | 'node';
  stats: boolean;
}

/** Options come before the program; everything after it (or after `--`) belongs to the program. */
function parseCommand(argv: string[]): RunCommand | 'help' | 'version' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    tokens: false,
    options: {
      pool: { type: 'string' },
      'max-threads': { type: 'string' },
      env: { type: 'string', multiple: true },
      dir: { type: 'string', multiple: true },
      'memory-max': { type: 'string' },
      invoke: { type: 'string' },
      wasi: { type: 'string' },
      stats: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
  });
  if (values.help) return 'help';
  if (values.version) return 'version';
  const [command, wasmFile, ...programArgs] = positionals;
  if (command !== 'run') throw new UsageError(command === undefined ? 'missing command: use "run"' : `unknown command "${command}": use "run"`);
  if (wasmFile === undefined) throw new UsageError('missing the program: wasi-threads-wrapper run <program.wasm>');
  return {
    wasmFile,
    programArgs,
    poolSize: wholeNumber(values.pool, '--pool'),
    maxThreads: wholeNumber(values['max-threads'], '--max-threads'),
    env: Object.fromEntries(pairs(values.env, '=', '--env', 'KEY=VALUE')),
    preopens: Object.fromEntries(pairs(values.dir, '::', '--dir', 'HOST[::GUEST]').map(([host, guest]) => [guest, host])),
    memoryMax: wholeNumber(values['memory-max'], '--memory-max'),
    invoke: values.invoke,
    wasi: wasiChoice(values.wasi),
    stats: values.stats,
  };
}

/** Splits at the program path, so that the program's own flags are not read as ours. */
function splitArgv(argv: string[]): string[] {
  const ownValued = new Set(['--pool', '--max-threads', '--env', '--dir', '--memory-max', '--invoke', '--wasi']);
  const out: string[] = [];
  let positionals = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [...out, ...argv.slice(i)];
    if (arg.startsWith('-')) {
      out.push(arg);
      if (ownValued.has(arg) && i + 1 < argv.length) out.push(argv[++i]!);
      continue;
    }
    out.push(arg);
    // After `run` and the program path, the rest is the program's, whatever it looks like.
    if (++positionals === 2) return [...out, '--', ...argv.slice(i + 1)];
  }
  return out;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

async function run(command: RunCommand): Promise<number> {
  const entryFile = fileURLToPath(new URL('./worker-entry.js', import.meta.url));
  let program: WasiProgram;
  try {
    program = await startWasiMain({
      entryFile,
      wasmFile: command.wasmFile,
      initMethod: command.invoke,
      wasiImplementation: command.wasi,
      poolSize: command.poolSize,
      maxThreads: command.maxThreads,
      memorySetting: command.memoryMax === undefined ? undefined : { maximum: command.memoryMax },
      wasiOptions: { args: [command.wasmFile, ...command.programArgs], env: command.env, preopens: command.preopens },
    });
  } catch (error) {
    if (error instanceof WasmLoadError || error instanceof InvalidOptionError || error instanceof ModuleRequirementError) {
      throw new UsageError(error.message, false);
    }
    throw error;
  }
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    void program.destroy();
  };
  process.once('SIGINT', onInterrupt);
  try {
    return await program.exited;
  } catch (error) {
    if (interrupted) return EXIT.interrupted;
    if (error instanceof ThreadTrapError) {
      say(2, `wasi-threads-wrapper: ${error.message}`);
      return EXIT.trap;
    }
    say(2, `wasi-threads-wrapper: ${(error as Error).message}`);
    return EXIT.failure;
  } finally {
    process.off('SIGINT', onInterrupt);
    if (command.stats) say(2, `wasi-threads-wrapper stats: ${JSON.stringify(program.stats())}`);
  }
}

async function main(argv: string[]): Promise<number> {
  try {
    const command = parseCommand(splitArgv(argv));
    if (command === 'help') {
      say(1, USAGE);
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
