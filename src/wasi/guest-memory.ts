/**
 * The program's memory as one thread's WASI calls see it: views checked against the memory's size
 * before anything is read or written (a pointer or length past the end throws RangeError, which
 * the call table turns into EFAULT), caught up with grows made by other threads
 * (shared/memory-growth.ts).
 */
import type { BigIntStats } from 'node:fs';
import type { WasmMemory } from '../base/wasm-types.js';
import { bufferCovering } from '../shared/memory-growth.js';
import { Filestat, Iovec } from './abi.js';
import { Errno, filetypeOf } from './constants.js';
import { MAX_PATH_BYTES } from './path-walk.js';

/** Like Linux's IOV_MAX: more buffers than this in one call is EINVAL. */
const IOV_MAX = 1024;

const decoder = new TextDecoder();

export class GuestMemory {
  /** The program's memory, once the instance exists. */
  memory: WasmMemory | undefined;

  private cachedBuffer: ArrayBufferLike | undefined;
  private cachedView: DataView | undefined;

  /**
   * A view of the memory that covers `[0, end)` if the memory is that large (another thread may
   * have grown it: see memory-growth.ts), made again only when a grow replaced the buffer. A
   * pointer past the end is checked here, before anything is read or written.
   */
  view(end = 0): DataView {
    const buffer = bufferCovering(this.memory!, end);
    if (buffer !== this.cachedBuffer || buffer.byteLength !== this.cachedView!.byteLength) {
      this.cachedBuffer = buffer;
      this.cachedView = new DataView(buffer);
    }
    return this.cachedView!;
  }

  bytes(pointer: number, length: number): Uint8Array {
    return new Uint8Array(this.view(pointer + length).buffer, pointer, length);
  }

  /**
   * A guest path (or symlink target), or ENAMETOOLONG when its bytes are more than a path may have:
   * checked before anything is copied or decoded (a path of 1 GiB less 64 bytes took ~1 GB of the
   * process's memory, then trapped the program with V8's string-length error).
   */
  path(pointer: number, length: number): string | number {
    if (length > MAX_PATH_BYTES) return Errno.NAMETOOLONG;
    return decoder.decode(this.bytes(pointer, length).slice());
  }

  iovecs(pointer: number, count: number): Uint8Array[] {
    if (count > IOV_MAX) throw Object.assign(new Error('too many buffers'), { code: 'EINVAL' });
    const view = this.view(pointer + count * Iovec.size);
    const buffers: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const iovec = Iovec.read(view, pointer + i * Iovec.size);
      buffers.push(this.bytes(iovec.pointer, iovec.length));
    }
    return buffers;
  }

  writeFilestat(pointer: number, stats: BigIntStats): void {
    Filestat.write(this.view(pointer + Filestat.size), pointer, { ...stats, filetype: filetypeOf(stats) });
  }

  /** Writes NUL-terminated strings and their pointers (args_get, environ_get). */
  writeStrings(strings: Uint8Array[], pointers: number, buffer: number): number {
    const view = this.view(pointers + strings.length * 4);
    let at = buffer;
    strings.forEach((bytes, i) => {
      view.setUint32(pointers + i * 4, at, true);
      this.bytes(at, bytes.length).set(bytes);
      at += bytes.length;
    });
    return Errno.SUCCESS;
  }

  writeSizes(strings: Uint8Array[], countPointer: number, sizePointer: number): number {
    const view = this.view(Math.max(countPointer, sizePointer) + 4);
    view.setUint32(countPointer, strings.length, true);
    view.setUint32(
      sizePointer,
      strings.reduce((sum, s) => sum + s.length, 0),
      true,
    );
    return Errno.SUCCESS;
  }
}
