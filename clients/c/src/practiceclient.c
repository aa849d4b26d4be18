/* libpracticeclient: see include/practiceclient.h and docs/PROTOCOL.md. */
#define _GNU_SOURCE
#include "practiceclient.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <poll.h>
#include <time.h>
#include <sys/time.h>

#include "methods.h"
#include "practice/rpc/v1/rpc.pb-c.h"

#define PC_MAX_FRAME (4u * 1024u * 1024u)

struct pc_client {
  int fd;
  uint64_t next_call_id;
  char *path;         /* for pc_set_reconnect */
  int reconnect;
  int closed;         /* the daemon closed the connection (EOF, or a call_id 0 response) */
  pc_status close_status;
  int has_close_status;
  uint8_t *buf;       /* received bytes not yet handed out as frames */
  size_t len, cap;
};

const char *pc_version(void) { return PC_VERSION; }

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected socket, or -1 (errno set). SO_SNDTIMEO bounds a Unix-socket connect that waits for
 * room in the daemon's backlog; it stays set, so a send to a daemon that stopped reading cannot
 * block forever either. */
static int open_socket(const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval tv = {PC_CONNECT_TIMEOUT_MS / 1000, (PC_CONNECT_TIMEOUT_MS % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int e = errno == EINPROGRESS || errno == EAGAIN ? ETIMEDOUT : errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

pc_client *pc_connect(const char *path) {
  if (path == NULL) path = getenv("PRACTICED_SOCKET");
  if (path == NULL || *path == '\0') path = "/run/practiced/practiced.sock";
  int fd = open_socket(path);
  if (fd < 0) return NULL;
  pc_client *c = calloc(1, sizeof *c);
  char *copy = strdup(path);
  if (c == NULL || copy == NULL) {
    free(c);
    free(copy);
    close(fd);
    errno = ENOMEM;
    return NULL;
  }
  c->fd = fd;
  c->next_call_id = 1;
  c->path = copy;
  return c;
}

void pc_close(pc_client *c) {
  if (c == NULL) return;
  if (c->fd >= 0) close(c->fd);
  pc_status_free(&c->close_status);
  free(c->path);
  free(c->buf);
  free(c);
}

void pc_set_reconnect(pc_client *c, int on) { c->reconnect = on != 0; }

const pc_status *pc_close_status(const pc_client *c) { return c->has_close_status ? &c->close_status : NULL; }

int pc_valid_utf8(const char *bytes, size_t len) {
  const unsigned char *s = (const unsigned char *)bytes;
  size_t i = 0;
  while (i < len) {
    unsigned char b = s[i];
    if (b == 0) return 0;
    if (b < 0x80) { i++; continue; }
    size_t n;
    uint32_t cp;
    if ((b & 0xE0) == 0xC0) { n = 1; cp = b & 0x1F; }
    else if ((b & 0xF0) == 0xE0) { n = 2; cp = b & 0x0F; }
    else if ((b & 0xF8) == 0xF0) { n = 3; cp = b & 0x07; }
    else return 0;
    for (size_t k = 1; k <= n; k++) {
      if (i + k >= len || (s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    /* Overlong forms (C0 80 among them), surrogates, and beyond Unicode are refused. */
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return 0;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += n + 1;
  }
  return 1;
}

static int check_string(const char *s) { return s == NULL || pc_valid_utf8(s, strlen(s)); }

int pc_check_strings(const ProtobufCMessage *m) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)m;
    if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
      if (which != f->id) continue;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + f->quantifier_offset);
      void *const *items = *(void *const *const *)(base + f->offset);
      for (size_t k = 0; k < n; k++) {
        if (f->type == PROTOBUF_C_TYPE_STRING) {
          if (!check_string((const char *)items[k])) return PC_ERR_INVALID_STRING;
        } else if (items[k] != NULL && pc_check_strings((const ProtobufCMessage *)items[k]) != PC_OK) {
          return PC_ERR_INVALID_STRING;
        }
      }
    } else if (f->type == PROTOBUF_C_TYPE_STRING) {
      if (!check_string(*(const char *const *)(base + f->offset))) return PC_ERR_INVALID_STRING;
    } else {
      const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + f->offset);
      if (sub != NULL && pc_check_strings(sub) != PC_OK) return PC_ERR_INVALID_STRING;
    }
  }
  return PC_OK;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return PC_ERR_IO;
    }
    p += w;
    n -= (size_t)w;
  }
  return PC_OK;
}

/* Reads what the socket has into the buffer, waiting until `deadline` (now_ms; -1: for ever).
 * PC_ERR_TIMEOUT when nothing came in time; PC_ERR_IO (errno ECONNRESET) at EOF. */
static int fill(pc_client *c, int64_t deadline) {
  if (c->fd < 0) {
    errno = ENOTCONN;
    return PC_ERR_IO;
  }
  for (;;) {
    int wait = -1;
    if (deadline >= 0) {
      int64_t left = deadline - now_ms();
      wait = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
    }
    struct pollfd p = {c->fd, POLLIN, 0};
    int n = poll(&p, 1, wait);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PC_ERR_IO;
    }
    if (n == 0) return PC_ERR_TIMEOUT;
    if (c->cap - c->len < 4096) {
      size_t cap = c->cap ? c->cap * 2 : 8192;
      uint8_t *b = realloc(c->buf, cap);
      if (b == NULL) return PC_ERR_NOMEM;
      c->buf = b;
      c->cap = cap;
    }
    ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return PC_ERR_IO;
    }
    if (r == 0) {
      c->closed = 1;
      errno = ECONNRESET;
      return PC_ERR_IO;
    }
    c->len += (size_t)r;
    return PC_OK;
  }
}

/* Packs an envelope and writes it as one frame. */
static int send_request(pc_client *c, Practice__Rpc__V1__Request *req) {
  size_t len = practice__rpc__v1__request__get_packed_size(req);
  if (len > PC_MAX_FRAME) return PC_ERR_TOO_LARGE;
  uint8_t *frame = malloc(4 + len);
  if (frame == NULL) return PC_ERR_NOMEM;
  frame[0] = (uint8_t)(len >> 24);
  frame[1] = (uint8_t)(len >> 16);
  frame[2] = (uint8_t)(len >> 8);
  frame[3] = (uint8_t)len;
  practice__rpc__v1__request__pack(req, frame + 4);
  int rc = write_all(c->fd, frame, 4 + len);
  free(frame);
  return rc;
}

static int compare_method(const void *key, const void *entry) {
  return strcmp((const char *)key, ((const pc_method *)entry)->path);
}

/* The method's entry in the generated table (sorted by path, bytewise), or NULL for a method this
 * library does not know (a newer daemon's: the daemon answers for it). */
static const pc_method *find_method(const char *path) {
  return bsearch(path, pc_methods, pc_methods_count, sizeof pc_methods[0], compare_method);
}

/* Sends one call whose method `m` (NULL: one the table lacks) was looked up by the caller. */
static int send_call(pc_client *c, const pc_method *m, const char *method, const ProtobufCMessage *request,
                     const pc_metadata *metadata, size_t n_metadata, uint32_t timeout_ms, uint64_t *call_id);

int pc_send(pc_client *c, const char *method, const ProtobufCMessage *request, const pc_metadata *metadata,
            size_t n_metadata, uint32_t timeout_ms, uint64_t *call_id) {
  if (method == NULL) return PC_ERR_MISMATCH;
  return send_call(c, find_method(method), method, request, metadata, n_metadata, timeout_ms, call_id);
}

static int send_call(pc_client *c, const pc_method *m, const char *method, const ProtobufCMessage *request,
                     const pc_metadata *metadata, size_t n_metadata, uint32_t timeout_ms, uint64_t *call_id) {
  if (method == NULL || request == NULL) return PC_ERR_MISMATCH;
  if (m != NULL && request->descriptor != m->request) return PC_ERR_MISMATCH;
  if (!check_string(method) || pc_check_strings(request) != PC_OK) return PC_ERR_INVALID_STRING;
  for (size_t i = 0; i < n_metadata; i++) {
    if (!check_string(metadata[i].key) || !check_string(metadata[i].value)) return PC_ERR_INVALID_STRING;
  }
  size_t plen = protobuf_c_message_get_packed_size(request);
  if (plen > PC_MAX_FRAME) return PC_ERR_TOO_LARGE;
  uint8_t *payload = malloc(plen ? plen : 1);
  Practice__Rpc__V1__MetadataEntry *entries = calloc(n_metadata ? n_metadata : 1, sizeof *entries);
  Practice__Rpc__V1__MetadataEntry **entry_ptrs = calloc(n_metadata ? n_metadata : 1, sizeof *entry_ptrs);
  if (payload == NULL || entries == NULL || entry_ptrs == NULL) {
    free(payload);
    free(entries);
    free(entry_ptrs);
    return PC_ERR_NOMEM;
  }
  protobuf_c_message_pack(request, payload);
  for (size_t i = 0; i < n_metadata; i++) {
    practice__rpc__v1__metadata_entry__init(&entries[i]);
    entries[i].key = (char *)metadata[i].key;
    entries[i].value = (char *)metadata[i].value;
    entry_ptrs[i] = &entries[i];
  }
  Practice__Rpc__V1__Request req = PRACTICE__RPC__V1__REQUEST__INIT;
  req.call_id = c->next_call_id++;
  req.method = (char *)method;
  req.payload.data = payload;
  req.payload.len = plen;
  req.n_metadata = n_metadata;
  req.metadata = entry_ptrs;
  req.timeout_ms = timeout_ms;
  int rc = send_request(c, &req);
  if (rc == PC_OK && call_id != NULL) *call_id = req.call_id;
  free(payload);
  free(entries);
  free(entry_ptrs);
  return rc;
}

int pc_cancel(pc_client *c, uint64_t call_id) {
  Practice__Rpc__V1__Request req = PRACTICE__RPC__V1__REQUEST__INIT;
  req.call_id = call_id;
  req.cancel = 1;
  return send_request(c, &req);
}

static char *dup_string(const char *s) { return strdup(s ? s : ""); }

static int copy_status(const Practice__Rpc__V1__Status *in, pc_status *out) {
  memset(out, 0, sizeof *out);
  if (in == NULL) {
    out->message = dup_string("");
    out->reason = dup_string("");
    return PC_OK;
  }
  out->code = in->code;
  out->message = dup_string(in->message);
  out->reason = dup_string(in->reason);
  if (in->n_violations > 0) {
    out->violations = calloc(in->n_violations, sizeof *out->violations);
    if (out->violations == NULL) return PC_ERR_NOMEM;
    out->n_violations = in->n_violations;
    for (size_t i = 0; i < in->n_violations; i++) {
      out->violations[i].field = dup_string(in->violations[i]->field);
      out->violations[i].description = dup_string(in->violations[i]->description);
    }
  }
  if (in->detail.len > 0) {
    out->detail = malloc(in->detail.len);
    if (out->detail == NULL) return PC_ERR_NOMEM;
    memcpy(out->detail, in->detail.data, in->detail.len);
    out->detail_len = in->detail.len;
  }
  return PC_OK;
}

/* A deep copy of a status. */
static int dup_status(const pc_status *in, pc_status *out) {
  memset(out, 0, sizeof *out);
  out->code = in->code;
  out->message = dup_string(in->message);
  out->reason = dup_string(in->reason);
  if (out->message == NULL || out->reason == NULL) return PC_ERR_NOMEM;
  if (in->n_violations > 0) {
    out->violations = calloc(in->n_violations, sizeof *out->violations);
    if (out->violations == NULL) return PC_ERR_NOMEM;
    out->n_violations = in->n_violations;
    for (size_t i = 0; i < in->n_violations; i++) {
      out->violations[i].field = dup_string(in->violations[i].field);
      out->violations[i].description = dup_string(in->violations[i].description);
    }
  }
  if (in->detail_len > 0) {
    out->detail = malloc(in->detail_len);
    if (out->detail == NULL) return PC_ERR_NOMEM;
    memcpy(out->detail, in->detail, in->detail_len);
    out->detail_len = in->detail_len;
  }
  return PC_OK;
}

int pc_receive_until(pc_client *c, pc_response *out, int timeout_ms) {
  memset(out, 0, sizeof *out);
  int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
  uint32_t len = 0;
  for (;;) {
    if (c->len >= 4) {
      len = (uint32_t)c->buf[0] << 24 | (uint32_t)c->buf[1] << 16 | (uint32_t)c->buf[2] << 8 | c->buf[3];
      if (len == 0) return PC_ERR_PROTOCOL;
      if (len > PC_MAX_FRAME) return PC_ERR_TOO_LARGE;
      if (c->len >= 4 + (size_t)len) break;
    }
    int rc = fill(c, deadline);
    if (rc != PC_OK) return rc;
  }
  Practice__Rpc__V1__Response *resp = practice__rpc__v1__response__unpack(NULL, len, c->buf + 4);
  c->len -= 4 + (size_t)len;
  memmove(c->buf, c->buf + 4 + len, c->len);
  if (resp == NULL) return PC_ERR_PROTOCOL;
  out->call_id = resp->call_id;
  out->more = resp->more;
  int rc = copy_status(resp->status, &out->status);
  if (rc == PC_OK && resp->payload.len > 0) {
    out->payload = malloc(resp->payload.len);
    if (out->payload == NULL) {
      rc = PC_ERR_NOMEM;
    } else {
      memcpy(out->payload, resp->payload.data, resp->payload.len);
      out->payload_len = resp->payload.len;
    }
  }
  practice__rpc__v1__response__free_unpacked(resp, NULL);
  if (rc == PC_OK && out->call_id == 0 && !out->more) {
    /* The daemon says why it ends the connection: kept for pc_close_status. */
    c->closed = 1;
    pc_status_free(&c->close_status);
    rc = dup_status(&out->status, &c->close_status);
    c->has_close_status = rc == PC_OK;
  }
  return rc;
}

int pc_receive(pc_client *c, pc_response *out) { return pc_receive_until(c, out, -1); }

/* Before a call: whether the daemon already closed the connection (an idle close comes as a call_id
 * 0 response, then EOF), read without waiting; with pc_set_reconnect, a new connection replaces it. */
static int check_open(pc_client *c) {
  while (!c->closed && c->fd >= 0) {
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) break;
    pc_response r;
    int rc = pc_receive_until(c, &r, 0);
    pc_response_free(&r);
    if (rc == PC_ERR_TIMEOUT) break; /* part of a frame: calls are still being answered */
    if (rc != PC_OK) c->closed = 1;
  }
  if (!c->closed) return PC_OK;
  if (!c->reconnect) return c->has_close_status ? PC_OK : (errno = ECONNRESET, PC_ERR_IO);
  int fd = open_socket(c->path);
  if (fd < 0) return PC_ERR_IO;
  if (c->fd >= 0) close(c->fd);
  c->fd = fd;
  c->closed = 0;
  c->len = 0;
  return PC_OK;
}

int pc_call(pc_client *c, const char *method, const ProtobufCMessage *request, const pc_metadata *metadata,
            size_t n_metadata, uint32_t timeout_ms, const ProtobufCMessageDescriptor *response_descriptor,
            ProtobufCMessage **response, pc_status *status) {
  if (response != NULL) *response = NULL;
  memset(status, 0, sizeof *status);
  const pc_method *m = method != NULL ? find_method(method) : NULL;
  if (m != NULL && response_descriptor != NULL && response_descriptor != m->response) return PC_ERR_MISMATCH;
  int rc = check_open(c);
  if (rc != PC_OK) return rc;
  if (c->closed) {
    /* Closed by the daemon, no reconnecting: report its reason (e.g. IDLE_TIMEOUT). */
    return dup_status(&c->close_status, status);
  }
  uint64_t id;
  rc = send_call(c, m, method, request, metadata, n_metadata, timeout_ms, &id);
  if (rc != PC_OK) return rc;
  int64_t give_up = now_ms() + (timeout_ms ? timeout_ms : PC_DEFAULT_TIMEOUT_MS) + PC_DEADLINE_GRACE_MS;
  for (;;) {
    pc_response r;
    int64_t left = give_up - now_ms();
    rc = left > 0 ? pc_receive_until(c, &r, (int)left) : PC_ERR_TIMEOUT;
    if (rc == PC_ERR_TIMEOUT) {
      /* No answer within the deadline and its grace: give up, ask the daemon to cancel, and keep
       * the connection (a late answer to this call_id is skipped by the next call). */
      pc_cancel(c, id);
      status->code = PC_CODE_DEADLINE_EXCEEDED;
      status->reason = strdup("DEADLINE_EXCEEDED");
      status->message = strdup("no answer from practiced within the deadline and its grace (the client gave up)");
      return PC_ERR_DEADLINE;
    }
    if (rc != PC_OK) return rc;
    if (r.call_id == 0 && !r.more) {
      /* The daemon ends the connection (a framing error, an idle close): report its status. */
      *status = r.status;
      memset(&r.status, 0, sizeof r.status);
      pc_response_free(&r);
      return PC_OK;
    }
    if (r.call_id != id || r.more) {
      pc_response_free(&r);
      continue;
    }
    *status = r.status;
    memset(&r.status, 0, sizeof r.status);
    if (status->code == 0 && response_descriptor != NULL && response != NULL) {
      *response = protobuf_c_message_unpack(response_descriptor, NULL, r.payload_len, r.payload);
      if (*response == NULL) rc = PC_ERR_UNPACK;
    }
    pc_response_free(&r);
    return rc;
  }
}

const char *pc_strerror(int rc) {
  switch (rc) {
  case PC_OK: return "success";
  case PC_ERR_IO: return "the connection to practiced failed or was closed (see errno)";
  case PC_ERR_PROTOCOL: return "practiced sent something that is not the protocol";
  case PC_ERR_INVALID_STRING: return "a request string is not valid UTF-8 (nothing was sent)";
  case PC_ERR_TOO_LARGE: return "the request or a response exceeds the frame limit";
  case PC_ERR_NOMEM: return "out of memory";
  case PC_ERR_UNPACK: return "the response does not unpack with the descriptor given";
  case PC_ERR_TIMEOUT: return "no frame arrived within the time given";
  case PC_ERR_DEADLINE: return "no answer within the call's deadline and its grace (the call was cancelled)";
  case PC_ERR_MISMATCH: return "the request or response type is not the method's (nothing was sent)";
  default: return "unknown libpracticeclient result";
  }
}

const char *pc_code_name(int32_t code) {
  static const char *names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? names[code] : "UNKNOWN_CODE";
}

void pc_status_free(pc_status *s) {
  if (s == NULL) return;
  /* The strings are the status's own copies, const only to their readers. */
  free((void *)s->message);
  free((void *)s->reason);
  for (size_t i = 0; i < s->n_violations; i++) {
    free((void *)s->violations[i].field);
    free((void *)s->violations[i].description);
  }
  free(s->violations);
  free(s->detail);
  memset(s, 0, sizeof *s);
}

void pc_response_free(pc_response *r) {
  if (r == NULL) return;
  pc_status_free(&r->status);
  free(r->payload);
  memset(r, 0, sizeof *r);
}
