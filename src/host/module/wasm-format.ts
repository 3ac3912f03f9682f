/**
 * Numbers of the WebAssembly binary format that the library's readers of module bytes share
 * (wasm-binary.ts, grow-guard.ts, instance-reset.ts), named as the spec names them.
 */

/** Section ids (the ones read here). */
export enum Section {
  Custom = 0,
  Type = 1,
  Import = 2,
  Function = 3,
  Table = 4,
  Memory = 5,
  Global = 6,
  Export = 7,
  Start = 8,
  Code = 10,
  Data = 11,
  DataCount = 12,
}

/** What an import (or export) is. */
export enum ImportKind {
  Function = 0,
  Table = 1,
  Memory = 2,
  Global = 3,
  Tag = 4,
}

/** The form byte of a function type in the type section. */
export const FUNC_TYPE = 0x60;

/** The flags byte of a table's or memory's limits. */
export const Limits = { HasMax: 0x01, Shared: 0x02, Memory64: 0x04, PageSize: 0x08 } as const;
