#!/bin/sh
# Run by tests/run.sh: the inbox app end to end in Debian's chromium-headless-shell, driven
# by puppeteer-core (tests/node/inbox.mjs), against LEADD_BIN. Screenshots
# (the 390 px views, and any failing step's page) land in build/asan/.
exec node "$(dirname "$0")/node/inbox.mjs" build/asan
