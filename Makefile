# t2 — build, dependencies, tests and the demo.
#   make          build build/t2 (installs missing Debian packages first when run as root)
#   make test     build and run every test; prints "N passed, N failed"
#   make demo     the full demo experiment: sweep, fit, optimize, plot, report
#   make bench    the README's benchmarks
CC      ?= cc
BUILD   := build
# -march=native when the compiler accepts it, else a portable x86-64 baseline.
ARCH    := $(shell $(CC) -march=native -x c -c /dev/null -o /dev/null 2>/dev/null && echo -march=native || echo -mtune=generic)
OPENBLAS_INC := $(firstword $(wildcard /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas) /usr/include)
CFLAGS  ?= -O3 -g
CFLAGS  += $(ARCH) -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-missing-field-initializers -fno-math-errno \
           -Iharness -Ikernels -I$(OPENBLAS_INC) -MMD -MP -pthread
LDLIBS  := -lopenblas -lsqlite3 -lcjson -llbfgs -lcmocka -lz -lm -lpthread
GIT_SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

# Debian packages: build and run (DEPS), and what only the tests need (TEST_DEPS).
DEPS      := libopenblas-dev libdnnl-dev libsqlite3-dev libcjson-dev liblbfgs-dev libcmocka-dev zlib1g-dev gnuplot-nox sqlite3
TEST_DEPS := slurmctld slurmd slurm-client munge

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

.PHONY: all deps test-deps test demo bench clean .FORCE
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
deps: $(BUILD)/.deps
test-deps: $(BUILD)/.test-deps

$(BUILD):
	@mkdir -p $(BUILD)

# Quiet by default; `make V=1` shows the full commands.
Q := $(if $(V),,@)
$(BUILD)/%.o: %.c $(BUILD)/.deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/plot_templates.c: $(PLOT_SRC) plots/embed.sh | $(BUILD)
	@mkdir -p $(dir $@)
	$(Q)sh plots/embed.sh $(PLOT_SRC) > $@.tmp && mv $@.tmp $@
$(PLOT_OBJ): $(BUILD)/gen/plot_templates.c $(BUILD)/.deps
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

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

test: $(BUILD)/t2 $(TEST_BIN) $(BUILD)/.test-deps
	@sh tests/run.sh $(TEST_BIN)

demo: $(BUILD)/t2
	@sh experiments/demo.sh

bench: $(BUILD)/t2
	@sh tests/bench.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
.SECONDARY:
