/**
 * V8's first wasm tier (Liftoff) miscompiles code around `memory.atomic.wait32/64` in Node 20 (V8
 * 11.3): an i32 local can read back as 0 after the wait. TurboFan-only compilation avoids it. Later
 * lines (Node 22, 24, 26) do not have the bug, and on Node 26 setting `--no-liftoff` at run time
 * makes V8 abort as soon as threaded wasm runs. So the flag is set only where a probe shows the bug.
 *
 * The probe is the bug's own shape: a function whose only local is read back after an atomic wait
 * (timeout 0, so it never blocks), compiled by the default tier at its first call.
 */
import { setFlagsFromString } from 'node:v8';

/** `(module (memory 1 1 shared) (func (export "probe") (param i32) (result i32) wait32(p, 0, 0) drop  local.get 0))` */
const PROBE_WASM = 'AGFzbQEAAAABBgFgAX8BfwMCAQAFBAEDAQEHCQEFcHJvYmUAAAoRAQ8AIABBAEIA/gECABogAAs=';
const PROBE_ADDRESS = 64;

/** True when this process's V8 loses a local across `memory.atomic.wait32` under its default tier. */
export function atomicWaitIsMiscompiled(): boolean {
  const module = new WebAssembly.Module(Buffer.from(PROBE_WASM, 'base64'));
  const probe = new WebAssembly.Instance(module, {}).exports.probe as (address: number) => number;
  return probe(PROBE_ADDRESS) !== PROBE_ADDRESS;
}

/**
 * Whether the library turned Liftoff off in this process (modules compiled afterwards, and workers
 * started afterwards, use TurboFan only). False where the probe finds no bug.
 */
export const liftoffDisabled: boolean = atomicWaitIsMiscompiled();
if (liftoffDisabled) setFlagsFromString('--no-liftoff');
