/** The instructions the grow guard decodes and rewrites: opcodes, their immediates, and the shapes of the guarded ones. */

/** The decoder met something it does not know: the module is kept as it was. */
export class Unsupported extends Error {}

export const MEMARG_HAS_MEMORY = 0x40;
export const REF_NULLABLE = 0x63;
export const REF = 0x64;

// Value types of the helpers' signatures.
export const I32 = 0x7f;
export const I64 = 0x7e;

/** What a guarded instruction pops and pushes, and how many bytes its access spans. */
export interface Shape {
  params: readonly number[];
  results: readonly number[];
  /** Bytes accessed at address + offset; 0 for the ranged instructions (fill, copy, init). */
  width: number;
  range?: 'fill' | 'copy' | 'init';
}

export const ATOMIC_PREFIX = 0xfe;
/** `table.set`, the one table-changing instruction outside the 0xFC prefix. */
export const TABLE_SET = 0x26;
export const BULK_PREFIX = 0xfc;
export const BULK = { init: 8, copy: 10, fill: 11 } as const;

/** The shape of each atomic instruction on memory (0xFE prefix), by sub-opcode; fence has none. */
export const ATOMIC_SHAPES: (Shape | undefined)[] = (() => {
  const shapes: (Shape | undefined)[] = [];
  shapes[0x00] = { params: [I32, I32], results: [I32], width: 4 }; // memory.atomic.notify
  shapes[0x01] = { params: [I32, I32, I64], results: [I32], width: 4 }; // memory.atomic.wait32
  shapes[0x02] = { params: [I32, I64, I64], results: [I32], width: 8 }; // memory.atomic.wait64
  // Each family has seven members: i32, i64, i32 8u, i32 16u, i64 8u, i64 16u, i64 32u.
  const widths = [4, 8, 1, 2, 1, 2, 4];
  const types = [I32, I64, I32, I32, I64, I64, I64];
  for (let i = 0; i < 7; i++) {
    const [w, t] = [widths[i]!, types[i]!];
    shapes[0x10 + i] = { params: [I32], results: [t], width: w }; // load
    shapes[0x17 + i] = { params: [I32, t], results: [], width: w }; // store
    for (let family = 0; family < 6; family++) shapes[0x1e + family * 7 + i] = { params: [I32, t], results: [t], width: w }; // add sub and or xor xchg
    shapes[0x48 + i] = { params: [I32, t, t], results: [t], width: w }; // cmpxchg
  }
  return shapes;
})();
export const RANGE_SHAPES = {
  fill: { params: [I32, I32, I32], results: [], width: 0, range: 'fill' },
  copy: { params: [I32, I32, I32], results: [], width: 0, range: 'copy' },
  init: { params: [I32, I32, I32], results: [], width: 0, range: 'init' },
} as const satisfies Record<string, Shape>;

/** How an instruction's immediates are read, by its first byte. */
export enum Imm {
  Unknown,
  None,
  /** One LEB128 number (an index, a label, a constant, a heap type). */
  Leb,
  TwoLeb,
  Block,
  Memarg,
  BrTable,
  SelectTypes,
  TryTable,
  MemorySize,
  Bytes4,
  Bytes8,
  Bulk,
  Simd,
  Atomic,
}

export const IMMEDIATES = (() => {
  const table = new Uint8Array(256); // Imm.Unknown
  const set = (kind: Imm, ...ops: number[]) => {
    for (const op of ops) table[op] = kind;
  };
  // unreachable nop else throw_ref end return catch_all drop select ref.is_null ref.eq ref.as_non_null
  set(Imm.None, 0x00, 0x01, 0x05, 0x0a, 0x0b, 0x0f, 0x19, 0x1a, 0x1b, 0xd1, 0xd3, 0xd4);
  for (let op = 0x45; op <= 0xc4; op++) table[op] = Imm.None; // numeric instructions
  set(Imm.Block, 0x02, 0x03, 0x04, 0x06); // block loop if try
  // catch throw rethrow br br_if call return_call call_ref return_call_ref delegate
  set(Imm.Leb, 0x07, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x12, 0x14, 0x15, 0x18);
  // local.get/set/tee global.get/set table.get/set i32.const i64.const ref.null ref.func br_on_null br_on_non_null memory.grow
  set(Imm.Leb, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x41, 0x42, 0xd0, 0xd2, 0xd5, 0xd6, 0x40);
  set(Imm.TwoLeb, 0x11, 0x13); // call_indirect return_call_indirect
  set(Imm.BrTable, 0x0e);
  set(Imm.SelectTypes, 0x1c);
  set(Imm.TryTable, 0x1f);
  for (let op = 0x28; op <= 0x3e; op++) table[op] = Imm.Memarg; // plain loads and stores
  set(Imm.MemorySize, 0x3f);
  set(Imm.Bytes4, 0x43); // f32.const
  set(Imm.Bytes8, 0x44); // f64.const
  set(Imm.Bulk, BULK_PREFIX);
  set(Imm.Simd, 0xfd);
  set(Imm.Atomic, ATOMIC_PREFIX);
  return table;
})();

/** An instruction's bytes as a helper's key: its opcode and every immediate (alignment included). */
export const instructionKey = (bytes: Uint8Array, start: number, end: number): string => {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
  return s;
};
