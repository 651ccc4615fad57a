# The README's commands: `make test` and `make demo`. Plain `make` builds build/ordo.
BUILD ?= build
# Instruction set of ordo's own code: x86-64-v3 (AVX2 + FMA) runs on any recent x86-64 machine;
# MARCH=native is faster on a machine with AVX-512 (12-23%, bench/NOTES.md) and runs only on its kind.
MARCH ?= x86-64-v3
JOBS  ?= $(shell nproc)

.PHONY: all deps configure test test-avx2 demo asan clean

all: $(BUILD)/ordo

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DORDO_MARCH=$(MARCH)

$(BUILD)/ordo: $(BUILD)/CMakeCache.txt FORCE
	@grep -qx 'ORDO_MARCH:STRING=$(MARCH)' $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DORDO_MARCH=$(MARCH)
	cmake --build $(BUILD) -j $(JOBS)

test: $(BUILD)/ordo
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same tests with OpenBLAS held to its AVX2 (Haswell) kernels and ordo's AVX-512 products off:
# on a machine with AVX-512 this runs the products an AVX2-only machine runs (ordo's own code is
# x86-64-v3 unless MARCH says otherwise), so a green run on one kind of processor cannot hide a red
# one on the other.
test-avx2: $(BUILD)/ordo
	cd $(BUILD) && ORDO_SGEMM=openblas OPENBLAS_CORETYPE=Haswell ctest --output-on-failure -j $(JOBS)

# The sanitizer build of the tests (address + undefined behaviour), without the CUDA backend and
# NCCL: ASan's shadow memory and the CUDA driver do not mix (also said here for build folders
# configured before CMake knew it).
asan: | deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORDO_SANITIZE=ON -DORDO_CUDA=OFF -DORDO_NCCL=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -LE slow

demo: $(BUILD)/ordo
	bash scripts/demo.sh $(BUILD)/ordo

clean:
	rm -rf $(BUILD) build-asan

FORCE:
