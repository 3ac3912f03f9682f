// One run on a runtime with its stdout captured ('buffer'), for a test that runs this host with a
// small V8 heap; prints (as JSON) the exit code, the bytes captured and stderr.
//   node --max-old-space-size=48 capture-run.mjs '{"wasm":"/path/many_writes.wasm","args":["many_writes","500000","2","1"]}'
import { writeSync } from 'node:fs';
import { createRuntime } from 'wasi-threads-wrapper';

const { wasm, args } = JSON.parse(process.argv[2]);
const runtime = await createRuntime({ wasmFile: wasm, poolSize: 2 });
const result = await runtime.run({ args, stdout: 'buffer', stderr: 'buffer' });
const xs = result.stdout.every((byte) => byte === 0x78);
writeSync(1, `${JSON.stringify({ exitCode: result.exitCode, stdoutBytes: result.stdout.length, allX: xs, stderr: result.stderr.toString() })}\n`);
await runtime.close();
