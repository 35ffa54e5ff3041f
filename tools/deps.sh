#!/bin/sh
# Installs the Debian packages leadd needs when they are missing.
# Usage: tools/deps.sh PACKAGE... ; as root it runs apt-get, otherwise it prints
# the one command to run and fails. A package counts as there when it is
# installed or an installed package provides it (a Node.js from elsewhere
# that brings its own npm, say: asking apt for Debian's would conflict).
installed=$(dpkg-query -W -f='${Status}\t${Package}, ${Provides}\n' 2>/dev/null |
            sed -n 's/^install ok installed\t//p' | tr ',' '\n' | sed 's/ *(.*//; s/^ *//; s/:.*//')
missing=""
for p in "$@"; do
    printf '%s\n' "$installed" | grep -qxF "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "leadd needs:$missing" >&2
    echo "run: sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "installing:$missing" >&2
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
