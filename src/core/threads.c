/* One switch for the thread count. OpenBLAS's OpenMP build (the one the build links) sizes each
 * product called outside a parallel region by omp_get_max_threads(), so OpenMP's setting is the
 * only one there is: openblas_set_num_threads() would set the same thing a second way. */
#include <omp.h>

#include "ordo/core.h"

void ordo_set_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}
