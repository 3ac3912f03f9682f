/**
 * The coordinator's side of stdin: one reader of `process.stdin` for every program in the process,
 * serving the read and poll requests of wasm threads in order. It reads asynchronously (a pipe
 * with no writer blocks no thread) and pauses `process.stdin` when nobody waits, so stdin never
 * keeps the process alive.
 */

import { answerReply as answer, type ReplyCell, replyPayload } from '../reply-cell.js';
import { Errno, errnoOf } from './constants.js';
import type { StdinRequest } from './stdin-client.js';

interface Pending {
  request: StdinRequest;
  owner: object;
  timer?: NodeJS.Timeout;
}

/** Serves a program's stdin requests: the process's stdin (`stdinRelay`) or a run's bytes (`BytesStdin`). */
export interface StdinSource {
  submit(request: StdinRequest, owner: object): void;
  cancel(owner: object): void;
}

/** A run's stdin given as bytes: reads take them in order, then see the end of input. */
export class BytesStdin implements StdinSource {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  submit(request: StdinRequest): void {
    if (request.type === 'stdin-poll') {
      answer(request.reply, 1); // always ready: bytes or the end
      return;
    }
    const count = Math.min(request.max, this.bytes.length - this.offset);
    replyPayload(request.reply, count).set(this.bytes.subarray(this.offset, this.offset + count));
    this.offset += count;
    answer(request.reply, count);
  }

  cancel(): void {}
}

class StdinRelay implements StdinSource {
  private chunks: Buffer[] = [];
  private ended = false;
  private failure = 0;
  private listening = false;
  private pending: Pending[] = [];

  /** Queues a request of `owner` (a program), answered once stdin has something to say. */
  submit(request: StdinRequest, owner: object): void {
    const entry: Pending = { request, owner };
    if (request.type === 'stdin-poll' && Number.isFinite(request.timeoutMs)) {
      entry.timer = setTimeout(() => {
        this.pending = this.pending.filter((p) => p !== entry);
        answer(request.reply, 0);
        this.pauseIfIdle();
      }, request.timeoutMs);
    }
    this.pending.push(entry);
    this.pump();
  }

  /** Drops the requests of a program that has ended: its threads are gone. */
  cancel(owner: object): void {
    for (const entry of this.pending.filter((p) => p.owner === owner)) clearTimeout(entry.timer);
    this.pending = this.pending.filter((p) => p.owner !== owner);
    this.pauseIfIdle();
  }

  private pump(): void {
    while (this.pending.length > 0) {
      if (this.chunks.length === 0 && !this.ended) {
        this.listen();
        return;
      }
      const { request, timer } = this.pending.shift()!;
      clearTimeout(timer);
      if (request.type === 'stdin-poll') answer(request.reply, 1);
      else answer(request.reply, this.failure ? -this.failure : this.take(request.max, request.reply));
    }
    this.pauseIfIdle();
  }

  private take(max: number, reply: ReplyCell): number {
    const out = replyPayload(reply, max);
    let count = 0;
    while (count < max && this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, max - count);
      out.set(chunk.subarray(0, used), count);
      count += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return count;
  }

  private listen(): void {
    if (!this.listening) {
      this.listening = true;
      process.stdin.on('data', (chunk: Buffer) => {
        this.chunks.push(chunk);
        this.pump();
      });
      process.stdin.on('end', () => {
        this.ended = true;
        this.pump();
      });
      process.stdin.on('error', (error) => {
        this.ended = true;
        this.failure = errnoOf(error) || Errno.IO;
        this.pump();
      });
    }
    process.stdin.resume();
  }

  private pauseIfIdle(): void {
    if (this.listening && this.pending.length === 0) process.stdin.pause();
  }
}

/** The one relay of this process: there is one stdin. */
export const stdinRelay = new StdinRelay();
