#!/usr/bin/env bash
# bench/stats.sh: the stats report and the lead list's filtered first pages on
# a database of LEADS leads (default 10,000,000) made by `leadd seed`: a
# year of traffic from 20 sources and 200 campaigns, every grade and status
# (src/seed/seed.c). The database is built once into build/bench/ and kept
# (building it takes minutes); delete it to build it again.
# Each query: wrk -t1 -c1 for SECS seconds (one request at a time), its p50
# and p99. Targets (issue 13): every report p99 <= 50 ms, every filtered
# first page p99 <= 20 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/leadd LEADS=${LEADS:-10000000} SECS=${SECS:-5} PORT=18185
DB=build/bench/stats-$LEADS.db
KEY=bench-key-0123456789abcdef
mkdir -p build/bench
if [ ! -s "$DB" ]; then
    echo "building $DB: $LEADS leads by 'leadd seed'..."
    rm -f "$DB" "$DB-wal" "$DB-shm"
    t0=$(date +%s)
    $BIN seed -c bench/bench.ini --set storage.path="$DB" --count "$LEADS" 2>/dev/null
    echo "seeded in $(($(date +%s) - t0)) s"
fi
log=$(mktemp /tmp/leadd-stats-XXXXXX)
$BIN serve -c bench/bench.ini --set storage.path="$DB" --set server.listen=127.0.0.1:$PORT \
    2>"$log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 600); do curl -sf -o /dev/null http://127.0.0.1:$PORT/healthz && break; sleep 0.1; done

. bench/lib.sh
cat >"$log.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
query() { # label path
    local out
    out=$(wrk -t1 -c1 -d"$SECS"s --latency -s "$log.lua" "http://127.0.0.1:$PORT$2" 2>&1)
    if ! grep -q "Latency Distribution" <<<"$out" || grep -q "Non-2xx" <<<"$out"; then
        echo "$1: failed: $out" >&2
        exit 1
    fi
    printf '%-48s p50 %7s ms   p99 %7s ms   %6s req\n' "$1" "$(pct 50% <<<"$out")" \
        "$(pct 99% <<<"$out")" "$(awk '/requests in/ {print $1}' <<<"$out")"
}
leads=$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/stats?group_by=form" |
    sed -n 's/.*"total":{[^}]*"leads":\([0-9]*\).*/\1/p')
today=$(date -u +%F) month_ago=$(date -u -d '29 days ago' +%F)
echo "$(date -u +%F): $leads leads; wrk -t1 -c1 -d${SECS}s a query, $(nproc) cores"
echo "-- GET /v1/stats (the report), the last 30 days and the whole year"
for g in utm_source utm_medium utm_campaign form day week month; do
    query "group_by=$g, 30 days" "/v1/stats?group_by=$g&from=$month_ago&to=$today"
    query "group_by=$g, all" "/v1/stats?group_by=$g"
done
query "group_by=day, 30 days, utm_source=bing" "/v1/stats?group_by=day&from=$month_ago&to=$today&utm_source=bing"
query "group_by=utm_campaign, all, format=csv" "/v1/stats?group_by=utm_campaign&format=csv"
echo "-- GET /v1/leads?limit=50, the first page"
for f in "${FIRST_PAGES[@]}"; do
    query "$f" "/v1/leads?limit=50&$f"
done
