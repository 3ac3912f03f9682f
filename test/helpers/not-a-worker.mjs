// An entryFile that forgets to call initWasiWorker(): the library must fail the program, not hang.
export {};
