/** A helper's body: check the access's end against memory.size, refresh if beyond, then the original instruction. */

import { ByteSink } from './binary-io.js';
import type { Helper } from './code-rewriter.js';
export function writeHelperBody(helper: Helper, out: ByteSink): void {
  const body = new ByteSink(64);
  body.byte(0x00); // no locals
  const { shape } = helper;
  const get = (i: number) => {
    body.byte(0x20);
    body.byte(i);
  };
  const extend = () => body.byte(0xad); // i64.extend_i32_u
  if (shape.range === 'copy') {
    // max(destination, source), unsigned
    get(0);
    get(1);
    get(0);
    get(1);
    body.byte(0x4b); // i32.gt_u
    body.byte(0x1b); // select
    extend();
    get(2);
    extend();
    body.byte(0x7c); // i64.add
  } else if (shape.range) {
    get(0);
    extend();
    get(2);
    extend();
    body.byte(0x7c);
  } else {
    get(0);
    extend();
    body.byte(0x42); // i64.const offset + width
    body.s64(helper.offset + shape.width);
    body.byte(0x7c);
  }
  body.byte(0x3f); // memory.size 0
  body.byte(0x00);
  extend();
  body.byte(0x42); // i64.const 16
  body.byte(16);
  body.byte(0x86); // i64.shl
  body.byte(0x56); // i64.gt_u
  body.byte(0x04); // if
  body.byte(0x40);
  body.byte(0x41); // i32.const 0
  body.byte(0x00);
  body.byte(0x40); // memory.grow 0
  body.byte(0x00);
  body.byte(0x1a); // drop
  body.byte(0x0b); // end
  for (let i = 0; i < shape.params.length; i++) get(i);
  body.copy(helper.instruction, 0, helper.instruction.length);
  body.byte(0x0b); // end
  out.u32(body.length);
  out.append(body);
}
