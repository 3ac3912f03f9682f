/**
 * The instance reset: a load-time rewrite of a runtime's module that lets a worker kept from one
 * run to the next (host/runtime/kept-pools.ts) give its instance back the state a new instance of
 * the module would have, instead of making a new one for each run it serves.
 *
 * What an instance holds besides the code: its globals, its tables, its data and element segments
 * (dropped or not), its tags, and the memory, which is the run's (zeroed for each run). The rewrite
 * appends one exported function, RESET_EXPORT, and the module is resettable only when that
 * function brings every one of them back to what instantiation gives:
 * - Every mutable global the module defines is set to its initializer again, evaluated as
 *   instantiation evaluates it (the initializer's own instructions, copied). The module may import
 *   no mutable global (shared with whoever gave it) and no table.
 * - Tables: no instruction of the module changes one (`table.set`, `table.grow`, `table.fill`,
 *   `table.copy`, `table.init`), so each holds what its element segments put there at
 *   instantiation, run after run.
 * - Data segments: every `data.drop` becomes `nop`s of its length, so no segment is ever dropped,
 *   in a new instance or a reset one, and a `memory.init` finds the same bytes in both. (The one
 *   change a program can see: a `memory.init` after its segment's `data.drop` copies the segment
 *   instead of trapping.) Instantiation writes each active segment into the memory: the reset
 *   writes a passive copy of it (appended after the module's own segments) at the same offset, in
 *   the same order, after the globals, as instantiation does.
 * - Then it calls the start function, if there is one, as instantiation does last.
 * - Element segments and tags hold nothing a program can change without the instructions above.
 * Anything else (a global initializer or an instruction the decoder does not know, an export
 * already named RESET_EXPORT) leaves the module as it was, and the report says why: its workers
 * then make a new instance for every run.
 *
 * No index of the input changes: the function is appended at the end of the function index space,
 * its type (`[] -> []`) reused or appended at the end of the type section.
 */

import { RESET_EXPORT } from '../../shared/messages.js';
import { ByteSink, Cursor } from './grow-guard/binary-io.js';
import { CodeRewriter } from './grow-guard/code-rewriter.js';
import { BULK, BULK_PREFIX, Unsupported } from './grow-guard/instructions.js';
import { afterCount, countTypes, readImports, readSections, type SectionSpan } from './grow-guard/sections.js';
import { FUNC_TYPE, ImportKind, Section } from './wasm-format.js';

export type InstanceResetStatus =
  /** RESET_EXPORT was appended: a kept worker resets its instance for each run. */
  | 'added'
  /** The module cannot be reset (`reason`): a kept worker makes a new instance for each run. */
  | 'not-resettable'
  /** The module imports no memory: no worker of it is kept from run to run. */
  | 'not-needed'
  /** Not a runtime's module, or it came compiled (`wasmModule`): there were no bytes to rewrite. */
  | 'off';

export interface InstanceResetReport {
  status: InstanceResetStatus;
  reason?: string;
  /** Mutable globals the reset sets back. */
  globals: number;
}

export interface InstanceResetResult {
  /** The rewritten module, or the very input when it was not rewritten. */
  bytes: Uint8Array;
  report: InstanceResetReport;
}

/** A module that is valid but cannot be reset. */
class NotResettable extends Error {}

/** A mutable global the module defines: its index and its initializer's instructions (without the `end`). */
interface MutableGlobal {
  index: number;
  start: number;
  end: number;
}

const OP = { end: 0x0b, call: 0x10, globalSet: 0x24, nop: 0x01, i32Const: 0x41 } as const;

/** Reads a constant expression up to its `end`; returns where its instructions end (the `end` byte). */
function skipConstantExpression(c: Cursor): number {
  for (;;) {
    const at = c.pos;
    const op = c.byte();
    switch (op) {
      case OP.end:
        return at;
      case 0x41: // i32.const
      case 0x42: // i64.const
      case 0x23: // global.get
      case 0xd0: // ref.null
      case 0xd2: // ref.func
        c.skipLeb();
        break;
      case 0x43: // f32.const
        c.pos += 4;
        break;
      case 0x44: // f64.const
        c.pos += 8;
        break;
      case 0x6a: // i32.add, sub, mul (extended constant expressions)
      case 0x6b:
      case 0x6c:
      case 0x7c: // i64.add, sub, mul
      case 0x7d:
      case 0x7e:
        break;
      case 0xfd: // v128.const
        if (c.u32() !== 0x0c) throw new Unsupported('a SIMD instruction in a global initializer');
        c.pos += 16;
        break;
      default:
        throw new Unsupported(`opcode 0x${op.toString(16)} in a global initializer`);
    }
  }
}

function readMutableGlobals(bytes: Uint8Array, section: SectionSpan | undefined, imported: number): MutableGlobal[] {
  const globals: MutableGlobal[] = [];
  if (!section) return globals;
  const c = new Cursor(bytes, section.contents);
  const count = c.u32();
  for (let i = 0; i < count; i++) {
    c.valueType();
    const mutable = c.byte() === 1;
    const start = c.pos;
    const end = skipConstantExpression(c);
    if (mutable) globals.push({ index: imported + i, start, end });
  }
  if (c.pos !== section.end) throw new Unsupported('a malformed global section');
  return globals;
}

/** An active data segment: its memory, its offset's instructions (without the `end`), and its bytes as a vector (length first). */
interface ActiveSegment {
  memory: number;
  offsetStart: number;
  offsetEnd: number;
  vectorStart: number;
  vectorEnd: number;
  length: number;
}

function readDataSegments(bytes: Uint8Array, section: SectionSpan | undefined): { count: number; active: ActiveSegment[] } {
  const active: ActiveSegment[] = [];
  if (!section) return { count: 0, active };
  const c = new Cursor(bytes, section.contents);
  const count = c.u32();
  for (let i = 0; i < count; i++) {
    const flags = c.u32();
    if (flags > 2) throw new Unsupported(`data segment flags ${flags}`);
    const memory = flags === 2 ? c.u32() : 0;
    const offsetStart = c.pos;
    const offsetEnd = flags === 1 ? offsetStart : skipConstantExpression(c);
    const vectorStart = c.pos;
    const length = c.u32();
    c.pos += length;
    if (flags !== 1) active.push({ memory, offsetStart, offsetEnd, vectorStart, vectorEnd: c.pos, length });
  }
  if (c.pos !== section.end) throw new Unsupported('a malformed data section');
  return { count, active };
}

/** The index of a `[] -> []` type, or -1. */
function emptyType(bytes: Uint8Array, section: SectionSpan | undefined): number {
  if (!section) return -1;
  const c = new Cursor(bytes, section.contents);
  const count = c.u32();
  for (let i = 0; i < count; i++) {
    c.byte(); // FUNC_TYPE (countTypes checked)
    const params = c.u32();
    for (let n = params; n > 0; n--) c.valueType();
    const results = c.u32();
    for (let n = results; n > 0; n--) c.valueType();
    if (params === 0 && results === 0) return i;
  }
  return -1;
}

function exportNames(bytes: Uint8Array, section: SectionSpan): string[] {
  const c = new Cursor(bytes, section.contents);
  const names: string[] = [];
  const decoder = new TextDecoder();
  for (let n = c.u32(); n > 0; n--) {
    const length = c.u32();
    names.push(decoder.decode(bytes.subarray(c.pos, c.pos + length)));
    c.pos += length;
    c.byte();
    c.u32();
  }
  return names;
}

/**
 * Appends RESET_EXPORT to a module that imports its memory, when it can be reset (see the top of
 * this file). Returns the input itself, with the reason, when it cannot; never throws for a
 * module's content (an invalid module comes back as it was, for the compiler to say what is wrong).
 */
export function addInstanceReset(input: Uint8Array): InstanceResetResult {
  const kept = (status: InstanceResetStatus, reason?: string): InstanceResetResult => ({ bytes: input, report: { status, reason, globals: 0 } });
  try {
    const sections = readSections(input);
    const find = (id: number) => sections.find((s) => s.id === id);
    const imports = readImports(input, find(Section.Import));
    if (imports.tables > 0) throw new NotResettable('it imports a table');
    if (imports.mutableGlobals > 0) throw new NotResettable('it imports a mutable global');
    if (imports.memories.length === 0) return kept('not-needed');
    const typeSection = find(Section.Type);
    const functionSection = find(Section.Function);
    const code = find(Section.Code);
    const exports = find(Section.Export);
    if (!typeSection || !functionSection || !code || !exports) throw new NotResettable('it has no functions or no exports');
    if (exportNames(input, exports).includes(RESET_EXPORT)) throw new NotResettable(`it exports ${RESET_EXPORT} already`);
    const globals = readMutableGlobals(input, find(Section.Global), imports.globals);
    const dataSection = find(Section.Data);
    const data = readDataSegments(input, dataSection);
    const start = find(Section.Start);
    const startFunction = start ? new Cursor(input, start.contents).u32() : -1;

    const scanner = new CodeRewriter(input, 0, 0);
    scanner.scan(code);
    if (scanner.tableWrites > 0) throw new NotResettable('an instruction of it changes a table');
    // No segment is ever dropped: each data.drop becomes nops of its own length.
    const patched = scanner.dataDrops.length > 0 ? input.slice() : input;
    for (let i = 0; i < scanner.dataDrops.length; i += 2) patched.fill(OP.nop, scanner.dataDrops[i], scanner.dataDrops[i + 1]);

    const typeCount = countTypes(input, typeSection);
    const existing = emptyType(input, typeSection);
    const typeIndex = existing >= 0 ? existing : typeCount;
    const functionList = new Cursor(input, functionSection.contents);
    const definedFunctions = functionList.u32();
    const resetIndex = imports.functions + definedFunctions;

    const types = new ByteSink(typeSection.end - typeSection.contents + 8);
    types.u32(typeCount + (existing >= 0 ? 0 : 1));
    types.copy(input, afterCount(input, typeSection), typeSection.end);
    if (existing < 0) {
      types.byte(FUNC_TYPE);
      types.u32(0);
      types.u32(0);
    }
    const functionTypes = new ByteSink(functionSection.end - functionSection.contents + 8);
    functionTypes.u32(definedFunctions + 1);
    functionTypes.copy(input, functionList.pos, functionSection.end);
    functionTypes.u32(typeIndex);

    const body = new ByteSink(64);
    body.u32(0); // no locals
    for (const global of globals) {
      body.copy(input, global.start, global.end);
      body.byte(OP.globalSet);
      body.u32(global.index);
    }
    // An active segment's copy, passive, appended after the module's own: written where instantiation writes it.
    data.active.forEach((segment, j) => {
      body.copy(input, segment.offsetStart, segment.offsetEnd);
      body.byte(OP.i32Const);
      body.u32(0);
      body.byte(OP.i32Const);
      body.s64(segment.length);
      body.byte(BULK_PREFIX);
      body.u32(BULK.init);
      body.u32(data.count + j);
      body.u32(segment.memory);
    });
    if (startFunction >= 0) {
      body.byte(OP.call);
      body.u32(startFunction);
    }
    body.byte(OP.end);
    const codeCount = new Cursor(input, code.contents).u32();
    const bodies = new ByteSink(code.end - code.contents + body.length + 16);
    bodies.u32(codeCount + 1);
    bodies.copy(patched, afterCount(input, code), code.end);
    bodies.u32(body.length);
    bodies.append(body);

    const name = new TextEncoder().encode(RESET_EXPORT);
    const exported = new ByteSink(exports.end - exports.contents + name.length + 16);
    exported.u32(new Cursor(input, exports.contents).u32() + 1);
    exported.copy(input, afterCount(input, exports), exports.end);
    exported.u32(name.length);
    exported.copy(name, 0, name.length);
    exported.byte(ImportKind.Function);
    exported.u32(resetIndex);

    const replaced = new Map<number, ByteSink>([
      [Section.Type, types],
      [Section.Function, functionTypes],
      [Section.Export, exported],
      [Section.Code, bodies],
    ]);
    let dataCount: ByteSink | undefined;
    if (data.active.length > 0 && dataSection) {
      const segments = new ByteSink(dataSection.end - dataSection.contents + data.active.reduce((n, s) => n + s.vectorEnd - s.vectorStart + 1, 8));
      segments.u32(data.count + data.active.length);
      segments.copy(input, afterCount(input, dataSection), dataSection.end);
      for (const segment of data.active) {
        segments.u32(1); // passive
        segments.copy(input, segment.vectorStart, segment.vectorEnd);
      }
      replaced.set(Section.Data, segments);
      // memory.init needs the data count section: rewritten, or added before the code section.
      dataCount = new ByteSink(8);
      dataCount.u32(data.count + data.active.length);
      replaced.set(Section.DataCount, dataCount);
    }
    const out = new ByteSink(input.length * 2 + body.length + name.length + 64);
    out.copy(input, 0, 8);
    const hasDataCount = sections.some((section) => section.id === Section.DataCount);
    for (const section of sections) {
      if (section.id === Section.Code && dataCount && !hasDataCount) {
        out.byte(Section.DataCount);
        out.u32(dataCount.length);
        out.append(dataCount);
      }
      const contents = replaced.get(section.id);
      if (!contents) {
        out.copy(input, section.start, section.end);
        continue;
      }
      out.byte(section.id);
      out.u32(contents.length);
      out.append(contents);
    }
    return { bytes: out.result(), report: { status: 'added', globals: globals.length } };
  } catch (error) {
    if (error instanceof NotResettable || error instanceof Unsupported) return kept('not-resettable', error.message);
    throw error;
  }
}
