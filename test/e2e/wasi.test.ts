// The library's WASI (the default): one descriptor table for every thread, blocking calls that
// never hold up the program's end, and preopens as a security boundary. Programs run through the
// CLI in child processes.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixture, type RunOptions, runNode, tempDir } from '../helpers/run-host.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = (args: string[], options?: RunOptions) => runNode([cli, 'run', ...args], options);

describe('one descriptor table for all threads', () => {
  it('lets a spawned thread write to a file the main thread opened, and close it for everyone', async () => {
    const dir = tempDir('shared-fd');
    const result = await run(['--dir', `${dir}::/data`, fixture('shared_fd')]);
    expect(result.stdout).toBe(
      'main path_open: SUCCESS\n' +
        'thread fd_write: SUCCESS (20 bytes)\n' +
        'main fd_pread: SUCCESS: written by main\nwritten by a thread\n' +
        'thread fd_close: SUCCESS\n' +
        'main fd_write after the thread closed it: BADF\n',
    );
    expect(readFileSync(join(dir, 'shared.txt'), 'utf8')).toBe('written by main\nwritten by a thread\n');
  });

  it('(contrast) with node:wasi, each thread has descriptors of its own', async () => {
    const result = await run(['--wasi', 'node', '--dir', `${tempDir('node-fd')}::/data`, fixture('shared_fd')]);
    expect(result.stdout).toContain('thread fd_write: BADF (0 bytes)\n');
    expect(result.stdout).toContain('thread fd_close: BADF\n');
  });

  it('reads stdin from a spawned thread, through the coordinator', async () => {
    const input = 'hello stdin\nsecond line, a little longer than one read\n';
    const result = await run([fixture('cat')], { stdin: input });
    expect(result.stdout).toBe(input);
    expect(result.stderr).toBe(`copied ${input.length} bytes\n`);
    expect(result.status).toBe(0);
  });
});

describe('blocking calls never keep an ended program alive', () => {
  it.each([
    ['stdin', 'exit', 3],
    ['stdin', 'trap', 134],
    ['sleep', 'exit', 3],
  ])('a thread blocked in %s while another thread calls %s: the process ends within a second', async (what, how, status) => {
    // stdin is a pipe that stays open with nothing written to it.
    const result = await run([fixture('blocked_io'), what, how], { stdin: 'hold', markLine: 'ending the program', timeoutMs: 20_000 });
    expect(result.stdout).toBe('ending the program\n');
    expect(result.status).toBe(status);
    expect(result.msAfterMark).toBeLessThan(1000);
  });
});

describe('named pipes', () => {
  /** A preopen holding the FIFO `pipe`, with a writer held open by this process (O_RDWR never blocks on Linux). */
  function fifo(): { dir: string; writer: number } {
    const dir = tempDir('fifo');
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    return { dir, writer: openSync(join(dir, 'pipe'), constants.O_RDWR) };
  }

  it('reads a named pipe from a thread, waiting for the writer', async () => {
    const { dir, writer } = fifo();
    setTimeout(() => writeSync(writer, 'hello fifo'), 300);
    const result = await run(['--dir', `${dir}::/f`, fixture('fifo'), 'read']);
    closeSync(writer);
    expect(result.stdout).toBe('path_open: SUCCESS\nfd_read: SUCCESS: hello fifo\n');
  });

  it('a thread blocked reading a named pipe does not keep the process alive after proc_exit', async () => {
    const { dir, writer } = fifo();
    const result = await run(['--dir', `${dir}::/f`, fixture('fifo'), 'exit'], { markLine: 'ending the program', timeoutMs: 20_000 });
    closeSync(writer);
    expect(result.stdout).toBe('path_open: SUCCESS\nending the program\n');
    expect(result.status).toBe(3);
    expect(result.msAfterMark).toBeLessThan(1000);
  });
});

describe('conformance classes of the official wasi-testsuite, without the suite', () => {
  it('tracks rights per descriptor, clears APPEND, honours trailing slashes, refuses absolute symlinks, short prestat buffers and non-sockets', async () => {
    const dir = tempDir('rights');
    writeFileSync(join(dir, 'file.txt'), 'hello');
    const result = await run(['--dir', `${dir}::/d`, fixture('wasi_rights')]);
    // Before: every right everywhere, a write appended after APPEND was cleared, trailing slashes
    // ignored (file.txt/ unlinked the file), absolute symlinks made, names cut, NOTSUP for sockets.
    expect(result.stdout).toBe(
      [
        'preopen: seek=false write=false path_open=true',
        'read-only file: read=true write=false',
        'fd_write on it: NOTCAPABLE',
        'drop FD_READ: SUCCESS',
        'fd_read after: NOTCAPABLE',
        'take FD_READ back: NOTCAPABLE',
        'clear APPEND: SUCCESS',
        'content: Xbc',
        'path_link file.txt -> l/: NOENT',
        'path_symlink file.txt -> s/: NOENT',
        'path_unlink_file file.txt/: NOTDIR',
        'path_open file.txt/: NOTDIR',
        'path_symlink /etc -> abs: NOTCAPABLE',
        'fd_prestat_dir_name, 0 bytes: NAMETOOLONG',
        'sock_shutdown 999: BADF',
        'sock_shutdown a directory: NOTSOCK',
        '',
      ].join('\n'),
    );
    expect(readFileSync(join(dir, 'file.txt'), 'utf8')).toBe('hello');
    expect(readdirSync(dir).sort()).toEqual(['append.txt', 'file.txt']);
  });
});

describe('the preopen is a security boundary', () => {
  it('refuses .., absolute paths and symlinks that lead outside, and touches nothing outside', async () => {
    const root = tempDir('sandbox');
    const sandbox = join(root, 'sandbox');
    const outside = join(root, 'outside');
    mkdirSync(join(sandbox, 'inside'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'secret\n');
    writeFileSync(join(root, 'outside.txt'), 'top\n');
    symlinkSync(outside, join(sandbox, 'link_out'));
    symlinkSync(join(outside, 'secret.txt'), join(sandbox, 'file_out'));

    const result = await run(['--dir', `${sandbox}::/sandbox`, fixture('escape')]);
    expect(result.stdout).toBe(
      [
        'open ../outside.txt: NOTCAPABLE',
        'open inside/../../outside.txt: NOTCAPABLE',
        'open /etc/passwd: NOTCAPABLE',
        'open link_out/secret.txt: NOTCAPABLE',
        'open file_out: NOTCAPABLE',
        'open link_out/created.txt: NOTCAPABLE',
        'mkdir ../made: NOTCAPABLE',
        'unlink link_out/secret.txt: NOTCAPABLE',
        'rename inside -> ../moved: NOTCAPABLE',
        'stat link_out (no follow): SUCCESS',
        'open inside/ok.txt: SUCCESS',
        '',
      ].join('\n'),
    );
    expect(readdirSync(root).sort()).toEqual(['outside', 'outside.txt', 'sandbox']);
    expect(readdirSync(outside)).toEqual(['secret.txt']);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret\n');
    expect(readFileSync(join(root, 'outside.txt'), 'utf8')).toBe('top\n');
    expect(existsSync(join(sandbox, 'inside', 'ok.txt'))).toBe(true);
    expect(lstatSync(join(sandbox, 'link_out')).isSymbolicLink()).toBe(true);
  });
});

/** `script` (util-linux) runs a command on a pseudo-terminal; absent, the terminal case is skipped. */
const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('conformance with node:wasi', () => {
  it.runIf(hasScript)('reports the same stdio file types and rights on a terminal (what isatty() reads)', () => {
    const [shared, node] = (['shared', 'node'] as const).map((wasi) => {
      const command = [process.execPath, cli, 'run', '--wasi', wasi, '--env', 'A=1', '--dir', `${tempDir(`tty-${wasi}`)}::/s`, fixture('wasi_calls')];
      const output = execFileSync('script', ['-qec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], { encoding: 'utf8' });
      return output
        .replace(/\r/g, '')
        .split('\n')
        .filter((line) => /^ {2}fd [0-2] /.test(line));
    });
    expect(shared).toEqual([
      '  fd 0 filetype=CHARACTER_DEVICE seek/tell rights=false',
      '  fd 1 filetype=CHARACTER_DEVICE seek/tell rights=false',
      '  fd 2 filetype=CHARACTER_DEVICE seek/tell rights=false',
    ]);
    expect(shared).toEqual(node);
  });

  it('gives the same answers as node:wasi to every preview1 call of the transcript fixture', async () => {
    const transcripts = await Promise.all(
      (['shared', 'node'] as const).map(async (wasi) => {
        const result = await run(['--wasi', wasi, '--env', 'A=1', '--dir', `${tempDir(`conformance-${wasi}`)}::/sandbox`, fixture('wasi_calls'), 'x', 'y']);
        expect(result.status).toBe(0);
        return result.stdout;
      }),
    );
    expect(transcripts[0]).toBe(transcripts[1]);
    const calls = new Set([...transcripts[0]!.matchAll(/^(\w+)[^:\n]*: [A-Z0-9]+$/gm)].map((m) => m[1]));
    // Every call of the table in the README is in the transcript.
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('<!-- conformance -->'), readme.indexOf('<!-- /conformance -->'));
    const listed = [...table.matchAll(/`(\w+)`/g)].map((m) => m[1]);
    expect(listed.length).toBeGreaterThan(30);
    expect(listed.filter((call) => !calls.has(call))).toEqual([]);
  });
});
