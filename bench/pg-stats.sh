#!/usr/bin/env bash
# make bench BACKEND=postgres, after bench/pg.sh: the stats report and the
# lead list's filtered first pages on SQLite and on PostgreSQL, the same
# LEADS leads (default 100,000) made by `leadd seed` into each (a year of
# traffic, src/seed/seed.c), served by one node. A throwaway cluster
# (pg_virtualenv). Each query: wrk -t1 -c1 for SECS seconds (one request at
# a time), after the node's start-up has counted the seeded leads in; its
# p50 and p99.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGHOST:-}" ]; then exec pg_virtualenv "$0" "$@"; fi
BIN=build/leadd LEADS=${LEADS:-100000} SECS=${SECS:-5} PORT=18190
KEY=bench-key-0123456789abcdef
dir=$(mktemp -d /tmp/leadd-pgstats-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
echo "wrk.headers[\"Authorization\"] = \"Bearer $KEY\"" >"$dir/key.lua"
# wrk's latency percentiles, in ms whatever its unit
pct() { awk -v p="$1" '$1 == p {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = u == "us" ? 0.001 : u == "s" ? 1000 : u == "m" ? 60000 : 1; printf "%.1f", v * f}'; }
serve_and_query() { # label, then leadd's --set options
    local label=$1
    shift
    $BIN serve -c bench/bench.ini "$@" --set server.listen=127.0.0.1:$PORT 2>"$dir/$label.log" &
    local pid=$!
    for _ in $(seq 3000); do curl -sf -o /dev/null http://127.0.0.1:$PORT/healthz && break; sleep 0.1; done
    for p in "/v1/stats?group_by=utm_source" "/v1/stats?group_by=day" "/v1/stats?group_by=form" \
        "/v1/leads?limit=50&grade=hot" "/v1/leads?limit=50&min_score=60"; do
        out=$(wrk -t1 -c1 -d"$SECS"s --latency -s "$dir/key.lua" "http://127.0.0.1:$PORT$p" 2>&1)
        if ! grep -q "Latency Distribution" <<<"$out" || grep -q "Non-2xx" <<<"$out"; then
            echo "$label $p: failed: $out" >&2
            exit 1
        fi
        printf '%-10s %-36s p50 %7s ms   p99 %7s ms\n' "$label" "$p" "$(pct 50% <<<"$out")" \
            "$(pct 99% <<<"$out")"
    done
    kill $pid
    wait $pid || true
}
echo "$(date -u +%F): $LEADS leads seeded into each; wrk -t1 -c1 -d${SECS}s a query, $(nproc) cores"
t0=$(date +%s)
$BIN seed -c bench/bench.ini --set storage.path="$dir/leads.db" --count "$LEADS" 2>/dev/null
echo "SQLite: seeded in $(($(date +%s) - t0)) s"
serve_and_query sqlite --set storage.path="$dir/leads.db"
psql -qc "CREATE DATABASE stats" >/dev/null
pg=(--set storage.backend=postgres --set storage.url=dbname=stats)
t0=$(date +%s)
$BIN seed -c bench/bench.ini "${pg[@]}" --count "$LEADS" 2>/dev/null
echo "PostgreSQL: seeded in $(($(date +%s) - t0)) s"
serve_and_query postgres "${pg[@]}"
