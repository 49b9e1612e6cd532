# A thin wrapper over CMake. `make run` and `make test` are the README's two
# commands: each installs its own Debian packages first (as root).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DATA_DIR ?=
RUN_FLAGS ?=

.PHONY: all deps build run test kite clean size cross-arm64 cross-armhf test-cross bench-datastore format

all: build

deps:
	@scripts/deps.sh build test

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
