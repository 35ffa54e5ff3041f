#!/usr/bin/env bash
# bench/ab.sh A_BIN B_BIN: paired capture throughput of two leadd binaries on
# this machine, for "did this change cost anything": each serves its own
# fresh database with bench/bench.ini; wrk -t2 -c64 posts bench/post.lua's
# leads; the two alternate for ROUNDS rounds of SECS seconds after a warm-up.
# Prints each round and the medians, and B/A; and each binary's CPU a lead
# (its process's user + system time over the round's requests), which the
# machine's other load moves less than the rate does.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "$1") B=$(realpath "$2")
SECS=${SECS:-10} ROUNDS=${ROUNDS:-5} CONNS=${CONNS:-64}
dir=$(mktemp -d /tmp/leadd-ab-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
start() { # name bin port
    "$2" serve -c bench/bench.ini --set storage.path="$dir/$1.db" \
        --set server.listen=127.0.0.1:"$3" 2>"$dir/$1.log" &
    echo $! >"$dir/$1.pid"
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$3/healthz" && return; sleep 0.1; done
    echo "$1 did not start" >&2; exit 1
}
start a "$A" 18190
start b "$B" 18191
ticks() { awk '{print $14 + $15}' "/proc/$(cat "$dir/$1.pid")/stat"; } # name -> its CPU, in ticks
hz=$(getconf CLK_TCK)
run() { # port tag seconds name -> "rps p99 cpu_us_a_request"
    local t0 out
    t0=$(ticks "$4")
    out=$(wrk -t2 -c"$CONNS" -d"$3"s --latency -s bench/post.lua "http://127.0.0.1:$1" -- "$2" 2>&1 |
        awk '/^RPS/{r=$2} /^P99/{q=$2} END {print r, q}')
    read -r r q <<<"$out"
    echo "$r $q $(echo "($(ticks "$4") - $t0) * 1000000 / $hz / ($r * $3)" | bc -l | xargs printf '%.1f')"
}
run 18190 wa 3 a >/dev/null
run 18191 wb 3 b >/dev/null
echo "wrk -t2 -c$CONNS -d${SECS}s, $ROUNDS rounds alternating; A=$1 B=$2"
printf '%-6s %10s %8s %7s %10s %8s %7s\n' round A_req/s A_p99 A_us B_req/s B_p99 B_us
AR=() BR=() AP=() BP=() AU=() BU=()
for r in $(seq "$ROUNDS"); do
    read -r ar ap au < <(run 18190 "a$r" "$SECS" a)
    read -r br bp bu < <(run 18191 "b$r" "$SECS" b)
    printf '%-6s %10s %8s %7s %10s %8s %7s\n' "$r" "$ar" "$ap" "$au" "$br" "$bp" "$bu"
    AR+=("$ar") BR+=("$br") AP+=("$ap") BP+=("$bp") AU+=("$au") BU+=("$bu")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${AR[@]}") mb=$(median "${BR[@]}")
ua=$(median "${AU[@]}") ub=$(median "${BU[@]}")
printf 'median %10s %8s %7s %10s %8s %7s   B/A %.3f, CPU a lead B/A %.3f\n' "$ma" \
    "$(median "${AP[@]}")" "$ua" "$mb" "$(median "${BP[@]}")" "$ub" "$(echo "$mb / $ma" | bc -l)" \
    "$(echo "$ub / $ua" | bc -l)"
