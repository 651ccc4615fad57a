# The README's commands: `make test` and `make demo`. Plain `make` builds build/ordo.
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: all deps configure test demo asan clean

all: $(BUILD)/ordo

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

$(BUILD)/ordo: $(BUILD)/CMakeCache.txt FORCE
	cmake --build $(BUILD) -j $(JOBS)

test: $(BUILD)/ordo
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The sanitizer build of the tests (address + undefined behaviour).
asan: | deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORDO_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -LE slow

demo: $(BUILD)/ordo
	bash scripts/demo.sh $(BUILD)/ordo

clean:
	rm -rf $(BUILD) build-asan

FORCE:
