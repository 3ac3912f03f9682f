/**
 * A runtime worker's inbox, both ends of it: the worker spends its life blocked (in wasm, or in
 * `Atomics.wait`), never in its event loop, so messages to it cannot be delivered as events.
 *
 * - The sender posts each message on the inbox port, then rings the doorbell: bumps a shared word
 *   and notifies it (`InboxSender.send`).
 * - The reader reads the doorbell's count, takes what the port holds with `receiveMessageOnPort`,
 *   and waits on the word (blocking, or `waitAsync` between programs) only if the count is still
 *   the one it read: a message posted after the read rang after it, so no message is slept through.
 */

import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { InboxEnd, InboxMessage } from './messages.js';

/** A runtime worker's inbox as `workerData` carries it (the port is transferred). */

export function createDoorbell(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
}

/** The runtime's end. */
export class InboxSender {
  private readonly bell: Int32Array;

  constructor(
    private readonly port: MessagePort,
    doorbell: SharedArrayBuffer,
  ) {
    this.bell = new Int32Array(doorbell);
  }

  send(message: InboxMessage): void {
    this.port.postMessage(message);
    Atomics.add(this.bell, 0, 1);
    Atomics.notify(this.bell, 0);
  }

  /** The port never keeps this process alive: nothing comes back on it. */
  unref(): void {
    this.port.unref();
  }

  close(): void {
    this.port.close();
  }
}

type Accept = (message: InboxMessage) => boolean;

/** The worker's end. Messages that `accept` refuses are stale (an earlier program's) and dropped. */
export class InboxReader {
  private readonly bell: Int32Array;

  constructor(private readonly end: InboxEnd) {
    this.bell = new Int32Array(end.doorbell);
  }

  private take(accept: Accept): InboxMessage | undefined {
    for (let received = receiveMessageOnPort(this.end.port); received; received = receiveMessageOnPort(this.end.port)) {
      const message = received.message as InboxMessage;
      if (accept(message)) return message;
    }
    return undefined;
  }

  /** Blocks until a message that `accept` takes arrives. */
  next(accept: Accept): InboxMessage {
    for (;;) {
      const rung = Atomics.load(this.bell, 0);
      const message = this.take(accept);
      if (message) return message;
      Atomics.wait(this.bell, 0, rung);
    }
  }

  /** Like `next`, but waits in the event loop (which a pending `waitAsync` alone does not keep alive). */
  async nextAsync(accept: Accept): Promise<InboxMessage> {
    const alive = setInterval(() => undefined, 1 << 30);
    try {
      for (;;) {
        const rung = Atomics.load(this.bell, 0);
        const message = this.take(accept);
        if (message) return message;
        const wait = Atomics.waitAsync(this.bell, 0, rung);
        if (wait.async) await wait.value;
      }
    } finally {
      clearInterval(alive);
    }
  }
}
