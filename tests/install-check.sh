#!/bin/sh
# Run by tests/run.sh: `make install DESTDIR=...` lays out the binary, leadd(8),
# the example config, the systemd unit and /etc/leadd/leadd.ini (never
# overwriting an operator's config); the unit verifies with systemd-analyze
# and its exposure is at most 2.0 (where systemd-analyze exists); the man page
# renders without a warning. Prints cmocka-style lines.
dest=$(mktemp -d /tmp/leadd-install-XXXXXX)
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
    make --no-print-directory -s install DESTDIR="$dest" SANITIZE="${SANITIZE:-1}" >/dev/null || return 1
    for f in usr/local/bin/leadd usr/local/share/man/man8/leadd.8 \
             usr/local/share/doc/leadd/config.example.ini \
             usr/local/lib/systemd/system/leadd.service etc/leadd/leadd.ini; do
        [ -f "$dest/$f" ] || { echo "missing: $f"; return 1; }
    done
    [ -x "$dest/usr/local/bin/leadd" ] || { echo "not executable"; return 1; }
    grep -q '^ExecStart=/usr/local/bin/leadd serve -c /etc/leadd/leadd.ini' \
        "$dest/usr/local/lib/systemd/system/leadd.service" || { echo "ExecStart"; return 1; }
    # An operator's config survives a second install.
    echo '; mine' >> "$dest/etc/leadd/leadd.ini"
    make --no-print-directory -s install DESTDIR="$dest" SANITIZE="${SANITIZE:-1}" >/dev/null
    tail -1 "$dest/etc/leadd/leadd.ini" | grep -qx '; mine' || { echo "config overwritten"; return 1; }
}
unit() {
    command -v systemd-analyze >/dev/null || { echo "(no systemd-analyze here: skipped)"; return 0; }
    u="$dest/leadd.service"
    sed "s|^ExecStart=/usr/local/bin/leadd|ExecStart=$dest/usr/local/bin/leadd|" \
        "$dest/usr/local/lib/systemd/system/leadd.service" > "$u"
    out=$(systemd-analyze verify --man=no "$u" 2>&1) || { echo "$out"; return 1; }
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
check install_layout layout
check unit_verifies unit
check man_page_renders manpage
echo "[==========] $((passed + failed)) test(s) run."
echo "[  PASSED  ] $passed test(s)."
[ "$failed" -eq 0 ] || { echo "[  FAILED  ] $failed test(s)."; exit 1; }
