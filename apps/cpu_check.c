/* A binary built for a newer instruction set than the processor's (ORDO_MARCH) would die of
 * SIGILL at the first such instruction; it says what is missing instead. The check itself is
 * compiled for the x86-64 baseline so that it runs on any x86-64 processor. */
#include <stdio.h>
#include <unistd.h>

#if defined(__x86_64__)
__attribute__((constructor, target("arch=x86-64"))) static void cpu_check(void) {
  __builtin_cpu_init();
  const char *missing = NULL;
#if defined(__AVX512F__)
  if (!__builtin_cpu_supports("avx512f")) missing = "AVX-512F";
#endif
#if defined(__AVX2__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) missing = "AVX2 and FMA";
#endif
  if (missing) {
    fprintf(stderr, "ordo: this binary was built for processors with %s, which this one lacks; "
                    "rebuild with ORDO_MARCH set to this machine's level (make MARCH=x86-64-v2)\n",
            missing);
    _exit(1);
  }
}
#endif
