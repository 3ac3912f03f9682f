/** A runtime's worker: one program after another, each given by a `boot` in its inbox. */
import { WorkerCollector } from '../shared/garbage.js';
import { InboxReader } from '../shared/inbox.js';
import { type BootData, errorInfo, type InboxMessage, type RuntimeWorkerData } from '../shared/messages.js';
import { runProgram } from './instantiate.js';
import { createSharedWasi } from './wasi-imports.js';
import { configFromInbox, type WorkerLink } from './worker-link.js';

/**
 * A runtime's worker: runs one program after another, each given by a `boot` in its inbox. Between
 * programs it holds nothing of the last one, and it waits for the next in its event loop, not
 * blocked, so that the tasks V8 and Node post to this thread (finalizers among them) get to run.
 */
export async function serveRuntime({ inbox, outbox, collectEpoch }: RuntimeWorkerData): Promise<void> {
  const reader = new InboxReader(inbox);
  const next = (accept: (message: InboxMessage) => boolean) => reader.next(accept);
  const collector = new WorkerCollector(collectEpoch);
  const nextBoot = async (): Promise<BootData> => {
    // One turn of the event loop at least, even when the next boot is already there.
    await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      const message = await reader.nextAsync((m) => m.type === 'boot' || m.type === 'collect');
      if (message.type === 'boot') return message.boot;
      collector.fullIfAsked();
    }
  };
  const link: WorkerLink = { post: (message) => outbox.postMessage(message), next };
  let after = 0;
  for (;;) {
    link.post({ type: 'free', after });
    // After saying so: the program's end need not wait for it.
    if (after !== 0) collector.afterProgram();
    const boot = await nextBoot();
    after = boot.run;
    serveProgram(boot, link, collector);
  }
}

/** Runs one program in a runtime's worker (its own function: nothing of it stays in the loop's scope). */
function serveProgram(boot: BootData, link: WorkerLink, collector: WorkerCollector): void {
  const next = link.next!;
  // The run it was booted for sends its config; a later run's (a pool worker parked through to it) is asked for.
  const fetchConfig = (run: number) => {
    if (run !== boot.run) link.post({ type: 'config-request', run });
    return configFromInbox(next, run);
  };
  try {
    const wasi = createSharedWasi(boot, link.post, fetchConfig);
    // A later run on the block: the instance reset for it when the module allows (less garbage: garbage.ts).
    runProgram(boot, {}, wasi, link, { rearmWasi: () => wasi.rearm(), afterRun: () => collector.afterProgram(boot.instanceReset) });
  } catch (error) {
    link.post({ type: 'fatal', error: errorInfo(error) });
  }
}
