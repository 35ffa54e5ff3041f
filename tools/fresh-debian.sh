#!/bin/sh
# tools/fresh-debian.sh [--keep]: README's two commands on a pristine Debian 12.
# Builds a minimal bookworm tree (debootstrap --variant=minbase, from the
# mirror apt already uses here, with only git and make added), clones this
# repository's HEAD into it, and from a clean environment:
#   1. runs `make run`, waits until it serves, sends README's JSON submission
#      (must be 201) and its plain form post (303 to /thanks), and stops it;
#   2. runs `make test` and reports its result, its summary and its wall time.
# Every mount and process it made is gone when it exits (--keep leaves the
# tree, not the mounts, for a look). Needs root, debootstrap and port 8080
# free (README's config listens there). Run it whenever an install step
# changes. Exit status: 0 only if both commands passed.
set -eu
[ "$(id -u)" = 0 ] || { echo "fresh-debian: run as root" >&2; exit 2; }
keep=${1:-}
top=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
command -v debootstrap >/dev/null || "$top/tools/deps.sh" debootstrap
command -v curl >/dev/null || "$top/tools/deps.sh" curl
if curl -s -o /dev/null --max-time 2 http://127.0.0.1:8080/; then
    echo "fresh-debian: something already listens on 127.0.0.1:8080" >&2
    exit 2
fi
# The first Debian mirror apt uses here (deb822 or one-line sources).
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
         sed -n 's/^URIs: *\([^ ]*\/debian\)\/\{0,1\}$/\1/p' | head -1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\/debian\)\/\{0,1\} .*/\2/p' \
                             /etc/apt/sources.list 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}

root=$(mktemp -d /var/tmp/leadd-fresh-XXXXXX)
chmod 755 "$root" # the tree's /: mktemp makes it root's alone, and services run as others
log=$root.log
mounted=""
# signal_tree SIG: every process whose root is the tree
signal_tree() {
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill "-$1" "${p#/proc/}" 2>/dev/null
    done
    return 0 # (the loop's last test failing is no failure: set -e would stop here)
}
cleanup() {
    # the processes, then the mounts, then the tree
    signal_tree KILL
    sleep 1
    for m in $mounted; do umount -l "$root$m" 2>/dev/null || true; done
    if [ "$keep" = --keep ]; then echo "tree kept: $root"; else rm -rf "$root"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '%s fresh-debian: %s\n' "$(date +%T)" "$*"; }

say "debootstrap bookworm (minbase, +git +make) from $mirror into $root"
t0=$(date +%s)
debootstrap --variant=minbase --include=git,make bookworm "$root" "$mirror" >"$log" 2>&1 ||
    { tail -20 "$log"; exit 1; }
say "tree ready in $(($(date +%s) - t0)) s"
for m in /proc /sys /dev /dev/pts /dev/shm; do
    mkdir -p "$root$m"
    case $m in
    /proc) mount -t proc proc "$root$m" ;;
    /sys) mount -t sysfs sys "$root$m" ;;
    /dev/shm) mount -t tmpfs -o mode=1777 shm "$root$m" ;;
    *) mount --bind "$m" "$root$m" ;;
    esac
    mounted="$m $mounted"
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This network's own trust anchors (an egress proxy's CA), as any machine on
# it has them: ca-certificates, once make installs it, takes them in.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
git clone -q "$top" "$root/root/leadd"

# A clean environment, as a new root login has it.
inside() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb /bin/sh -c "cd /root/leadd && $1"; }

say "make run"
t0=$(date +%s)
inside 'exec make run' >"$root.run.log" 2>&1 &
runpid=$!
served=""
for _ in $(seq 1 1200); do
    if curl -fsS -o /dev/null http://127.0.0.1:8080/healthz 2>/dev/null; then served=1; break; fi
    kill -0 "$runpid" 2>/dev/null || break
    sleep 0.5
done
[ -n "$served" ] || { tail -30 "$root.run.log"; say "make run did not serve"; exit 1; }
say "make run serves after $(($(date +%s) - t0)) s"
json=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/v1/forms/contact/submissions \
    -H 'Content-Type: application/json' \
    -d '{"email":"ann@example.com","name":"Ann Lee","company":"Acme","budget":25000,
         "consent":true,"utm_source":"google","_elapsed_ms":4000}')
form=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1:8080/v1/forms/contact/submissions \
    -H 'Accept: text/html' \
    --data-urlencode email=bo@example.com --data-urlencode 'name=Bo Ek' -d consent=on)
say "README's JSON submission: $json; its form post: $form"
kill -TERM "$runpid" 2>/dev/null || true
signal_tree TERM # make's leadd: a clean stop
wait "$runpid" 2>/dev/null || true
ok=1
[ "$json" = 201 ] || ok=""
case "$form" in "303 http://127.0.0.1:8080/thanks") ;; *) ok="" ;; esac

say "make test"
t0=$(date +%s)
# in the background: a signal to this script is handled at once (a shell
# waits out a foreground command before it runs its trap)
inside 'make test' >"$root.test.log" 2>&1 &
if wait $!; then test_rc=0; else test_rc=$?; fi
wall=$(($(date +%s) - t0))
grep -E '^(FAIL |failing:|tests: )' "$root.test.log" || tail -30 "$root.test.log"
say "make test exited $test_rc after $wall s (log: $root.test.log)"
[ "$test_rc" = 0 ] || ok=""
if [ -n "$ok" ]; then say "both commands pass on a pristine bookworm"; else say "FAILED"; exit 1; fi
