/**
 * The grow guard: a load-time rewrite of a module whose memory is shared, so that its threads never
 * meet V8's stale per-thread memory size.
 *
 * The bug (Node 20-26, every tier): after one thread grows a shared memory, another thread learns the
 * new size only when it handles V8's grow interrupt (a stack check at a function entry or a loop
 * header, a wait that sleeps, its own `memory.grow`). Until then `memory.fill`, `memory.copy`,
 * `memory.init`, `memory.atomic.notify`/`wait32`/`wait64` (both tiers) and every atomic load, store,
 * RMW and cmpxchg (Liftoff) are checked against the old size and trap with `memory access out of
 * bounds` on pages that exist; `memory.size` returns the old size in exactly those moments. Plain
 * loads and stores are bounded by guard pages and work.
 *
 * The rewrite, and its invariants:
 * - Each such instruction becomes `call $helper`, where `$helper` has the instruction's own stack
 *   signature. The helper computes the access's end in i64 (address + offset + width, or the
 *   range's end; no overflow), and when it lies beyond `memory.size << 16` runs `memory.grow 0`
 *   (which always succeeds and refreshes this thread's size in every tier), then performs the
 *   original instruction, its bytes copied as they were. A genuine out-of-bounds access therefore
 *   traps in the original instruction, with the same message; a stale one does not trap.
 * - `memory.size` becomes `i32.const 0; memory.grow 0`: the result of growing by nothing is the
 *   memory's real size, and the thread's size is fresh afterwards.
 * - No index of the input changes: the helpers are appended at the end of the function index space,
 *   their types at the end of the type section, and no import is added. One helper serves each
 *   distinct instruction with its immediates (opcode and memarg; data segment for `memory.init`).
 * - Every section but the type, function and code sections is copied byte for byte (names, custom
 *   sections, the start function, elements, data). Code offsets move: DWARF, source maps and branch
 *   hints that point into the code section no longer match.
 * - The code is decoded instruction by instruction (MVP, 0xFC, SIMD, atomics, exception handling in
 *   both encodings, reference types, typed select, tail calls). Anything the decoder does not know
 *   (GC, memory64, custom page sizes, several memories, an unknown opcode, a malformed body) leaves the module exactly
 *   as it was, and the report says why.
 */

import { FUNC_TYPE, Section } from '../wasm-format.js';
import { ByteSink, Cursor, u32Size } from './binary-io.js';
import { CodeRewriter } from './code-rewriter.js';
import { writeHelperBody } from './helper-body.js';
import { Unsupported } from './instructions.js';
import { afterCount, countTypes, memoryOf, readSections } from './sections.js';

export type GrowGuardStatus =
  /** Helpers were added: every guarded instruction of the module goes through one. */
  | 'rewritten'
  /** Nothing to guard: the module has no shared memory, or no instruction the bug touches. */
  | 'not-needed'
  /** The module was kept as it was because the decoder met something it does not know (`reason`). */
  | 'unsupported'
  /** The option turned the rewrite off. */
  | 'off'
  /** The module came compiled (`wasmModule`): there were no bytes to rewrite. */
  | 'compiled';

export interface GrowGuardReport {
  status: GrowGuardStatus;
  /** Why the module was kept as it was (status `unsupported`). */
  reason?: string;
  /** Instructions replaced (memory.size included). */
  sites: number;
  /** Helper functions appended. */
  helpers: number;
}

export interface GrowGuardResult {
  /** The rewritten module, or the very input when nothing was rewritten. */
  bytes: Uint8Array;
  report: GrowGuardReport;
}

/** Writes a section: its id, its size and its contents. */
function writeSection(out: ByteSink, id: number, contents: ByteSink): void {
  out.byte(id);
  out.u32(contents.length);
  out.append(contents);
}

/**
 * Rewrites a module whose memory is shared so that none of its threads traps on memory another
 * thread has just grown (see the top of this file). Returns the input itself, with the reason,
 * when there is nothing to do or the module holds something the decoder does not know. Never
 * throws for a module's content: an invalid module comes back as it was, for the compiler to say
 * what is wrong with it.
 */
export function guardMemoryGrowth(input: Uint8Array): GrowGuardResult {
  const kept = (status: GrowGuardStatus, reason?: string): GrowGuardResult => ({ bytes: input, report: { status, reason, sites: 0, helpers: 0 } });
  try {
    const sections = readSections(input);
    const memory = memoryOf(input, sections);
    if (!memory?.shared) return kept('not-needed');
    const find = (id: number) => sections.find((s) => s.id === id);
    const code = find(Section.Code);
    const functions = find(Section.Function);
    if (!code || !functions) return kept('not-needed');
    const typeSection = find(Section.Type);
    if (!typeSection) throw new Unsupported('functions without a type section');
    const typeCount = countTypes(input, typeSection);
    const functionList = new Cursor(input, functions.contents);
    const definedFunctions = functionList.u32();

    const rewriter = new CodeRewriter(input, memory.importedFunctions + definedFunctions, typeCount);
    const bodies = new ByteSink(code.end - code.contents + 1024);
    rewriter.rewrite(code, bodies);
    if (rewriter.sites === 0) return kept('not-needed');
    const { helpers, newTypes } = rewriter;

    const types = new ByteSink(typeSection.end - typeSection.contents + newTypes.length * 8 + 8);
    types.u32(typeCount + newTypes.length);
    types.copy(input, afterCount(input, typeSection), typeSection.end);
    for (const type of newTypes) {
      types.byte(FUNC_TYPE);
      types.u32(type.params.length);
      for (const t of type.params) types.byte(t);
      types.u32(type.results.length);
      for (const t of type.results) types.byte(t);
    }
    const functionTypes = new ByteSink(functions.end - functions.contents + helpers.length * 5 + 8);
    functionTypes.u32(definedFunctions + helpers.length);
    functionTypes.copy(input, functionList.pos, functions.end);
    for (const helper of helpers) functionTypes.u32(helper.typeIndex);
    // The code section: its count, the bodies, the helpers' bodies. The output is sized exactly, so
    // that the bodies are copied once more and no larger buffer is left behind.
    const helperBodies = new ByteSink(helpers.length * 48 + 8);
    for (const helper of helpers) writeHelperBody(helper, helperBodies);
    const codeCount = definedFunctions + helpers.length;
    const codeSize = u32Size(codeCount) + bodies.length + helperBodies.length;
    const sectionSize = (contents: number) => 1 + u32Size(contents) + contents;
    let total = 8;
    for (const section of sections) {
      if (section.id === Section.Type) total += sectionSize(types.length);
      else if (section.id === Section.Function) total += sectionSize(functionTypes.length);
      else if (section.id === Section.Code) total += sectionSize(codeSize);
      else total += section.end - section.start;
    }
    const out = new ByteSink(total);
    out.copy(input, 0, 8);
    for (const section of sections) {
      if (section.id === Section.Type) writeSection(out, Section.Type, types);
      else if (section.id === Section.Function) writeSection(out, Section.Function, functionTypes);
      else if (section.id === Section.Code) {
        out.byte(Section.Code);
        out.u32(codeSize);
        out.u32(codeCount);
        out.append(bodies);
        out.append(helperBodies);
      } else out.copy(input, section.start, section.end);
    }
    return { bytes: out.result(), report: { status: 'rewritten', sites: rewriter.sites, helpers: helpers.length } };
  } catch (error) {
    if (error instanceof Unsupported) return kept('unsupported', error.message);
    throw error;
  }
}
