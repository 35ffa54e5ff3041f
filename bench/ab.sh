#!/usr/bin/env bash
# bench/ab.sh A_BIN B_BIN: paired capture throughput of two leadd binaries on
# this machine, for "did this change cost anything": each serves its own
# fresh database with bench/bench.ini; wrk -t2 -c64 posts bench/post.lua's
# leads; the two alternate for ROUNDS rounds of SECS seconds after a warm-up.
# Prints each round and the medians, and B/A.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "$1") B=$(realpath "$2")
SECS=${SECS:-10} ROUNDS=${ROUNDS:-5} CONNS=${CONNS:-64}
dir=$(mktemp -d /tmp/leadd-ab-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
start() { # name bin port
    "$2" serve -c bench/bench.ini --set storage.path="$dir/$1.db" \
        --set server.listen=127.0.0.1:"$3" 2>"$dir/$1.log" &
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$3/healthz" && return; sleep 0.1; done
    echo "$1 did not start" >&2; exit 1
}
start a "$A" 18190
start b "$B" 18191
run() { # port tag seconds -> "rps p99"
    wrk -t2 -c"$CONNS" -d"$3"s --latency -s bench/post.lua "http://127.0.0.1:$1" -- "$2" 2>&1 |
        awk '/^RPS/{r=$2} /^P99/{q=$2} END {print r, q}'
}
run 18190 wa 3 >/dev/null
run 18191 wb 3 >/dev/null
echo "wrk -t2 -c$CONNS -d${SECS}s, $ROUNDS rounds alternating; A=$1 B=$2"
printf '%-6s %10s %8s %10s %8s\n' round A_req/s A_p99 B_req/s B_p99
AR=() BR=() AP=() BP=()
for r in $(seq "$ROUNDS"); do
    read -r ar ap < <(run 18190 "a$r" "$SECS")
    read -r br bp < <(run 18191 "b$r" "$SECS")
    printf '%-6s %10s %8s %10s %8s\n' "$r" "$ar" "$ap" "$br" "$bp"
    AR+=("$ar") BR+=("$br") AP+=("$ap") BP+=("$bp")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${AR[@]}") mb=$(median "${BR[@]}")
printf 'median %10s %8s %10s %8s   B/A %.3f\n' "$ma" "$(median "${AP[@]}")" "$mb" \
    "$(median "${BP[@]}")" "$(echo "$mb / $ma" | bc -l)"
