#!/usr/bin/env bash
# A local check of the grow guard on a real wasi-libc program (not run by CI, which cannot build
# wasi-libc): builds fixtures/c/calloc_threads.c with the C toolchain of ../shared/c-toolchain
# (default $HOME/wasm-c/cc.sh), then runs it RUNS times on a runtime with the grow guard on and
# RUNS times with it off, and prints how many runs trapped in each. Usage, after `npm run build`:
#   test/local/c-grow-guard.sh [RUNS]        (env CC: the toolchain's cc.sh; NODE: the node binary)
exec "$(dirname "$0")/c-program.sh" calloc_threads count-traps.mjs 150 "$@"
