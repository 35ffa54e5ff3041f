#!/bin/sh
# Run by tests/run.sh: the PostgreSQL tests (tests/integration/itest_pg.c),
# against a throwaway cluster of their own: Debian's pg_virtualenv makes one
# in a temporary directory on a free port, exports its PG* variables for
# libpq, runs the tests, and stops and drops the cluster (nothing is left
# running, whatever the tests do).
exec pg_virtualenv "$(dirname "$0")/../build/asan/tests/itest_pg"
