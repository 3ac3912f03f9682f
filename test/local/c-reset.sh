#!/usr/bin/env bash
# A local check of the instance reset on a real wasi-libc program (not run by CI, which cannot build
# wasi-libc): builds fixtures/c/reset_state.c with the C toolchain of ../shared/c-toolchain (default
# $HOME/wasm-c/cc.sh), then runs it RUNS times on one runtime (poolSize 3) and prints what the runs
# printed, with how many instances each reset. Usage, after `npm run build`:
#   test/local/c-reset.sh [RUNS]        (env CC: the toolchain's cc.sh; NODE: the node binary)
exec "$(dirname "$0")/c-program.sh" reset_state c-reset.mjs 200 "$@"
