/** Reading and writing the binary format's bytes: LEB128 numbers and growable output. */

import { Limits } from '../wasm-format.js';
import { REF, REF_NULLABLE, Unsupported } from './instructions.js';
/** A growable byte buffer, written once front to back. */
export class ByteSink {
  bytes: Uint8Array;
  length = 0;
  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }
  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
  byte(b: number): void {
    this.reserve(1);
    this.bytes[this.length++] = b;
  }
  /** Unsigned LEB128 of a value below 2^53. */
  u32(value: number): void {
    this.reserve(u32Size(value));
    do {
      let b = value % 128;
      value = Math.floor(value / 128);
      if (value !== 0) b |= 0x80;
      this.bytes[this.length++] = b;
    } while (value !== 0);
  }
  /** Signed LEB128 of a non-negative value below 2^53. */
  s64(value: number): void {
    this.reserve(9);
    for (;;) {
      const b = value % 128;
      value = Math.floor(value / 128);
      if (value === 0 && (b & 0x40) === 0) {
        this.bytes[this.length++] = b;
        return;
      }
      this.bytes[this.length++] = b | 0x80;
    }
  }
  copy(source: Uint8Array, start: number, end: number): void {
    this.reserve(end - start);
    this.bytes.set(source.subarray(start, end), this.length);
    this.length += end - start;
  }
  append(other: ByteSink): void {
    this.copy(other.bytes, 0, other.length);
  }
  /** The bytes written, in a buffer of their own size (callers may pass `.buffer` on). */
  result(): Uint8Array {
    return this.length === this.bytes.length ? this.bytes : this.bytes.slice(0, this.length);
  }
}

export const u32Size = (value: number): number => (value < 2 ** 7 ? 1 : value < 2 ** 14 ? 2 : value < 2 ** 21 ? 3 : value < 2 ** 28 ? 4 : 5);

/** Reads a module's bytes; reading past the end is a malformed module. */
export class Cursor {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
  ) {}
  byte(): number {
    if (this.pos >= this.bytes.length) throw new Unsupported('a truncated module');
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Unsupported('a malformed LEB128 number');
  }
  skipName(): void {
    const length = this.u32();
    this.pos += length;
  }
  /** Skips a LEB128 number of any width (signed constants). */
  skipLeb(): void {
    while (this.byte() & 0x80);
  }
  /** A heap type (s33): an abstract type in one byte, or a type index. */
  skipHeapType(): void {
    this.skipLeb();
  }
  valueType(): void {
    const b = this.byte();
    if (b === REF_NULLABLE || b === REF) this.skipHeapType();
    else if (b < 0x6b || b > 0x7f) throw new Unsupported(`value type 0x${b.toString(16)}`);
  }
  /** A block type: empty (0x40), a value type, or a type index (s33). */
  blockType(): void {
    const b = this.bytes[this.pos];
    if (b === REF_NULLABLE || b === REF) {
      this.pos++;
      this.skipHeapType();
    } else this.skipLeb();
  }
  limits(): number {
    const flags = this.byte();
    this.u32();
    if (flags & Limits.HasMax) this.u32();
    return flags;
  }
}
