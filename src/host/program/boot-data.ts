/** What a program's new worker is told when it starts (`BootData` of shared/messages.ts). */
import type { ResolvedConfig } from '../../base/options.js';
import type { SharedControl } from '../../shared/control/control.js';
import type { BootData, RunConfig, ThreadRole } from '../../shared/messages.js';
import type { ReplyCell } from '../../shared/reply-cell.js';
import type { ProgramWasi } from '../../wasi/fd-owner.js';
import type { LoadedProgram } from '../module/module-loader.js';

/** The program a worker is booted for. */
export interface BootSource {
  run: number;
  namespace: string;
  config: ResolvedConfig;
  program: LoadedProgram;
  control: SharedControl;
  wasi: ProgramWasi | undefined;
  /** A prepared run's main thread waits for `go` after it is instantiated. */
  prepared: boolean;
  /** The memory is an earlier run's: the main thread zeroes it first. */
  clearMemory: boolean;
}

/** The boot of a worker for `role` on `slot`; `runConfig` absent for a prepared run's workers (they get it when it starts). */
export function bootData(source: BootSource, role: ThreadRole, slot: number, coldReply: ReplyCell | undefined, runConfig: RunConfig | undefined): BootData {
  const { config, program, control, wasi } = source;
  return {
    run: source.run,
    namespace: source.namespace,
    role,
    module: program.module,
    memory: program.memory,
    privateMemory: program.privateMemory,
    memoryImport: program.memoryImport,
    control: control.buffer,
    slotCount: control.layout.slotCount,
    slot,
    coldReply,
    wasiOptions: config.wasiOptions,
    sharedWasi: wasi && { fdTable: wasi.table.buffer },
    runConfig,
    awaitGo: source.prepared && role === 'main',
    instanceReset: program.instanceReset.status === 'added',
    clearMemory: source.clearMemory && role === 'main',
    memoryAddress: program.memoryAddress,
    initMethod: config.initMethod,
    poolSize: config.poolSize,
    maxThreads: config.maxThreads,
  };
}
