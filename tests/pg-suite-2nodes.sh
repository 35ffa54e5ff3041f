#!/bin/sh
# Run by tests/run.sh: the integration suites on PostgreSQL again, each test
# with two nodes on its database (LEADD_TEST_NODES=2: the harness spreads
# the test's requests, streams and signals over both, as a load balancer
# would, and reads both logs; see harness.h).
LEADD_TEST_NODES=2 exec "$(dirname "$0")/pg-suite.sh"
