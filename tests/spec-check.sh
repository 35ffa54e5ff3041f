#!/bin/sh
# Run by tests/run.sh after the suite: openapi.yaml linted, and every answer
# the suite recorded (LEADD_SPEC_LOG) validated against it.
exec node "$(dirname "$0")/node/spec-check.mjs" openapi.yaml "${LEADD_SPEC_LOG:?set by make check}"
