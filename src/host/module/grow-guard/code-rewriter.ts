import { type ByteSink, Cursor, u32Size } from './binary-io.js';
import { ATOMIC_SHAPES, BULK, IMMEDIATES, Imm, instructionKey, MEMARG_HAS_MEMORY, RANGE_SHAPES, type Shape, TABLE_SET, Unsupported } from './instructions.js';
import type { SectionSpan } from './sections.js';

export interface Helper {
  shape: Shape;
  /** The original instruction, as it was in the input. */
  instruction: Uint8Array;
  /** For an atomic access: its memarg offset. */
  offset: number;
  typeIndex: number;
}

/**
 * Walks a code section's bodies, finds the guarded instructions and writes the rewritten section.
 * Sites of one body are kept in `sites` (start, end, helper index or -1 for memory.size) until the
 * body's new size is known.
 */
export class CodeRewriter {
  readonly helpers: Helper[] = [];
  private readonly helperByKey = new Map<string, number>();
  private readonly typeBySignature = new Map<string, number>();
  readonly newTypes: Shape[] = [];
  sites = 0;
  private siteList: number[] = [];
  /** Instructions that change a table (`table.set`, `table.grow`, `table.fill`, `table.copy`, `table.init`), met while decoding. */
  tableWrites = 0;
  /** Where each `data.drop` is: its first byte and the byte past it, in pairs. */
  readonly dataDrops: number[] = [];

  constructor(
    private readonly bytes: Uint8Array,
    /** Index of the first helper: every function of the input comes before it. */
    private readonly firstHelper: number,
    /** Index of the first appended type. */
    private readonly firstType: number,
  ) {}

  private helperFor(key: string, shape: Shape, start: number, end: number, offset: number): number {
    let index = this.helperByKey.get(key);
    if (index === undefined) {
      const signature = `${shape.params.join(',')}:${shape.results.join(',')}`;
      let typeIndex = this.typeBySignature.get(signature);
      if (typeIndex === undefined) {
        typeIndex = this.firstType + this.newTypes.length;
        this.typeBySignature.set(signature, typeIndex);
        this.newTypes.push(shape);
      }
      index = this.helpers.length;
      this.helpers.push({ shape, instruction: this.bytes.slice(start, end), offset, typeIndex });
      this.helperByKey.set(key, index);
    }
    return index;
  }

  /** Decodes every body of the code section, rewriting nothing: what `tableWrites` and `dataDrops` say. */
  scan(section: SectionSpan): void {
    const cursor = new Cursor(this.bytes, section.contents);
    for (let count = cursor.u32(); count > 0; count--) {
      const size = cursor.u32();
      const bodyEnd = cursor.pos + size;
      if (bodyEnd > section.end) throw new Unsupported('a function body runs past its section');
      this.siteList.length = 0;
      this.decodeBody(cursor, bodyEnd);
    }
    if (cursor.pos !== section.end) throw new Unsupported('a malformed code section');
  }

  /** Writes the code section's bodies, rewritten, into `out` (its count is the caller's). */
  rewrite(section: SectionSpan, out: ByteSink): void {
    const cursor = new Cursor(this.bytes, section.contents);
    const count = cursor.u32();
    for (let i = 0; i < count; i++) {
      const sizeAt = cursor.pos;
      const size = cursor.u32();
      const bodyStart = cursor.pos;
      const bodyEnd = bodyStart + size;
      if (bodyEnd > section.end) throw new Unsupported('a function body runs past its section');
      this.siteList.length = 0;
      const growth = this.decodeBody(cursor, bodyEnd);
      if (this.siteList.length === 0) {
        out.copy(this.bytes, sizeAt, bodyEnd);
        continue;
      }
      out.u32(size + growth);
      let from = bodyStart;
      const list = this.siteList;
      for (let s = 0; s < list.length; s += 3) {
        out.copy(this.bytes, from, list[s]!);
        const helper = list[s + 2]!;
        if (helper < 0) {
          out.byte(0x41); // i32.const 0
          out.byte(0x00);
          out.byte(0x40); // memory.grow 0
          out.byte(0x00);
        } else {
          out.byte(0x10); // call
          out.u32(this.firstHelper + helper);
        }
        from = list[s + 1]!;
      }
      out.copy(this.bytes, from, bodyEnd);
    }
    if (cursor.pos !== section.end) throw new Unsupported('a malformed code section');
  }

  /**
   * Decodes one body up to `end`; returns how many bytes its rewrite adds (may be negative). The
   * common instructions are decoded inline from the IMMEDIATES table; reading past the module's
   * end reads `undefined`, which ends every LEB128 loop, and the body's end is checked at the end.
   */
  private decodeBody(c: Cursor, end: number): number {
    const b = this.bytes;
    let growth = 0;
    for (let groups = c.u32(); groups > 0; groups--) {
      c.u32();
      c.valueType();
    }
    let p = c.pos;
    while (p < end) {
      const start = p;
      const op = b[p++]!;
      const kind = IMMEDIATES[op]!;
      if (kind === Imm.None) continue;
      if (kind === Imm.Leb) {
        if (op === TABLE_SET) this.tableWrites++;
        while (b[p++]! & 0x80);
        continue;
      }
      if (kind === Imm.Memarg) {
        // a plain load or store: bounded by guard pages, kept
        let align = b[p++]!;
        if (align & 0x80) {
          c.pos = p - 1;
          align = c.u32();
          p = c.pos;
        }
        if (align & MEMARG_HAS_MEMORY) while (b[p++]! & 0x80);
        while (b[p++]! & 0x80);
        continue;
      }
      c.pos = p;
      switch (kind) {
        case Imm.Block:
          c.blockType();
          break;
        case Imm.TwoLeb:
          c.skipLeb();
          c.skipLeb();
          break;
        case Imm.BrTable:
          for (let n = c.u32(); n >= 0; n--) c.skipLeb(); // the labels and the default
          break;
        case Imm.SelectTypes:
          for (let n = c.u32(); n > 0; n--) c.valueType();
          break;
        case Imm.TryTable:
          c.blockType();
          for (let n = c.u32(); n > 0; n--) {
            const catchKind = c.byte();
            if (catchKind > 3) throw new Unsupported(`try_table catch kind ${catchKind}`);
            if (catchKind < 2) c.skipLeb(); // the tag of catch and catch_ref
            c.skipLeb();
          }
          break;
        case Imm.MemorySize:
          c.skipLeb();
          this.site(start, c.pos, -1);
          growth += 4 - (c.pos - start);
          break;
        case Imm.Bytes4:
          c.pos += 4;
          break;
        case Imm.Bytes8:
          c.pos += 8;
          break;
        case Imm.Bulk:
          growth += this.bulk(c, start);
          break;
        case Imm.Simd:
          this.simd(c);
          break;
        case Imm.Atomic:
          growth += this.atomic(c, start);
          break;
        default:
          throw new Unsupported(`opcode 0x${op.toString(16)}`);
      }
      p = c.pos;
    }
    c.pos = p;
    if (p !== end) throw new Unsupported('a function body that does not end where its size says');
    return growth;
  }

  private site(start: number, end: number, helper: number): void {
    this.siteList.push(start, end, helper);
    this.sites++;
  }

  /** A call to helper `index` replaces bytes start..end: returns the change in size. */
  private callSite(start: number, end: number, index: number): number {
    this.site(start, end, index);
    return 1 + u32Size(this.firstHelper + index) - (end - start);
  }

  /** Reads a memarg; returns its offset. */
  private memarg(c: Cursor): number {
    const align = c.u32();
    if (align & MEMARG_HAS_MEMORY) c.u32();
    return c.u32();
  }

  private bulk(c: Cursor, start: number): number {
    const sub = c.u32();
    if (sub <= 7) return 0; // saturating truncations
    switch (sub) {
      case BULK.init: {
        const segment = c.u32();
        c.u32();
        return this.callSite(start, c.pos, this.helperFor(`init:${segment}`, RANGE_SHAPES.init, start, c.pos, 0));
      }
      case BULK.copy:
        c.u32();
        c.u32();
        return this.callSite(start, c.pos, this.helperFor('copy', RANGE_SHAPES.copy, start, c.pos, 0));
      case BULK.fill:
        c.u32();
        return this.callSite(start, c.pos, this.helperFor('fill', RANGE_SHAPES.fill, start, c.pos, 0));
      case 9: // data.drop
        c.u32();
        this.dataDrops.push(start, c.pos);
        return 0;
      case 15: // table.grow
      case 17: // table.fill
        this.tableWrites++;
        c.u32();
        return 0;
      case 13: // elem.drop
      case 16: // table.size
        c.u32();
        return 0;
      case 12: // table.init
      case 14: // table.copy
        this.tableWrites++;
        c.u32();
        c.u32();
        return 0;
      default:
        throw new Unsupported(`opcode 0xfc ${sub}`);
    }
  }

  private simd(c: Cursor): void {
    const sub = c.u32();
    if (sub <= 0x0b || sub === 0x5c || sub === 0x5d)
      this.memarg(c); // loads and stores, load32/64_zero
    else if (sub === 0x0c || sub === 0x0d)
      c.pos += 16; // v128.const, i8x16.shuffle
    else if (sub >= 0x15 && sub <= 0x22)
      c.pos += 1; // extract_lane, replace_lane
    else if (sub >= 0x54 && sub <= 0x5b) {
      this.memarg(c); // load_lane, store_lane
      c.pos += 1;
    } else if (sub > 0x113) throw new Unsupported(`opcode 0xfd ${sub}`);
  }

  private atomic(c: Cursor, start: number): number {
    const sub = c.u32();
    if (sub === 0x03) {
      c.byte(); // atomic.fence
      return 0;
    }
    const shape = ATOMIC_SHAPES[sub];
    if (!shape) throw new Unsupported(`opcode 0xfe ${sub}`);
    const offset = this.memarg(c);
    return this.callSite(start, c.pos, this.helperFor(instructionKey(this.bytes, start, c.pos), shape, start, c.pos, offset));
  }
}
