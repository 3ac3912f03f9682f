/**
 * V8's first wasm tier (Liftoff) miscompiles code around `memory.atomic.wait32/64` in Node 20: an
 * i32 local can read back as 0 after the wait. TurboFan-only compilation avoids it. The flag must be
 * set before the module is compiled; workers started afterwards inherit it.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-liftoff');
