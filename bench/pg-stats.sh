#!/usr/bin/env bash
# make bench BACKEND=postgres, after bench/pg.sh: the stats report and every
# filtered first page of the lead list on SQLite and on PostgreSQL, at each
# size in SIZES (default "20000 100000 1000000" leads), each made by `leadd
# seed` into a fresh database of each engine (a year of traffic, 20 sources,
# every grade and status: src/seed/seed.c), served by one node of BIN. A
# throwaway cluster (pg_virtualenv). Each query: wrk -t1 -c1 for SECS seconds
# (one request at a time), after the node's start-up has counted the seeded
# leads in; its p50 and p99, one line each. Targets (issue 27): every
# report and every filtered first page p99 <= 20 ms, the same at every size.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGHOST:-}" ]; then exec pg_virtualenv "$0" "$@"; fi
BIN=${BIN:-build/leadd} SIZES=${SIZES:-20000 100000 1000000} SECS=${SECS:-5} PORT=18190
KEY=bench-key-0123456789abcdef
dir=$(mktemp -d /tmp/leadd-pgstats-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
echo "wrk.headers[\"Authorization\"] = \"Bearer $KEY\"" >"$dir/key.lua"
. bench/lib.sh
QUERIES=("/v1/stats?group_by=utm_source" "/v1/stats?group_by=day" "/v1/stats?group_by=form")
for f in "${FIRST_PAGES[@]}"; do
    QUERIES+=("/v1/leads?limit=50&$f")
done
serve_and_query() { # size engine, then leadd's --set options
    local size=$1 engine=$2
    shift 2
    $BIN serve -c bench/bench.ini "$@" --set server.listen=127.0.0.1:$PORT 2>"$dir/$engine.log" &
    local pid=$!
    for _ in $(seq 3000); do curl -sf -o /dev/null http://127.0.0.1:$PORT/healthz && break; sleep 0.1; done
    for p in "${QUERIES[@]}"; do
        out=$(wrk -t1 -c1 -d"$SECS"s --latency -s "$dir/key.lua" "http://127.0.0.1:$PORT$p" 2>&1)
        if ! grep -q "Latency Distribution" <<<"$out" || grep -q "Non-2xx" <<<"$out"; then
            echo "$engine $p: failed: $out" >&2
            exit 1
        fi
        printf '%-8s %-10s %-44s p50 %7s ms   p99 %7s ms\n' "$size" "$engine" "${p#/v1/}" \
            "$(pct 50% <<<"$out")" "$(pct 99% <<<"$out")"
    done
    kill $pid
    wait $pid || true
}
echo "$(date -u +%F): $BIN; wrk -t1 -c1 -d${SECS}s a query, $(nproc) cores"
for size in $SIZES; do
    t0=$(date +%s)
    $BIN seed -c bench/bench.ini --set storage.path="$dir/leads-$size.db" --count "$size" 2>/dev/null
    echo "$size leads: SQLite seeded in $(($(date +%s) - t0)) s"
    serve_and_query "$size" sqlite --set storage.path="$dir/leads-$size.db"
    rm -f "$dir/leads-$size.db"*
    psql -qc "CREATE DATABASE stats_$size" >/dev/null
    pg=(--set storage.backend=postgres --set "storage.url=dbname=stats_$size")
    t0=$(date +%s)
    $BIN seed -c bench/bench.ini "${pg[@]}" --count "$size" 2>/dev/null
    # what autovacuum would have done long before a database of this size
    # is asked (the planner's sizes of its tables)
    psql -qc "ANALYZE" "stats_$size" >/dev/null
    echo "$size leads: PostgreSQL seeded in $(($(date +%s) - t0)) s"
    serve_and_query "$size" postgres "${pg[@]}"
    psql -qc "DROP DATABASE stats_$size" >/dev/null
done
