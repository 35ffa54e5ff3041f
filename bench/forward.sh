#!/usr/bin/env bash
# bench/forward.sh: forwarding at capture load. Two leadd instances on the
# same bench config, one with a webhook (when = all: every lead is sent, a
# signed standard envelope) to a local receiver that answers 201 at once (the
# ceiling server), one without; wrk loads them in turn, ROUNDS rounds of SECS
# seconds. Reports capture req/s with and without the webhook, deliveries/s
# while loaded, and how fast the outbox drains once the load stops.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/leadd} CEIL=build/bench/ceiling
SECS=${SECS:-10} ROUNDS=${ROUNDS:-3} CONNS=${CONNS:-64}
dir=$(mktemp -d /tmp/leadd-fwd-XXXXXX)
RPORT=18292 APORT=18290 BPORT=18291
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
$CEIL $RPORT 2 2>"$dir/receiver.log" &
RPID=$!
cat bench/bench.ini >"$dir/with.ini"
cat >>"$dir/with.ini" <<EOF
[webhook.sink]
url = http://127.0.0.1:$RPORT/hook
secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
when = all
EOF
start() { # name ini port
    $BIN serve -c "$2" --set storage.path="$dir/$1.db" --set server.listen=127.0.0.1:"$3" \
        2>"$dir/$1.log" &
    echo $! >"$dir/$1.pid"
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$3/healthz" && return; sleep 0.1; done
    echo "$1 did not start" >&2; exit 1
}
start with "$dir/with.ini" $APORT
start without bench/bench.ini $BPORT
APID=$(cat "$dir/with.pid") BPID=$(cat "$dir/without.pid")
ticks() { awk '{print $14 + $15}' /proc/$1/stat; } # user + system, all threads
hz=$(getconf CLK_TCK)
q() { sqlite3 "$dir/with.db" "PRAGMA busy_timeout=5000; $1" | tail -1; }
run() { # port tag -> rps
    wrk -t2 -c"$CONNS" -d"$SECS"s -s bench/post.lua "http://127.0.0.1:$1" -- "$2" 2>&1 |
        awk '/^RPS/{print $2}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "forwarding: wrk -t2 -c$CONNS -d${SECS}s, $ROUNDS rounds; every lead sent to a local receiver"
printf '%-6s %14s %14s %14s %10s %8s %12s %12s %12s\n' round without_req/s with_req/s \
    sent_loaded/s drain/s drain_s cpu_us_wo cpu_us_with recv_cpu_us
W=() O=() L=() D=() CW=() CO=() CR=()
for r in $(seq "$ROUNDS"); do
    b0=$(ticks $BPID) n0=$(sqlite3 "$dir/without.db" 'SELECT count(*) FROM leads')
    o=$(run $BPORT "o$r")
    b1=$(ticks $BPID) n1=$(sqlite3 "$dir/without.db" 'SELECT count(*) FROM leads')
    d0=$(q "SELECT count(*) FROM deliveries WHERE state = 'delivered'")
    a0=$(ticks $APID) r0=$(ticks $RPID) m0=$(q "SELECT count(*) FROM leads")
    t0=$(date +%s.%N)
    w=$(run $APORT "w$r")
    t1=$(date +%s.%N)
    d1=$(q "SELECT count(*) FROM deliveries WHERE state = 'delivered'")
    # the drain: until nothing is pending
    while [ "$(q "SELECT count(*) FROM deliveries WHERE state != 'delivered'")" -gt 0 ]; do
        sleep 0.05
    done
    t2=$(date +%s.%N)
    d2=$(q "SELECT count(*) FROM deliveries WHERE state = 'delivered'")
    a1=$(ticks $APID) r1=$(ticks $RPID) m1=$(q "SELECT count(*) FROM leads")
    # CPU per lead: capture alone; capture and its delivery (load and drain);
    # the receiver's share of the latter.
    co=$(awk -v t=$((b1 - b0)) -v n=$((n1 - n0)) -v hz="$hz" 'BEGIN {printf "%.1f", t*1e6/hz/n}')
    cw=$(awk -v t=$((a1 - a0)) -v n=$((m1 - m0)) -v hz="$hz" 'BEGIN {printf "%.1f", t*1e6/hz/n}')
    cr=$(awk -v t=$((r1 - r0)) -v n=$((m1 - m0)) -v hz="$hz" 'BEGIN {printf "%.1f", t*1e6/hz/n}')
    loaded=$(awk -v a="$d0" -v b="$d1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.0f", (b-a)/(e-s)}')
    drain_s=$(awk -v s="$t1" -v e="$t2" 'BEGIN {printf "%.2f", e-s}')
    drain=$(awk -v a="$d1" -v b="$d2" -v t="$drain_s" 'BEGIN {printf "%.0f", (t > 0 ? (b-a)/t : 0)}')
    printf '%-6s %14s %14s %14s %10s %8s %12s %12s %12s\n' "$r" "$o" "$w" "$loaded" "$drain" \
        "$drain_s" "$co" "$cw" "$cr"
    W+=("$w") O+=("$o") L+=("$loaded") D+=("$drain") CW+=("$cw") CO+=("$co") CR+=("$cr")
done
mw=$(median "${W[@]}") mo=$(median "${O[@]}")
echo "median capture req/s: without webhook $mo, with $mw (ratio $(awk -v a="$mw" -v b="$mo" 'BEGIN {printf "%.2f", a/b}'));" \
    "deliveries/s while loaded $(median "${L[@]}"), draining $(median "${D[@]}")"
echo "CPU per lead (us), medians: leadd capturing $(median "${CO[@]}"); leadd capturing and" \
    "delivering $(median "${CW[@]}"); the receiver $(median "${CR[@]}")"
dead=$(q "SELECT count(*) FROM deliveries WHERE state = 'dead'")
total=$(q "SELECT count(*) FROM deliveries")
# Every lead that is not a duplicate (post.lua repeats ~3% of addresses) or
# spam has exactly one delivery, delivered.
leads=$(q "SELECT count(*) FROM leads WHERE duplicate_of IS NULL AND (flags & 3) = 0")
echo "deliveries: $total for $leads leads that are neither duplicates nor spam, $dead dead"
[ "$total" -eq "$leads" ] && [ "$dead" -eq 0 ] || { echo "MISMATCH: a lead was not forwarded" >&2; exit 1; }
