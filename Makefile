# Thin front for Meson.  `make demo` and `make test` are the two commands a
# newcomer needs (README.md); both install missing Debian packages first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
MESON      ?= meson
DEMO_SCENARIO ?= scenarios/seed000-nat-msl-mismatch.yaml

.PHONY: all deps build demo test test-unit test-asan fuzz fuzz-smoke bench install clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

build: $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

# The main job on the bundled default: field report 000 rebuilt as a scenario (a
# client site's NAT reuses ports after 30 s; the Windows 2003 server keeps TIME_WAIT
# 240 s and ignores the reused SYNs), simulated and captured at the server, then
# analysed.  analyze exits 1 because it finds that; the demo itself succeeded.
demo: deps
	@$(MAKE) --no-print-directory build
	./$(BUILD)/tcpdoctor simulate $(DEMO_SCENARIO) -w $(BUILD)/demo-seed000.pcap --at server
	@echo
	./$(BUILD)/tcpdoctor analyze $(BUILD)/demo-seed000.pcap || [ $$? -eq 1 ]

$(ASAN_BUILD)/build.ninja:
	CC=clang $(MESON) setup $(ASAN_BUILD) -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false

$(FUZZ_BUILD)/build.ninja:
	CC=clang $(MESON) setup $(FUZZ_BUILD) -Dbuildtype=debugoptimized -Db_lundef=false -Db_lto=false -Dfuzz=true -Dtests=false

test: deps
	@$(MAKE) --no-print-directory test-unit test-asan fuzz-smoke

test-unit: build
	$(MESON) test -C $(BUILD) --print-errorlogs

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: $(ASAN_BUILD)/build.ninja
	$(MESON) compile -C $(ASAN_BUILD)
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MESON) test -C $(ASAN_BUILD) --print-errorlogs --no-suite slow

fuzz-build: $(FUZZ_BUILD)/build.ninja
	$(MESON) compile -C $(FUZZ_BUILD)

# Short run over the seed corpus: part of `make test`.
fuzz-smoke: fuzz-build
	scripts/fuzz $(FUZZ_BUILD) 20

# Long run: FUZZ_SECONDS per target (default 600).
fuzz: fuzz-build
	scripts/fuzz $(FUZZ_BUILD) $${FUZZ_SECONDS:-600}

bench: build
	bench/run

install: build
	$(MESON) install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
