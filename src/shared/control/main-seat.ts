/**
 * The wasm main thread's seat on its control block: how a runtime hands a run to the main thread's
 * worker with a word and `Atomics.notify`, the way a spawn hands a thread to a pool worker, and
 * not with a message and a turn of the worker's event loop.
 *
 * A runtime's main thread worker takes its orders here from the moment it is instantiated for a
 * prepared run: it waits for `Go` (or `Leave`), runs the program's entry, and once that returned
 * it waits here again. If its run ended at rest, the runtime keeps it on the block with the pool
 * (host/runtime/kept-pools.ts), and the next run on that block orders `Prepare` (its instance
 * reset or made anew, the memory zeroed first) and then `Go`; otherwise it is ordered to `Leave`, back to its loop.
 *
 * Invariants:
 * - Only the coordinator gives orders, and only the worker takes them (`take` swaps the word back
 *   to `None`), so an order given before the worker waits is never lost: the worker looks at the
 *   word before it waits on it.
 * - A later order replaces one not yet taken. `Go` may replace `Prepare` (the run started before
 *   its kept worker took the order): a worker that waits for its next run and takes `Go` prepares
 *   first, then runs. `Leave` is the last order a run gives; `rearm` (a new run on the block, its
 *   worker waiting here) clears a stale one.
 * - The config the `Go` order names is written before the order and read after it is taken
 *   (`Atomics.store` and `Atomics.exchange` order the plain bytes of the area around them).
 */
import type { RunConfig } from '../messages.js';
import { type ControlWords, Header, SEAT_CONFIG_BYTES } from './layout.js';

/** The coordinator's orders to the main thread's worker. */
export const SeatOrder = {
  /** No order: the worker waits. */
  None: 0,
  /** A new run on the block: zero the memory, reset the instance (or make a new one) for it, say `ready`, then wait for `Go`. */
  Prepare: 1,
  /** Run the program's `_start` (its config in the area, or in the inbox). */
  Go: 2,
  /** Run a reactor: `_initialize`, then the calls in the inbox. */
  GoReactor: 3,
  /** Out of the run: back to the worker's loop. */
  Leave: 4,
} as const;
export type SeatOrder = (typeof SeatOrder)[keyof typeof SeatOrder];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class MainSeat {
  constructor(
    private readonly words: ControlWords,
    /** The run config area. */
    private readonly area: Uint8Array,
  ) {
    if (area.byteLength !== SEAT_CONFIG_BYTES) throw new RangeError('the main seat needs the whole run config area');
  }

  /** Coordinator, a new run on the block: no order is pending. */
  rearm(): void {
    Atomics.store(this.words.words, Header.SeatOrder, SeatOrder.None);
  }

  /** Coordinator: the kept worker makes the instance of the run the block serves now. */
  prepare(): void {
    this.give(SeatOrder.Prepare);
  }

  /**
   * Coordinator: the run starts with `config`. False when the config does not fit the area: the
   * caller then puts it in the worker's inbox (a `config` message for the run) before this returns,
   * since the worker reads it there as soon as it takes the order.
   */
  go(config: RunConfig, reactor: boolean, sendInstead: (config: RunConfig) => void): boolean {
    const json = JSON.stringify(config);
    const { written, read } = encoder.encodeInto(json, this.area);
    const fits = read === json.length;
    if (!fits) sendInstead(config);
    Atomics.store(this.words.words, Header.SeatConfigBytes, fits ? written : -1);
    this.give(reactor ? SeatOrder.GoReactor : SeatOrder.Go);
    return fits;
  }

  /** Coordinator: the worker leaves the run (whatever it waits for, or once its entry returns). */
  leave(): void {
    this.give(SeatOrder.Leave);
  }

  private give(order: SeatOrder): void {
    Atomics.store(this.words.words, Header.SeatOrder, order);
    Atomics.notify(this.words.words, Header.SeatOrder);
  }

  /** Worker: waits for the next order and takes it. */
  take(): SeatOrder {
    for (;;) {
      const order = Atomics.exchange(this.words.words, Header.SeatOrder, SeatOrder.None) as SeatOrder;
      if (order !== SeatOrder.None) return order;
      Atomics.wait(this.words.words, Header.SeatOrder, SeatOrder.None);
    }
  }

  /** Worker, after it took `Go`: the run's config, or undefined when it is in the inbox. */
  config(): RunConfig | undefined {
    const bytes = Atomics.load(this.words.words, Header.SeatConfigBytes);
    if (bytes < 0) return undefined;
    return JSON.parse(decoder.decode(this.area.slice(0, bytes))) as RunConfig;
  }
}
