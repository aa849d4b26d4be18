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
 *
 * Types: pc_send and pc_call check that the request is the method's request type and pc_call that the
 * response descriptor is the method's response type (PC_ERR_MISMATCH), so that a wrong pairing never
 * decodes silently.
 *
 * Threads: a pc_client is used by one thread at a time (no locks inside); different clients are
 * independent. The library keeps no global mutable state.
 *
 * Memory: the library never keeps a pointer to what the caller passes (method, request, metadata are
 * read during the call). What it returns belongs to the caller: a pc_status (free with
 * pc_status_free), a pc_response (pc_response_free), an unpacked response message
 * (protobuf_c_message_free_unpacked(msg, NULL)). pc_close_status() and the strings of
 * pc_strerror()/pc_code_name()/pc_version() belong to the library: do not free them.
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
  PC_ERR_UNPACK = -6,         /* the response payload does not unpack with the given descriptor */
  PC_ERR_TIMEOUT = -7,        /* pc_receive_until: no frame within the time given */
  PC_ERR_DEADLINE = -8,       /* pc_call: no answer within the deadline and PC_DEADLINE_GRACE_MS; the
                                 status says DEADLINE_EXCEEDED; the call was cancelled, the connection
                                 stays usable */
  PC_ERR_MISMATCH = -9        /* the request's type (pc_send, pc_call) or the response descriptor (pc_call)
                                 is not the method's own; nothing was sent. Checked against a table
                                 generated from proto/; a method the library does not know is sent as
                                 given */
};

/* A sentence for a result of the library's own functions (PC_OK, PC_ERR_*): a static string. */
const char *pc_strerror(int rc);

/* Time limits of the library (milliseconds).
 * - pc_connect gives up after PC_CONNECT_TIMEOUT_MS (a daemon whose backlog is full); the same bound
 *   applies to each send, so a daemon that stopped reading cannot block a writer for ever.
 * - pc_call gives up at its deadline (timeout_ms, or PC_DEFAULT_TIMEOUT_MS, the daemon's default, for
 *   0) plus PC_DEADLINE_GRACE_MS: a stopped or wedged daemon never hangs the caller. */
#define PC_CONNECT_TIMEOUT_MS 5000
#define PC_DEFAULT_TIMEOUT_MS 30000
#define PC_DEADLINE_GRACE_MS 500

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
  const char *field;
  const char *description;
} pc_violation;

/* The final status of a call. code 0 is OK; otherwise reason says why, for programs. */
typedef struct {
  int32_t code;
  const char *message; /* owned by the status: pc_status_free releases them */
  const char *reason;
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

/* The library's version ("1.1.0"), the same as practiced's. */
const char *pc_version(void);

/* Opt-in reconnection: when the daemon has closed the connection (an idle connection is closed
 * after the daemon's idle timeout, with a call_id 0 response of reason IDLE_TIMEOUT first), the next
 * pc_call opens a new connection to the same path instead of reporting the close. Off by default:
 * a program that pipelines with pc_send/pc_receive must see the close itself. */
void pc_set_reconnect(pc_client *client, int on);

/* The status the daemon sent with call_id 0 when it closed the connection (UNAVAILABLE with reason
 * IDLE_TIMEOUT or SHUTTING_DOWN, or a framing error), or NULL. Owned by the client. Without
 * reconnection, a pc_call on such a connection returns PC_OK with a copy of this status. */
const pc_status *pc_close_status(const pc_client *client);

/* Sends one call without waiting. request is any message of proto/; timeout_ms 0 is the daemon's
 * default deadline. The call's id is stored in *call_id. */
int pc_send(pc_client *client, const char *method, const ProtobufCMessage *request, const pc_metadata *metadata,
            size_t n_metadata, uint32_t timeout_ms, uint64_t *call_id);

/* Asks the daemon to cancel an in-flight call (no response of its own). */
int pc_cancel(pc_client *client, uint64_t call_id);

/* Receives the next response frame, whichever call it belongs to. Free it with pc_response_free.
 * pc_receive waits for ever; pc_receive_until at most timeout_ms (then PC_ERR_TIMEOUT, and a frame
 * that had begun to arrive is kept for the next receive). */
int pc_receive(pc_client *client, pc_response *response);
int pc_receive_until(pc_client *client, pc_response *response, int timeout_ms);

/* A unary call: sends, then waits for its final response (responses to other calls in flight are
 * not expected: use pc_send/pc_receive to pipeline). On PC_OK, *status holds the daemon's status;
 * when it is OK and response_descriptor is given, *response holds the unpacked message (free it
 * with protobuf_c_message_free_unpacked). Gives up at the deadline plus PC_DEADLINE_GRACE_MS with
 * PC_ERR_DEADLINE (*status then says DEADLINE_EXCEEDED; free it as usual). */
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
