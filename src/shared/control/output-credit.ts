/**
 * Credit for relayed output. A thread's write to a relayed stdout or stderr is posted to the
 * coordinator, which hands it to the run's sink (a capture, a Writable) in the order the program
 * wrote it. The credit bounds what is on its way at once:
 * - a writer takes credit (`reserve`) before it posts, and waits while the credit is used up, as a
 *   write to a full pipe does; a single write larger than the whole credit goes alone;
 * - the coordinator gives the credit back (`taken`) once the sink took the write, or dropped it;
 * - `reserve` also numbers the write (`Header.OutputSeq`), and the coordinator writes in that order.
 */
import { type ControlWords, Header } from './layout.js';

/** The most bytes of a run's relayed output on their way to its sink at once. */
export const OUTPUT_IN_FLIGHT_BYTES = 1 << 20;
/**
 * The most writes of a run's relayed output on their way at once, however small: each is a
 * message that holds ~1 KB of the coordinator's memory until its sink takes it (800,000 writes of
 * 1 byte to a Writable that took none would hold ~480 MB of heap). A write weighs at least
 * OUTPUT_IN_FLIGHT_BYTES / OUTPUT_IN_FLIGHT_WRITES bytes against OUTPUT_IN_FLIGHT_BYTES.
 */
export const OUTPUT_IN_FLIGHT_WRITES = 1024;

/**
 * What a write counts as in flight: at least its share of OUTPUT_IN_FLIGHT_WRITES, at most
 * OUTPUT_IN_FLIGHT_BYTES (a word holds the sum; a single write may be larger than 2 GiB).
 */
const weightOf = (bytes: number) => Math.min(Math.max(bytes, OUTPUT_IN_FLIGHT_BYTES / OUTPUT_IN_FLIGHT_WRITES), OUTPUT_IN_FLIGHT_BYTES);

export class OutputCredit {
  constructor(private readonly words: ControlWords) {}

  /**
   * A thread's write of `bytes`: waits for credit, takes it, and returns the write's sequence
   * number. A thread still waiting here when its program ends is in the program's host call: it is
   * terminated with the program's other threads.
   */
  reserve(bytes: number): number {
    const { words } = this.words;
    const weight = weightOf(bytes);
    for (;;) {
      const inFlight = Atomics.load(words, Header.OutputInFlight);
      if (inFlight > 0 && inFlight + weight > OUTPUT_IN_FLIGHT_BYTES) Atomics.wait(words, Header.OutputInFlight, inFlight);
      else if (Atomics.compareExchange(words, Header.OutputInFlight, inFlight, inFlight + weight) === inFlight) break;
    }
    return Atomics.add(words, Header.OutputSeq, 1);
  }

  /** Coordinator, between two runs on one block (every write of the last one taken): numbering starts again. */
  rearm(): void {
    Atomics.store(this.words.words, Header.OutputSeq, 0);
    Atomics.store(this.words.words, Header.OutputInFlight, 0);
  }

  /** The coordinator: a write of `bytes` was taken by the run's sink, or dropped; its credit comes back. */
  taken(bytes: number): void {
    Atomics.sub(this.words.words, Header.OutputInFlight, weightOf(bytes));
    Atomics.notify(this.words.words, Header.OutputInFlight);
  }
}
