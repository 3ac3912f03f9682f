/**
 * Bytes collected from many writes into few blocks: a run's captured stdout or stderr. A capture
 * that kept each write as a Buffer of its own held ~200 bytes of the process's memory per write
 * (218 MB of heap for a million 1-byte writes, measured on Node 20); here a write costs its bytes,
 * and at most one block is partly empty. The first block is small and comes from Node's shared
 * buffer pool: most captures are short, and a 64 KiB block for each run's first write was a new
 * ArrayBuffer a run, which V8 counts toward its collections (~16 µs of the runtime's thread a run,
 * in a CPU profile of back-to-back runs of `first_instruction`, its 8-byte stdout).
 */
const BLOCK_BYTES = 64 * 1024;

/** The first block: below half of `Buffer.poolSize` (8 KiB), so `Buffer.allocUnsafe` takes it from the pool. */
const FIRST_BLOCK_BYTES = 4000;

export class ByteCollector {
  private readonly blocks: Buffer[] = [];
  private block: Buffer | undefined;
  private used = 0;
  /** Bytes collected. */
  length = 0;

  /** Copies `bytes` in (the caller may reuse them at once). */
  add(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.byteLength) {
      if (!this.block || this.used === this.block.byteLength) {
        // A write larger than a block gets a block of its own size: one copy, no slicing.
        this.block = Buffer.allocUnsafe(Math.max(this.blocks.length === 0 ? FIRST_BLOCK_BYTES : BLOCK_BYTES, bytes.byteLength - at));
        this.blocks.push(this.block);
        this.used = 0;
      }
      const part = Math.min(bytes.byteLength - at, this.block.byteLength - this.used);
      this.block.set(bytes.subarray(at, at + part), this.used);
      this.used += part;
      at += part;
    }
    this.length += bytes.byteLength;
  }

  /** Everything collected, in one Buffer. */
  bytes(): Buffer {
    const last = this.blocks.length - 1;
    return Buffer.concat(
      this.blocks.map((block, i) => (i === last ? block.subarray(0, this.used) : block)),
      this.length,
    );
  }
}
