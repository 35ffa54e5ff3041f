# leadd: one Makefile. `make run` and `make test` install what they need.
#   make            build build/leadd
#   make run        serve config.example.ini on http://127.0.0.1:8080
#   make test       every test, under AddressSanitizer + UBSan (leaks fail), the
#                   suites side by side (tests/run.sh; logs in build/asan/test-logs)
#   make quick      the edit-test loop: unit tests and the SQLite suites only
#   make check T=itest_api:t_assignment   named tests alone (T: space-separated
#                   SUITE or SUITE:PATTERN, * and ? match); BACKEND=postgres runs
#                   them on PostgreSQL, NODES=2 with two nodes
#   make bench      throughput against the bare-server ceiling, forwarding at load, and
#                   the stats report and filtered lists at 10M leads
#   make fuzz       libFuzzer targets, 60 s each
#   make lint       clang-format check and cppcheck
#   make install    PREFIX=/usr/local, DESTDIR honoured: binary, leadd(8), the
#                   example config, leadd.service
#   make format     clang-format in place
#   SANITIZE=1      build under build/asan with the sanitizers

# sqlite3 and curl are not needed to build: README's examples use them.
PKGS := gcc make pkg-config libmicrohttpd-dev libsqlite3-dev libjansson-dev \
        libcurl4-openssl-dev libinih-dev libcmocka-dev libssl-dev sqlite3 curl \
        tzdata libjs-chart.js libpq-dev
LIBS := libmicrohttpd sqlite3 jansson libcurl inih libcrypto libpq

CC ?= cc
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
                 -Wformat=2 -Wmissing-prototypes -Iinclude -g -pthread
# Each object's header dependencies, written beside it as it compiles.
DEPFLAGS = -MMD -MP
ifeq ($(SANITIZE),1)
O := build/asan
CFLAGS_MODE := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
O := build
CFLAGS_MODE := -O2
endif
PC_CFLAGS = $(shell pkg-config --cflags $(LIBS) 2>/dev/null)
PC_LIBS = $(shell pkg-config --libs $(LIBS) 2>/dev/null)
CFLAGS ?=
LDFLAGS ?=
ALL_CFLAGS = $(CFLAGS_COMMON) $(CFLAGS_MODE) $(PC_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(CFLAGS_MODE) -pthread $(LDFLAGS)

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o) $(O)/gen/migrations.o $(O)/gen/pg_migrations.o \
           $(O)/gen/config_files.o \
           $(O)/gen/presets.o $(O)/gen/app.o
UNIT := $(patsubst tests/unit/%.c,$(O)/tests/%,$(wildcard tests/unit/test_*.c))
INTEG := $(patsubst tests/integration/%.c,$(O)/tests/%,$(filter-out %/itest_pg.c,\
           $(wildcard tests/integration/itest_*.c)))
HARNESS := $(O)/tests/harness.o $(O)/tests/receiver.o $(O)/tests/smtp.o
TEST_FILTER := $(O)/tests/filter.o

.PHONY: install all deps run test quick check suite bench fuzz lint format clean
.SECONDARY:
all: $(O)/leadd

deps:
	@tools/deps.sh $(PKGS)

PREFIX ?= /usr/local
install: all
	install -Dm755 $(O)/leadd $(DESTDIR)$(PREFIX)/bin/leadd
	install -Dm644 tools/dist/leadd.8 $(DESTDIR)$(PREFIX)/share/man/man8/leadd.8
	install -Dm644 config.example.ini $(DESTDIR)$(PREFIX)/share/doc/leadd/config.example.ini
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@BINDIR@|$(PREFIX)/bin|' tools/dist/leadd.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/leadd.service
	sed 's|@BINDIR@|$(PREFIX)/bin|' tools/dist/leadd-backup.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/leadd-backup.service
	install -m644 tools/dist/leadd-backup.timer $(DESTDIR)$(PREFIX)/lib/systemd/system/
	@# The service runs as the system user leadd, which may read its config
	@# and secrets (root:leadd 0640 in a 0750 directory) and write nothing
	@# but /var/lib/leadd (the unit's StateDirectory). Made here when this is
	@# the machine itself (no DESTDIR) and we are root; a package makes it in
	@# its own scripts.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	    getent group leadd >/dev/null || groupadd --system leadd; \
	    getent passwd leadd >/dev/null || useradd --system --gid leadd --no-create-home \
	        --home-dir /var/lib/leadd --shell /usr/sbin/nologin leadd; \
	fi
	install -d -m750 $(DESTDIR)/etc/leadd $(DESTDIR)/etc/leadd/secrets
	@# The config is the operator's: installed once, never overwritten.
	@test -e $(DESTDIR)/etc/leadd/leadd.ini || \
	    install -m640 config.example.ini $(DESTDIR)/etc/leadd/leadd.ini
	@if getent group leadd >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    chgrp leadd $(DESTDIR)/etc/leadd $(DESTDIR)/etc/leadd/secrets $(DESTDIR)/etc/leadd/leadd.ini; \
	fi

run: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	./build/leadd serve -c config.example.ini

# npm is its own package in Debian (a Node.js from elsewhere may provide it:
# tools/deps.sh counts what an installed package provides).
TEST_PKGS := nodejs npm chromium-headless-shell groff-base bc postgresql curl
NODE_MODULES := tests/node/node_modules/.package-lock.json
# The build on every core, then the suite (which runs its jobs side by side).
NPROC := $(shell nproc)
test: deps
	@tools/deps.sh $(TEST_PKGS)
	@$(MAKE) --no-print-directory -j$(NPROC) SANITIZE=1 SUITE=all suite

quick: deps
	@$(MAKE) --no-print-directory -j$(NPROC) SANITIZE=1 SUITE=quick suite

check: deps
	@test -n "$(T)" || { echo 'usage: make check T="SUITE[:PATTERN] ..." [BACKEND=postgres [NODES=2]]'; exit 2; }
	@$(MAKE) --no-print-directory -j$(NPROC) SANITIZE=1 SUITE=check suite

# The jobs tests/run.sh runs side by side. Every integration suite runs on
# SQLite, on PostgreSQL with one node and with two (itest_backup tests
# SQLite's file itself; itest_pg has PostgreSQL's own tests, on a cluster of
# their own); every exchange recorded is checked against openapi.yaml last.
PG_SUITES := $(filter-out %/itest_backup,$(INTEG))
# The slowest run as shards side by side (tests/run.sh's PATH%I/N).
SHARDED := $(O)/tests/itest_api $(O)/tests/itest_crash
shards = $(if $(filter $2,$(SHARDED)),$(foreach i,1 2,$1$2%$i/2),$1$2)
JOBS_quick := $(UNIT) $(foreach s,$(INTEG),$(call shards,,$s))
JOBS_all := $(JOBS_quick) $(foreach s,$(PG_SUITES),$(call shards,pg:,$s) $(call shards,pg2:,$s)) \
            tests/pg.sh%1/3 tests/pg.sh%2/3 tests/pg.sh%3/3 \
            tests/browser.sh tests/install-check.sh last:tests/spec-check.sh
CHECK_MODE := $(if $(filter postgres,$(BACKEND)),$(if $(filter 2,$(NODES)),pg2:,pg:))
check_job = $(if $(filter itest_pg itest_pg:%,$1),tests/pg.sh$(patsubst itest_pg%,%,$1),\
              $(if $(filter test_%,$1),,$(CHECK_MODE))$(O)/tests/$1)
JOBS_check := $(foreach t,$(T),$(call check_job,$t))
SUITE_NEEDS_all := $(NODE_MODULES)

suite: $(O)/leadd $(UNIT) $(INTEG) $(O)/tests/itest_pg $(SUITE_NEEDS_$(SUITE))
	@rm -rf $(O)/spec && mkdir -p $(O)/spec
	@LEADD_BIN=$(O)/leadd LEADD_SPEC_DIR=$(CURDIR)/$(O)/spec O=$(O) LOGDIR=$(O)/test-logs \
	    tests/run.sh $(JOBS_$(SUITE))

# Test tools from npm, pinned by the lock file (never part of leadd itself).
$(NODE_MODULES): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --engine-strict

$(O)/leadd: $(O)/src/main.o $(O)/libleadd.a
	$(CC) -o $@ $(O)/src/main.o $(O)/libleadd.a $(ALL_LDFLAGS) $(PC_LIBS)

$(O)/libleadd.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(O)/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -o $@ $<

$(O)/gen/migrations.c: $(O)/embed $(sort $(wildcard migrations/sqlite/*.sql))
	@mkdir -p $(dir $@)
	$(O)/embed $@ migrations $(sort $(wildcard migrations/sqlite/*.sql))

$(O)/gen/pg_migrations.c: $(O)/embed $(sort $(wildcard migrations/postgres/*.sql))
	@mkdir -p $(dir $@)
	$(O)/embed $@ pg_migrations $(sort $(wildcard migrations/postgres/*.sql))

$(O)/gen/config_files.c: $(O)/embed config.example.ini
	@mkdir -p $(dir $@)
	$(O)/embed $@ config config.example.ini

$(O)/gen/presets.c: $(O)/embed $(sort $(wildcard src/template/presets/*))
	@mkdir -p $(dir $@)
	$(O)/embed $@ presets $(sort $(wildcard src/template/presets/*))

# Chart.js from Debian (libjs-chart.js), embedded beside the app's own files.
CHART_JS := /usr/share/javascript/chart.js/chart.min.js
APP_FILES := $(sort $(wildcard web/*.html web/*.css web/*.js)) $(CHART_JS)
$(O)/gen/app.c: $(O)/embed $(APP_FILES)
	@mkdir -p $(dir $@)
	$(O)/embed $@ app $(APP_FILES)

$(O)/gen/%.o: $(O)/gen/%.c
	$(CC) $(ALL_CFLAGS) -Wno-overlength-strings -c -o $@ $<

$(O)/tests/%.o: tests/integration/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -Itests/integration -c -o $@ $<

$(O)/tests/filter.o: tests/filter.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(O)/tests/test_%: tests/unit/test_%.c $(TEST_FILTER) $(O)/libleadd.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -o $@ $< $(TEST_FILTER) $(O)/libleadd.a $(ALL_LDFLAGS) $(PC_LIBS) -lcmocka

$(O)/tests/itest_%: tests/integration/itest_%.c $(HARNESS) $(TEST_FILTER) $(O)/libleadd.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -Itests/integration -o $@ $< $(HARNESS) $(TEST_FILTER) $(O)/libleadd.a \
	    $(ALL_LDFLAGS) $(PC_LIBS) -lcmocka

# make bench BACKEND=postgres: capture on SQLite and on PostgreSQL with one
# node and with two, side by side (bench/pg.sh), then the stats report and
# filtered lists on both (bench/pg-stats.sh); each on a throwaway cluster.
BENCH_PKGS := wrk sqlite3 curl bc linux-perf postgresql
bench: deps
	@tools/deps.sh $(BENCH_PKGS)
	@$(MAKE) --no-print-directory all build/bench/ceiling
ifeq ($(BACKEND),postgres)
	bench/pg.sh
	bench/pg-stats.sh
else
	bench/run.sh
	bench/forward.sh
	bench/stats.sh
endif

build/bench/ceiling: bench/ceiling.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O2 $(PC_CFLAGS) -o $@ $< $(PC_LIBS)

# libFuzzer targets, 60 s each (FUZZ_SECONDS). A crash leaves its input in
# build/fuzz/; once fixed, copy it into tests/fuzz/corpus/TARGET/ so the
# replay test in `make test` keeps it.
FUZZ_PKGS := clang libclang-rt-14-dev
FUZZ_TARGETS := body config rules jsonr template
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard src/util/*.c) $(wildcard src/lead/*.c) src/http/body.c $(wildcard src/config/*.c) \
            src/crypto/crypto.c src/template/template.c
fuzz: deps
	@tools/deps.sh $(FUZZ_PKGS)
	@$(MAKE) --no-print-directory build/gen/config_files.c build/gen/presets.c
	@mkdir -p build/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
	    clang -std=c11 -D_GNU_SOURCE -DFUZZ_LIBFUZZER -g -O1 -Iinclude $(PC_CFLAGS) \
	        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	        -o build/fuzz/fuzz_$$t tests/fuzz/fuzz_$$t.c $(FUZZ_SRC) build/gen/config_files.c build/gen/presets.c \
	        $(PC_LIBS) -pthread; \
	    rm -rf build/fuzz/corpus_$$t; cp -r tests/fuzz/corpus/$$t build/fuzz/corpus_$$t; \
	    echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	    build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -max_len=65536 -artifact_prefix=build/fuzz/$$t- -print_final_stats=1 \
	        build/fuzz/corpus_$$t 2>build/fuzz/$$t.log || { tail -40 build/fuzz/$$t.log; exit 1; }; \
	    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build/fuzz/$$t.log; \
	done

LINT_PKGS := clang-format cppcheck
lint: deps
	@tools/deps.sh $(LINT_PKGS)
	clang-format --dry-run --Werror src/*.c src/*/*.c src/*/*.h include/leadd/*.h tests/*.c tests/*/*.c tests/*/*.h bench/*.c
	cppcheck --quiet --inline-suppr --error-exitcode=1 --enable=warning,portability -Iinclude -D_GNU_SOURCE \
	    --suppress=missingIncludeSystem src
	@# STYLE.md's banned functions, anywhere in the tree's C
	@! grep -nE '\b(sprintf|strcpy|strcat|atoi|strtok|gets) *\(' src/*.c src/*/*.c src/*/*.h include/leadd/*.h \
	    tests/*/*.c tests/*/*.h bench/*.c tools/*.c || { echo "banned function (see STYLE.md)"; exit 1; }

format:
	@tools/deps.sh clang-format
	clang-format -i src/*.c src/*/*.c src/*/*.h include/leadd/*.h tests/*.c tests/*/*.c tests/*/*.h bench/*.c

clean:
	rm -rf build

-include $(wildcard $(O)/src/*.d $(O)/src/*/*.d $(O)/tests/*.d)
