// One process, many programs, no way out: each test attacks one guarantee of the shared WASI the way
// a hostile program would (its own threads racing every check), long enough that it fails reliably
// when the guarantee is false (each fails against a host without the guarantee's check).
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Errno } from '../../src/wasi/constants.js';
import { fixture, runHost, runNode, runProgram, tempDir } from '../helpers/run-host.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = (args: string[]) => runNode([cli, 'run', ...args], { timeoutMs: 60_000 });

describe('path calls cannot be raced out of a preopen', () => {
  it('a symlink to outside and a real directory swapped at one name by another thread: 6,000 opens, no escape', async () => {
    const root = tempDir('race');
    const box = join(root, 'box');
    const outside = join(root, 'outside');
    mkdirSync(join(box, 'real'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(box, 'real', 'secret.txt'), 'inside\n');
    writeFileSync(join(outside, 'secret.txt'), 'SECRET\n');
    writeFileSync(join(outside, 'victim.txt'), 'must survive\n');

    // Two threads open d/secret.txt 3,000 times each while a third swaps `d` and a fourth creates,
    // unlinks and makes directories below `d`. A walk that checks, then opens by
    // path escapes 30-44 times a run, and files are created and deleted outside.
    // The program links `lnk` to ../outside itself (a symlink may point anywhere; absolute targets are refused).
    const result = await run(['--dir', `${box}::/box`, fixture('sandbox_race'), '../outside', '3000']);
    const [, escapes, insideReads] = /^escapes=(\d+) inside_reads=(\d+)\n$/.exec(result.stdout) ?? [];
    expect(result.status).toBe(0);
    expect(Number(escapes)).toBe(0);
    // The race did run: many opens went through the real directory while `d` changed under them.
    expect(Number(insideReads)).toBeGreaterThan(0);
    expect(readdirSync(outside).sort()).toEqual(['secret.txt', 'victim.txt']);
    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('must survive\n');
    expect(readdirSync(root).sort()).toEqual(['box', 'outside']);
  });

  it('fd_readdir lists the directory its descriptor is open on, even after its name leads outside', async () => {
    const root = tempDir('readdir');
    mkdirSync(join(root, 'box', 'sub'), { recursive: true });
    mkdirSync(join(root, 'outside'));
    writeFileSync(join(root, 'box', 'sub', 'inner.txt'), '');
    writeFileSync(join(root, 'outside', 'secret.txt'), '');
    const result = await run(['--dir', `${join(root, 'box')}::/box`, fixture('readdir_moved'), '../outside']);
    expect(result.stdout).toBe('open sub: SUCCESS\nrename sub -> moved: SUCCESS\nsymlink sub -> outside: SUCCESS\nreaddir: SUCCESS\n  .\n  ..\n  inner.txt\n');
  });

  it('fd_readdir pages through a snapshot: files removed and made under a listing of 200, one entry a call, neither skip nor repeat one', async () => {
    // Before, each call read the directory again and counted its cookie into the new listing: half
    // the files were skipped here (and a listing of n entries cost O(n^2)).
    const dir = tempDir('pages');
    const result = await run(['--dir', `${dir}::/d`, fixture('readdir_pages'), '200']);
    expect(result.stdout).toBe('files=200 once=200 repeated=0 dot=1 dotdot=1\n');
    expect(readdirSync(dir)).toHaveLength(200);
  });

  it('a path deeper than 256 directories is ENAMETOOLONG, so one call cannot take hundreds of descriptors', async () => {
    const dir = tempDir('deep');
    const deep = (levels: number) => Array(levels).fill('d').join('/');
    mkdirSync(join(dir, deep(300)), { recursive: true });
    const result = await run(['--dir', `${dir}::/d`, fixture('open_path'), deep(200), deep(300), 'x'.repeat(5000)]);
    expect(result.stdout).toBe('SUCCESS\nNAMETOOLONG\nNAMETOOLONG\n');
  });

  it('a FIFO hard-linked into place between any check and the open never blocks the open', async () => {
    const dir = tempDir('fifo-swap');
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    writeFileSync(join(dir, 'file'), '');
    // A blocking open of the FIFO (no reader) would hang the program for good.
    const result = await run(['--dir', `${dir}::/d`, fixture('fifo_swap'), '3000']);
    expect(result.stdout).toBe('done: 3000 tries, opened at least once: true\n');
    expect(result.status).toBe(0);
  });
});

describe('every host descriptor has one owner: the program, not the thread that opened it', () => {
  it.each([0, 2, 8])('files opened by 8 threads stay open after the threads end (poolSize %i)', async (poolSize) => {
    const dir = tempDir('thread-files');
    const result = await runProgram({ fixture: 'thread_files', args: ['8', '100'], poolSize, preopens: { '/d': dir } });
    expect(result.stdout).toBe('ok=8 of 8\n');
    for (let i = 0; i < 8; i++) expect(readFileSync(join(dir, `f${i}.txt`), 'utf8')).toBe(`thread ${i}\nmain ${i}\n`);
  });

  it("two programs in one process: the end of one leaves the other's descriptors alone", async () => {
    const [a, b] = [tempDir('program-a'), tempDir('program-b')];
    // A ends after 50 ms; B goes on using the 16 files its threads opened for 1.5 s more.
    const run = await runHost([
      { fixture: 'thread_files', args: ['16', '50'], poolSize: 0, preopens: { '/d': a } },
      { fixture: 'thread_files', args: ['16', '1500'], poolSize: 0, preopens: { '/d': b } },
    ]);
    expect(run.stdout).toBe('ok=16 of 16\nok=16 of 16\n');
    expect(run.results.map((r) => r.exitCode)).toEqual([0, 0]);
    for (const [dir, tag] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      for (let i = 0; i < 16; i++) expect(readFileSync(join(dir, `f${i}.txt`), 'utf8'), `${tag}/f${i}`).toBe(`thread ${i}\nmain ${i}\n`);
    }
  });

  it('a read blocked on a FIFO whose descriptor another thread closes ends with BADF, and never reads what opens next', async () => {
    const dir = tempDir('fifo-close');
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    writeFileSync(join(dir, 'other.txt'), 'OTHER\n');
    const writer = openSync(join(dir, 'pipe'), constants.O_RDWR); // a writer that never writes
    try {
      // Were the FIFO's host fd number reused, the blocked read would return "OTHER".
      const result = await run(['--dir', `${dir}::/d`, fixture('fifo_close')]);
      expect(result.stdout.split('\n').sort()).toEqual(['', 'blocked read: BADF: ""', 'close pipe: SUCCESS', 'open pipe: SUCCESS']);
    } finally {
      closeSync(writer);
    }
  });

  it('never closes a stdio descriptor the caller passed in', async () => {
    const dir = tempDir('stdout-fd');
    const file = join(dir, 'out.txt');
    const result = await runProgram({ fixture: 'echo_args', args: ['to', 'a', 'file'], stdoutFile: file });
    expect(result.exitCode).toBe(0);
    expect(result.stdoutFdOpenAfter).toBe(true);
    expect(readFileSync(file, 'utf8')).toMatch(/written by the host after the program ended\n$/);
  });
});

describe('resource bounds', () => {
  it('lengths far beyond the memory get EFAULT at once from 4 threads, with nothing of that size allocated', async () => {
    const result = await runProgram({ fixture: 'huge_lengths', preopens: { '/d': tempDir('huge') } });
    const line = (i: number) => `thread ${i}: random_get FAULT, fd_write FAULT, fd_readdir FAULT`;
    expect(result.stdout).toBe(`${[0, 1, 2, 3].map(line).join('\n')}\n`);
    // A random_get that copies allocates and fills 2 GiB per thread first.
    expect(result.maxRssBytes).toBeLessThan(512 * 1024 * 1024);
  });

  it('counts and lengths that fit in a 1 GiB memory but not in reason: poll_oneoff is EINVAL, paths are ENAMETOOLONG, with nothing of that size allocated', async () => {
    const result = await runProgram({ fixture: 'huge_counts', preopens: { '/d': tempDir('counts') } });
    // One letter a call ('A' + errno): poll_oneoff with 22 million subscriptions; path_open,
    // path_filestat_get and path_symlink with paths of 1 GiB less 64 bytes.
    const letter = (errno: number) => String.fromCharCode(65 + errno);
    expect(result.stdout).toBe(`${letter(Errno.INVAL)}${letter(Errno.NAMETOOLONG).repeat(3)}\n`);
    // Unbounded, poll_oneoff decodes every subscription (55 s and 6 GB of RSS on Node 20), and a
    // path call that copies the path first traps the program on V8's string-length limit.
    expect(result.maxRssBytes).toBeLessThan(512 * 1024 * 1024);
  });
});
