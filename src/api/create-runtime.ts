/** `createRuntime`: a long-lived runtime for one module, for servers (see host/runtime/runtime.ts). */
import { ModuleRequirementError, RunAbortedError } from '../base/errors.js';
import { LIBRARY_WORKER, resolveConfig, type WasiMainConfig } from '../base/options.js';
import { checkRuntimeConfig, type RuntimeConfig, resolveRuntimeLimits } from '../base/run-options.js';
import { loadProgram } from '../host/module/module-loader.js';
import { RunLimits } from '../host/runtime/run-limits.js';
import { Runtime } from '../host/runtime/runtime.js';

/** Creates a runtime for one module. Resolves once the first run is prepared. */
export async function createRuntime(config: RuntimeConfig): Promise<Runtime> {
  checkRuntimeConfig(config);
  const { maxConcurrentRuns, preparedRuns, maxWorkers, wasiImplementation, instanceReset = true, signal, timeoutMs, ...rest } = config;
  const resolved = resolveConfig(
    { ...(rest as RuntimeConfig), entryFile: LIBRARY_WORKER, namespace: `runtime_${nextRuntime++}` },
    'the config of createRuntime',
  );
  const runtimeLimits = resolveRuntimeLimits({ maxConcurrentRuns, preparedRuns, maxWorkers }, resolved);
  // Each run's memory starts at the module's own minimum unless set, as a new instance's would, and
  // a program that needs more grows it as it would anywhere. (Where pages cannot be located, the
  // next run zeroes every page the last one had: measured, zeroing the 512-page default took ~2.5 ms
  // of CPU a run, a quarter of a short run's cost. On Linux only pages ever written are zeroed.)
  if (signal?.aborted) throw new RunAbortedError(signal.reason, "the runtime's start");
  // Armed before the first await: a start function that loops, or a module that takes long to
  // compile, ends with the runtime's typed error, its workers ended.
  const limits = new RunLimits({ signal, timeoutMs }, "the runtime's start", performance.now());
  let runtime: Runtime | undefined;
  try {
    const loaded = await limits.race(
      loadProgram({ ...rest, entryFile: LIBRARY_WORKER, memorySetting: resolved.memorySetting } as WasiMainConfig, {
        initialAsDeclared: true,
        locateMemory: true,
        instanceReset,
      }),
    );
    if (!loaded.hasStart && !loaded.threaded && !loaded.memory) {
      // Nothing to share and nothing to run: almost certainly the wrong file.
      throw new ModuleRequirementError('the module exports no _start and imports no memory: a runtime runs WASI commands (_start) and reactors');
    }
    const started = new Runtime({ ...resolved, poolSize: loaded.threaded ? resolved.poolSize : 0 }, loaded, runtimeLimits);
    runtime = started;
    await limits.race(started.firstPrepared());
    return started;
  } catch (error) {
    await runtime?.close();
    throw error;
  } finally {
    limits.disarm();
  }
}

let nextRuntime = 1;
