#!/bin/sh
# Run by tests/run.sh: the PostgreSQL tests (tests/integration/itest_pg.c),
# against a throwaway cluster of their own (tests/pg-cluster.sh: they stop
# and start the server, so they share it with no other suite).
here=$(dirname "$0")
exec "$here/pg-cluster.sh" "$here/../${O:-build/asan}/tests/itest_pg"
