/**
 * What wakes the coordinator. The coordinator follows `Header.Events` with `Atomics.waitAsync`
 * (it never blocks the main JS thread); any thread bumps and notifies it when the coordinator has
 * something to look at: a claim it asked to hear of, the last thread gone, a worker requested.
 *
 * Claims are reported once per watch: the coordinator sets ClaimWatch, the first claim to see it
 * clears it and signals, and the claims after it stay silent until the coordinator sets it again.
 * A claim that came before the watch was set goes unreported, so the coordinator looks once more
 * after setting it (`Program`'s pool policy does).
 */
import { type ControlWords, Header } from './layout.js';

export class CoordinatorEvents {
  constructor(private readonly words: ControlWords) {}

  /** Coordinator, between two runs on one block: nobody is watched for (see `Threads.rearm`). */
  rearm(): void {
    Atomics.store(this.words.words, Header.ClaimWatch, 0);
    Atomics.store(this.words.words, Header.LastThreadWatch, 0);
  }

  /** Wakes the coordinator's wait on `Header.Events`. */
  signal(): void {
    this.words.add(Header.Events, 1);
    Atomics.notify(this.words.words, Header.Events);
  }

  /** The current value of `Header.Events`, to wait on with `waitFor`. */
  current(): number {
    return this.words.load(Header.Events);
  }

  /**
   * Coordinator: calls `look` now and each time `Header.Events` moves on, until `stopped()`, without
   * ever blocking. Whoever stops it signals once more, so that the pending wait settles: a wait never
   * woken keeps what `look` holds (a program, its memory) reachable for good.
   */
  follow(stopped: () => boolean, look: () => void): void {
    if (stopped()) return;
    const seen = this.current();
    look();
    const wait = this.waitFor(seen);
    if (wait.async) void wait.value.then(() => this.follow(stopped, look));
    else setImmediate(() => this.follow(stopped, look));
  }

  /**
   * Coordinator: settles when `Header.Events` moves on from `seen`, or after `timeoutMs` (`Atomics.waitAsync`'s
   * result, spelled out for declarations that load without lib ES2024).
   */
  waitFor(seen: number, timeoutMs?: number): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> } {
    return Atomics.waitAsync(this.words.words, Header.Events, seen, timeoutMs);
  }

  /** The coordinator asks to hear of the next claim. */
  watchClaims(): void {
    Atomics.store(this.words.words, Header.ClaimWatch, 1);
  }

  /** Clears the claim watch; true if it was set, so the caller is the one to act on it. */
  takeClaimWatch(): boolean {
    return Atomics.compareExchange(this.words.words, Header.ClaimWatch, 1, 0) === 1;
  }

  /** Whether the claim watch was consumed by a claim (or never set). */
  claimWatchTaken(): boolean {
    return this.words.load(Header.ClaimWatch) === 0;
  }

  /** A claim: signals the coordinator if it asked to hear of claims. */
  reportClaim(): void {
    if (this.takeClaimWatch()) this.signal();
  }

  /** Coordinator: the main entry returned with destroyWhenEnd false; the last thread to return must say so. */
  watchLastThread(): void {
    Atomics.store(this.words.words, Header.LastThreadWatch, 1);
  }

  /** The last live thread is gone: signals the coordinator if it watches for that. */
  lastThreadGone(): void {
    if (this.words.load(Header.LastThreadWatch) === 1) this.signal();
  }
}
