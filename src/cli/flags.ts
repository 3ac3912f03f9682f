/**
 * The command line, declared once: every flag (name, value, help, the API option it sets) and
 * every exit status. The parser's options, the usage text, the README's table and the rewriting of
 * API option names into flag names in error messages are all generated from these tables.
 */

export interface FlagSpec {
  /** Long name, without `--`. */
  readonly name: string;
  readonly short?: string;
  /** The value's placeholder; absent for a switch. */
  readonly value?: string;
  /** The value may be left out (`--stats` or `--stats=text`): only the `=` form then takes one. */
  readonly optionalValue?: boolean;
  readonly multiple?: boolean;
  readonly help: string;
  /** The API option it sets, named as this flag in error messages. */
  readonly option?: string;
}

export const FLAGS = [
  { name: 'pool', value: 'N', help: 'idle workers kept ready for thread spawns (default 4)', option: 'poolSize' },
  { name: 'max-threads', value: 'N', help: 'most threads alive at once; past it thread-spawn fails with EAGAIN (default 64)', option: 'maxThreads' },
  {
    name: 'env',
    value: 'NAME[=VALUE]',
    multiple: true,
    help: "an environment variable for the program; NAME alone passes this process's value (repeatable)",
    option: 'wasiOptions.env',
  },
  {
    name: 'dir',
    value: 'HOST[::GUEST]',
    multiple: true,
    help: 'give the program the host directory HOST, seen as GUEST (default: the same path; repeatable)',
    option: 'wasiOptions.preopens',
  },
  { name: 'argv0', value: 'NAME', help: "the program's argv[0] (default: the program's path as given)", option: 'wasiOptions.args[0]' },
  { name: 'memory-max', value: 'PAGES', help: 'maximum size of the shared memory, in 64 KiB pages', option: 'memorySetting.maximum' },
  { name: 'invoke', value: 'NAME', help: 'call the exported function NAME instead of _start', option: 'initMethod' },
  {
    name: 'wasi',
    short: 'S',
    value: 'shared|node|threads',
    multiple: true,
    help: "shared: the library's WASI, one descriptor table for all threads (default); node: a node:wasi per thread; threads[=y]: accepted as wasmtime's -S threads (always on)",
    option: 'wasiImplementation',
  },
  { name: 'wasm', short: 'W', value: 'threads', multiple: true, help: "threads[=y]: accepted as wasmtime's -W threads (always on)" },
  {
    name: 'timeout',
    value: 'DURATION',
    help: 'end the program if it has not ended within DURATION of wall-clock time (500ms, 2s, 1.5m, 1h; a number alone is seconds), with exit status 124',
  },
  {
    name: 'no-grow-guard',
    help: "do not rewrite the module around V8's stale memory size after another thread grows it (see the README; default: rewritten)",
    option: 'growGuard',
  },
  { name: 'stats', value: 'json|text', optionalValue: true, help: 'print spawn statistics to stderr at exit: one JSON line (the default), or text' },
  { name: 'help', short: 'h', help: 'print this help' },
  { name: 'version', short: 'v', help: 'print the version' },
] as const satisfies readonly FlagSpec[];

/** Exit statuses besides the program's own code. */
export const EXIT = { failure: 1, usage: 2, timeout: 124, interrupted: 130, trap: 134 } as const;

export const EXIT_CODES = [
  { code: 'N', meaning: "the program's exit code (its `proc_exit`, or 0 when its main returns)" },
  { code: String(EXIT.failure), meaning: 'a worker failed outside wasm (its script, a crash), or the runtime itself failed' },
  {
    code: String(EXIT.usage),
    meaning: 'a usage error: a bad option, an unreadable file, not WebAssembly, not a wasi-threads program (also a module without `_start` and no `--invoke`)',
  },
  { code: String(EXIT.timeout), meaning: 'the program did not end within its `--timeout` (as GNU `timeout`): every worker was ended first' },
  { code: String(EXIT.interrupted), meaning: 'interrupted (Ctrl-C): every worker was ended first' },
  { code: String(EXIT.trap), meaning: 'a thread trapped; the trap and its wasm backtrace are on stderr' },
] as const;

export type FlagName = (typeof FLAGS)[number]['name'];

const flagLabel = (flag: FlagSpec): string => {
  const long = `--${flag.name}${flag.value ? (flag.optionalValue ? `[=${flag.value}]` : ` ${flag.value}`) : ''}`;
  return flag.short ? `-${flag.short}, ${long}` : long;
};

/** The options object for `node:util`'s parseArgs. */
export function parseArgsOptions(): Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> {
  return Object.fromEntries(
    FLAGS.map((flag: FlagSpec) => [
      flag.name,
      { type: flag.value ? 'string' : 'boolean', ...(flag.short ? { short: flag.short } : {}), ...(flag.multiple ? { multiple: true } : {}) },
    ]),
  );
}

/** Flags followed by a separate value argument (`--pool 4`, `-S threads`), for telling values from the program path. */
export function flagsTakingNextArg(): Set<string> {
  const taking = new Set<string>();
  for (const flag of FLAGS as readonly FlagSpec[]) {
    if (!flag.value || flag.optionalValue) continue;
    taking.add(`--${flag.name}`);
    if (flag.short) taking.add(`-${flag.short}`);
  }
  return taking;
}

export function usageText(): string {
  const labels = FLAGS.map(flagLabel);
  const width = Math.max(...labels.map((l) => l.length)) + 2;
  const options = FLAGS.map((flag, i) => `  ${labels[i]!.padEnd(width)}${flag.help}`).join('\n');
  const exits = EXIT_CODES.map(({ code, meaning }) => `  ${code.padEnd(5)}${meaning.replaceAll('`', '')}`).join('\n');
  return `Usage: wasi-threads-wrapper [run] [options] <program.wasm> [--] [program args...]

Runs a WebAssembly program built for wasi-threads (wasm32-wasip1-threads) on Node.js, with a warm
pool of thread workers. Options come before the program; everything after it is the program's.

Options:
${options}

Exit status:
${exits}`;
}

/** The README's tables of flags and exit statuses (between the `cli-flags` markers). */
export function readmeTables(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const rows = FLAGS.map((flag: FlagSpec) => `| \`${cell(flagLabel(flag))}\` | ${cell(flag.help)}${flag.option ? ` (\`${flag.option}\`)` : ''} |`);
  const exits = EXIT_CODES.map(({ code, meaning }) => `| ${code} | ${cell(meaning)} |`);
  return ['| option | meaning |', '| --- | --- |', ...rows, '', '| exit status | meaning |', '| --- | --- |', ...exits].join('\n');
}

/** Rewrites the API option names in an error message into the flags the user typed. */
export function inFlagTerms(message: string): string {
  const withOptions = (FLAGS as readonly FlagSpec[]).filter((flag) => flag.option).sort((a, b) => b.option!.length - a.option!.length);
  let out = message;
  for (const flag of withOptions) {
    const escaped = flag.option!.replace(/[.[\]]/g, (c) => `\\${c}`);
    // An entry of the option (`wasiOptions.preopens["/data"]`) is the flag with that value.
    out = out.replace(new RegExp(`(?<![\\w.])${escaped}(?:\\[("[^"]*")\\])?(?![\\w])`, 'g'), (_, key?: string) => `--${flag.name}${key ? ` ${key}` : ''}`);
  }
  return out;
}
