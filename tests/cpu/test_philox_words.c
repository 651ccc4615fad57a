/* cpu_philox_words, the Philox words of dropout and attention dropout, against core/rng.c's
 * philox4x32 counter by counter, in the stream's order: its AVX2 path everywhere, and its AVX-512 path on a CPU that has
 * AVX-512F (the one the fast kernels take there). Counters whose low word wraps within the 16
 * lanes (the carry into the high word) and the 64-bit counter's own wrap included. */
#include <stdint.h>

#include "check.h"
#include "cpu/cpu_ops.h"
#include "ordo/rng.h"

static void check_path(const char *name,
                       void (*words)(uint32_t out[4 * CPU_PHILOX_LANES], uint64_t, uint64_t)) {
  static const uint64_t ctrs[] = {0, 5, 0xFFFFFFF7ull, 0x1FFFFFFFAull, (1ull << 40) + 7,
                                  UINT64_MAX - 9, 0x123456789ABCDEFull};
  static const uint64_t keys[] = {0, 42, 0x9E3779B97F4A7C15ull, UINT64_MAX};
  for (size_t c = 0; c < sizeof ctrs / sizeof ctrs[0]; c++)
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      uint32_t got[4 * CPU_PHILOX_LANES];
      words(got, ctrs[c], keys[k]);
      int same = 1;
      for (int l = 0; l < CPU_PHILOX_LANES; l++) {
        uint32_t want[4];
        philox4x32(want, ctrs[c] + (uint64_t)l, keys[k]);
        for (int w = 0; w < 4; w++) same &= got[4 * l + w] == want[w];
      }
      EXPECT(same, "%s: counters %#llx + 0..15, key %#llx: the words of philox4x32", name,
             (unsigned long long)ctrs[c], (unsigned long long)keys[k]);
    }
}

int main(void) {
  check_path("AVX2 path", cpu_philox_words_avx2);
  if (cpu_has_avx512f()) check_path("AVX-512 path", cpu_philox_words_avx512);
  else printf("AVX-512 path: skipped: the CPU has no AVX-512F\n");
  check_path("cpu_philox_words", cpu_philox_words);
  return test_summary();
}
