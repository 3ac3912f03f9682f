import type { Writable } from 'node:stream';
import { RunOutputError, RunOutputLimitError } from '../../base/errors.js';
import { DEFAULTS } from '../../base/options.js';
import { type InputSource, isReadable, type OutputTarget, type RunOptions } from '../../base/run-options.js';
import { RELAYED } from '../../wasi/fd-owner.js';
import { BytesStdin, type StdinSource, StreamStdin } from '../../wasi/stdin-relay.js';
import { ByteCollector } from './byte-collector.js';

/** The stdio of one run: host fds for fds 0-2, and the sinks of the relayed ones. */
export class RunStdio {
  readonly fds: number[];
  readonly stdin: StdinSource | undefined;
  private readonly captured = [new ByteCollector(), new ByteCollector()] as const;
  private readonly maxBuffer: number;
  /** A capture that went past maxBuffer, or a Writable that failed, takes no more. */
  private readonly stopped = [false, false];
  private readonly targets: [OutputTarget, OutputTarget];
  private readonly input: InputSource;
  /**
   * Ends the run once its output cannot go on: a capture went past maxBuffer, or a Writable failed
   * (set when the run starts).
   */
  fail: (error: RunOutputLimitError | RunOutputError) => void = () => {};
  /** Why the output could not go on, if it could not: the run fails with it even if the program had ended meanwhile. */
  failure: RunOutputLimitError | RunOutputError | undefined;

  constructor(
    options: RunOptions,
    private readonly what: 'the run' | 'the instance' = 'the run',
  ) {
    this.targets = [options.stdout ?? 'inherit', options.stderr ?? 'inherit'];
    this.maxBuffer = options.maxBuffer ?? DEFAULTS.maxBuffer;
    const input = options.stdin ?? '';
    this.input = input;
    if (typeof input === 'string' || input instanceof Uint8Array) this.stdin = new BytesStdin(typeof input === 'string' ? Buffer.from(input) : input);
    // Read as the program asks, paused in between; let go (listeners off, paused) when the run ends.
    else if (isReadable(input)) this.stdin = new StreamStdin(() => input, true);
    const inFd = this.stdin ? RELAYED.stdin : input === 'inherit' ? 0 : (input as number);
    const outFd = (target: OutputTarget, stream: 1 | 2, relayed: number) => (target === 'inherit' ? stream : typeof target === 'number' ? target : relayed);
    this.fds = [inFd, outFd(this.targets[0], 1, RELAYED.stdout), outFd(this.targets[1], 2, RELAYED.stderr)];
  }

  /**
   * While the run lasts, a Writable's 'error' ends the run (RunOutputError) rather than the
   * process (an 'error' nobody listens to is thrown). Returns the end of the watch.
   */
  watch(): () => void {
    const listeners = new Map<Writable, (error: unknown) => void>();
    // A stdin stream's 'error' before the program reads it (or while the run waits in the queue) is
    // the program's read error once it reads (StreamStdin sees the stream errored), not the process's.
    const input = isReadable(this.input) ? this.input : undefined;
    const onInputError = () => {};
    input?.on('error', onInputError);
    for (const target of new Set(this.targets)) {
      // Duck-typed sinks (an object with a write method) are taken too: only emitters are listened to.
      if (typeof target !== 'object' || typeof target.on !== 'function' || typeof target.off !== 'function') continue;
      // The stream or streams (stdout and stderr may share one) that this Writable is.
      const onError = (error: unknown) => {
        for (const stream of [1, 2] as const) if (this.targets[stream - 1] === target) this.stop(stream, error);
      };
      target.on('error', onError);
      listeners.set(target, onError);
    }
    // After the ticks already queued: a failed write's 'error' is emitted on a later tick than its callback.
    return () => {
      input?.off('error', onInputError);
      setImmediate(() => {
        for (const [target, onError] of listeners) target.off('error', onError);
      });
    };
  }

  private stop(stream: 1 | 2, error: unknown): void {
    if (this.stopped[stream - 1]) return;
    this.stopped[stream - 1] = true;
    this.failWith(new RunOutputError(stream === 1 ? 'stdout' : 'stderr', error, this.what));
  }

  private failWith(error: RunOutputLimitError | RunOutputError): void {
    this.failure ??= error;
    this.fail(error);
  }

  /** Takes a write of the program; `taken` lets it write more (see `OutputRelay`). */
  readonly output = (stream: 1 | 2, bytes: Uint8Array, taken: () => void): void => {
    const target = this.targets[stream - 1]!;
    if (typeof target === 'object') {
      if (this.stopped[stream - 1]) return taken();
      // Known at once, not at the write's callback (a later tick, maybe after the program's end).
      if (target.destroyed || target.writableEnded) {
        this.stop(stream, target.errored ?? new Error(`the stream was ${target.destroyed ? 'destroyed' : 'ended'} before the program wrote to it`));
        return taken();
      }
      // Called once the stream took the bytes (or failed): until then they count as on their way.
      let counted = false;
      const takenOnce = () => {
        if (!counted) taken();
        counted = true;
      };
      try {
        target.write(bytes, (error) => {
          takenOnce();
          if (error) this.stop(stream, error);
        });
      } catch (error) {
        // A sink that throws (a write after end on some streams, a duck-typed sink): not the process's end.
        takenOnce();
        this.stop(stream, error);
      }
      return;
    }
    if (target === 'buffer') this.capture(stream, bytes);
    taken();
  };

  private capture(stream: 1 | 2, bytes: Uint8Array): void {
    if (this.stopped[stream - 1]) return;
    const collector = this.captured[stream - 1]!;
    const room = this.maxBuffer - collector.length;
    // Copied: a view would keep each write's message buffer alive (~8x the bytes for 100-byte writes).
    collector.add(bytes.byteLength <= room ? bytes : bytes.subarray(0, room));
    if (bytes.byteLength > room) {
      this.stopped[stream - 1] = true;
      this.failWith(new RunOutputLimitError(stream === 1 ? 'stdout' : 'stderr', this.maxBuffer));
    }
  }

  captures(stream: 1 | 2): Buffer {
    return this.captured[stream - 1]!.bytes();
  }
}
