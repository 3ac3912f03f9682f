#!/usr/bin/env bash
# What the local checks on real wasi-libc programs share (not run by CI, which cannot build
# wasi-libc): builds fixtures/c/NAME.c with the C toolchain of ../shared/c-toolchain (default
# $HOME/wasm-c/cc.sh), then runs test/local/HOST with the module and RUNS (default DEFAULT_RUNS).
#   test/local/c-program.sh NAME HOST DEFAULT_RUNS [RUNS]   (env CC: the toolchain's cc.sh; NODE: the node binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
name="$1"
host="$2"
runs="${4:-$3}"
cc="${CC:-$HOME/wasm-c/cc.sh}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$cc" "fixtures/c/$name.c" -o "$out/$name.wasm"
"${NODE:-node}" "test/local/$host" "$out/$name.wasm" "$runs"
