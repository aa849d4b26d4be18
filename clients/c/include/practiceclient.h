/*
 * libpracticeclient: a small C client for practiced (docs/PROTOCOL.md), on protobuf-c.
 *
 * One pc_client is one Unix-socket connection. Requests are protobuf-c messages of the types in
 * proto/ (the generated headers are installed beside this one); responses are unpacked with the
 * caller's descriptor. Calls may be pipelined: pc_send() several requests, then pc_receive()
 * their responses in whatever order the daemon answers, paired by call_id. A connection is not
 * thread-safe: use one per thread.
 *
 * Strings: every string field of a request is checked before it is packed; invalid UTF-8 (overlong
 * forms such as C0 80, the "modified UTF-8" NUL, included) is refused with PC_ERR_INVALID_STRING and
 * nothing is sent. A C string cannot carry U+0000 itself.
 */
#ifndef PRACTICECLIENT_H
#define PRACTICECLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results of the library's own functions (not the daemon's status codes). */
enum {
  PC_OK = 0,
  PC_ERR_IO = -1,             /* the socket failed or was closed; see errno */
  PC_ERR_PROTOCOL = -2,       /* the daemon sent something that is not the protocol */
  PC_ERR_INVALID_STRING = -3, /* a request string is not valid UTF-8; nothing was sent */
  PC_ERR_TOO_LARGE = -4,      /* the request or a response exceeds the frame limit */
  PC_ERR_NOMEM = -5,
  PC_ERR_UNPACK = -6          /* the response payload does not unpack with the given descriptor */
};

/* gRPC status codes, as practiced uses them. */
enum {
  PC_CODE_OK = 0, PC_CODE_CANCELLED = 1, PC_CODE_UNKNOWN = 2, PC_CODE_INVALID_ARGUMENT = 3,
  PC_CODE_DEADLINE_EXCEEDED = 4, PC_CODE_NOT_FOUND = 5, PC_CODE_ALREADY_EXISTS = 6,
  PC_CODE_PERMISSION_DENIED = 7, PC_CODE_RESOURCE_EXHAUSTED = 8, PC_CODE_FAILED_PRECONDITION = 9,
  PC_CODE_ABORTED = 10, PC_CODE_OUT_OF_RANGE = 11, PC_CODE_UNIMPLEMENTED = 12, PC_CODE_INTERNAL = 13,
  PC_CODE_UNAVAILABLE = 14, PC_CODE_DATA_LOSS = 15, PC_CODE_UNAUTHENTICATED = 16
};

typedef struct pc_client pc_client;

/* One invalid field of a request. */
typedef struct {
  char *field;
  char *description;
} pc_violation;

/* The final status of a call. code 0 is OK; otherwise reason says why, for programs. */
typedef struct {
  int32_t code;
  char *message;
  char *reason;
  size_t n_violations;
  pc_violation *violations;
  uint8_t *detail; /* an encoded message some reasons define (e.g. RoomConflictDetail) */
  size_t detail_len;
} pc_status;

/* One response frame. more != 0: a stream item follows (status unset). */
typedef struct {
  uint64_t call_id;
  int more;
  pc_status status;
  uint8_t *payload;
  size_t payload_len;
} pc_response;

/* A metadata entry (actor, idempotency-key, request-id). */
typedef struct {
  const char *key;
  const char *value;
} pc_metadata;

/* Connects to the daemon. path NULL: $PRACTICED_SOCKET, else /run/practiced/practiced.sock.
 * Returns NULL on failure (errno set). */
pc_client *pc_connect(const char *path);

/* Closes the connection and frees the client. */
void pc_close(pc_client *client);

/* Sends one call without waiting. request is any message of proto/; timeout_ms 0 is the daemon's
 * default deadline. The call's id is stored in *call_id. */
int pc_send(pc_client *client, const char *method, const ProtobufCMessage *request, const pc_metadata *metadata,
            size_t n_metadata, uint32_t timeout_ms, uint64_t *call_id);

/* Asks the daemon to cancel an in-flight call (no response of its own). */
int pc_cancel(pc_client *client, uint64_t call_id);

/* Receives the next response frame, whichever call it belongs to. Free it with pc_response_free. */
int pc_receive(pc_client *client, pc_response *response);

/* A unary call: sends, then waits for its final response (responses to other calls in flight are
 * not expected: use pc_send/pc_receive to pipeline). On PC_OK, *status holds the daemon's status;
 * when it is OK and response_descriptor is given, *response holds the unpacked message (free it
 * with protobuf_c_message_free_unpacked). */
int pc_call(pc_client *client, const char *method, const ProtobufCMessage *request, const pc_metadata *metadata,
            size_t n_metadata, uint32_t timeout_ms, const ProtobufCMessageDescriptor *response_descriptor,
            ProtobufCMessage **response, pc_status *status);

/* Checks every string field of a message (nested ones too): PC_OK or PC_ERR_INVALID_STRING. */
int pc_check_strings(const ProtobufCMessage *message);

/* Whether bytes are valid UTF-8 without U+0000 (overlong forms, surrogates, > U+10FFFF refused). */
int pc_valid_utf8(const char *bytes, size_t len);

/* The upper-case name of a status code ("FAILED_PRECONDITION"). */
const char *pc_code_name(int32_t code);

void pc_status_free(pc_status *status);
void pc_response_free(pc_response *response);

#ifdef __cplusplus
}
#endif
#endif
