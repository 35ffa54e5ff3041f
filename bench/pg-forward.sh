#!/usr/bin/env bash
# bench/pg-forward.sh OLD_BIN NEW_BIN: forwarding on PostgreSQL (one node),
# two builds side by side. Each round, for each build in turn: a fresh
# database, leadd with a webhook that gets every lead (when = all) on a
# local receiver that answers at once (the ceiling server), wrk posting
# bench/post.lua's leads for SECS seconds, then the outbox drained. Reported
# per build, medians of ROUNDS rounds: capture req/s, deliveries/s while
# loaded and while draining, and CPU time per lead (load and drain) of leadd and of the
# PostgreSQL server (every backend process of the throwaway cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGHOST:-}" ]; then exec pg_virtualenv "$0" "$@"; fi
OLD=${1:?old binary} NEW=${2:?new binary}
CEIL=build/bench/ceiling
SECS=${SECS:-8} ROUNDS=${ROUNDS:-3} CONNS=${CONNS:-32}
dir=$(mktemp -d /tmp/leadd-pgfwd-XXXXXX)
RPORT=18392 PORT=18390
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
$CEIL $RPORT 2 2>"$dir/receiver.log" &
cat bench/bench.ini >"$dir/leadd.ini"
cat >>"$dir/leadd.ini" <<EOF
[webhook.sink]
url = http://127.0.0.1:$RPORT/hook
secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
when = all
EOF
hz=$(getconf CLK_TCK)
ticks() { # pids... -> user + system ticks of them all
    local t=0 p
    for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0))); done
    echo $t
}
q() { psql -qtAc "$2" "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
one() { # bin db -> "rps sent_loaded/s drain/s leadd_us pg_us"
    local bin=$1 db=$2
    psql -qc "CREATE DATABASE $db" >/dev/null
    "$bin" serve -c "$dir/leadd.ini" --set storage.backend=postgres --set "storage.url=dbname=$db" \
        --set server.listen=127.0.0.1:$PORT 2>"$dir/$db.log" &
    local pid=$!
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
    local pgp; pgp=$(pgrep -d ' ' -x postgres || true)
    local l0 g0; l0=$(ticks $pid); g0=$(ticks $pgp)
    local rps; rps=$(wrk -t1 -c"$CONNS" -d"$SECS"s -s bench/post.lua "http://127.0.0.1:$PORT" -- "$db" 2>&1 |
        awk '/^RPS/{print $2}')
    local d1 t1 t2 d2
    d1=$(q "$db" "SELECT count(*) FROM deliveries WHERE state = 'delivered'")
    t1=$(date +%s.%N)
    while [ "$(q "$db" "SELECT count(*) FROM deliveries WHERE state <> 'delivered'")" -gt 0 ]; do
        sleep 0.05
    done
    t2=$(date +%s.%N)
    d2=$(q "$db" "SELECT count(*) FROM deliveries WHERE state = 'delivered'")
    pgp=$(pgrep -d ' ' -x postgres || true)
    local l1 g1; l1=$(ticks $pid); g1=$(ticks $pgp)
    local n; n=$(q "$db" "SELECT count(*) FROM leads")
    kill $pid; wait $pid 2>/dev/null || true
    awk -v r="$rps" -v a="$d1" -v b="$d2" -v s="$t1" -v e="$t2" -v l=$((l1 - l0)) \
        -v g=$((g1 - g0)) -v n="$n" -v hz="$hz" -v secs="$SECS" 'BEGIN {
        printf "%s %.0f %.0f %.0f %.0f\n", r, a / secs, (e > s ? (b - a) / (e - s) : 0),
               l * 1e6 / hz / n, g * 1e6 / hz / n}'
}
echo "PostgreSQL forwarding, one node: wrk -c$CONNS -d${SECS}s, then the drain; $ROUNDS rounds"
printf '%-6s %-4s %10s %12s %10s %14s %12s\n' round bin req/s sent_loaded/s drain/s \
    leadd_us/lead pg_us/lead
declare -A R S D L G
for r in $(seq "$ROUNDS"); do
    for b in old new; do
        bin=$OLD; [ $b = new ] && bin=$NEW
        read -r rps sent drain lu gu <<<"$(one "$bin" "fwd_${b}_$r")"
        printf '%-6s %-4s %10s %12s %10s %14s %12s\n' "$r" $b "$rps" "$sent" "$drain" "$lu" "$gu"
        R[$b]+="$rps " S[$b]+="$sent " D[$b]+="$drain " L[$b]+="$lu " G[$b]+="$gu "
    done
done
for b in old new; do
    # shellcheck disable=SC2086
    echo "median $b: req/s $(median ${R[$b]}), sent while loaded/s $(median ${S[$b]}), drain/s" \
        "$(median ${D[$b]}), leadd us/lead" \
        "$(median ${L[$b]}), pg us/lead $(median ${G[$b]})"
done
