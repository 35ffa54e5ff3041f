#!/bin/sh
# Runs each test binary, prints its output, and closes with one summary line.
# Exit status: non-zero if any binary failed (an assertion, a sanitizer
# finding, or a leak).
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:halt_on_error=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
passed=0 failed=0 bad=""
for t in "$@"; do
    echo "== $t"
    # A hung binary fails the run instead of stalling it.
    out=$(timeout 600 "$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    passed=$((passed + ${p:-0}))
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + ${f:-1}))
        bad="$bad $t"
    fi
done
[ -n "$bad" ] && echo "failing:$bad"
echo "tests: $passed passed, $failed failed"
[ -z "$bad" ]
