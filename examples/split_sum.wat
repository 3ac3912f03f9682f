;; split_sum: the sum of 1..N split across threads (wasi-threads), each thread printing its part.
;;   wasi-threads-wrapper run split_sum.wasm [THREADS=4]
;; Rebuild: npm run examples (WAT -> wasm with the npm package wabt; the test checks the shipped
;; split_sum.wasm is what this file builds to).
;;
;; Each thread sums its share of 1..10,000,000 into its own slot, prints one line, and counts itself
;; done; the main thread waits for all of them (memory.atomic.wait32) and prints the total.
;; Memory: [0] threads done, [4] threads, [8 + 8t] thread t's sum (i64), [1024 + 128t] thread t's line, [16384] the main thread's.
(module
  (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "env" "memory" (memory 1 16 shared))

  (global $n i64 (i64.const 10000000))
  ;; Globals are each instance's own (one a thread): the thread count lives in the memory, at [4].
  (func $threads (result i32) (i32.load (i32.const 4)))

  ;; Writes "text" (at $text, $len bytes) then the decimal $value and a newline, from buffer $buf.
  (func $say (param $buf i32) (param $text i32) (param $len i32) (param $value i64)
    (local $end i32) (local $p i32)
    (memory.copy (local.get $buf) (local.get $text) (local.get $len))
    ;; digits, right to left, into buf + len + 20 downwards
    (local.set $end (i32.add (local.get $buf) (i32.add (local.get $len) (i32.const 21))))
    (local.set $p (local.get $end))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $value) (i64.const 10)))))
      (local.set $value (i64.div_u (local.get $value) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $value) (i64.const 0))))
    (memory.copy (i32.add (local.get $buf) (local.get $len)) (local.get $p) (i32.sub (local.get $end) (local.get $p)))
    (local.set $len (i32.add (local.get $len) (i32.sub (local.get $end) (local.get $p))))
    (i32.store8 (i32.add (local.get $buf) (local.get $len)) (i32.const 10))
    ;; iovec at buf + 96: { buf, len + 1 }; bytes written at buf + 104
    (i32.store (i32.add (local.get $buf) (i32.const 96)) (local.get $buf))
    (i32.store (i32.add (local.get $buf) (i32.const 100)) (i32.add (local.get $len) (i32.const 1)))
    (drop (call $fd_write (i32.const 1) (i32.add (local.get $buf) (i32.const 96)) (i32.const 1) (i32.add (local.get $buf) (i32.const 104)))))

  (data (i32.const 512) "a thread summed its share: ")
  (data (i32.const 600) "all threads together: 1 + 2 + ... + 10000000 = ")

  ;; Thread t (start_arg) sums the numbers i in 1..N with i % threads == t.
  (func (export "wasi_thread_start") (param $tid i32) (param $t i32)
    (local $i i64) (local $sum i64) (local $step i64)
    (local.set $step (i64.extend_i32_u (call $threads)))
    (local.set $i (i64.add (i64.extend_i32_u (local.get $t)) (i64.const 1)))
    (loop $next
      (local.set $sum (i64.add (local.get $sum) (local.get $i)))
      (local.set $i (i64.add (local.get $i) (local.get $step)))
      (br_if $next (i64.le_u (local.get $i) (global.get $n))))
    (i64.store (i32.add (i32.const 8) (i32.shl (local.get $t) (i32.const 3))) (local.get $sum))
    (call $say (i32.add (i32.const 1024) (i32.shl (local.get $t) (i32.const 7))) (i32.const 512) (i32.const 27) (local.get $sum))
    (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))

  (func (export "_start") (local $t i32) (local $done i32) (local $total i64) (local $c i32)
    (i32.store (i32.const 4) (i32.const 4))
    ;; THREADS from argv[1] (1-64), if given: a single decimal number
    (drop (call $args_sizes_get (i32.const 256) (i32.const 260)))
    (if (i32.ge_u (i32.load (i32.const 256)) (i32.const 2))
      (then
        (drop (call $args_get (i32.const 272) (i32.const 320)))
        (local.set $t (i32.load (i32.const 276)))
        (i32.store (i32.const 4) (i32.const 0))
        (loop $digits
          (local.set $c (i32.load8_u (local.get $t)))
          (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
            (then
              (i32.store (i32.const 4) (i32.add (i32.mul (call $threads) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
              (local.set $t (i32.add (local.get $t) (i32.const 1)))
              (br $digits))))
        (if (i32.or (i32.eqz (call $threads)) (i32.gt_u (call $threads) (i32.const 64)))
          (then (i32.store (i32.const 4) (i32.const 4))))))
    (local.set $t (i32.const 0))
    (loop $spawn_all
      (drop (call $spawn (local.get $t)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br_if $spawn_all (i32.lt_u (local.get $t) (call $threads))))
    (block $all
      (loop $wait
        (local.set $done (i32.atomic.load (i32.const 0)))
        (br_if $all (i32.ge_u (local.get $done) (call $threads)))
        (drop (memory.atomic.wait32 (i32.const 0) (local.get $done) (i64.const -1)))
        (br $wait)))
    (local.set $t (i32.const 0))
    (loop $add
      (local.set $total (i64.add (local.get $total) (i64.load (i32.add (i32.const 8) (i32.shl (local.get $t) (i32.const 3))))))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br_if $add (i32.lt_u (local.get $t) (call $threads))))
    (call $say (i32.const 16384) (i32.const 600) (i32.const 47) (local.get $total))))
