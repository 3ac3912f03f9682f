/** A module's sections, and what the grow guard reads of them before it rewrites: its memory and its types. */

import { FUNC_TYPE, ImportKind, Limits, Section } from '../wasm-format.js';
import { Cursor } from './binary-io.js';
import { Unsupported } from './instructions.js';
export interface SectionSpan {
  id: number;
  /** The section's first byte (its id). */
  start: number;
  contents: number;
  end: number;
}

export function readSections(bytes: Uint8Array): SectionSpan[] {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw new Unsupported('not a wasm binary');
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new Unsupported('not a version 1 wasm binary');
  const sections: SectionSpan[] = [];
  const cursor = new Cursor(bytes, 8);
  while (cursor.pos < bytes.length) {
    const start = cursor.pos;
    const id = cursor.byte();
    const size = cursor.u32();
    const contents = cursor.pos;
    const end = contents + size;
    if (end > bytes.length) throw new Unsupported('a section runs past the end of the module');
    sections.push({ id, start, contents, end });
    cursor.pos = end;
  }
  return sections;
}

/** Where a vector section's entries start: past its count. */
export function afterCount(bytes: Uint8Array, section: SectionSpan): number {
  const cursor = new Cursor(bytes, section.contents);
  cursor.u32();
  return cursor.pos;
}

/** What a module imports, by kind: counts, each global's mutability, and each memory's limits flags. */
export interface ModuleImports {
  functions: number;
  tables: number;
  globals: number;
  mutableGlobals: number;
  /** The limits flags of each imported memory, in order. */
  memories: number[];
}

/** Reads the import section (absent: nothing imported). */
export function readImports(bytes: Uint8Array, section: SectionSpan | undefined): ModuleImports {
  const imports: ModuleImports = { functions: 0, tables: 0, globals: 0, mutableGlobals: 0, memories: [] };
  if (!section) return imports;
  const cursor = new Cursor(bytes, section.contents);
  for (let n = cursor.u32(); n > 0; n--) {
    cursor.skipName(); // module
    cursor.skipName(); // field
    const kind = cursor.byte();
    if (kind === ImportKind.Function) {
      imports.functions++;
      cursor.u32();
    } else if (kind === ImportKind.Table) {
      imports.tables++;
      cursor.valueType();
      cursor.limits();
    } else if (kind === ImportKind.Memory) imports.memories.push(cursor.limits());
    else if (kind === ImportKind.Global) {
      cursor.valueType();
      imports.globals++;
      if (cursor.byte() !== 0) imports.mutableGlobals++;
    } else if (kind === ImportKind.Tag) {
      cursor.byte();
      cursor.u32();
    } else throw new Unsupported(`import kind ${kind}`);
  }
  return imports;
}

/** The module's single memory: whether it is shared; undefined when it has none. */
export function memoryOf(bytes: Uint8Array, sections: SectionSpan[]): { shared: boolean; importedFunctions: number } | undefined {
  const imports = readImports(
    bytes,
    sections.find((section) => section.id === Section.Import),
  );
  const flags = [...imports.memories];
  for (const section of sections) {
    if (section.id !== Section.Memory) continue;
    const cursor = new Cursor(bytes, section.contents);
    for (let n = cursor.u32(); n > 0; n--) flags.push(cursor.limits());
  }
  for (const limits of flags) {
    if (limits & Limits.Memory64) throw new Unsupported('a 64-bit memory');
    if (limits & Limits.PageSize) throw new Unsupported('a custom page size'); // the helpers count in 64 KiB pages
  }
  if (flags.length === 0) return undefined;
  if (flags.length > 1) throw new Unsupported('several memories');
  return { shared: (flags[0]! & Limits.Shared) !== 0, importedFunctions: imports.functions };
}

/** The number of types the type section declares; only function types are known. */
export function countTypes(bytes: Uint8Array, section: SectionSpan | undefined): number {
  if (!section) return 0;
  const cursor = new Cursor(bytes, section.contents);
  const count = cursor.u32();
  for (let i = 0; i < count; i++) {
    const form = cursor.byte();
    if (form !== FUNC_TYPE) throw new Unsupported(`type form 0x${form.toString(16)} (GC types)`);
    for (let n = cursor.u32(); n > 0; n--) cursor.valueType();
    for (let n = cursor.u32(); n > 0; n--) cursor.valueType();
  }
  if (cursor.pos !== section.end) throw new Unsupported('a malformed type section');
  return count;
}
