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

/** The module's single memory: whether it is shared; undefined when it has none. */
export function memoryOf(bytes: Uint8Array, sections: SectionSpan[]): { shared: boolean; importedFunctions: number } | undefined {
  let memories = 0;
  let shared = false;
  let importedFunctions = 0;
  const takeLimits = (flags: number) => {
    memories++;
    if (flags & Limits.Memory64) throw new Unsupported('a 64-bit memory');
    if (flags & Limits.PageSize) throw new Unsupported('a custom page size'); // the helpers count in 64 KiB pages
    shared = (flags & Limits.Shared) !== 0;
  };
  for (const section of sections) {
    const cursor = new Cursor(bytes, section.contents);
    if (section.id === Section.Import) {
      for (let n = cursor.u32(); n > 0; n--) {
        cursor.skipName(); // module
        cursor.skipName(); // field
        const kind = cursor.byte();
        if (kind === ImportKind.Function) {
          importedFunctions++;
          cursor.u32();
        } else if (kind === ImportKind.Table) {
          cursor.valueType();
          cursor.limits();
        } else if (kind === ImportKind.Memory) takeLimits(cursor.limits());
        else if (kind === ImportKind.Global) {
          cursor.valueType();
          cursor.byte();
        } else if (kind === ImportKind.Tag) {
          cursor.byte();
          cursor.u32();
        } else throw new Unsupported(`import kind ${kind}`);
      }
    } else if (section.id === Section.Memory) {
      for (let n = cursor.u32(); n > 0; n--) takeLimits(cursor.limits());
    }
  }
  if (memories === 0) return undefined;
  if (memories > 1) throw new Unsupported('several memories');
  return { shared, importedFunctions };
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
