#!/usr/bin/env bash
# same-answers.sh OLD_BIN NEW_BIN: for refactors that must not change
# behaviour. OLD_BIN captures a varied set of leads (JSON and form posts, UTM,
# spam, duplicates, a note, an erasure, failed deliveries); then each binary
# serves a copy of that database in turn and every read of the API (lists
# with filters, single leads, both exports, stats, forms, deliveries) is
# fetched from both and compared byte for byte. Exits 1 on any difference.
# BACKEND=postgres: the same on a throwaway PostgreSQL cluster
# (tests/pg-cluster.sh), each binary serving its own copy of the database
# the old one captured (CREATE DATABASE ... TEMPLATE).
set -euo pipefail
if [ "${BACKEND:-sqlite}" = postgres ] && [ -z "${LEADD_SAME_IN_PG:-}" ]; then
    export LEADD_SAME_IN_PG=1
    exec "$(dirname "$0")/../tests/pg-cluster.sh" "$0" "$@"
fi
old=$(realpath "$1") new=$(realpath "$2")
dir=$(mktemp -d) port=18931
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
key=same-answers-key-0123456789
pg=${LEADD_SAME_IN_PG:+1}
# the database a phase serves: SQLite's file, or a PostgreSQL database
storage() {
    if [ -n "$pg" ]; then printf 'backend = postgres\nurl = dbname=%s\n' "$1"
    else printf 'path = %s/leadd.db\n' "$dir"; fi
}
if [ -n "$pg" ]; then psql -qc "CREATE DATABASE base"; fi
ini() { # the config, serving database $1
cat >"$dir/leadd.ini" <<EOF
[server]
listen = 127.0.0.1:$port
[storage]
$(storage "$1")
[auth]
api_keys = $key
[form.contact]
field.email = email required
field.name = text required max=120
field.company = text max=200
field.phone = phone
field.budget = integer min=0 max=100000000
field.consent = consent required
allowed_origins = *
honeypot = _gotcha
dedupe_window_hours = 24
score.has_company = company present => 20
score.big_budget = budget >= 10000 => 30
score.paid_search = utm_source in google bing => 10
grade.hot = 60
grade.warm = 30
qualify_at = 40
[form.newsletter]
field.email = email required
allowed_origins = *
[webhook.down]
url = http://127.0.0.1:9/hook
secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
retry_schedule = 1h
EOF
}
serve() {
    "$1" serve -c "$dir/leadd.ini" >"$dir/log" 2>&1 &
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.05; done
    echo "leadd did not start" >&2; cat "$dir/log" >&2; exit 1
}
stop() { kill "$(jobs -p)"; wait || true; }
post() { curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/v1/forms/$1/submissions" "${@:2}"; }
api() { curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$port$1"; }

ini base
serve "$old"
for i in $(seq 1 60); do
    src=(google bing newsletter "" linkedin)
    post contact -H 'Content-Type: application/json' -d "{\"email\":\"p$i@firm$((i % 7)).example\",\"name\":\"Person $i\",\"company\":\"Firm $((i % 5))\",\"budget\":$((i * 997 % 40000)),\"consent\":true,\"utm_source\":\"${src[i % 5]}\",\"utm_campaign\":\"c$((i % 3))\",\"extra_note\":\"x\\\"y,z\"}" >/dev/null
done
post contact -d 'email=form%40post.example&name=Form+Post&consent=on&utm_source=bing' >/dev/null
post contact -H 'Content-Type: application/json' -d '{"email":"p3@firm3.example","name":"Again","consent":true}' >/dev/null
post contact -H 'Content-Type: application/json' -d '{"email":"bot@spam.example","name":"Bot","consent":true,"_gotcha":"x"}' >/dev/null
post newsletter -H 'Content-Type: application/json' -d '{"email":"n@news.example"}' >/dev/null
first=$(api '/v1/leads?limit=1' | sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/;q')
curl -s -o /dev/null -X PATCH -H "Authorization: Bearer $key" -d '{"status":"contacted","note":"left a voicemail"}' "http://127.0.0.1:$port/v1/leads/$first"
curl -s -o /dev/null -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '[{"date":"2026-11-02","utm_source":"google","utm_campaign":"c1","amount":"12.50"},{"date":"2026-11-03","utm_source":"bing","amount":"3"}]' \
    "http://127.0.0.1:$port/v1/spend"
second=$(api '/v1/leads?limit=2' | grep -o '"id":"[0-9A-Z]*"' | sed -n 2p | cut -d'"' -f4)
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/leads/$second"
cursor=$(api '/v1/leads?grade=cold&limit=3' | sed -n 's/.*"next_cursor":"\([0-9A-Z]*\)".*/\1/p')
sleep 1 # first delivery attempts (to a closed port) are recorded
stop
if [ -z "$pg" ]; then cp "$dir/leadd.db" "$dir/base.db"; fi

paths=(
    "/v1/leads?limit=500" "/v1/leads?limit=7" "/v1/leads?spam=any&limit=500" "/v1/leads?grade=hot"
    "/v1/leads?qualified=true&utm_source=google" "/v1/leads?q=firm&min_score=10" "/v1/leads/$first"
    "/v1/leads?q=PERSON%201" "/v1/leads?q=Form_Post"
    "/v1/leads/export?format=ndjson&spam=any" "/v1/leads/export?format=csv&form=contact"
    "/v1/stats?group_by=utm_source" "/v1/stats?group_by=day" "/v1/stats?group_by=grade"
    "/v1/forms" "/v1/deliveries?limit=500" "/v1/deliveries?state=pending"
    "/v1/leads?grade=lukewarm" "/v1/leads/01ARYZ6S41TSV4RRFFQ69G5FAV" "/nope"
    "/v1/leads?min_score=30&limit=5" "/v1/leads?min_score=5&max_score=35" "/v1/leads?max_score=0"
    "/v1/leads?spam=true" "/v1/leads?spam=any&min_score=10" "/v1/leads?grade=cold&qualified=false&limit=3"
    "/v1/leads?grade=cold&limit=3&cursor=$cursor" "/v1/leads?min_score=10&limit=4&cursor=$cursor"
    "/v1/leads?min_score=999" "/v1/deliveries?limit=2" "/v1/deliveries?limit=1&cursor=4"
    "/v1/deliveries?lead=$first" "/v1/deliveries?state=dead&limit=1"
    "/v1/leads/$first/consents" "/v1/consents?email=p3%40firm3.example"
    "/v1/spend" "/v1/spend?from=2026-11-03" "/v1/spend?utm_source=google"
)
for who in old new; do
    if [ -n "$pg" ]; then
        PGOPTIONS="-c client_min_messages=warning" psql -qc "DROP DATABASE IF EXISTS run" \
            -c "CREATE DATABASE run TEMPLATE base"
    else
        cp "$dir/base.db" "$dir/leadd.db"
        rm -f "$dir/leadd.db-wal" "$dir/leadd.db-shm"
    fi
    ini run
    bin=$old; [ $who = new ] && bin=$new
    serve "$bin"
    : >"$dir/$who.out"
    for p in "${paths[@]}"; do
        { echo "== $p"; curl -s -D - -H "Authorization: Bearer $key" "http://127.0.0.1:$port$p" |
            grep -v -i -e '^date:' -e '^x-request-id:'; echo; } >>"$dir/$who.out"
    done
    stop
done
if cmp -s "$dir/old.out" "$dir/new.out"; then
    echo "same answers (${BACKEND:-sqlite}): ${#paths[@]} reads, $(wc -c <"$dir/new.out") bytes identical"
else
    diff "$dir/old.out" "$dir/new.out" | head -40
    exit 1
fi
