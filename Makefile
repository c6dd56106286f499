# The front door: `make run` and `make test` (README). Everything else is a helper of those two.
BUILD       ?= build
BUILD_TYPE  ?= RelWithDebInfo
JOBS        ?= $(shell nproc)
# Integration binaries run this many at a time. Each has its own topology on its own ports and spends most of
# its time waiting (replication, probes, restarts): 2 at a time on 2 cores took 449 s instead of 717 s, with
# about a third of the CPU still idle. TEST_JOBS=1 runs them one by one. Under the sanitizers (2–3× the CPU)
# two at a time starved a starting ywmsgd's topology probes (its writes answered 503 for a second, api_test),
# so `make sanitize` runs them one by one unless SANITIZE_TEST_JOBS says otherwise.
TEST_JOBS          ?= 2
SANITIZE_TEST_JOBS ?= 1
CMAKE       := cmake -S . -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
SOURCES     := $(shell git ls-files '*.cpp' '*.hpp' 2>/dev/null)

.PHONY: all bootstrap build test unit integration run sanitize bench bench-archive bench-backup fuzz chaos format format-check clean

all: build

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	@$(CMAKE) -B $(BUILD) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Every test: unit tests first (seconds), then the integration tests, each binary on its own topology.
test: build
	ctest --test-dir $(BUILD) --output-on-failure -L unit
	ctest --test-dir $(BUILD) --output-on-failure -L integration -j $(TEST_JOBS)

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -L unit

integration: build
	ctest --test-dir $(BUILD) --output-on-failure -L integration -j $(TEST_JOBS)

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: bootstrap
	@$(CMAKE) -B $(BUILD)-asan -DYW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DYW_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(BUILD)-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD)-asan --output-on-failure -j $(SANITIZE_TEST_JOBS)

# Start the local topology, migrate, seed a demo tenant and key, and run ywmsgd in the foreground.
run: build
	@bash scripts/run.sh $(BUILD)

# Release build (build-release), a throwaway topology with ~1M messages, pgbench and wrk; the table lands in
# bench/out/latest/ and docs/benchmarks.md says how to read it. BENCH_* variables: see bench/run.sh.
bench: bootstrap
	BENCH_JOBS=$(JOBS) bash bench/run.sh

# RB-18/RB-19: archive and restore of months of BENCH_ARCHIVE_MB MB against the runbook's own pipeline.
bench-archive: bootstrap
	BENCH_JOBS=$(JOBS) bash bench/archive.sh

# Backups (docs/backup.md): pgBackRest through ywctl vs pg_basebackup, restore time and WAL replay rate,
# archive_command's cost on the POST rate (bench/backup.sh; BENCH_ROUNDS, BENCH_MESSAGES, BENCH_BACKUP_WAL_ROWS).
bench-backup: bootstrap
	BENCH_JOBS=$(JOBS) bash bench/backup.sh

# libFuzzer on every parser target of tests/fuzz (clang, installed by `bootstrap.sh fuzz`), FUZZ_SECONDS each,
# corpus in tests/fuzz/corpus/<name> (new inputs go to build-fuzz/corpus/<name>); a crash stops it with the input
# saved as build-fuzz/crash-*. The same targets replay their corpus as unit tests in `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	@bash scripts/bootstrap.sh fuzz
	@CC=clang CXX=clang++ cmake -S . -G Ninja -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYW_FUZZ=ON \
	  -DYW_BUILD_TESTS=OFF -DYW_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(BUILD)-fuzz -j $(JOBS)
	@for src in tests/fuzz/*_fuzz.cpp; do \
	  name=$$(basename $$src _fuzz.cpp); mkdir -p $(BUILD)-fuzz/corpus/$$name; \
	  echo "fuzz $$name for $(FUZZ_SECONDS) s"; \
	  $(BUILD)-fuzz/$${name}_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)-fuzz/crash-$$name- $(BUILD)-fuzz/corpus/$$name tests/fuzz/corpus/$$name \
	    2>$(BUILD)-fuzz/$$name.log || { tail -40 $(BUILD)-fuzz/$$name.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|stat::new_units_added" $(BUILD)-fuzz/$$name.log | tr '\n' ' '; echo; \
	done

# The hostile run: one fault at a time on a fresh topology under a mixed load through ywmsgd, one
# table row per fault, exit 1 when a promise breaks. Builds only what it needs. CHAOS_ARGS goes to yw_chaos
# (e.g. CHAOS_ARGS="--sync --fault redis-freeze --seconds 20"); docs/reliability.md says how to read it.
CHAOS_ARGS ?=
chaos: bootstrap
	@$(CMAKE) -B $(BUILD) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target yw_chaos
	$(BUILD)/yw_chaos $(CHAOS_ARGS)

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run -Werror $(SOURCES)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
