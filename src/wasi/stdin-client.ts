/**
 * Reading the process's stdin from a wasm thread without a blocking host call: the coordinator
 * reads (asynchronously) and this thread waits in a terminable `Atomics.wait` for the bytes.
 */
import type { StdinRequest } from '../shared/messages.js';
import { awaitReply, createReplyCell, replyPayload } from '../shared/reply-cell.js';

export interface StdinClient {
  /** Fills `buffers` with what stdin has (at least 1 byte, 0 at end of input); a negative errno on failure. */
  read(buffers: Uint8Array[]): number;
  /** Waits up to `timeoutMs` (Infinity: no limit) for stdin to have input or reach its end. */
  poll(timeoutMs: number): boolean;
}

/** The most one read asks the coordinator for: a read may always return fewer bytes than asked. */
const MAX_READ = 64 * 1024;

export function stdinClientVia(post: (request: StdinRequest) => void): StdinClient {
  return {
    read(buffers) {
      const max = Math.min(
        MAX_READ,
        buffers.reduce((sum, b) => sum + b.length, 0),
      );
      if (max === 0) return 0;
      const reply = createReplyCell(max);
      post({ type: 'stdin-read', max, reply });
      const count = awaitReply(reply);
      if (count < 0) return count;
      const bytes = replyPayload(reply, count);
      let offset = 0;
      for (const buffer of buffers) {
        const take = Math.min(buffer.length, count - offset);
        if (take <= 0) break;
        buffer.set(bytes.subarray(offset, offset + take));
        offset += take;
      }
      return count;
    },
    poll(timeoutMs) {
      const reply = createReplyCell();
      post({ type: 'stdin-poll', timeoutMs, reply });
      return awaitReply(reply) === 1;
    },
  };
}
