/* Matrix-product libraries side by side at the shapes of one training step of the CPU benchmark
 * model (bench/cpu_train.sh: L4 H256 I1024, vocab 8192, seq 128, batch 16 = 2,048 tokens).
 *
 * Each library is opened with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), so OpenBLAS, BLIS and oneDNN, which export
 * the same BLAS symbols, never meet in one symbol table; a library that is not installed is
 * reported as absent. ordo's own AVX-512 products (cpu_sgemm) are linked in, present where the CPU
 * has AVX-512F and ORDO_SGEMM does not say openblas. Every product is row-major C = op(A) op(B) in fp32, called from outside
 * any OpenMP region as the engine calls it; the libraries' results are compared with each
 * other (largest difference over the largest entry). For each shape the libraries take turns, and the best
 * of --reps repetitions counts, so that load changes hit them alike.
 *
 *   bench_gemm_libs [--threads N] [--reps N]
 * Prints a markdown table: GFLOP/s per shape and library, and the step-weighted total. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/cpu_ops.h"

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                               float, float *, int);
typedef int (*dnnl_sgemm_fn)(char, char, long, long, long, float, const float *, long, const float *, long,
                             float, float *, long);
typedef void (*set_threads_fn)(int);

typedef struct lib {
  const char *name, *path;
  void *h;
  cblas_sgemm_fn cblas;
  dnnl_sgemm_fn dnnl;
  int own; /* ordo's own AVX-512 products (cpu_sgemm), linked in */
} lib;

/* One product of the step: M x N output, K inner, operands transposed or not, and how many
 * times a training step runs it (over the 4 layers, forward and backward). */
typedef struct shape {
  const char *what;
  int M, N, K, ta, tb, per_step;
} shape;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void gemm(const lib *l, const shape *s, const float *A, const float *B, float *C) {
  int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
  if (l->own)
    cpu_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, NULL, C, s->N);
  else if (l->cblas)
    l->cblas(ROW_MAJOR, s->ta ? TRANS : NO_TRANS, s->tb ? TRANS : NO_TRANS, s->M, s->N, s->K, 1.0f, A, lda, B,
             ldb, 0.0f, C, s->N);
  else
    l->dnnl(s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
}

int main(int argc, char **argv) {
  int threads = 1, reps = 5;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_gemm_libs [--threads N] [--reps N]\n");
      return 2;
    }
  }
  if (threads < 1 || threads > 256 || reps < 1 || reps > 1000) {
    fprintf(stderr, "bench_gemm_libs: --threads in [1, 256], --reps in [1, 1000]\n");
    return 2;
  }
  omp_set_num_threads(threads);
  lib libs[] = {
      {"OpenBLAS", "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0", NULL, NULL, NULL, 0},
      {"BLIS", "/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4", NULL, NULL, NULL, 0},
      {"oneDNN", "libdnnl.so.2", NULL, NULL, NULL, 0},
      {"ordo AVX-512", NULL, NULL, NULL, NULL, 1},
  };
  int nl = (int)(sizeof libs / sizeof *libs);
  for (int k = 0; k < nl; k++) {
    lib *l = &libs[k];
    if (l->own) { /* present where cpu_sgemm takes the AVX-512 products */
      l->h = cpu_sgemm_is_avx512() ? (void *)l : NULL;
      continue;
    }
    l->h = dlopen(l->path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!l->h) continue;
    if (k == 2) l->dnnl = (dnnl_sgemm_fn)dlsym(l->h, "dnnl_sgemm");
    else l->cblas = (cblas_sgemm_fn)dlsym(l->h, "cblas_sgemm");
    set_threads_fn st = (set_threads_fn)dlsym(l->h, k == 1 ? "bli_thread_set_num_threads" : "openblas_set_num_threads");
    if (st) st(threads);
    if (!l->cblas && !l->dnnl) dlclose(l->h), l->h = NULL;
  }
  const int T = 2048, H = 256, I = 1024, V = 8192, MASK = 308; /* 15% of the tokens */
  shape shapes[] = {
      {"qkv fwd      X Wqkv^T", T, 3 * H, H, 0, 1, 4},
      {"qkv dX       dY Wqkv", T, H, 3 * H, 0, 0, 4},
      {"qkv dW       dY^T X", 3 * H, H, T, 1, 0, 4},
      {"attn-out fwd X Wo^T", T, H, H, 0, 1, 4},
      {"attn-out dX  dY Wo", T, H, H, 0, 0, 4},
      {"attn-out dW  dY^T X", H, H, T, 1, 0, 4},
      {"ffn-up fwd   X W1^T", T, I, H, 0, 1, 4},
      {"ffn-up dX    dY W1", T, H, I, 0, 0, 4},
      {"ffn-up dW    dY^T X", I, H, T, 1, 0, 4},
      {"ffn-down fwd X W2^T", T, H, I, 0, 1, 4},
      {"ffn-down dX  dY W2", T, I, H, 0, 0, 4},
      {"ffn-down dW  dY^T X", H, I, T, 1, 0, 4},
      {"head fwd (masked) X E^T", MASK, V, H, 0, 1, 1},
      {"head dX (masked)  dY E", MASK, H, V, 0, 0, 1},
      {"head dW (masked)  dY^T X", V, H, MASK, 1, 0, 1},
      {"head fwd (full)   X E^T", T, V, H, 0, 1, 0},
      {"head dX (full)    dY E", T, H, V, 0, 0, 0},
      {"head dW (full)    dY^T X", V, H, T, 1, 0, 0},
  };
  int ns = (int)(sizeof shapes / sizeof *shapes);
  size_t big = (size_t)T * V;
  float *A = malloc(big * sizeof *A), *B = malloc(big * sizeof *B), *C = malloc(big * sizeof *C),
        *R = malloc(big * sizeof *R);
  srand(7);
  for (size_t i = 0; i < big; i++) A[i] = (float)rand() / RAND_MAX - 0.5f, B[i] = (float)rand() / RAND_MAX - 0.5f;

  printf("fp32 GEMM, %d thread(s), best of %d; GFLOP/s (higher is better); %s\n\n", threads, reps,
         "libraries opened with dlopen, results cross-checked");
  printf("| product | M x N x K |");
  for (int k = 0; k < nl; k++) printf(" %s |", libs[k].name);
  printf(" best of each | max rel. diff |\n| --- | --- |");
  for (int k = 0; k < nl; k++) printf(" --- |");
  printf(" --- | --- |\n");
  double step_s[8] = {0}, full_s[8] = {0}; /* [nl]: the best library per product */
  for (int si = 0; si < ns; si++) {
    const shape *s = &shapes[si];
    double best[8];
    for (int k = 0; k < nl; k++) best[k] = 1e30;
    for (int r = 0; r < reps; r++)
      for (int k = 0; k < nl; k++) {
        if (!libs[k].h) continue;
        double t0 = now();
        gemm(&libs[k], s, A, B, C);
        double dt = now() - t0;
        if (dt < best[k]) best[k] = dt;
      }
    /* cross-check: every library's result against the first present one */
    double maxdiff = 0, rmax = 0;
    int first = -1;
    for (int k = 0; k < nl; k++) {
      if (!libs[k].h) continue;
      gemm(&libs[k], s, A, B, C);
      if (first < 0) {
        memcpy(R, C, (size_t)s->M * s->N * sizeof *C), first = k;
        for (size_t i = 0; i < (size_t)s->M * s->N; i++) rmax = fmax(rmax, fabs((double)R[i]));
        continue;
      }
      for (size_t i = 0; i < (size_t)s->M * s->N; i++) maxdiff = fmax(maxdiff, fabs((double)C[i] - R[i]));
    }
    maxdiff /= rmax > 0 ? rmax : 1; /* normwise: largest difference over the largest entry */
    double flop = 2.0 * s->M * s->N * s->K;
    printf("| %s | %d x %d x %d |", s->what, s->M, s->N, s->K);
    for (int k = 0; k < nl; k++) {
      if (!libs[k].h) printf(" absent |");
      else printf(" %.1f |", flop / best[k] * 1e-9);
      if (libs[k].h) step_s[k] += s->per_step * best[k];
      if (libs[k].h && (s->per_step == 4 || s->per_step == 0)) full_s[k] += (s->per_step ? 4 : 1) * best[k];
    }
    int kb = -1;
    for (int k = 0; k < nl; k++)
      if (libs[k].h && (kb < 0 || best[k] < best[kb])) kb = k;
    if (kb >= 0) {
      printf(" %s |", libs[kb].name);
      step_s[nl] += s->per_step * best[kb];
      if (s->per_step == 4 || s->per_step == 0) full_s[nl] += (s->per_step ? 4 : 1) * best[kb];
    }
    printf(" %.1e |\n", maxdiff);
  }
  printf("| **one step's products, masked head (ms)** | |");
  for (int k = 0; k < nl; k++) libs[k].h ? printf(" %.1f |", step_s[k] * 1e3) : printf(" absent |");
  printf(" %.1f | |\n| **one step's products, full head (ms)** | |", step_s[nl] * 1e3);
  for (int k = 0; k < nl; k++) libs[k].h ? printf(" %.1f |", full_s[k] * 1e3) : printf(" absent |");
  printf(" %.1f | |\n", full_s[nl] * 1e3);
  free(A), free(B), free(C), free(R);
  return 0;
}
