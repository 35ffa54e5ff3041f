#!/bin/sh
# Run by tests/run.sh: `make install DESTDIR=...` lays out the binary, leadd(8),
# the example config, the systemd units and /etc/leadd/leadd.ini (never
# overwriting an operator's config; 0640 in a 0750 directory); the units verify
# with systemd-analyze and the service's exposure is at most 2.0 (where
# systemd-analyze exists); the man page renders without a warning; and, as
# root, the installed tree runs as the unit runs it (service): a user of its
# own that can read the config and nothing else can, its UMask and working
# directory, a lead taken, a user added and a key rotated by editing a secret
# file and reloading, a backup from an empty environment (0600), a restore.
# Prints cmocka-style lines.
dest=$(mktemp -d /tmp/leadd-install-XXXXXX)
bin=${O:-build/asan}/leadd
trap 'rm -rf "$dest"' EXIT
passed=0 failed=0
check() { # name command...
    name=$1; shift
    echo "[ RUN      ] $name"
    if out=$("$@" 2>&1); then
        echo "[       OK ] $name"; passed=$((passed + 1))
    else
        printf '%s\n' "$out" | sed 's/^/  /'; echo "[  FAILED  ] $name"; failed=$((failed + 1))
    fi
}
layout() {
    # The binary the other suites are running is installed as it is: never
    # built again here (-o), which, with a source edited during a run,
    # relinked it under them and failed this test. make's words are kept
    # for a failure.
    made=$(make --no-print-directory -o "$bin" install DESTDIR="$dest" \
        SANITIZE="${SANITIZE:-1}" 2>&1) || { echo "$made"; return 1; }
    for f in usr/local/bin/leadd usr/local/share/man/man8/leadd.8 \
             usr/local/share/doc/leadd/config.example.ini \
             usr/local/lib/systemd/system/leadd.service \
             usr/local/lib/systemd/system/leadd-backup.service \
             usr/local/lib/systemd/system/leadd-backup.timer etc/leadd/leadd.ini; do
        [ -f "$dest/$f" ] || { printf 'missing: %s\n%s\n' "$f" "$made"; ls -lR "$dest"; return 1; }
    done
    [ -x "$dest/usr/local/bin/leadd" ] || { echo "not executable"; return 1; }
    [ "$(stat -c %a "$dest/etc/leadd/leadd.ini")" = 640 ] || { echo "config mode"; return 1; }
    [ "$(stat -c %a "$dest/etc/leadd")" = 750 ] || { echo "config dir mode"; return 1; }
    [ -d "$dest/etc/leadd/secrets" ] || { echo "no secrets dir"; return 1; }
    grep -q '^ExecStart=/usr/local/bin/leadd serve -c /etc/leadd/leadd.ini' \
        "$dest/usr/local/lib/systemd/system/leadd.service" || { echo "ExecStart"; return 1; }
    # An operator's config survives a second install.
    echo '; mine' >> "$dest/etc/leadd/leadd.ini"
    make --no-print-directory -s -o "$bin" install DESTDIR="$dest" SANITIZE="${SANITIZE:-1}" \
        >/dev/null
    tail -1 "$dest/etc/leadd/leadd.ini" | grep -qx '; mine' || { echo "config overwritten"; return 1; }
}
unit() {
    command -v systemd-analyze >/dev/null || { echo "(no systemd-analyze here: skipped)"; return 0; }
    u="$dest/leadd.service"
    sed "s|^ExecStart=/usr/local/bin/leadd|ExecStart=$dest/usr/local/bin/leadd|" \
        "$dest/usr/local/lib/systemd/system/leadd.service" > "$u"
    out=$(systemd-analyze verify --man=no "$u" 2>&1) || { echo "$out"; return 1; }
    [ -z "$out" ] || { echo "$out"; return 1; }
    b="$dest/leadd-backup.service"
    sed "s|/usr/local/bin/leadd|$dest/usr/local/bin/leadd|" \
        "$dest/usr/local/lib/systemd/system/leadd-backup.service" > "$b"
    cp "$dest/usr/local/lib/systemd/system/leadd-backup.timer" "$dest/"
    out=$(systemd-analyze verify --man=no "$b" "$dest/leadd-backup.timer" 2>&1) ||
        { echo "$out"; return 1; }
    [ -z "$out" ] || { echo "$out"; return 1; }
    score=$(systemd-analyze security --offline=true "$u" 2>/dev/null |
            sed -n 's/.*Overall exposure level for leadd.service: \([0-9.]*\).*/\1/p')
    echo "exposure $score"
    [ -n "$score" ] && [ "$(echo "$score <= 2.0" | bc)" = 1 ]
}
manpage() {
    out=$(groff -man -ww -z "$dest/usr/local/share/man/man8/leadd.8" 2>&1) || return 1
    [ -z "$out" ] || { echo "$out"; return 1; }
}
# The installed tree as the unit runs it: a user of its own (a uid with no
# name, as nothing else on this machine owns), UMask=0077, / as its working
# directory, no environment.
svc_uid=64123
# (in a subshell of the caller's: it execs all the way down, so a background
# one's $! is the command itself, for the signals)
as_service() { cd / && umask 077 && exec env -i PATH=/usr/bin:/bin \
    setpriv --reuid=$svc_uid --regid=$svc_uid --clear-groups --no-new-privs "$@"; }
serve_start() {
    : >"$dest/serve.log"
    (as_service "$bin" serve -c "$etc/leadd.ini") >>"$dest/serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$dest/serve.log")
        [ -n "$port" ] && return 0
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    cat "$dest/serve.log"; return 1
}
serve_stop() { kill -TERM $pid; wait $pid; }
get() { # key path -> status
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "http://127.0.0.1:$port$2"
}
reloaded() { # n: waits for the n-th reload to be done (wrong keys meanwhile would count)
    for _ in $(seq 100); do
        [ "$(grep -c 'config reloaded' "$dest/serve.log")" -ge "$1" ] && return 0
        sleep 0.1
    done
    cat "$dest/serve.log"; return 1
}
service() {
    [ "$(id -u)" = 0 ] || { echo "(not root: skipped)"; return 0; }
    command -v setpriv >/dev/null && command -v curl >/dev/null ||
        { echo "(no setpriv or curl: skipped)"; return 0; }
    bin="$dest/usr/local/bin/leadd" etc="$dest/etc/leadd" state="$dest/var/lib/leadd"
    key=install-check-key-0123456789
    chmod 755 "$dest" # as / is: the tree's own modes are what is tested
    printf '%s\n' '[server]' 'listen = 127.0.0.1:0' '[storage]' "path = $state/leadd.db" \
        '[form.contact]' 'field.email = email required' 'allowed_origins = *' \
        '[auth]' "api_keys = file:$etc/secrets/api_keys" >"$etc/leadd.ini"
    echo "$key" >"$etc/secrets/api_keys"
    # the modes make install and the unit give
    chgrp -R $svc_uid "$etc" && chmod 750 "$etc" "$etc/secrets" &&
        chmod 640 "$etc/leadd.ini" "$etc/secrets/api_keys" || return 1
    install -d -m700 -o $svc_uid -g $svc_uid "$state" || return 1
    # nobody else reads the config
    if setpriv --reuid=64124 --regid=64124 --clear-groups cat "$etc/leadd.ini" >/dev/null 2>&1; then
        echo "another user reads the config"; return 1
    fi
    serve_start || return 1
    id=$(curl -s -H 'Content-Type: application/json' -d '{"email":"op@example.com"}' \
        "http://127.0.0.1:$port/v1/forms/contact/submissions" | sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p')
    [ -n "$id" ] || { echo "no lead taken"; return 1; }
    [ "$(get $key /v1/leads)" = 200 ] || { echo "the key from its file"; return 1; }
    # a sales rep added: a line and a secret file, then a reload
    echo "user.nina = sales file:$etc/secrets/nina" >>"$etc/leadd.ini"
    (umask 027 && echo nina-secret-0123456789 >"$etc/secrets/nina") &&
        chgrp $svc_uid "$etc/secrets/nina" || return 1
    [ "$(get nina-secret-0123456789 /v1/leads)" = 401 ] || { echo "nina before"; return 1; }
    kill -HUP $pid
    reloaded 1 || return 1
    [ "$(get nina-secret-0123456789 /v1/leads)" = 200 ] || { echo "nina added"; return 1; }
    # her key rotated: the file edited, a reload
    echo nina-rotated-0123456789 >"$etc/secrets/nina"
    kill -HUP $pid
    reloaded 2 || return 1
    [ "$(get nina-secret-0123456789 /v1/leads)" = 401 ] || { echo "nina's old key"; return 1; }
    [ "$(get nina-rotated-0123456789 /v1/leads)" = 200 ] || { echo "nina rotated"; return 1; }
    # the database is the service's alone
    [ "$(stat -c '%a %u' "$state/leadd.db")" = "600 $svc_uid" ] ||
        { echo "db: $(stat -c '%a %u' "$state/leadd.db")"; return 1; }
    # a backup as leadd-backup.service makes it: the service's user, no
    # environment; 0600
    install -d -m700 -o $svc_uid -g $svc_uid "$dest/backups" || return 1
    (as_service "$bin" backup -c "$etc/leadd.ini" "$dest/backups/b.db") >/dev/null || return 1
    [ "$(stat -c %a "$dest/backups/b.db")" = 600 ] || { echo "backup mode"; return 1; }
    serve_stop || return 1
    # the backup comes back, as the service's user
    (as_service "$bin" restore -c "$etc/leadd.ini" "$dest/backups/b.db") || return 1
    serve_start || return 1
    [ "$(get $key "/v1/leads/$id")" = 200 ] || { echo "restored lead"; return 1; }
    serve_stop || return 1
}

check install_layout layout
check unit_verifies unit
check service_runs_as_installed service
check man_page_renders manpage
echo "[==========] $((passed + failed)) test(s) run."
echo "[  PASSED  ] $passed test(s)."
[ "$failed" -eq 0 ] || { echo "[  FAILED  ] $failed test(s)."; exit 1; }
