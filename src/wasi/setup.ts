/** The coordinator's side of a program's WASI: its descriptor table with stdio and preopens. */
import { closeSync, fstatSync, openSync, realpathSync, statSync, constants } from 'node:fs';
import { isatty } from 'node:tty';
import { InvalidOptionError } from '../errors.js';
import type { WasiOptions } from '../options.js';
import { Fdflags, Filetype } from './constants.js';
import { FdTable, MAX_FDS } from './fd-table.js';
import { filetypeOf } from './preview1.js';
import type { Preopen } from './sandbox-path.js';

export interface ProgramWasi {
  table: FdTable;
  preopens: Preopen[];
}

/** Installs fds 0-2 (the process's stdio, or the hosts fds given) and one fd per preopen from 3. */
export function createProgramWasi(options: WasiOptions): ProgramWasi {
  const table = FdTable.create();
  const stdio = [options.stdin ?? 0, options.stdout ?? 1, options.stderr ?? 2];
  stdio.forEach((hostFd, fd) => {
    let filetype: number = Filetype.UNKNOWN;
    try {
      filetype = filetypeOf(fstatSync(hostFd));
    } catch {
      /* a closed stdio fd: calls on it fail with the host's error */
    }
    // Like node:wasi, stdout and stderr report APPEND.
    table.install(fd, { hostFd, filetype, fdflags: fd === 0 ? 0 : Fdflags.APPEND, preopen: -1, root: -1, path: '', tty: isatty(hostFd) });
  });
  const preopens: Preopen[] = [];
  const program = { table, preopens };
  for (const [guest, hostPath] of Object.entries(options.preopens ?? {})) {
    try {
      if (preopens.length + 3 >= MAX_FDS) throw new Error(`too many preopens: at most ${MAX_FDS - 3}`);
      const host = realpathSync(hostPath);
      if (!statSync(host).isDirectory()) throw new Error('not a directory');
      const hostFd = openSync(host, constants.O_RDONLY | constants.O_DIRECTORY);
      table.install(3 + preopens.length, { hostFd, filetype: Filetype.DIRECTORY, fdflags: 0, preopen: preopens.length, root: preopens.length, path: '' });
      preopens.push({ guest, host });
    } catch (error) {
      closeProgramWasi(program);
      throw new InvalidOptionError(`wasiOptions.preopens["${guest}"]: "${hostPath}" cannot be used as a directory (${(error as Error).message})`);
    }
  }
  return program;
}

/** Closes every host fd the program's table still holds, except the process's own stdio. */
export function closeProgramWasi({ table }: ProgramWasi): void {
  for (let fd = 0; fd < MAX_FDS; fd++) {
    const entry = table.remove(fd);
    if (entry && entry.hostFd > 2) {
      try {
        closeSync(entry.hostFd);
      } catch {
        /* already closed by the host */
      }
    }
  }
}
