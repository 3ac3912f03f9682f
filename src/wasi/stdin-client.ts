/**
 * Reading the process's stdin from a wasm thread without a blocking host call: the coordinator
 * reads (asynchronously) and this thread waits in a terminable `Atomics.wait` for the bytes.
 */

export interface StdinClient {
  /** Fills `buffers` with what stdin has (at least 1 byte, 0 at end of input); a negative errno on failure. */
  read(buffers: Uint8Array[]): number;
  /** Waits up to `timeoutMs` (Infinity: no limit) for stdin to have input or reach its end. */
  poll(timeoutMs: number): boolean;
}

export type StdinRequest =
  | { type: 'stdin-read'; max: number; reply: SharedArrayBuffer }
  | { type: 'stdin-poll'; timeoutMs: number; reply: SharedArrayBuffer };

/** A reply is `[done, result]` as Int32, then the bytes read. */
export const REPLY_HEADER_BYTES = 8;

function awaitReply(reply: SharedArrayBuffer): number {
  const header = new Int32Array(reply, 0, 2);
  while (Atomics.load(header, 0) === 0) Atomics.wait(header, 0, 0);
  return Atomics.load(header, 1);
}

export function stdinClientVia(post: (request: StdinRequest) => void): StdinClient {
  return {
    read(buffers) {
      const max = buffers.reduce((sum, b) => sum + b.length, 0);
      if (max === 0) return 0;
      const reply = new SharedArrayBuffer(REPLY_HEADER_BYTES + max);
      post({ type: 'stdin-read', max, reply });
      const count = awaitReply(reply);
      if (count < 0) return count;
      let offset = REPLY_HEADER_BYTES;
      for (const buffer of buffers) {
        const take = Math.min(buffer.length, REPLY_HEADER_BYTES + count - offset);
        if (take <= 0) break;
        buffer.set(new Uint8Array(reply, offset, take));
        offset += take;
      }
      return count;
    },
    poll(timeoutMs) {
      const reply = new SharedArrayBuffer(REPLY_HEADER_BYTES);
      post({ type: 'stdin-poll', timeoutMs, reply });
      return awaitReply(reply) === 1;
    },
  };
}

