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

#include "../common/latencies.h"

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

struct worker {
  const char *path;
  double until;
  struct latencies latencies;
};

static void *client(void *arg) {
  struct worker *w = arg;
  struct sockaddr_un a = address(w->path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
  unsigned char frame[4 + BODY] = {0, 0, 0, BODY};
  while (bench_now() < w->until) {
    double t0 = bench_now();
    if (io(fd, frame, sizeof frame, 1) < 0 || io(fd, frame, sizeof frame, 0) < 0) break;
    latencies_add(&w->latencies, bench_now() - t0);
  }
  close(fd);
  return NULL;
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
    struct latencies **ls = calloc((size_t)n, sizeof *ls);
    pthread_t *ts = calloc((size_t)n, sizeof *ts);
    double start = bench_now();
    for (int i = 0; i < n; i++) {
      ws[i] = (struct worker){argv[2], start + seconds, {0}};
      latencies_init(&ws[i].latencies, 2000000 / n);
      ls[i] = &ws[i].latencies;
      pthread_create(&ts[i], NULL, client, &ws[i]);
    }
    for (int i = 0; i < n; i++) pthread_join(ts[i], NULL);
    latencies_print(ls, n, bench_now() - start);
    return 0;
  }
  fprintf(stderr, "usage: pingpong server PATH | pingpong client PATH CONNECTIONS SECONDS\n");
  return 64;
}
