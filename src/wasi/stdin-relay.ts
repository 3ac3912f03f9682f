/**
 * The coordinator's side of stdin: a reader of a stream (`process.stdin`, one for every program in
 * the process, or a run's own Readable) serving the read and poll requests of wasm threads in
 * order. It reads asynchronously (a pipe with no writer blocks no thread) and pauses the stream
 * when nobody waits, so a stream never keeps the process alive, and holds at most what arrived
 * beyond the last read.
 */
import type { Readable } from 'node:stream';
import type { StdinRequest } from '../shared/messages.js';
import { answerReply as answer, type ReplyCell, replyPayload } from '../shared/reply-cell.js';
import { Errno, errnoOf } from './constants.js';

interface Pending {
  request: StdinRequest;
  owner: object;
  timer?: NodeJS.Timeout;
}

/** Serves a program's stdin requests: the process's stdin (`stdinRelay`), a run's bytes (`BytesStdin`) or a run's Readable (`StreamStdin`). */
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

/**
 * A stream's bytes, read as the program asks for them. With `ownStream` false (`process.stdin`,
 * which every program shares) the listeners stay for the next program; a run's own stream is let
 * go when its program ends: listeners removed, what arrived but was not read put back (`unshift`),
 * and the stream paused.
 */
export class StreamStdin implements StdinSource {
  private chunks: Uint8Array[] = [];
  private ended = false;
  private failure = 0;
  private listening = false;
  private pending: Pending[] = [];
  private readonly onData = (chunk: unknown) => {
    if (typeof chunk === 'string') this.chunks.push(Buffer.from(chunk));
    else if (chunk instanceof Uint8Array) this.chunks.push(chunk);
    // An object-mode stream's other values are not bytes: the program's read fails, as on a broken stream.
    else return this.onError(new TypeError(`stdin gave a ${typeof chunk}, not bytes or a string`));
    this.pump();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.pump();
  };
  private readonly onError = (error: Error) => {
    this.ended = true;
    this.failure = errnoOf(error) || Errno.IO;
    this.pump();
  };

  /** `source` is called at the first read: `process.stdin` is made only when a program reads it. */
  constructor(
    private readonly source: () => Readable,
    private readonly ownStream = false,
  ) {}

  private get stream(): Readable {
    return this.source();
  }

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
    if (this.ownStream && this.listening) {
      this.listening = false;
      this.stream.off('data', this.onData).off('end', this.onEnd).off('error', this.onError);
      // What arrived but was not read goes back to the stream, for its owner to read on.
      if (!this.ended) for (const chunk of this.chunks.reverse()) this.stream.unshift(chunk);
      this.chunks = [];
    }
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
      this.stream.on('data', this.onData).on('end', this.onEnd).on('error', this.onError);
      // A stream that ended or failed before anyone listened says so no more.
      if (this.stream.readableEnded || this.stream.destroyed) {
        const error = this.stream.errored;
        if (error) this.onError(error);
        else this.onEnd();
        return;
      }
    }
    this.stream.resume();
  }

  private pauseIfIdle(): void {
    if (this.listening && this.pending.length === 0) this.stream.pause();
  }
}

/** The one relay of the process's stdin: every program reading fd 0 shares it. */
export const stdinRelay = new StreamStdin(() => process.stdin);
