// A request-per-run HTTP server, in one of three ways, for the server benchmark:
//   node http-server.mjs '{"mode":"runtime"|"oneshot"|"piscina","wasm":"/path/primes.wasm","maxConcurrentRuns":8}'
// GET /?below=N counts the primes below N on 2 threads (runtime, oneshot: the primes fixture;
// piscina: the same count in JS on persistent workers, each request one task). Prints the port.
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { createRuntime, startWasiMain } from 'wasi-threads-wrapper';

const { mode, wasm } = JSON.parse(process.argv[2]);
const entryFile = fileURLToPath(import.meta.resolve('wasi-threads-wrapper/worker'));

let handle;
if (mode === 'runtime') {
  // The defaults: as many runs at once as CPUs (more wait in the queue), two runs prepared.
  const runtime = await createRuntime({ wasmFile: wasm, poolSize: 2 });
  handle = async (below) => (await runtime.run({ args: ['primes', '2', below], stdout: 'buffer' })).stdout.toString();
} else if (mode === 'oneshot') {
  // Today's only other way: one program per request. Its output goes to a pipe of this process
  // we do not read, so it is counted by its exit code only (the work is the same).
  handle = async (below) => {
    const program = await startWasiMain({ entryFile, wasmFile: wasm, poolSize: 2, wasiOptions: { args: ['primes', '2', below], stdout: 2 } });
    return `exit ${await program.exited}\n`;
  };
} else {
  const pool = new Piscina({ filename: fileURLToPath(new URL('./primes-task.mjs', import.meta.url)), maxThreads: availableParallelism() });
  handle = async (below) => `primes below ${below}: ${await pool.run(Number(below))}\n`;
}

const server = http.createServer(async (request, response) => {
  const below = new URL(request.url, 'http://x').searchParams.get('below') ?? '200000';
  try {
    response.end(await handle(below));
  } catch (error) {
    response.writeHead(500).end(String(error));
  }
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
