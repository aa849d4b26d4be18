/* The physical reference for scripts/bench: a C ping-pong over a Unix socket with practiced's frame
 * shape (4-byte big-endian length + a 100-byte body), one thread per connection on both sides.
 *   pingpong server PATH
 *   pingpong client PATH CONNECTIONS SECONDS   -> prints "<round trips/s> <p50 us> <p99 us>"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BODY 100

static int io(int fd, void *buf, size_t n, int writing) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = writing ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  unsigned char frame[4 + BODY];
  for (;;) {
    if (io(fd, frame, 4, 0) < 0) break;
    uint32_t len = (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 | (uint32_t)frame[2] << 8 | frame[3];
    if (len != BODY || io(fd, frame + 4, len, 0) < 0 || io(fd, frame, 4 + len, 1) < 0) break;
  }
  close(fd);
  return NULL;
}

static struct sockaddr_un address(const char *path) {
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  return a;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

struct worker {
  const char *path;
  double until;
  long count;
  double *lat;
  long cap;
};

static void *client(void *arg) {
  struct worker *w = arg;
  struct sockaddr_un a = address(w->path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
  unsigned char frame[4 + BODY] = {0, 0, 0, BODY};
  while (now() < w->until) {
    double t0 = now();
    if (io(fd, frame, sizeof frame, 1) < 0 || io(fd, frame, sizeof frame, 0) < 0) break;
    if (w->count < w->cap) w->lat[w->count] = now() - t0;
    w->count++;
  }
  close(fd);
  return NULL;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "server") == 0) {
    struct sockaddr_un a = address(argv[2]);
    unlink(argv[2]);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 256) != 0) { perror("listen"); return 1; }
    for (;;) {
      int fd = accept(s, NULL, NULL);
      if (fd < 0) continue;
      pthread_t t;
      pthread_create(&t, NULL, serve, (void *)(intptr_t)fd);
      pthread_detach(t);
    }
  }
  if (argc >= 5 && strcmp(argv[1], "client") == 0) {
    int n = atoi(argv[3]);
    double seconds = atof(argv[4]);
    struct worker *ws = calloc((size_t)n, sizeof *ws);
    pthread_t *ts = calloc((size_t)n, sizeof *ts);
    double start = now();
    for (int i = 0; i < n; i++) {
      ws[i] = (struct worker){argv[2], start + seconds, 0, malloc(sizeof(double) * 2000000), 2000000};
      pthread_create(&ts[i], NULL, client, &ws[i]);
    }
    long total = 0, kept = 0;
    for (int i = 0; i < n; i++) { pthread_join(ts[i], NULL); total += ws[i].count; kept += ws[i].count < ws[i].cap ? ws[i].count : ws[i].cap; }
    double *all = malloc(sizeof(double) * (size_t)(kept ? kept : 1));
    long k = 0;
    for (int i = 0; i < n; i++) for (long j = 0; j < ws[i].count && j < ws[i].cap; j++) all[k++] = ws[i].lat[j];
    qsort(all, (size_t)k, sizeof(double), cmp);
    double elapsed = now() - start;
    printf("%.0f %.1f %.1f\n", total / elapsed, k ? all[k / 2] * 1e6 : 0, k ? all[(long)(k * 0.99)] * 1e6 : 0);
    return 0;
  }
  fprintf(stderr, "usage: pingpong server PATH | pingpong client PATH CONNECTIONS SECONDS\n");
  return 64;
}
