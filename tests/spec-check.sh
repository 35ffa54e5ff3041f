#!/bin/sh
# Run by tests/run.sh after the suites: openapi.yaml linted, and every answer
# the suites recorded (LEADD_SPEC_DIR, one file per job) validated against it.
exec node "$(dirname "$0")/node/spec-check.mjs" openapi.yaml "${LEADD_SPEC_DIR:?set by make}"
