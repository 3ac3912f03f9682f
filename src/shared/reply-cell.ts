/**
 * A one-shot reply from the coordinator to a worker that waits for it: the worker makes a cell,
 * sends it in a message, and blocks in a terminable `Atomics.wait` until the coordinator answers.
 *
 * Layout of the SharedArrayBuffer: Int32 `[done, value]`, then `payloadBytes` bytes of payload.
 * `done` goes 0 -> 1 exactly once, after `value` and the payload are written.
 */
const DONE = 0;
const VALUE = 1;
export const REPLY_HEADER_BYTES = 8;

export type ReplyCell = SharedArrayBuffer;

export function createReplyCell(payloadBytes = 0): ReplyCell {
  return new SharedArrayBuffer(REPLY_HEADER_BYTES + payloadBytes);
}

/** The cell's payload bytes, for the side that writes the answer or reads it. */
export function replyPayload(cell: ReplyCell, length = cell.byteLength - REPLY_HEADER_BYTES): Uint8Array {
  return new Uint8Array(cell, REPLY_HEADER_BYTES, length);
}

/** Worker side: blocks until the answer comes, and returns its value. */
export function awaitReply(cell: ReplyCell): number {
  const header = new Int32Array(cell, 0, 2);
  while (Atomics.load(header, DONE) === 0) Atomics.wait(header, DONE, 0);
  return Atomics.load(header, VALUE);
}

/** Coordinator side: answers with `value` (write the payload first) and wakes the waiting worker. */
export function answerReply(cell: ReplyCell, value: number): void {
  const header = new Int32Array(cell, 0, 2);
  Atomics.store(header, VALUE, value);
  Atomics.store(header, DONE, 1);
  Atomics.notify(header, DONE);
}
