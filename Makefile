# WARP — thin wrapper over meson/ninja.  See README.md.
#   make run    install what is missing, build, migrate, start every role on SQLite
#   make test   the same set-up, then unit + integration tests, plain and sanitized
#   make build  build/warp only
#   make fuzz   build the libFuzzer targets and run each briefly

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
CONFIG     ?= etc/warp.ini
FUZZ_SECONDS ?= 20

.PHONY: all deps test-deps build run test unit integration asan fuzz clean

all: build

deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps --test

# (Re)configure when the build folder is missing or a module/test file list changed.
$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true

build: deps $(BUILD)/build.ninja
	@scripts/meson-refresh $(BUILD)
	ninja -C $(BUILD)

run: build
	@mkdir -p var
	$(BUILD)/warp migrate -c $(CONFIG)
	exec $(BUILD)/warp run -c $(CONFIG)

test: test-deps build
	@scripts/run-tests --build $(BUILD) --asan-build $(ASAN_BUILD)

fuzz: test-deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_lundef=false
	@scripts/meson-refresh $(FUZZ_BUILD)
	ninja -C $(FUZZ_BUILD)
	@scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
