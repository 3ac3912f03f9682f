// The seed's single-file usage: this one file is both the coordinator (main JS thread) and the
// script of every worker the library starts. Tests run it as a child process:
//   node program.mjs '{"programs":[{"fixture":"counter","args":["4"],"poolSize":2}, ...]}'
// The programs run at once in this one process. It prints their own output, then one line
// `@@result <json array>` on stderr, and ends by itself (no process.exit), so a leaked worker
// shows up as a hang. The exit status is the first program's exit code (70 when it failed).
// For the benchmarks a program spec may also ask for RSS samples: `rssAtSpawns: [n, ...]` samples
// once n spawns have happened, `rssAfterMs: [ms, ...]` that long after the start.
// `stdoutFile: path` gives the program a file opened here as its stdout (wasiOptions.stdout); the
// result then tells whether that fd is still open, and usable, after the program ended.

import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { initWasiWorker, startWasiMain } from 'wasi-threads-wrapper';

const fixturePath = (name) => fileURLToPath(new URL(`../../fixtures/build/${name}.wasm`, import.meta.url));

function sampleRss(program, { rssAtSpawns = [], rssAfterMs = [] }) {
  const samples = { atSpawns: {}, afterMs: {} };
  for (const ms of rssAfterMs) setTimeout(() => (samples.afterMs[ms] = process.memoryUsage().rss), ms).unref();
  if (rssAtSpawns.length > 0) {
    const poll = setInterval(() => {
      const { warmSpawns, coldSpawns } = program.stats();
      for (const n of rssAtSpawns) if (samples.atSpawns[n] === undefined && warmSpawns + coldSpawns >= n) samples.atSpawns[n] = process.memoryUsage().rss;
    }, 1);
    poll.unref();
    program.exited.finally(() => clearInterval(poll)).catch(() => {});
  }
  return samples;
}

async function run({ fixture, args = [], preopens, rssAtSpawns, rssAfterMs, stdoutFile, ...options }) {
  const result = { startedNs: String(process.hrtime.bigint()) };
  const stdout = stdoutFile === undefined ? undefined : openSync(stdoutFile, 'w');
  let program;
  try {
    program = await startWasiMain({
      entryFile: fileURLToPath(import.meta.url),
      wasmFile: fixturePath(fixture),
      wasiOptions: { args: [fixture, ...args], preopens, stdout },
      ...options,
    });
    result.namespace = program.namespace;
    if (rssAtSpawns || rssAfterMs) result.rss = sampleRss(program, { rssAtSpawns, rssAfterMs });
    result.exitCode = await program.exited;
  } catch (error) {
    result.error = { name: error.name, code: error.code, message: error.message, threadId: error.threadId };
  }
  if (program) {
    result.stats = program.stats();
    result.liveWorkers = program.liveWorkers;
  }
  if (stdout !== undefined) {
    try {
      fstatSync(stdout);
      writeSync(stdout, 'written by the host after the program ended\n');
      result.stdoutFdOpenAfter = true;
      closeSync(stdout);
    } catch {
      result.stdoutFdOpenAfter = false;
    }
  }
  result.maxRssBytes = process.resourceUsage().maxRSS * 1024;
  return result;
}

if (isMainThread) {
  const { programs, workerConfig } = JSON.parse(process.argv[2]);
  // Workers copy this process's environment when they start.
  if (workerConfig) process.env.WORKER_CONFIG = JSON.stringify(workerConfig);
  const results = await Promise.all(programs.map(run));
  writeSync(2, `@@result ${JSON.stringify(results)}\n`);
  process.exitCode = results[0].error ? 70 : results[0].exitCode;
} else {
  // Per-role settings, turned into what a real config function returns.
  await initWasiWorker(async (namespace, role) => {
    const settings = JSON.parse(process.env.WORKER_CONFIG ?? '{}')[role] ?? {};
    const config = { destroyWhenEnd: settings.destroyWhenEnd, noWasiStart: settings.noWasiStart };
    if (settings.hostValue !== undefined) config.wasmImports = { host: { value: () => settings.hostValue } };
    // A worker that dies outside wasm: the import ends the worker's JS, not the program.
    if (settings.exitWorkerInImport !== undefined) config.wasmImports = { host: { value: () => process.exit(settings.exitWorkerInImport) } };
    if (settings.customWasiArgs) {
      const { WASI } = await import('node:wasi');
      config.wasi = new WASI({ version: 'preview1', args: [...settings.customWasiArgs, `ns=${namespace}`], returnOnExit: true });
    }
    return config;
  });
}
