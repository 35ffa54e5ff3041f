#!/bin/sh
# tests/pg-cluster.sh COMMAND...: runs COMMAND against a throwaway PostgreSQL
# cluster of its own, then stops and removes it, whatever COMMAND did.
# The cluster lives in a temporary directory and listens on a Unix socket
# there only (no TCP port to collide with another run), so any number of
# them can run side by side. COMMAND gets libpq's PGHOST, PGPORT, PGUSER and
# PGDATABASE, and LEADD_TEST_PGCTL, a pg_ctl command line for this cluster
# (itest_pg stops and starts the server with it).
# (Debian's pg_virtualenv keeps root's cluster at one fixed place: one at a
# time, which would serialise the suites.)
set -u
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "pg-cluster: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }
dir=$(mktemp -d /tmp/leadd-pg-XXXXXX)
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    as_pg="runuser -u postgres --"
    user=postgres
else
    as_pg=""
    user=$(id -un)
fi
cleanup() {
    $as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
$as_pg "$bindir/initdb" -D "$dir/data" -U "$user" -A trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# Throwaway data: no fsync; enough connections for the suites side by side
# (each node keeps a writer, readers and listeners); no autovacuum (it
# visits every database each minute, a process each, and a make test makes
# some 600).
cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = 5432
max_connections = 600
fsync = off
autovacuum = off
EOF
export LEADD_TEST_PGCTL="$as_pg $bindir/pg_ctl -D $dir/data -l $dir/server.log -w"
$LEADD_TEST_PGCTL start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
export PGHOST=$dir PGPORT=5432 PGUSER=$user PGDATABASE=postgres
"$@"
rc=$?
# What the server cost (its processes are not the command's children, so no
# time(1) of the command counts them): the postmaster's own CPU, its live
# children's (the checkpointer, the WAL writer) and its ended backends', and
# the sessions opened.
pm=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null)
if [ -n "$pm" ] && [ -r "/proc/$pm/stat" ]; then
    ticks=$(cat "/proc/$pm/stat" $(grep -l "^PPid:[[:space:]]*$pm\$" /proc/[0-9]*/status 2>/dev/null |
        sed 's/status$/stat/') 2>/dev/null | awk '{ t += $14 + $15 + $16 + $17 } END { print t }')
    sessions=$(psql -XAtqc "SELECT sum(sessions) FROM pg_stat_database" 2>/dev/null)
    echo "postgres: $(echo "scale=1; $ticks / $(getconf CLK_TCK)" | bc) s cpu, ${sessions:-?} sessions"
fi
exit $rc
