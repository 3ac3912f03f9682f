/**
 * A program's relayed stdout and stderr, in the order the program wrote them. Threads number
 * their writes as they take output credit (shared/control/output-credit.ts) and post them; posts
 * from different workers arrive in any order, so a write waits here until every write numbered
 * before it has been handed on. The credit goes back once the run's sink has taken a write.
 */
import type { OutputCredit } from '../../shared/control/output-credit.js';

/** Takes the program's relayed stdout (1) and stderr (2); calls `taken` once the bytes are taken (the program may write more then). */
export type OutputSink = (stream: 1 | 2, bytes: Uint8Array, taken: () => void) => void;

interface Write {
  stream: 1 | 2;
  bytes: Uint8Array;
}

export class OutputRelay {
  private next = 0;
  private readonly waiting = new Map<number, Write>();

  /** `sink`: the run's sink, once the run has one (a prepared run gets it when it starts); output before that is dropped. */
  constructor(
    private readonly credit: OutputCredit,
    private readonly sink: () => OutputSink | undefined,
  ) {}

  /** A write posted by a thread: handed on now if every earlier one was, else when they have been. */
  take(write: Write & { seq: number }): void {
    this.waiting.set(write.seq, write);
    for (let next = this.waiting.get(this.next); next; next = this.waiting.get(this.next)) {
      this.waiting.delete(this.next++);
      this.deliver(next);
    }
  }

  /** At the end: a thread ended between numbering a write and posting it leaves a gap; the rest go in order. */
  flush(): void {
    for (const seq of [...this.waiting.keys()].sort((a, b) => a - b)) this.deliver(this.waiting.get(seq)!);
    this.waiting.clear();
  }

  private deliver({ stream, bytes }: Write): void {
    const taken = () => this.credit.taken(bytes.byteLength);
    const sink = this.sink();
    if (sink) sink(stream, bytes, taken);
    else taken();
  }
}
