#!/bin/sh
# tools/systemd-check.sh: README's "Operating leadd" under the real units, in
# a Debian bookworm booted by systemd-nspawn (not in `make test`: the tree
# takes minutes to make; tests/install-check.sh runs the same steps without
# systemd in every `make test`). Makes the tree (debootstrap minbase with
# systemd, curl, make, procps (the unit reloads with /bin/kill) and leadd's
# libraries), runs README's `make install` inside it on this checkout's
# release build (the user leadd, /etc/leadd's modes, the units), then boots
# it: leadd.service must start as the
# user leadd and take a lead; a sales rep added by README's lines (a key
# file, a line under [auth], systemctl reload) must sign in; the backup
# timer's service must leave a 0600 copy in /var/backups/leadd. Needs root;
# runs where the host has no systemd of its own (--register=no).
# Usage: tools/systemd-check.sh [TREE] (an existing tree is used again).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/tmp/leadd-systemd-tree}
[ "$(id -u)" = 0 ] || { echo "systemd-check: needs root" >&2; exit 2; }
"$top/tools/deps.sh" debootstrap systemd-container
if [ ! -x "$root/usr/bin/curl" ]; then
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs: *\([^ ]*\).*/\1/p' |
        head -1)
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,make,procps,libmicrohttpd12,libsqlite3-0,libjansson4,libcurl4,libinih1,libpq5,libssl3 \
        bookworm "$root" "${mirror:-http://deb.debian.org/debian}" >/dev/null
fi
make -C "$top" --no-print-directory -s -j"$(nproc)" build/leadd
# README's `sudo make install`, inside the tree, on the binary built here
# (the tree has no compiler: -o takes the build as done)
rm -rf "$root/root/leadd" "$root/etc/leadd"
mkdir -p "$root/root/leadd/build"
git -C "$top" ls-files | (cd "$top" && tar -cf - -T -) | tar -xf - -C "$root/root/leadd"
cp "$top/build/leadd" "$root/root/leadd/build/"
chroot "$root" make -C /root/leadd --no-print-directory -s -o all -o build/leadd install >/dev/null
chroot "$root" sh -e -c '
    sed -i "s|^api_keys = .*|api_keys = file:/etc/leadd/secrets/api_keys|; /^user.nina/d" \
        /etc/leadd/leadd.ini
    echo systemd-check-key-0123456789 >/etc/leadd/secrets/api_keys
    chmod 640 /etc/leadd/secrets/api_keys && chgrp leadd /etc/leadd/secrets/api_keys
    rm -rf /var/lib/leadd /var/backups/leadd /etc/leadd/secrets/nina /result'
cat >"$root/usr/local/sbin/leadd-check" <<'SCRIPT'
#!/bin/sh
# Inside the booted tree: README's steps, each result a line of /result.
exec >/result 2>&1
K='Authorization: Bearer systemd-check-key-0123456789'
u=http://127.0.0.1:8080
echo "active $(systemctl is-active leadd) as $(ps -o user= -C leadd)"
echo "lead $(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"email":"boot@example.com","name":"Boot","consent":true}' $u/v1/forms/contact/submissions)"
echo "key $(curl -s -o /dev/null -w '%{http_code}' -H "$K" $u/v1/leads)"
echo nina-systemd-secret-0123456789 | install -m640 -g leadd /dev/stdin /etc/leadd/secrets/nina
sed -i '/^\[auth\]/a user.nina = sales file:/etc/leadd/secrets/nina' /etc/leadd/leadd.ini
systemctl reload leadd
echo "nina $(curl -s -o /dev/null -w '%{http_code}' \
    -H 'Authorization: Bearer nina-systemd-secret-0123456789' $u/v1/leads)"
systemctl start leadd-backup.service
echo "backup $(stat -c '%a %U' /var/backups/leadd/leadd-*.db)"
echo "state $(stat -c '%a %U' /var/lib/leadd /var/lib/leadd/leadd.db | tr '\n' ' ')"
echo "timer $(systemctl is-enabled leadd-backup.timer)"
systemctl poweroff
SCRIPT
chmod 755 "$root/usr/local/sbin/leadd-check"
printf '%s\n' '[Unit]' 'After=leadd.service' 'Wants=leadd.service' '[Service]' 'Type=oneshot' \
    'ExecStart=/usr/local/sbin/leadd-check' '[Install]' 'WantedBy=multi-user.target' \
    >"$root/etc/systemd/system/leadd-check.service"
chroot "$root" systemctl enable -q leadd.service leadd-backup.timer leadd-check.service
timeout 180 systemd-nspawn -q --register=no --keep-unit -D "$root" --boot --console=pipe \
    >/dev/null 2>&1 || true
cat "$root/result"
want="active active as leadd
lead 201
key 200
nina 200
backup 600 leadd
state 700 leadd 600 leadd 
timer enabled"
[ "$(cat "$root/result")" = "$want" ] && echo "systemd-check: ok" || { echo "systemd-check: FAILED"; exit 1; }
