/**
 * Reads a memory import's limits straight from the module's import section:
 * `WebAssembly.Module.imports()` names the import but not its limits or whether it is shared.
 */

export interface MemoryImport {
  module: string;
  name: string;
  /** Minimum size in 64 KiB pages. */
  initial: number;
  /** Maximum size in pages, when the module declares one. */
  maximum?: number;
  shared: boolean;
}

const IMPORT_SECTION = 2;
enum ImportKind {
  Function = 0,
  Table = 1,
  Memory = 2,
  Global = 3,
  Tag = 4,
}
const LIMITS_HAS_MAX = 0x01;
const LIMITS_SHARED = 0x02;
const LIMITS_MEMORY64 = 0x04;

class Reader {
  offset = 8; // past the magic number and version
  constructor(private readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.offset >= this.bytes.length) throw new RangeError('unexpected end of the wasm binary');
    return this.bytes[this.offset++]!;
  }

  /** Unsigned LEB128; memory limits above 2^53 do not occur in practice. */
  u32(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
  }

  name(): string {
    const length = this.u32();
    const start = this.offset;
    this.offset += length;
    return new TextDecoder().decode(this.bytes.subarray(start, this.offset));
  }

  limits(): { flags: number; initial: number; maximum?: number } {
    const flags = this.byte();
    const initial = this.u32();
    const maximum = flags & LIMITS_HAS_MAX ? this.u32() : undefined;
    return { flags, initial, maximum };
  }
}

/** Returns the module's memory import, or undefined when it imports none. Expects a valid module. */
export function readMemoryImport(bytes: Uint8Array): MemoryImport | undefined {
  const reader = new Reader(bytes);
  while (reader.offset < bytes.length) {
    const id = reader.byte();
    const size = reader.u32();
    const end = reader.offset + size;
    if (id === IMPORT_SECTION) return findMemoryImport(reader);
    reader.offset = end;
  }
  return undefined;
}

function findMemoryImport(reader: Reader): MemoryImport | undefined {
  const count = reader.u32();
  for (let i = 0; i < count; i++) {
    const module = reader.name();
    const name = reader.name();
    const kind = reader.byte();
    switch (kind) {
      case ImportKind.Function:
        reader.u32();
        break;
      case ImportKind.Table:
        reader.byte(); // element type
        reader.limits();
        break;
      case ImportKind.Memory: {
        const { flags, initial, maximum } = reader.limits();
        if (flags & LIMITS_MEMORY64) throw new RangeError('64-bit memories are not supported');
        return { module, name, initial, maximum, shared: (flags & LIMITS_SHARED) !== 0 };
      }
      case ImportKind.Global:
        reader.byte(); // value type
        reader.byte(); // mutability
        break;
      case ImportKind.Tag:
        reader.byte(); // attribute
        reader.u32();
        break;
      default:
        throw new RangeError(`unknown import kind ${kind}`);
    }
  }
  return undefined;
}
