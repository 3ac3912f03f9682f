// A run that writes far more than a pipe holds to this process's stdout ('inherit'), which the test
// never reads, with a timeout: prints on stderr (as JSON) how the run settled, then closes the
// runtime and says so.
//   node stalled-stdout.mjs '{"wasm":"/path/flood.wasm","timeoutMs":1000}'
import { writeSync } from 'node:fs';
import { createRuntime } from 'wasi-threads-wrapper';

const { wasm, timeoutMs } = JSON.parse(process.argv[2]);
const runtime = await createRuntime({ wasmFile: wasm, poolSize: 2 });
const settled = await runtime.run({ args: ['flood', '200000'], timeoutMs }).then(
  (result) => ({ exitCode: result.exitCode }),
  (error) => ({ code: error.code }),
);
writeSync(2, `${JSON.stringify(settled)}\n`);
await runtime.close();
writeSync(2, 'closed\n');
