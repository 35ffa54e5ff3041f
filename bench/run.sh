#!/usr/bin/env bash
# make bench: leadd (durability=full) against the bare libmicrohttpd ceiling,
# side by side in one run: wrk, 64 connections, 10 s a round after a warm-up,
# alternating ceiling and leadd over three rounds; medians and their ratio.
# Then checks that the database holds exactly as many leads as wrk saw 201s.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/leadd CEIL=build/bench/ceiling
CONNS=${CONNS:-64} SECS=${SECS:-10} ROUNDS=${ROUNDS:-3} THREADS=4
dir=$(mktemp -d /tmp/leadd-bench-XXXXXX)
LPORT=18180 CPORT=18181
cleanup() { kill "$LPID" "$CPID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

$BIN serve -c bench/bench.ini --set storage.path="$dir/bench.db" \
    --set server.listen=127.0.0.1:$LPORT 2>"$dir/leadd.log" &
LPID=$!
$CEIL $CPORT $THREADS 2>"$dir/ceiling.log" &
CPID=$!
for i in $(seq 100); do
    curl -sf -o /dev/null http://127.0.0.1:$LPORT/healthz && break
    sleep 0.1
done

peak() { awk '/VmHWM/ {print int($2/1024)}' /proc/$1/status; }
ticks() { awk '{print $14 + $15}' /proc/$1/stat; } # user + system, all threads
wbytes() { awk '/^wchar/ {print $2}' /proc/$1/io; } # bytes passed to write/pwrite
batches() { curl -s -H 'Authorization: Bearer bench-key-0123456789abcdef' \
    http://127.0.0.1:$LPORT/metrics | awk '/^leadd_writer_batches_total/ {print $2}'; }
run() { # name port tag seconds pid -> "rps p50 p99 created errors cpu_us_per_request
        #  syscalls_per_request fdatasyncs_per_s bytes_written_per_request"
    local t0 t1 w0 w1
    t0=$(ticks "$5") w0=$(wbytes "$5")
    # syscalls and fdatasyncs of the server while wrk runs (tracepoints)
    perf stat -x, -e raw_syscalls:sys_enter -e syscalls:sys_enter_fdatasync -p "$5" \
        -o "$dir/$1.perf" -- sleep "$4" >/dev/null 2>&1 &
    local ppid=$!
    wrk -t2 -c"$CONNS" -d"$4"s --latency -s bench/post.lua "http://127.0.0.1:$2" -- "$3" \
        >"$dir/$1.out" 2>&1
    wait $ppid || true
    t1=$(ticks "$5") w1=$(wbytes "$5")
    awk -F, '/raw_syscalls/ {print "SYSCALLS", $1} /fdatasync/ {print "FDATASYNC", $1}' \
        "$dir/$1.perf" 2>/dev/null >>"$dir/$1.out"
    awk -v t=$((t1 - t0)) -v w=$((w1 - w0)) -v s="$4" -v hz="$(getconf CLK_TCK)" \
        '/^RPS/{r=$2} /^P50/{p=$2} /^P99/{q=$2} /^CREATED/{c=$2} /^ERRORS/{e=$2} /^REQUESTS/{n=$2}
         /^SYSCALLS/{sc=$2} /^FDATASYNC/{fs=$2}
         END {printf "%s %s %s %s %s %.1f %.1f %.0f %.0f\n", r, p, q, c, e,
              n ? t * 1e6 / hz / n : 0, n ? sc / n : 0, fs / s, n ? w / n : 0}' "$dir/$1.out"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1048576)}' /proc/meminfo) GiB; $(date -u +%F)"
echo "wrk -t2 -c$CONNS -d${SECS}s, JSON leads shaped like real traffic (bench/post.lua: random"
echo "emails, names, companies, budgets, UTM on half, ~3% repeated addresses); $ROUNDS rounds"
created=0
read -r _ _ _ c _ _ _ _ _ < <(run warm-ceiling $CPORT w0 3 $CPID)
read -r _ _ _ c _ _ _ _ _ < <(run warm-leadd $LPORT w1 3 $LPID)
created=$((created + c))
declare -a CR LR CC LC
# cpu_us: the server's own CPU time (user + system, every thread) per request
# answered: what bounds the ratio when the machine's cores are all busy.
# syscalls: the server's system calls per request; fdatasync/s: its
# fdatasyncs a second; wbytes: bytes it passed to write/pwrite per request
# (WAL frames, checkpoints and its log line); batches/s: the writer's commits.
row() { printf '%-6s %-8s %9s %7s %7s %7s %6s %7s %9s %12s %7s %10s\n' "$@"; }
row round target req/s p50_ms p99_ms rss_MB errors cpu_us syscalls fdatasync/s wbytes batches/s
declare -a LS LF LW LB
for r in $(seq "$ROUNDS"); do
    read -r rps p50 p99 c e cpu sc fs wb < <(run "c$r" $CPORT "c$r" "$SECS" $CPID)
    row "$r" ceiling "$rps" "$p50" "$p99" "$(peak $CPID)" "$e" "$cpu" "$sc" "$fs" "$wb" -
    CR+=("$rps") CC+=("$cpu")
    b0=$(batches)
    read -r rps p50 p99 c e cpu sc fs wb < <(run "l$r" $LPORT "l$r" "$SECS" $LPID)
    bps=$(awk -v a="$b0" -v b="$(batches)" -v s="$SECS" 'BEGIN {printf "%.0f", (b - a) / s}')
    row "$r" leadd "$rps" "$p50" "$p99" "$(peak $LPID)" "$e" "$cpu" "$sc" "$fs" "$wb" "$bps"
    LR+=("$rps") LC+=("$cpu") LS+=("$sc") LF+=("$fs") LW+=("$wb") LB+=("$bps")
    created=$((created + c))
    echo "$p99" >>"$dir/leadd.p99"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mc=$(median "${CR[@]}") ml=$(median "${LR[@]}")
echo "median req/s: ceiling $mc, leadd $ml; ratio leadd/ceiling $(awk -v a="$ml" -v b="$mc" 'BEGIN {printf "%.2f", a/b}')"
echo "leadd p99 (ms) median $(median $(cat "$dir/leadd.p99")); leadd peak RSS $(peak $LPID) MB"
echo "server CPU per request (us) median: ceiling $(median "${CC[@]}"), leadd $(median "${LC[@]}")"
echo "leadd per lead, medians: $(median "${LS[@]}") syscalls, $(median "${LW[@]}") bytes written;" \
    "$(median "${LF[@]}") fdatasyncs/s, $(median "${LB[@]}") commits/s"
# wrk stops with requests in flight: their 201s are sent but never read by wrk,
# so the server's own count of 201s is the number of acknowledgements.
sent=$(curl -s -H 'Authorization: Bearer bench-key-0123456789abcdef' \
    http://127.0.0.1:$LPORT/metrics | awk '/^leadd_leads_accepted_total/ {print $2}')
kill -TERM "$LPID"; wait "$LPID" || true
stored=$(sqlite3 "$dir/bench.db" 'SELECT count(*) FROM leads')
echo "201 answers: read by wrk $created, sent by leadd $sent; leads in the database: $stored"
# Every acknowledged lead is stored: read <= sent <= stored. A lead can be
# stored without a 201 only when its client left first (wrk stopping with
# requests in flight): at most CONNS per wrk run.
runs=$((ROUNDS + 1))
[ "$created" -le "$sent" ] && [ "$sent" -le "$stored" ] &&
    [ "$stored" -le $((sent + CONNS * runs)) ] ||
    { echo "MISMATCH: acknowledged leads are not all stored" >&2; exit 1; }
echo "check passed: every acknowledged lead is stored ($((stored - sent)) stored for clients that left mid-request)"

# ---- a large database: queries and export ----
LARGE=${LARGE:-1000000}
[ "$LARGE" -gt 0 ] || exit 0 # LARGE=0: the capture scenario only
echo
echo "large database: $LARGE leads made by 'leadd seed' (the writer's batch path)"
$BIN seed -c bench/bench.ini --set storage.path="$dir/large.db" --count "$LARGE" 2>/dev/null
$BIN serve -c bench/bench.ini --set storage.path="$dir/large.db" \
    --set server.listen=127.0.0.1:$LPORT 2>"$dir/large.log" &
LPID=$!
for i in $(seq 100); do
    curl -sf -o /dev/null http://127.0.0.1:$LPORT/healthz && break
    sleep 0.1
done
wrk -t1 -c4 -d"$SECS"s --latency -s bench/pages.lua "http://127.0.0.1:$LPORT" >"$dir/pages.out" 2>&1
awk '/^RPS/{r=$2} /^P50/{p=$2} /^P99/{q=$2} /^ERRORS/{e=$2}
     END {printf "GET /v1/leads?utm_source=linkedin&limit=50, 5 pages deep: %s req/s, p50 %s ms, p99 %s ms, errors %s\n", r, p, q, e}' \
    "$dir/pages.out"
before=$(peak $LPID)
t0=$(date +%s.%N)
rows=$(curl -s -H 'Authorization: Bearer bench-key-0123456789abcdef' \
    "http://127.0.0.1:$LPORT/v1/leads/export?format=csv&form=contact" | wc -l)
t1=$(date +%s.%N)
echo "CSV export: $((rows - 1)) rows in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b-a}') s" \
     "= $(awk -v a="$t0" -v b="$t1" -v n="$rows" 'BEGIN {printf "%.0f", (n-1)/(b-a)}') rows/s;" \
     "leadd peak RSS $before MB before, $(peak $LPID) MB after"
