/**
 * Reads what the JS API does not tell about a module straight from its binary: a memory import's
 * limits and whether it is shared (`WebAssembly.Module.imports()` names the import only), and the
 * signatures of its exported functions (`WebAssembly.Module.exports()` names them only).
 */

import { FUNC_TYPE, ImportKind, Limits, Section } from './wasm-format.js';

export interface MemoryImport {
  module: string;
  name: string;
  /** Minimum size in 64 KiB pages. */
  initial: number;
  /** Maximum size in pages, when the module declares one. */
  maximum?: number;
  shared: boolean;
}

/** A value type as the JS API converts it; `other` covers v128 and every reference type. */
export type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'other';
const VALUE_TYPES: Record<number, ValueType> = { 127: 'i32', 126: 'i64', 125: 'f32', 124: 'f64', 123: 'other', 112: 'other', 111: 'other' };

export interface FunctionType {
  params: ValueType[];
  results: ValueType[];
}

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

  valueType(): ValueType {
    const type = VALUE_TYPES[this.byte()];
    // Typed references (the GC and function-references proposals) would need their heap type read.
    if (!type) throw new RangeError('a value type this reader does not know');
    return type;
  }

  vector<T>(item: () => T): T[] {
    return Array.from({ length: this.u32() }, item);
  }

  limits(): { flags: number; initial: number; maximum?: number } {
    const flags = this.byte();
    const initial = this.u32();
    const maximum = flags & Limits.HasMax ? this.u32() : undefined;
    return { flags, initial, maximum };
  }
}

/**
 * Each section's id, the reader at its contents; the reader is moved past the section whatever the
 * caller read of it.
 */
function* sections(reader: Reader, length: number): Generator<number> {
  while (reader.offset < length) {
    const id = reader.byte();
    const size = reader.u32();
    const end = reader.offset + size;
    yield id;
    reader.offset = end;
  }
}

/** Returns the module's memory import, or undefined when it imports none. Expects a valid module. */
export function readMemoryImport(bytes: Uint8Array): MemoryImport | undefined {
  const reader = new Reader(bytes);
  for (const id of sections(reader, bytes.length)) if (id === Section.Import) return findMemoryImport(reader);
  return undefined;
}

function findMemoryImport(reader: Reader): MemoryImport | undefined {
  const entry = readImports(reader).find((i) => i.kind === ImportKind.Memory);
  if (!entry?.limits) return undefined;
  const { flags, initial, maximum } = entry.limits;
  if (flags & Limits.Memory64) throw new RangeError('64-bit memories are not supported');
  return { module: entry.module, name: entry.name, initial, maximum, shared: (flags & Limits.Shared) !== 0 };
}

interface ImportEntry {
  module: string;
  name: string;
  kind: ImportKind;
  /** A function's type index. */
  typeIndex?: number;
  /** A memory's limits. */
  limits?: ReturnType<Reader['limits']>;
}

/** The import section's entries, the reader at its count. */
function readImports(reader: Reader): ImportEntry[] {
  return reader.vector(() => {
    const entry: ImportEntry = { module: reader.name(), name: reader.name(), kind: reader.byte() };
    switch (entry.kind) {
      case ImportKind.Function:
        entry.typeIndex = reader.u32();
        break;
      case ImportKind.Table:
        reader.byte(); // element type
        reader.limits();
        break;
      case ImportKind.Memory:
        entry.limits = reader.limits();
        break;
      case ImportKind.Global:
        reader.byte(); // value type
        reader.byte(); // mutability
        break;
      case ImportKind.Tag:
        reader.byte(); // attribute
        reader.u32();
        break;
      default:
        throw new RangeError(`unknown import kind ${entry.kind}`);
    }
    return entry;
  });
}

/**
 * The signature of each exported function, by export name; undefined when the module uses a type
 * encoding this reader does not know (rec groups, typed references), so that callers check nothing
 * rather than something wrong. Expects a valid module.
 */
export function readExportedFunctionTypes(bytes: Uint8Array): Map<string, FunctionType> | undefined {
  try {
    const reader = new Reader(bytes);
    let types: FunctionType[] = [];
    const functions: number[] = []; // the type index of every function, imported ones first
    const exported = new Map<string, FunctionType>();
    for (const id of sections(reader, bytes.length)) {
      if (id === Section.Type) {
        types = reader.vector(() => {
          if (reader.byte() !== FUNC_TYPE) throw new RangeError('a type other than a function type');
          return { params: reader.vector(() => reader.valueType()), results: reader.vector(() => reader.valueType()) };
        });
      } else if (id === Section.Import) {
        for (const entry of readImports(reader)) if (entry.typeIndex !== undefined) functions.push(entry.typeIndex);
      } else if (id === Section.Function) {
        functions.push(...reader.vector(() => reader.u32()));
      } else if (id === Section.Export) {
        for (const { name, kind, index } of reader.vector(() => ({ name: reader.name(), kind: reader.byte(), index: reader.u32() }))) {
          const type = kind === ImportKind.Function ? types[functions[index]!] : undefined;
          if (type) exported.set(name, type);
        }
      }
    }
    return exported;
  } catch {
    return undefined;
  }
}
