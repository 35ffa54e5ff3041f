#!/usr/bin/env bash
# make bench BACKEND=postgres: capture on SQLite, on PostgreSQL with one node,
# and on PostgreSQL with two nodes sharing one database, side by side in one
# run on a throwaway cluster (pg_virtualenv starts it, and drops it after).
# wrk posts bench/post.lua's leads (random emails, names, budgets; ~3%
# repeated addresses); each configuration gets CONNS connections in all (two
# nodes: half each, two wrk at once); ROUNDS rounds of SECS seconds,
# alternating, after a warm-up. Reported: req/s, p99, and CPU time per lead
# of leadd (all its nodes) and of the PostgreSQL server (every backend
# process of the cluster), from /proc. Medians, and ratios to SQLite.
# BASE=other-binary: its one node and two nodes too (on databases of their
# own), alternating with BIN's in each round, and BIN's ratios to it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGHOST:-}" ]; then exec pg_virtualenv "$0" "$@"; fi
BIN=${BIN:-build/leadd}
CONNS=${CONNS:-64} SECS=${SECS:-10} ROUNDS=${ROUNDS:-3}
dir=$(mktemp -d /tmp/leadd-pgbench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
psql -qc "CREATE DATABASE bench1" >/dev/null
psql -qc "CREATE DATABASE bench2" >/dev/null
BASE=${BASE:+$(realpath "$BASE")}
if [ -n "$BASE" ]; then for db in bench3 bench4; do psql -qc "CREATE DATABASE $db" >/dev/null; done; fi

start() { # name port [db [binary]] -> pid in $PID
    local extra=()
    [ -n "${3:-}" ] && extra=(--set storage.backend=postgres --set "storage.url=dbname=$3")
    "${4:-$BIN}" serve -c bench/bench.ini --set storage.path="$dir/$1.db" \
        --set server.listen=127.0.0.1:"$2" "${extra[@]}" 2>"$dir/$1.log" &
    PID=$!
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$2/healthz" && return; sleep 0.1; done
    echo "$1 did not start" >&2; cat "$dir/$1.log" >&2; exit 1
}
start sqlite 18200; P_LITE=$PID
start pg1 18201 bench1; P_PG1=$PID
start pg2a 18202 bench2; P_PG2A=$PID
start pg2b 18203 bench2; P_PG2B=$PID
if [ -n "$BASE" ]; then
    start base1 18211 bench3 "$BASE"; P_B1=$PID
    start base2a 18212 bench4 "$BASE"; P_B2A=$PID
    start base2b 18213 bench4 "$BASE"; P_B2B=$PID
fi

hz=$(getconf CLK_TCK)
ticks() { # pids... -> user + system ticks of them all
    local t=0 p
    for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0))); done
    echo $t
}
cpu() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; } # busy idle ticks
pg_pids() { pgrep -d ' ' -x postgres || true; } # the cluster's server and backends
wrk1() { # port tag seconds conns -> wrk's output file
    wrk -t1 -c"$4" -d"$3"s --latency -s bench/post.lua "http://127.0.0.1:$1" -- "$2" \
        >"$dir/$2.out" 2>&1
}
# one round of a configuration: "rps p99 leadd_us_per_lead pg_us_per_lead
# busy%", busy% being how much of the machine's cores were busy (all
# processes: wrk, leadd, PostgreSQL), 100 when none was ever idle
run() { # tag seconds pids_of_leadd... -- ports...
    local tag=$1 secs=$2; shift 2
    local pids=() ports=()
    while [ "$1" != -- ]; do pids+=("$1"); shift; done; shift
    ports=("$@")
    local pgp; pgp=$(pg_pids)
    local l0 g0 c0; l0=$(ticks "${pids[@]}"); g0=$(ticks $pgp); c0=$(cpu)
    local each=$((CONNS / ${#ports[@]})) i=0 w=()
    for port in "${ports[@]}"; do wrk1 "$port" "$tag$i" "$secs" "$each" & w+=($!) i=$((i + 1)); done
    wait "${w[@]}"
    local l1 g1 c1; l1=$(ticks "${pids[@]}"); g1=$(ticks $pgp); c1=$(cpu)
    cat "$dir/$tag"*.out | awk -v l=$((l1 - l0)) -v g=$((g1 - g0)) -v hz="$hz" -v s="$secs" \
        -v c0="$c0" -v c1="$c1" '
        /^RPS/ {r += $2} /^P99/ {if ($2 > q) q = $2} /^CREATED/ {c += $2}
        END {split(c0, a, " "); split(c1, b, " "); busy = b[1] - a[1]; idle = b[2] - a[2]
             printf "%.0f %s %.0f %.0f %.0f\n", r, q, c ? l * 1e6 / hz / c : 0,
                 c ? g * 1e6 / hz / c : 0, busy + idle ? 100 * busy / (busy + idle) : 0}'
}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1048576)}' /proc/meminfo) GiB;" \
    "PostgreSQL $(psql -Atc 'SHOW server_version'), synchronous_commit on; $(date -u +%F)"
echo "wrk, $CONNS connections in all, ${SECS}s a round, $ROUNDS rounds alternating"
run warm-s 3 "$P_LITE" -- 18200 >/dev/null
run warm-p 3 "$P_PG1" -- 18201 >/dev/null
run warm-t 3 "$P_PG2A" "$P_PG2B" -- 18202 18203 >/dev/null
if [ -n "$BASE" ]; then
    echo "BASE=$BASE"
    run warm-b 3 "$P_B1" -- 18211 >/dev/null
    run warm-c 3 "$P_B2A" "$P_B2B" -- 18212 18213 >/dev/null
fi
row() { printf '%-6s %-16s %9s %8s %14s %12s %6s\n' "$@"; }
row round config req/s p99_ms leadd_cpu_us pg_cpu_us busy%
# one round of a configuration: its row, kept for the medians
measure() { # label tag pids_of_leadd... -- ports...
    local label=$1 tag=$2 a b c d e; shift 2
    read -r a b c d e < <(run "$tag" "$SECS" "$@")
    [ "$label" = sqlite ] && d=- # no server of its own
    echo "$a $b $c $d $e" >>"$dir/rows.${label// /_}"
    row "$r" "$label" "$a" "$b" "$c" "$d" "$e"
}
median_of() { # label column -> that column's median over the rounds
    awk -v c="$2" '{print $c}' "$dir/rows.${1// /_}" | sort -g |
        awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
medians() { # label
    row median "$1" "$(median_of "$1" 1)" "$(median_of "$1" 2)" "$(median_of "$1" 3)" \
        "$(median_of "$1" 4)" "$(median_of "$1" 5)"
}
for r in $(seq "$ROUNDS"); do
    measure sqlite "s$r" "$P_LITE" -- 18200
    measure "postgres 1 node" "p$r" "$P_PG1" -- 18201
    measure "postgres 2 nodes" "t$r" "$P_PG2A" "$P_PG2B" -- 18202 18203
    [ -n "$BASE" ] || continue
    measure "base 1 node" "b$r" "$P_B1" -- 18211
    measure "base 2 nodes" "c$r" "$P_B2A" "$P_B2B" -- 18212 18213
done
ratio() { echo "$(median_of "$1" 1) / $(median_of "$2" 1)" | bc -l; } # of req/s medians
for label in sqlite "postgres 1 node" "postgres 2 nodes"; do medians "$label"; done
printf 'req/s relative to sqlite: postgres 1 node %.2f, 2 nodes %.2f\n' \
    "$(ratio "postgres 1 node" sqlite)" "$(ratio "postgres 2 nodes" sqlite)"
if [ -n "$BASE" ]; then
    medians "base 1 node"
    medians "base 2 nodes"
    printf 'req/s relative to base: 1 node %.2f, 2 nodes %.2f; 2 nodes / 1 node: %.2f, base %.2f\n' \
        "$(ratio "postgres 1 node" "base 1 node")" "$(ratio "postgres 2 nodes" "base 2 nodes")" \
        "$(ratio "postgres 2 nodes" "postgres 1 node")" "$(ratio "base 2 nodes" "base 1 node")"
fi
for db in bench1 bench2; do
    n=$(psql -Atd "$db" -c 'SELECT count(*) FROM leads')
    echo "$db: $n leads stored"
done
