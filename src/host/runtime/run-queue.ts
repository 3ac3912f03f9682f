/**
 * A runtime's places for runs: at most maxConcurrentRuns run at once, the others wait in order.
 * A run holds its place from `admit` until `leave`; a run whose limit fires while it waits leaves
 * the queue at once. `changed` is called whenever the count of runs active or waiting may have
 * changed (the runtime's workers keep the process alive only while there are some).
 */
import type { RunLimits } from './run-limits.js';

interface Waiting {
  admit: () => void;
  fail: (error: Error) => void;
}

export class RunQueue {
  private waiting: Waiting[] = [];
  /** Runs holding a place. */
  active = 0;

  constructor(
    private readonly maxConcurrentRuns: number,
    private readonly changed: () => void,
  ) {}

  /** Runs waiting for a place. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Waits for a place (in order); the run's limits apply while it waits. */
  async admit(limits: RunLimits): Promise<void> {
    if (limits.fired) throw limits.fired;
    if (this.active < this.maxConcurrentRuns && this.waiting.length === 0) {
      this.active++;
      this.changed();
      return;
    }
    try {
      await new Promise<void>((resolve, reject) => {
        const waiting: Waiting = { admit: resolve, fail: reject };
        this.waiting.push(waiting);
        this.changed();
        limits.during((error) => {
          this.waiting = this.waiting.filter((w) => w !== waiting);
          reject(error);
        });
      });
    } finally {
      this.changed();
    }
  }

  /** A run that held a place ended: the next waiting run takes it. */
  leave(): void {
    this.active--;
    const next = this.waiting.shift();
    if (next) {
      this.active++;
      next.admit();
    } else {
      this.changed();
    }
  }

  /** Every waiting run fails with `error` (the runtime closes). */
  refuseAll(error: () => Error): void {
    for (const waiting of this.waiting) waiting.fail(error());
    this.waiting = [];
  }
}
