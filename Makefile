# A thin wrapper over CMake. `make run` and `make test` are the README's two
# commands: each installs its own Debian packages first (as root).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DATA_DIR ?=
RUN_FLAGS ?=

.PHONY: all deps build run test kite clean size cross-arm64 cross-armhf test-cross bench-datastore format fuzz

all: build

# agent: containerd and friends for the in-process agent, busybox-static for
# the test image (images/).
deps:
	@scripts/deps.sh build test agent

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

kite: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kite

# Builds kite and runs a server with the embedded SQLite default in the
# foreground (Ctrl-C stops it).
run: kite
	$(BUILD_DIR)/cmd/kite server $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(RUN_FLAGS)

# Builds everything and runs every test.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900 -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD_DIR) build-*

# ARM from day one (cross/README.md): static, stripped kite binaries for
# Debian's arm64 and armhf, cross-compiled against sysroots of Debian -dev
# packages (.deps/sysroot-ARCH), in build-arm64/ and build-armhf/.
CROSS_JOBS ?= 2
CROSS_TESTS ?= datastore_test
SIZE_DIR ?= build-size
SIZE_LIMIT_BYTES ?= 10000000
export CROSS_JOBS

# build-ARCH/kite
cross-arm64 cross-armhf: cross-%:
	@scripts/deps.sh build cross
	cross/build.sh $* kite

# Builds $(CROSS_TESTS) for both architectures and runs them under qemu-user
# (ctest runs cross-built tests through qemu-ARCH-static).
test-cross:
	@scripts/deps.sh build cross
	cross/build.sh arm64 $(CROSS_TESTS)
	cross/build.sh armhf $(CROSS_TESTS)
	cd build-arm64 && ctest --output-on-failure --no-tests=error --timeout 1800 -R '^($(subst $() ,|,$(strip $(CROSS_TESTS))))$$'
	cd build-armhf && ctest --output-on-failure --no-tests=error --timeout 1800 -R '^($(subst $() ,|,$(strip $(CROSS_TESTS))))$$'

# Stripped size of each kite binary (x86_64 release build in $(SIZE_DIR));
# fails when one exceeds 10 MB.
size: cross-arm64 cross-armhf
	cross/build.sh -B $(SIZE_DIR) host kite
	@cross/size.sh $(SIZE_LIMIT_BYTES) kite-$$(uname -m)=$(SIZE_DIR)/kite \
	  kite-arm64=build-arm64/kite kite-armhf=build-armhf/kite

# libFuzzer targets (tests/fuzz/README.md): clang with ASan and UBSan in
# $(FUZZ_BUILD_DIR), then each target runs $(FUZZ_SECONDS) seconds on one
# core. Fails when a target crashed, leaked or hung. Not part of `make test`;
# there the seed corpora run once through gcc builds of the same targets.
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
export FUZZ_SECONDS FUZZ_BUILD_DIR

fuzz:
	@scripts/deps.sh build fuzz
	@[ -f $(FUZZ_BUILD_DIR)/CMakeCache.txt ] || CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD_DIR) \
	  -DCMAKE_BUILD_TYPE=Release -DKITE_FUZZ=ON -DKITE_BUILD_TESTS=OFF -DKITE_BUILD_BENCH=OFF \
	  -DKITE_STATIC=OFF -DKITE_WERROR=OFF
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzz_targets
	scripts/fuzz.sh $(FUZZ_TARGETS)
