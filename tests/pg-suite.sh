#!/bin/sh
# Run by tests/run.sh: the integration suites again, each test's leadd
# (or two, with LEADD_TEST_NODES=2: tests/pg-suite-2nodes.sh)
# serving from PostgreSQL ([storage] backend = postgres) on a throwaway
# cluster that pg_virtualenv starts and drops (tests/pg.sh says how); the
# harness gives each leadd a database of its own and asks it in h_sql_*.
# itest_backup tests SQLite's file itself (backup, restore) and runs on
# SQLite alone; itest_pg has PostgreSQL's own tests. Closes with the sum of
# the suites' passed tests, as one cmocka binary would.
cd "$(dirname "$0")/.." || exit 1
exec pg_virtualenv sh -c '
fail=0 passed=0
for t in build/asan/tests/itest_*; do
    case "$t" in *itest_pg|*itest_backup|*.o) continue ;; esac
    echo "== $t on PostgreSQL${LEADD_TEST_NODES:+, $LEADD_TEST_NODES nodes}"
    out=$(LEADD_TEST_BACKEND=postgres timeout 600 "$t" 2>&1) || { fail=1; echo "failing on postgres: $t"; }
    printf "%s\n" "$out"
    p=$(printf "%s\n" "$out" | sed -n "s/^\[  PASSED  \] \([0-9]*\) test.*/\1/p" | tail -1)
    passed=$((passed + ${p:-0}))
done
if [ $fail -eq 0 ]; then echo "[  PASSED  ] $passed test(s)."; else echo "[  FAILED  ] 1 test(s)."; fi
exit $fail'
