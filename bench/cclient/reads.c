/* scripts/bench's reads through the C client library (clients/c, libpracticeclient on protobuf-c):
 * GetBusinessInfo in a loop on each connection, one thread per connection, the shape of the C
 * ping-pong's client. Beside the Swift client's figures it shows what the daemon serves when the
 * client costs about what the references' clients cost.
 *   reads SOCKET ACCOUNT CONNECTIONS SECONDS   -> prints "<calls/s> <p50 us> <p99 us>"
 * Every response is checked (status OK, the account asked for); any failure exits 1.
 */
#define _GNU_SOURCE
#include <practiceclient.h>
#include <practice/v1/business.pb-c.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/latencies.h"

struct worker {
  const char *path;
  const char *account;
  double until;
  struct latencies latencies;
  int failed;
};

static void *client(void *arg) {
  struct worker *w = arg;
  pc_client *c = pc_connect(w->path);
  if (c == NULL) { perror("pc_connect"); w->failed = 1; return NULL; }
  Practice__V1__GetBusinessInfoRequest req = PRACTICE__V1__GET_BUSINESS_INFO_REQUEST__INIT;
  req.account_id = (char *)w->account;
  while (bench_now() < w->until) {
    double t0 = bench_now();
    ProtobufCMessage *out = NULL;
    pc_status st;
    int rc = pc_call(c, "/practice.v1.BusinessService/GetBusinessInfo", &req.base, NULL, 0, 0,
                     &practice__v1__get_business_info_response__descriptor, &out, &st);
    double t1 = bench_now();
    const Practice__V1__GetBusinessInfoResponse *resp = (const Practice__V1__GetBusinessInfoResponse *)out;
    if (rc != PC_OK || st.code != PC_CODE_OK || resp == NULL || resp->business_info == NULL ||
        strcmp(resp->business_info->account_id, w->account) != 0) {
      fprintf(stderr, "GetBusinessInfo failed: rc %d, %s %s\n", rc, pc_code_name(st.code),
              st.message ? st.message : "");
      w->failed = 1;
    }
    if (out != NULL) protobuf_c_message_free_unpacked(out, NULL);
    pc_status_free(&st);
    if (w->failed) break;
    latencies_add(&w->latencies, t1 - t0);
  }
  pc_close(c);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: reads SOCKET ACCOUNT CONNECTIONS SECONDS\n");
    return 64;
  }
  int n = atoi(argv[3]);
  double seconds = atof(argv[4]);
  if (n < 1 || seconds <= 0) {
    fprintf(stderr, "reads: CONNECTIONS >= 1 and SECONDS > 0\n");
    return 64;
  }
  struct worker *ws = calloc((size_t)n, sizeof *ws);
  struct latencies **ls = calloc((size_t)n, sizeof *ls);
  pthread_t *ts = calloc((size_t)n, sizeof *ts);
  double start = bench_now();
  for (int i = 0; i < n; i++) {
    ws[i] = (struct worker){argv[1], argv[2], start + seconds, {0}, 0};
    latencies_init(&ws[i].latencies, 2000000 / n);
    ls[i] = &ws[i].latencies;
    pthread_create(&ts[i], NULL, client, &ws[i]);
  }
  int failed = 0;
  long total = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(ts[i], NULL);
    failed |= ws[i].failed;
    total += ws[i].latencies.count;
  }
  double elapsed = bench_now() - start;
  if (failed || total == 0) return 1;
  latencies_print(ls, n, elapsed);
  return 0;
}
