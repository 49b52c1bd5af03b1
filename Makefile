# t2 — build, dependencies, tests and the demo.
#   make          build build/t2 (installs missing Debian packages first when run as root)
#   make test     build and run every test; prints "N passed, N failed"
#   make demo     the full demo experiment: sweep, fit, optimize, plot, report
#   make bench    the README's benchmarks
#   make asan     every test against an AddressSanitizer + UBSan + LeakSanitizer build (build-asan/)
#   make fuzz     each libFuzzer target for FUZZ_SECONDS (build-fuzz/, clang)
CC      ?= cc
BUILD   ?= build
# The instructions the compiler may use: -march=native when the compiler accepts it (the fastest
# binary for this machine), else a portable x86-64 baseline. A binary run on a CPU that lacks
# some of them stops with one line naming them (harness/util/cpu_guard.c); for a binary that runs
# on every machine of a cluster, build with e.g. make ARCH=-march=x86-64-v3. The matrix kernels
# pick AVX-512 / AVX512-BF16 / AMX at run time whatever ARCH is.
ARCH    := $(shell $(CC) -march=native -x c -c /dev/null -o /dev/null 2>/dev/null && echo -march=native || echo -mtune=generic)
OPENBLAS_INC := $(firstword $(wildcard /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas) /usr/include)
CFLAGS  ?= -O3 -g
# SANITIZE: extra compile and link flags of a sanitizer build (make asan sets them).
# CODE_ARCH: ARCH, except for cpu_guard.o (below).
CODE_ARCH = $(ARCH)
CFLAGS  += $(SANITIZE) $(CODE_ARCH) -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-missing-field-initializers -fno-math-errno \
           -Iharness -Ikernels -I$(OPENBLAS_INC) -MMD -MP -pthread
LDLIBS  := -lopenblas -lsqlite3 -lcjson -llbfgs -lcmocka -lz -lm -lpthread
GIT_SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

# Debian packages: build and run (DEPS), and what only the tests need (TEST_DEPS).
DEPS      := libopenblas-dev libdnnl-dev libsqlite3-dev libcjson-dev liblbfgs-dev libcmocka-dev zlib1g-dev gnuplot-nox sqlite3
TEST_DEPS := slurmctld slurmd slurm-client munge
FUZZ_DEPS := clang libclang-rt-14-dev

KERNEL_SRC  := $(wildcard kernels/*.c)
# harness/ is in folders by layer (harness/README.md); every .c in them but main.c is library code.
HARNESS_SRC := $(filter-out harness/cli/main.c,$(wildcard harness/*/*.c))
# The gnuplot templates plots/*.gp are compiled into the binary (t2 plot works from any directory).
PLOT_SRC    := $(sort $(wildcard plots/*.gp))
PLOT_OBJ    := $(BUILD)/gen/plot_templates.o
LIB_OBJ     := $(patsubst %.c,$(BUILD)/%.o,$(KERNEL_SRC) $(HARNESS_SRC)) $(PLOT_OBJ)
TEST_SRC    := $(wildcard tests/test_*.c)
TEST_BIN    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_LIB    := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(TEST_SRC),$(wildcard tests/*.c)))
# Fuzz targets (fuzz/fuzz_NAME.c): libFuzzer binaries in build-fuzz/ (make fuzz), and compiled with
# T2_FUZZ_REPLAY into tests/test_fuzz, which replays fuzz/corpus/NAME/ in `make test`.
FUZZ_SRC    := $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES  := $(patsubst fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_REPLAY := $(patsubst fuzz/%.c,$(BUILD)/fuzz-replay/%.o,$(FUZZ_SRC))

.PHONY: all deps test-deps test demo bench clean asan fuzz fuzz-bins fuzz-corpus .FORCE
all: $(BUILD)/t2

# Install missing packages when root; otherwise print the exact command and stop.
define ensure_pkgs
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "t2: installing Debian packages:$$missing"; \
	    (apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing)) >$(BUILD)/apt.log 2>&1 \
	      || { echo "t2: apt-get failed, see $(BUILD)/apt.log" >&2; exit 1; }; \
	  else echo "t2: missing Debian packages; run: sudo apt-get install -y$$missing" >&2; exit 1; fi; \
	fi
endef

$(BUILD)/.deps: Makefile | $(BUILD)
	$(call ensure_pkgs,$(DEPS))
	@touch $@
$(BUILD)/.test-deps: Makefile | $(BUILD)
	$(call ensure_pkgs,$(TEST_DEPS))
	@touch $@
$(BUILD)/.fuzz-deps: Makefile | $(BUILD)
	$(call ensure_pkgs,$(FUZZ_DEPS))
	@touch $@
deps: $(BUILD)/.deps
test-deps: $(BUILD)/.test-deps

$(BUILD):
	@mkdir -p $(BUILD)

# Quiet by default; `make V=1` shows the full commands.
Q := $(if $(V),,@)
$(BUILD)/%.o: %.c $(BUILD)/.deps $(BUILD)/arch
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/plot_templates.c: $(PLOT_SRC) plots/embed.sh | $(BUILD)
	@mkdir -p $(dir $@)
	$(Q)sh plots/embed.sh $(PLOT_SRC) > $@.tmp && mv $@.tmp $@
$(PLOT_OBJ): $(BUILD)/gen/plot_templates.c $(BUILD)/.deps $(BUILD)/arch
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# Every object is rebuilt when ARCH changes (a binary of mixed objects would escape cpu_guard).
$(BUILD)/arch: .FORCE | $(BUILD)
	@echo '$(ARCH)' | cmp -s - $@ || echo '$(ARCH)' > $@
# build_isa.o records ARCH; cpu_guard.o runs before main on whatever CPU the binary lands on, so
# it is compiled for the x86-64 baseline.
$(BUILD)/harness/util/build_isa.o: CFLAGS += -DT2_BUILD_ARCH='"$(ARCH)"'
$(BUILD)/harness/util/cpu_guard.o: CODE_ARCH := -march=x86-64 -mtune=generic

# platform.o records the git revision; it is rebuilt only when the revision changes.
$(BUILD)/git-sha: .FORCE | $(BUILD)
	@echo '$(GIT_SHA)' | cmp -s - $@ || echo '$(GIT_SHA)' > $@
$(BUILD)/harness/util/platform.o: CFLAGS += -DT2_GIT_SHA='"$(GIT_SHA)"'
$(BUILD)/harness/util/platform.o: $(BUILD)/git-sha
.FORCE:

$(BUILD)/t2: $(BUILD)/harness/cli/main.o $(LIB_OBJ)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_LIB) $(LIB_OBJ)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz-replay/%.o: fuzz/%.c fuzz/fuzz.h $(BUILD)/.deps $(BUILD)/arch
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (replay)")
	$(Q)$(CC) $(CFLAGS) -DT2_FUZZ_REPLAY -c $< -o $@
$(BUILD)/tests/test_fuzz: $(BUILD)/tests/test_fuzz.o $(FUZZ_REPLAY) $(TEST_LIB) $(LIB_OBJ)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The tests run the t2 of this build (T2_BIN), also from other directories; T2_CC links a test
# program against this build's objects (tests/test_cpu.c).
# SKIP_TESTS="test_a test_b" leaves those binaries out (CI's sanitizer pass leaves out the two
# numeric ones whose code paths the other tests already run under the sanitizers).
test: $(BUILD)/t2 $(TEST_BIN) $(BUILD)/.test-deps
	@$(if $(SKIP_TESTS),echo "left out: $(SKIP_TESTS)")
	@T2_BIN=$(BUILD)/t2 T2_CC='$(CC) $(SANITIZE)' sh tests/run.sh $(filter-out $(SKIP_TESTS:%=$(BUILD)/tests/%),$(TEST_BIN))

# The whole suite against a sanitizer build in its own directory: AddressSanitizer (with
# LeakSanitizer) and UndefinedBehaviorSanitizer, every report fatal. -O1 keeps it fast enough.
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# Fuzzing: clang's libFuzzer with ASan + UBSan, each target for FUZZ_SECONDS from the committed
# corpus fuzz/corpus/NAME/ (read) into build-fuzz/corpus/NAME/ (new inputs), crashers into
# build-fuzz/crashes/NAME/. `make fuzz-corpus` merges what was found into the committed corpus.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The libFuzzer binaries are built by a make of BUILD=build-fuzz CC=clang with the sanitizers.
fuzz-bins: $(BUILD)/.fuzz-deps
	@CFLAGS='-O1 -g' $(MAKE) -s --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) \
	  SANITIZE='$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link' $(patsubst %,build-fuzz/fuzz_%,$(FUZZ_NAMES))
$(BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(LIB_OBJ)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB_OBJ) $(LDLIBS)
fuzz: fuzz-bins
	@for t in $(FUZZ_NAMES); do \
	  mkdir -p build-fuzz/corpus/$$t build-fuzz/crashes/$$t; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	  build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/crashes/$$t/ $$( [ -f fuzz/$$t.dict ] && echo -dict=fuzz/$$t.dict ) \
	    build-fuzz/corpus/$$t fuzz/corpus/$$t 2>build-fuzz/$$t.log; \
	  grep -E '^stat::number_of_executed_units|^stat::new_units_added' build-fuzz/$$t.log; \
	  if ls build-fuzz/crashes/$$t/* >/dev/null 2>&1; then echo "fuzz $$t: CRASHERS in build-fuzz/crashes/$$t/"; exit 1; fi; \
	done
fuzz-corpus: fuzz-bins
	@for t in $(FUZZ_NAMES); do \
	  build-fuzz/fuzz_$$t -merge=1 fuzz/corpus/$$t build-fuzz/corpus/$$t 2>build-fuzz/$$t-merge.log; \
	  echo "fuzz/corpus/$$t: $$(ls fuzz/corpus/$$t | wc -l) inputs"; \
	done

# A sanitizer report exits 99, never 1, so a test expecting t2 to refuse something cannot mistake it.
# intercept_tls_get_addr=0: LeakSanitizer (GCC 12, glibc 2.36) reads a garbage dynamic-TLS range of
# the dlopen'ed oneDNN and its tracer crashes at exit (test_bf16); static TLS is still scanned.
asan:
	@CFLAGS='-O1 -g' ASAN_OPTIONS=detect_leaks=1:exitcode=99:intercept_tls_get_addr=0 UBSAN_OPTIONS=print_stacktrace=1:exitcode=99 \
	  $(MAKE) --no-print-directory BUILD=build-asan SANITIZE='$(ASAN_FLAGS)' test

demo: $(BUILD)/t2
	@sh experiments/demo.sh

bench: $(BUILD)/t2
	@sh tests/bench.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
