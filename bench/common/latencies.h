/* What the C bench programs (bench/pingpong, bench/cclient) measure the same way: a monotonic clock,
 * each connection's call latencies, and the line scripts/bench reads, "<calls/s> <p50 us> <p99 us>". */
#ifndef BENCH_LATENCIES_H
#define BENCH_LATENCIES_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* One connection's calls: all are counted, the first `cap` latencies are kept. */
struct latencies {
  long count;
  long cap;
  double *seconds;
};

static inline void latencies_init(struct latencies *l, long cap) {
  l->count = 0;
  l->cap = cap;
  l->seconds = malloc(sizeof(double) * (size_t)(cap > 0 ? cap : 1));
  if (l->seconds == NULL) { perror("malloc"); exit(1); }
}

static inline void latencies_add(struct latencies *l, double seconds) {
  if (l->count < l->cap) l->seconds[l->count] = seconds;
  l->count++;
}

static int latencies_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Prints the rate of all `n` connections' calls over `elapsed` seconds (taken when the calls ended,
 * before any sorting) and the percentiles of the latencies kept. */
static inline void latencies_print(struct latencies *const *ls, int n, double elapsed) {
  long total = 0, kept = 0;
  for (int i = 0; i < n; i++) {
    total += ls[i]->count;
    kept += ls[i]->count < ls[i]->cap ? ls[i]->count : ls[i]->cap;
  }
  double *all = malloc(sizeof(double) * (size_t)(kept ? kept : 1));
  if (all == NULL) { perror("malloc"); exit(1); }
  long k = 0;
  for (int i = 0; i < n; i++)
    for (long j = 0; j < ls[i]->count && j < ls[i]->cap; j++) all[k++] = ls[i]->seconds[j];
  qsort(all, (size_t)k, sizeof(double), latencies_cmp);
  printf("%.0f %.1f %.1f\n", total / elapsed, k ? all[k / 2] * 1e6 : 0, k ? all[(long)(k * 0.99)] * 1e6 : 0);
  free(all);
}
#endif
