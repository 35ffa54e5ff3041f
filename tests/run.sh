#!/usr/bin/env bash
# tests/run.sh [-j N] JOB...: runs test jobs side by side, keeps each job's log,
# prints a line as each ends and every failing log together at the end, and
# closes with one summary line ("tests: N passed, M failed").
#
# A JOB is [MODE:]PATH[%I/N][:FILTER]:
#   PATH    a cmocka test binary or a script printing cmocka-style lines
#   MODE    pg   the integration suite on PostgreSQL, one node
#           pg2  the same with two nodes on each test's database
#           last run once every other job has ended (the spec check reads
#                what the others recorded)
#   I/N     the suite's I-th shard of N: every N-th test from the I-th
#           (LEADD_TEST_SHARD), so a slow suite runs as N jobs
#   FILTER  a cmocka test-name pattern (LEADD_TEST_FILTER: * and ? match)
# PostgreSQL jobs share one throwaway cluster (tests/pg-cluster.sh, started here
# when a job needs it; each leadd has a database of its own). Jobs start
# longest first, by the durations the last run recorded in $LOGDIR/times
# (or, on a fresh clone, those of a full run kept in tests/durations).
# Exit status: non-zero if any job failed (an assertion, a sanitizer finding,
# a leak, or a timeout).
set -u
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:halt_on_error=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
JOBS_MAX=${TEST_JOBS:-$(($(nproc) * 2))}
if [ "${1:-}" = -j ]; then JOBS_MAX=$2; shift 2; fi
LOGDIR=${LOGDIR:-build/asan/test-logs}
JOB_TIMEOUT=${JOB_TIMEOUT:-600}

# PostgreSQL jobs need a cluster: start one for the whole run, and run this
# script again inside it.
if [ -z "${LEADD_RUN_IN_PG:-}" ]; then
    for j in "$@"; do
        case "$j" in pg:* | pg2:*)
            export LEADD_RUN_IN_PG=1
            exec "$(dirname "$0")/pg-cluster.sh" "$0" -j "$JOBS_MAX" "$@" ;;
        esac
    done
fi

# The suites' directories (each test's SQLite file, config and logs) and the
# browser's profile go to a tmpfs where there is one with room: SQLite's
# commits then cost no journal writes to a disk (the SQLite suites took
# 10-15% less CPU). PostgreSQL's cluster stays in /tmp (tests/pg-cluster.sh):
# it grows to gigabytes over a run, and made no difference there.
if [ -z "${TMPDIR:-}" ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ] &&
    [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -ge 2097152 ]; then
    export TMPDIR=/dev/shm
fi
mkdir -p "$LOGDIR"
[ -f "$LOGDIR/times" ] || cp "$(dirname "$0")/durations" "$LOGDIR/times"
start=$(date +%s)

parse() { # job -> MODE, TPATH, SHARD, FILTER
    local j=$1
    MODE="" FILTER="" SHARD=""
    case "$j" in pg:* | pg2:* | last:*) MODE=${j%%:*}; j=${j#*:} ;; esac
    TPATH=${j%%:*}
    [ "$TPATH" != "$j" ] && FILTER=${j#*:}
    case "$TPATH" in *%*) SHARD=${TPATH#*%}; TPATH=${TPATH%%%*} ;; esac
    return 0
}

name_of() { # job -> a file name for its log
    parse "$1"
    printf '%s%s%s%s' "$(basename "$TPATH")" "${SHARD:+.${SHARD/\//of}}" "${MODE:+@$MODE}" \
        "${FILTER:+:${FILTER//[^A-Za-z0-9_]/_}}"
}

run_job() { # job log: runs one job, its output into log; prints "rc seconds cpu-seconds"
    local log=$2 t0 rc cpu TIMEFORMAT=%U+%S
    parse "$1"
    t0=$(date +%s.%N)
    { time { (
        [ -n "$FILTER" ] && export LEADD_TEST_FILTER=$FILTER
        [ -n "$SHARD" ] && export LEADD_TEST_SHARD=$SHARD
        case "$MODE" in
        pg) export LEADD_TEST_BACKEND=postgres ;;
        pg2) export LEADD_TEST_BACKEND=postgres LEADD_TEST_NODES=2 ;;
        esac
        # each job records its own exchanges for the spec check
        [ -n "${LEADD_SPEC_DIR:-}" ] && export LEADD_SPEC_LOG="$LEADD_SPEC_DIR/$(basename "$log" .log).jsonl"
        exec timeout "$JOB_TIMEOUT" "$TPATH"
    ) >"$log" 2>&1; }; } 2>"$log.cpu"
    rc=$?
    # time's line is the last; anything before it (a shell's word on a
    # crash) belongs to the log
    head -n -1 "$log.cpu" >>"$log"
    cpu=$(tail -n 1 "$log.cpu" | bc)
    rm -f "$log.cpu"
    echo "$rc $(echo "$(date +%s.%N) - $t0" | bc) $cpu"
}

count() { # log pattern: the last count of a cmocka summary line
    sed -n "s/^\[  $2  \] \([0-9]*\) test.*/\1/p" "$1" | tail -1
}

# Longest first, by the last run's durations; unknown ones first of all.
order() {
    for j in "$@"; do
        n=$(name_of "$j")
        s=$(awk -v n="$n" '$1 == n { s = $2 } END { print s == "" ? 99999 : s }' "$LOGDIR/times")
        printf '%s %s\n' "$s" "$j"
    done | sort -rn -k1,1 | cut -d' ' -f2-
}

passed=0 failed=0 bad=() times=() cpu_total=0
finish() { # job rc secs cpu-secs
    local n log p f
    n=$(name_of "$1"); log="$LOGDIR/$n.log"
    p=$(count "$log" PASSED); f=$(count "$log" FAILED)
    passed=$((passed + ${p:-0}))
    times+=("$n $3")
    # a filter that matches no test is a mistake, not a pass
    parse "$1"
    if [ -n "$FILTER" ] && [ "${p:-0}" = 0 ] && [ "$2" = 0 ]; then
        echo "no test matches '$FILTER'" >>"$log"
        set -- "$1" 1 "$3" "$4"
    fi
    if [ "$2" -ne 0 ]; then
        failed=$((failed + ${f:-1}))
        bad+=("$n")
        printf 'FAIL %-36s %4s passed %6.1f s %6.1f s cpu  (exit %s)\n' "$n" "${p:-0}" "$3" "$4" "$2"
    else
        printf 'ok   %-36s %4s passed %6.1f s %6.1f s cpu\n' "$n" "${p:-0}" "$3" "$4"
    fi
    cpu_total=$(echo "$cpu_total + $4" | bc)
}

normal=() lasts=()
for j in "$@"; do
    case "$j" in last:*) lasts+=("$j") ;; *) normal+=("$j") ;; esac
done

declare -A running=() # pid -> job
resdir=$(mktemp -d)
trap 'rm -rf "$resdir"' EXIT
launch() {
    local j=$1 n
    n=$(name_of "$j")
    run_job "$j" "$LOGDIR/$n.log" >"$resdir/$n" &
    running[$!]=$j
}
reap() { # waits for one job to end
    local pid n
    wait -n -p pid "${!running[@]}"
    n=$(name_of "${running[$pid]}")
    # shellcheck disable=SC2046
    finish "${running[$pid]}" $(cat "$resdir/$n")
    unset "running[$pid]"
}

mapfile -t queue < <(order "${normal[@]}")
for j in "${queue[@]}"; do
    [ -z "$j" ] && continue
    while [ "${#running[@]}" -ge "$JOBS_MAX" ]; do reap; done
    launch "$j"
done
while [ "${#running[@]}" -gt 0 ]; do reap; done
for j in "${lasts[@]}"; do
    launch "$j"
    reap
done

# Keep the durations for the next run's order (a job not run keeps its own).
{
    printf '%s\n' "${times[@]}"
    cat "$LOGDIR/times"
} | awk '!seen[$1]++' >"$LOGDIR/times.new" && mv "$LOGDIR/times.new" "$LOGDIR/times"

for n in "${bad[@]}"; do
    printf '\n======== %s (log: %s/%s.log)\n' "$n" "$LOGDIR" "$n"
    cat "$LOGDIR/$n.log"
done
[ ${#bad[@]} -gt 0 ] && echo "failing: ${bad[*]}"
echo "wall: $(($(date +%s) - start)) s, cpu: $cpu_total s"
echo "tests: $passed passed, $failed failed"
[ ${#bad[@]} -eq 0 ]
