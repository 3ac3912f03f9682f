/** poll_oneoff, and the clocks it and the clock calls read. */
import { Event, type EventValue, Subscription, type SubscriptionValue } from './abi.js';
import { Clock, Errno, EventType } from './constants.js';
import { sleepMs } from './fd-io.js';
import { MAX_FDS } from './fd-table.js';
import type { GuestMemory } from './guest-memory.js';
import type { StdinClient } from './stdin-client.js';

/**
 * The most subscriptions one poll_oneoff takes; more is EINVAL, as Linux's poll() answers more
 * descriptors than a process may have. wasi-libc's poll() makes at most two a descriptor and one
 * clock. Without a bound, 22 million subscriptions (all of a 1 GiB memory) hold the call for 55 s
 * and take 6 GB of the process's RSS (Node 20).
 */
const POLL_MAX_SUBSCRIPTIONS = 4 * MAX_FDS;
const NS_PER_MS = 1_000_000;

/** The time of `clock` in nanoseconds; undefined for a clock that does not exist. */
export function nowNs(clock: number): bigint | undefined {
  switch (clock) {
    case Clock.REALTIME:
      return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e3)) * 1000n;
    case Clock.MONOTONIC:
      return process.hrtime.bigint();
    case Clock.PROCESS_CPUTIME_ID:
    case Clock.THREAD_CPUTIME_ID: {
      const { user, system } = process.cpuUsage();
      return BigInt(user + system) * 1000n;
    }
    default:
      return undefined;
  }
}

/**
 * Waits for the first of the subscriptions: clocks sleep in a terminable wait, and a read of the
 * process's stdin is polled through the coordinator; every other descriptor is always ready.
 */
export function pollOneoff(
  memory: GuestMemory,
  stdin: StdinClient,
  isStdin: (fd: number) => boolean | undefined,
  inPointer: number,
  outPointer: number,
  count: number,
  eventsPointer: number,
): number {
  if (count === 0 || count > POLL_MAX_SUBSCRIPTIONS) return Errno.INVAL;
  // Both ends checked against the memory before anything is decoded or kept.
  memory.bytes(inPointer, count * Subscription.size);
  memory.bytes(outPointer, count * Event.size);
  const view = memory.view();
  const subscriptions = Array.from({ length: count }, (_, i) => Subscription.read(view, inPointer + i * Subscription.size));
  const ready: EventValue[] = [];
  let earliest: { userdata: bigint; deadline: bigint } | undefined;
  const stdinReaders: SubscriptionValue[] = [];
  const now = process.hrtime.bigint();
  for (const subscription of subscriptions) {
    const { userdata, type, clock } = subscription;
    if (clock) {
      const clockNow = nowNs(clock.id);
      if (clockNow === undefined) {
        ready.push({ userdata, type, error: Errno.INVAL, nbytes: 0n });
        continue;
      }
      const deadline = now + (clock.absolute ? clock.timeout - clockNow : clock.timeout);
      if (!earliest || deadline < earliest.deadline) earliest = { userdata, deadline };
    } else {
      const readsStdin = isStdin(subscription.fd);
      if (readsStdin === undefined) ready.push({ userdata, type, error: Errno.BADF, nbytes: 0n });
      else if (type === EventType.FD_READ && readsStdin) {
        if (stdin.poll(0)) ready.push({ userdata, type, error: Errno.SUCCESS, nbytes: 1n });
        else stdinReaders.push(subscription);
      } else ready.push({ userdata, type, error: Errno.SUCCESS, nbytes: 0n });
    }
  }
  if (ready.length === 0) {
    // Rounded up: a clock event must not come before its deadline.
    const waitMs = earliest ? Math.max(0, Math.ceil(Number(earliest.deadline - process.hrtime.bigint()) / NS_PER_MS)) : Infinity;
    if (stdinReaders.length > 0 && stdin.poll(waitMs)) {
      for (const { userdata } of stdinReaders) ready.push({ userdata, type: EventType.FD_READ, error: Errno.SUCCESS, nbytes: 1n });
    } else if (earliest) {
      if (stdinReaders.length === 0) sleepMs(waitMs);
      ready.push({ userdata: earliest.userdata, type: EventType.CLOCK, error: Errno.SUCCESS, nbytes: 0n });
    }
  }
  for (const [i, event] of ready.entries()) Event.write(view, outPointer + i * Event.size, event);
  view.setUint32(eventsPointer, ready.length, true);
  return Errno.SUCCESS;
}
