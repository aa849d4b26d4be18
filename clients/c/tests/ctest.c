/* C client tests against live daemons (clients/c/run-tests.sh starts them).
 * Usage: ctest OPERATOR_SOCKET DENIED_SOCKET IDLE_SOCKET OPERATOR_PID
 *        ctest --version   (prints pc_version())
 * IDLE_SOCKET's daemon closes idle connections after 1 s; OPERATOR_PID is stopped (SIGSTOP) and
 * continued by the deadline test.
 * Prints "N passed, M failed" and exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "practice/rpc/v1/rpc.pb-c.h"
#include "practice/test/v1/test.pb-c.h"
#include "practice/v1/account.pb-c.h"
#include "practice/v1/claim.pb-c.h"
#include "practice/v1/location.pb-c.h"
#include "practiceclient.h"

static int passed, failed;
#define CHECK(cond, what)                                          \
  do {                                                             \
    if (cond) {                                                    \
      passed++;                                                    \
    } else {                                                       \
      failed++;                                                    \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, what); \
    }                                                              \
  } while (0)

static char account_id[64];
static char owner_id[64];

static void test_success(pc_client *c) {
  Practice__V1__CreateAccountRequest create = PRACTICE__V1__CREATE_ACCOUNT_REQUEST__INIT;
  create.practice_name = "C Test Clinic";
  create.owner_name = "Casey";
  ProtobufCMessage *out = NULL;
  pc_status st;
  int rc = pc_call(c, "/practice.v1.AccountService/CreateAccount", &create.base, NULL, 0, 0,
                   &practice__v1__create_account_response__descriptor, &out, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_OK && out != NULL, "CreateAccount succeeds");
  if (out) {
    Practice__V1__CreateAccountResponse *r = (Practice__V1__CreateAccountResponse *)out;
    snprintf(account_id, sizeof account_id, "%s", r->account->account_id);
    snprintf(owner_id, sizeof owner_id, "%s", r->owner->user_id);
    CHECK(strncmp(account_id, "acct_", 5) == 0, "an account id comes back");
    CHECK(strcmp(r->account->practice_name, "C Test Clinic") == 0, "the practice name round-trips");
    protobuf_c_message_free_unpacked(out, NULL);
  }
  pc_status_free(&st);
}

static void test_validation(pc_client *c) {
  Practice__V1__CreateLocationRequest req = PRACTICE__V1__CREATE_LOCATION_REQUEST__INIT;
  Practice__V1__Location location = PRACTICE__V1__LOCATION__INIT;
  location.name = "";
  location.pos_code = "28";  /* unassigned */
  req.account_id = account_id;
  req.location = &location;
  ProtobufCMessage *out = NULL;
  pc_status st;
  int rc = pc_call(c, "/practice.v1.LocationService/CreateLocation", &req.base, NULL, 0, 0,
                   &practice__v1__create_location_response__descriptor, &out, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_INVALID_ARGUMENT, "an invalid location is INVALID_ARGUMENT");
  CHECK(strcmp(st.reason, "VALIDATION_FAILED") == 0, "reason VALIDATION_FAILED");
  int name = 0, pos = 0, address = 0;
  for (size_t i = 0; i < st.n_violations; i++) {
    name |= strcmp(st.violations[i].field, "location.name") == 0;
    pos |= strcmp(st.violations[i].field, "location.pos_code") == 0;
    address |= strcmp(st.violations[i].field, "location.address") == 0;
  }
  CHECK(name && pos && address && st.n_violations == 3, "every violation is listed, each with its field");
  CHECK(out == NULL, "no response message on failure");
  pc_status_free(&st);
}

static void test_claim_profile(pc_client *c) {
  Practice__V1__CreateLocationRequest create = PRACTICE__V1__CREATE_LOCATION_REQUEST__INIT;
  Practice__V1__Location location = PRACTICE__V1__LOCATION__INIT;
  location.name = "Video visits";
  location.telehealth = 1;
  create.account_id = account_id;
  create.location = &location;
  ProtobufCMessage *out = NULL;
  pc_status st;
  int rc = pc_call(c, "/practice.v1.LocationService/CreateLocation", &create.base, NULL, 0, 0,
                   &practice__v1__create_location_response__descriptor, &out, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_OK && out != NULL, "a telehealth location is created");
  pc_status_free(&st);
  if (out == NULL) return;
  char location_id[64];
  snprintf(location_id, sizeof location_id, "%s", ((Practice__V1__CreateLocationResponse *)out)->location->location_id);
  protobuf_c_message_free_unpacked(out, NULL);

  Practice__V1__ResolveClaimProfileRequest req = PRACTICE__V1__RESOLVE_CLAIM_PROFILE_REQUEST__INIT;
  req.account_id = account_id;
  req.location_id = location_id;
  req.rendering_user_id = owner_id;
  req.date_of_service = "2026-03-02";
  rc = pc_call(c, "/practice.v1.ClaimService/ResolveClaimProfile", &req.base, NULL, 0, 0,
               &practice__v1__resolve_claim_profile_response__descriptor, &out, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_OK && out != NULL, "a profile that is not ready is still an OK answer");
  pc_status_free(&st);
  if (out) {
    Practice__V1__ResolveClaimProfileResponse *p = (Practice__V1__ResolveClaimProfileResponse *)out;
    CHECK(!p->ready && p->n_problems > 0, "a new account's profile lists its problems");
    CHECK(strcmp(p->place_of_service->pos_code, "02") == 0 &&
              p->place_of_service->decided_by == PRACTICE__V1__POS_DECISION__POS_DECISION_TELEHEALTH_DEFAULT,
          "telehealth not at home: 02 by the default rule");
    int not_practitioner = 0;
    for (size_t i = 0; i < p->n_problems; i++)
      not_practitioner |= strcmp(p->problems[i]->reason, "RENDERING_NOT_PRACTITIONER") == 0 &&
                          strcmp(p->problems[i]->field, "user.roles") == 0;
    CHECK(not_practitioner, "an owner who is not a PRACTITIONER can't render: user.roles");
    CHECK(p->versions != NULL && p->versions->location_version == 1, "the versions it was built from");
    protobuf_c_message_free_unpacked(out, NULL);
  }
  req.location_id = "loc_missing";
  rc = pc_call(c, "/practice.v1.ClaimService/ResolveClaimProfile", &req.base, NULL, 0, 0,
               &practice__v1__resolve_claim_profile_response__descriptor, &out, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_NOT_FOUND && out == NULL, "an unknown location is NOT_FOUND");
  pc_status_free(&st);
}

static void test_mismatch(pc_client *c) {
  Practice__V1__GetAccountRequest get = PRACTICE__V1__GET_ACCOUNT_REQUEST__INIT;
  get.account_id = account_id;
  Practice__V1__GetLocationRequest wrong = PRACTICE__V1__GET_LOCATION_REQUEST__INIT;
  ProtobufCMessage *out = NULL;
  pc_status st;
  /* A request of another method's type: refused before anything is sent. */
  int rc = pc_call(c, "/practice.v1.AccountService/GetAccount", &wrong.base, NULL, 0, 0,
                   &practice__v1__get_account_response__descriptor, &out, &st);
  CHECK(rc == PC_ERR_MISMATCH && out == NULL, "a request of the wrong type is PC_ERR_MISMATCH");
  pc_status_free(&st);
  /* The right request, the wrong response descriptor: refused too (it would decode silently). */
  rc = pc_call(c, "/practice.v1.AccountService/GetAccount", &get.base, NULL, 0, 0,
               &practice__v1__get_location_response__descriptor, &out, &st);
  CHECK(rc == PC_ERR_MISMATCH && out == NULL, "a response descriptor of another method is PC_ERR_MISMATCH");
  pc_status_free(&st);
  uint64_t id = 0;
  CHECK(pc_send(c, "/practice.v1.AccountService/GetAccount", &wrong.base, NULL, 0, 0, &id) == PC_ERR_MISMATCH,
        "pc_send checks the request type too");
  /* The connection is untouched: the right pairing works. */
  rc = pc_call(c, "/practice.v1.AccountService/GetAccount", &get.base, NULL, 0, 0,
               &practice__v1__get_account_response__descriptor, &out, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_OK && out != NULL, "the method's own types pass");
  if (out) protobuf_c_message_free_unpacked(out, NULL);
  pc_status_free(&st);
  /* A method the library does not know is sent as given: the daemon answers. */
  rc = pc_call(c, "/practice.v1.AccountService/NoSuchMethod", &get.base, NULL, 0, 0, NULL, NULL, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_UNIMPLEMENTED, "an unknown method reaches the daemon (UNIMPLEMENTED)");
  pc_status_free(&st);
  CHECK(strcmp(pc_strerror(PC_ERR_MISMATCH), pc_strerror(PC_ERR_IO)) != 0 && strlen(pc_strerror(PC_OK)) > 0 &&
            strstr(pc_strerror(-1000), "unknown") != NULL,
        "pc_strerror names every result");
}

static void test_denied(pc_client *denied) {
  Practice__V1__ListAccountsRequest req = PRACTICE__V1__LIST_ACCOUNTS_REQUEST__INIT;
  pc_status st;
  int rc = pc_call(denied, "/practice.v1.AccountService/ListAccounts", &req.base, NULL, 0, 0, NULL, NULL, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_PERMISSION_DENIED, "a peer outside the classes gets PERMISSION_DENIED");
  CHECK(strcmp(st.reason, "PEER_NOT_ALLOWED") == 0, "reason PEER_NOT_ALLOWED");
  pc_status_free(&st);
}

static void test_pipelined(pc_client *c) {
  enum { N = 100 };
  uint64_t ids[N];
  int seen[N] = {0};
  Practice__V1__GetAccountRequest get = PRACTICE__V1__GET_ACCOUNT_REQUEST__INIT;
  get.account_id = account_id;
  Practice__Test__V1__SleepRequest sleep = PRACTICE__TEST__V1__SLEEP_REQUEST__INIT;
  sleep.duration_ms = 200;
  /* The first call sleeps, so the others overtake it. */
  int rc = pc_send(c, "/practice.test.v1.TestControl/Sleep", &sleep.base, NULL, 0, 0, &ids[0]);
  for (int i = 1; i < N && rc == PC_OK; i++)
    rc = pc_send(c, "/practice.v1.AccountService/GetAccount", &get.base, NULL, 0, 0, &ids[i]);
  CHECK(rc == PC_OK, "100 calls sent without waiting");
  int ok = 0, last = -1;
  for (int n = 0; n < N; n++) {
    pc_response r;
    if (pc_receive(c, &r) != PC_OK) break;
    for (int i = 0; i < N; i++) {
      if (ids[i] == r.call_id && !seen[i]) {
        seen[i] = 1;
        last = i;
        if (r.status.code == 0) ok++;
        if (i > 0) {
          Practice__V1__GetAccountResponse *g = practice__v1__get_account_response__unpack(NULL, r.payload_len, r.payload);
          if (g == NULL || strcmp(g->account->account_id, account_id) != 0) ok--;
          if (g) practice__v1__get_account_response__free_unpacked(g, NULL);
        }
      }
    }
    pc_response_free(&r);
  }
  CHECK(ok == N, "100 pipelined calls all answered OK, each once, paired by call_id");
  CHECK(last == 0, "the slow call is answered last");
}

static void test_invalid_strings(pc_client *c) {
  CHECK(pc_valid_utf8("Harbor \xE2\x9C\x93", 10), "valid UTF-8 passes");
  CHECK(!pc_valid_utf8("bad \xff", 5), "invalid UTF-8 fails");
  CHECK(!pc_valid_utf8("nul \xC0\x80", 6), "overlong U+0000 (C0 80) fails");
  CHECK(!pc_valid_utf8("a\0b", 3), "U+0000 fails");
  CHECK(!pc_valid_utf8("\xED\xA0\x80", 3), "a surrogate fails");

  Practice__V1__AddUserRequest add = PRACTICE__V1__ADD_USER_REQUEST__INIT;
  add.account_id = account_id;
  add.name = "Bad \xff name";
  Practice__V1__Role roles[] = {PRACTICE__V1__ROLE__ROLE_BILLER};
  add.n_roles = 1;
  add.roles = roles;
  uint64_t id = 0;
  CHECK(pc_send(c, "/practice.v1.AccountService/AddUser", &add.base, NULL, 0, 0, &id) == PC_ERR_INVALID_STRING,
        "invalid UTF-8 in a request is refused before it is sent");
  add.name = "Nul \xC0\x80 name";
  CHECK(pc_send(c, "/practice.v1.AccountService/AddUser", &add.base, NULL, 0, 0, &id) == PC_ERR_INVALID_STRING,
        "U+0000 in its overlong form is refused before it is sent");
  /* Nested strings are checked too. */
  Practice__V1__Address address = PRACTICE__V1__ADDRESS__INIT;
  address.city = "Bost\xc3";
  Practice__V1__Location location = PRACTICE__V1__LOCATION__INIT;
  location.address_presence_case = PRACTICE__V1__LOCATION__ADDRESS_PRESENCE_ADDRESS;
  location.address = &address;
  Practice__V1__CreateLocationRequest req = PRACTICE__V1__CREATE_LOCATION_REQUEST__INIT;
  req.account_id = account_id;
  req.location = &location;
  CHECK(pc_check_strings(&req.base) == PC_ERR_INVALID_STRING, "a nested invalid string is found");
  pc_metadata md[] = {{"actor", "\xfe"}};
  Practice__V1__GetAccountRequest get = PRACTICE__V1__GET_ACCOUNT_REQUEST__INIT;
  get.account_id = account_id;
  CHECK(pc_send(c, "/practice.v1.AccountService/GetAccount", &get.base, md, 1, 0, &id) == PC_ERR_INVALID_STRING,
        "invalid metadata is refused too");
  /* Nothing was sent: the connection still answers the next call in order. */
  pc_status st;
  ProtobufCMessage *out = NULL;
  int rc = pc_call(c, "/practice.v1.AccountService/GetAccount", &get.base, NULL, 0, 0,
                   &practice__v1__get_account_response__descriptor, &out, &st);
  CHECK(rc == PC_OK && st.code == 0 && out != NULL, "the connection is unaffected");
  if (out) protobuf_c_message_free_unpacked(out, NULL);
  pc_status_free(&st);
}

static long long ms_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* SIGSTOP is delivered to one thread, which then stops the others: until every thread shows 'T' in
 * /proc, one of them may still answer a call. Waits for that (at most 2 s). */
static void stop_and_wait(pid_t pid) {
  kill(pid, SIGSTOP);
  for (int tries = 0; tries < 200; tries++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (dir == NULL) return;
    int running = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
      if (e->d_name[0] == '.') continue;
      char stat_path[400], buf[512];
      snprintf(stat_path, sizeof stat_path, "%s/%s/stat", path, e->d_name);
      FILE *f = fopen(stat_path, "r");
      if (f == NULL) continue;
      size_t n = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[n] = 0;
      char *close_paren = strrchr(buf, ')');
      if (close_paren && close_paren[1] == ' ' && close_paren[2] != 'T' && close_paren[2] != 't') running = 1;
    }
    closedir(dir);
    if (!running) return;
    sleep_ms(10);
  }
}

static int health(pc_client *c, uint32_t timeout_ms, pc_status *st) {
  Practice__Rpc__V1__HealthCheckRequest req = PRACTICE__RPC__V1__HEALTH_CHECK_REQUEST__INIT;
  return pc_call(c, "/practice.rpc.v1.Health/Check", &req.base, NULL, 0, timeout_ms, NULL, NULL, st);
}

/* A stopped daemon: pc_call gives up at the deadline plus the grace, and the connection still works
 * once the daemon runs again. */
static void test_deadline(pc_client *c, pid_t daemon) {
  pc_status st;
  stop_and_wait(daemon);
  long long start = ms_now();
  int rc = health(c, 1000, &st);
  long long took = ms_now() - start;
  kill(daemon, SIGCONT);
  if (rc != PC_ERR_DEADLINE)
    fprintf(stderr, "stopped daemon: rc %d, status %d %s %s, after %lld ms\n", rc, st.code, st.reason ? st.reason : "-",
            st.message ? st.message : "-", took);
  CHECK(rc == PC_ERR_DEADLINE, "a stopped daemon: pc_call returns PC_ERR_DEADLINE");
  CHECK(st.code == PC_CODE_DEADLINE_EXCEEDED && st.reason && strcmp(st.reason, "DEADLINE_EXCEEDED") == 0,
        "the status says DEADLINE_EXCEEDED");
  CHECK(took >= 1000 + PC_DEADLINE_GRACE_MS - 50 && took < 1000 + PC_DEADLINE_GRACE_MS + 1000,
        "it gives up at the deadline plus the grace");
  pc_status_free(&st);
  rc = health(c, 5000, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_OK, "the connection answers the next call after SIGCONT");
  pc_status_free(&st);
}

/* The daemon closes an idle connection saying IDLE_TIMEOUT: reported, then reconnected when asked. */
static void test_idle(const char *path) {
  pc_client *c = pc_connect(path);
  CHECK(c != NULL, "connect to the idle-timeout daemon");
  if (c == NULL) return;
  pc_status st;
  CHECK(health(c, 0, &st) == PC_OK && st.code == PC_CODE_OK, "Health/Check answers any peer");
  pc_status_free(&st);
  sleep_ms(1600);
  int rc = health(c, 0, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_UNAVAILABLE && st.reason && strcmp(st.reason, "IDLE_TIMEOUT") == 0,
        "a call on a connection closed for idleness reports UNAVAILABLE IDLE_TIMEOUT");
  pc_status_free(&st);
  const pc_status *why = pc_close_status(c);
  CHECK(why != NULL && strcmp(why->reason, "IDLE_TIMEOUT") == 0, "pc_close_status keeps the reason");
  pc_set_reconnect(c, 1);
  rc = health(c, 0, &st);
  CHECK(rc == PC_OK && st.code == PC_CODE_OK, "with pc_set_reconnect the next call reconnects and succeeds");
  pc_status_free(&st);
  pc_close(c);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    printf("%s\n", pc_version());
    return 0;
  }
  if (argc < 5) {
    fprintf(stderr, "usage: ctest OPERATOR_SOCKET DENIED_SOCKET IDLE_SOCKET OPERATOR_PID\n");
    return 64;
  }
  pc_client *c = pc_connect(argv[1]);
  pc_client *denied = pc_connect(argv[2]);
  if (c == NULL || denied == NULL) {
    perror("connect");
    return 69;
  }
  test_success(c);
  test_validation(c);
  test_claim_profile(c);
  test_mismatch(c);
  test_denied(denied);
  test_pipelined(c);
  test_invalid_strings(c);
  test_deadline(c, (pid_t)atoi(argv[4]));
  test_idle(argv[3]);
  pc_close(c);
  pc_close(denied);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
