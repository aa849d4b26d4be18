"""The connection: frames, call ids, deadlines, cancellation, streams (docs/PROTOCOL.md)."""

import enum
import itertools
import os
import queue
import socket
import struct
import threading

from practice.rpc.v1 import rpc_pb2

DEFAULT_SOCKET = "/run/practiced/practiced.sock"
# The daemon's default deadline for unary calls, and how long past a deadline the client still waits
# for the daemon's own DEADLINE_EXCEEDED before it gives up itself (as the Swift and C clients do).
DEFAULT_TIMEOUT = 30.0
DEADLINE_GRACE = 0.5
CONNECT_TIMEOUT = 5.0
MAX_FRAME = 4 * 1024 * 1024


def default_socket_path():
    """$PRACTICED_SOCKET, else /run/practiced/practiced.sock."""
    return os.environ.get("PRACTICED_SOCKET") or DEFAULT_SOCKET


class StatusCode(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class RPCError(Exception):
    """A call's non-OK status: `code` (StatusCode), `reason` (for programs), `message` (for humans),
    `violations` [(field, description)], `detail` (bytes some reasons define)."""

    def __init__(self, code, reason="", message="", violations=(), detail=b""):
        try:
            self.code = StatusCode(code)
        except ValueError:
            self.code = StatusCode.UNKNOWN
        self.reason = reason
        self.message = message
        self.violations = list(violations)
        self.detail = detail
        super().__init__(f"{self.code.name} ({reason}): {message}")

    @classmethod
    def from_status(cls, status):
        return cls(status.code, status.reason, status.message,
                   [(v.field, v.description) for v in status.violations], status.detail)


class ConnectionClosed(Exception):
    """The connection failed or was closed; `status` is the daemon's reason when it sent one
    (IDLE_TIMEOUT, SHUTTING_DOWN, a framing error)."""

    def __init__(self, message, status=None):
        self.status = status
        super().__init__(message)


def connect(path=None, connect_timeout=CONNECT_TIMEOUT):
    """Opens a connection to the daemon at `path` (default: default_socket_path())."""
    return Connection(path or default_socket_path(), connect_timeout)


class Connection:
    """One connection. Safe to share between threads: calls are pipelined by call id, each answered
    to its caller by a reader thread. Use as a context manager, or close()."""

    def __init__(self, path, connect_timeout=CONNECT_TIMEOUT):
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(connect_timeout)
        try:
            self._sock.connect(path)
        except OSError:
            self._sock.close()
            raise
        self._sock.settimeout(None)
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._calls = {}  # call id -> queue.Queue of Response (or a ConnectionClosed)
        self._ids = itertools.count(1)
        self._closed = None
        self._reader = threading.Thread(target=self._read_loop, name="practiceclient-reader", daemon=True)
        self._reader.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the connection; calls in flight fail with ConnectionClosed."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(timeout=2)

    # -- calls

    def unary(self, method, request, response_type, actor=None, idempotency_key=None, request_id=None,
              timeout=None, metadata=()):
        """Calls `method` with `request`; returns a `response_type` message or raises RPCError.
        Gives up `DEADLINE_GRACE` seconds after the deadline (`timeout` seconds, default the daemon's)
        with DEADLINE_EXCEEDED, and asks the daemon to cancel the call."""
        call_id, replies = self._start(method, request, actor, idempotency_key, request_id, timeout, metadata)
        wait = (timeout if timeout is not None else DEFAULT_TIMEOUT) + DEADLINE_GRACE
        try:
            while True:
                try:
                    r = replies.get(timeout=wait)
                except queue.Empty:
                    self._cancel(call_id)
                    raise RPCError(StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED",
                                   "no answer from practiced within the deadline and its grace (the client gave up)")
                if isinstance(r, Exception):
                    raise r
                if r.more:
                    continue
                if r.status.code != 0:
                    raise RPCError.from_status(r.status)
                return response_type.FromString(r.payload)
        finally:
            self._finish(call_id)

    def stream(self, method, request, item_type, actor=None, request_id=None, timeout=None, metadata=()):
        """Calls a server-streaming `method`; yields `item_type` messages, then raises RPCError for a
        non-OK end. Leaving the iteration early cancels the call."""
        call_id, replies = self._start(method, request, actor, None, request_id, timeout, metadata)
        done = False
        try:
            while True:
                r = replies.get()
                if isinstance(r, Exception):
                    done = True
                    raise r
                if r.more:
                    yield item_type.FromString(r.payload)
                    continue
                done = True
                if r.status.code != 0:
                    raise RPCError.from_status(r.status)
                return
        finally:
            if not done:
                self._cancel(call_id)
            self._finish(call_id)

    # -- the envelope

    def _start(self, method, request, actor, idempotency_key, request_id, timeout, metadata):
        envelope = rpc_pb2.Request(method=method, payload=request.SerializeToString())
        if timeout is not None:
            envelope.timeout_ms = max(1, int(timeout * 1000))
        for key, value in ([("actor", actor)] if actor else []) + \
                ([("idempotency-key", idempotency_key)] if idempotency_key else []) + \
                ([("request-id", request_id)] if request_id else []) + list(metadata):
            envelope.metadata.add(key=key, value=value)
        replies = queue.Queue()
        with self._lock:
            if self._closed is not None:
                raise self._closed
            call_id = next(self._ids)
            self._calls[call_id] = replies
        envelope.call_id = call_id
        try:
            self._send(envelope)
        except Exception:
            self._finish(call_id)
            raise
        return call_id, replies

    def _finish(self, call_id):
        with self._lock:
            self._calls.pop(call_id, None)

    def _cancel(self, call_id):
        try:
            self._send(rpc_pb2.Request(call_id=call_id, cancel=True))
        except (OSError, ConnectionClosed):
            pass

    def _send(self, envelope):
        data = envelope.SerializeToString()
        if len(data) > MAX_FRAME:
            raise RPCError(StatusCode.RESOURCE_EXHAUSTED, "FRAME_TOO_LARGE", "the request exceeds the frame limit")
        with self._write_lock:
            try:
                self._sock.sendall(struct.pack(">I", len(data)) + data)
            except OSError as e:
                raise ConnectionClosed(f"cannot send to practiced: {e}") from e

    def _read_exactly(self, n):
        chunks = []
        while n > 0:
            chunk = self._sock.recv(min(n, 1 << 16))
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read_loop(self):
        failure = ConnectionClosed("practiced closed the connection")
        try:
            while True:
                header = self._read_exactly(4)
                if header is None:
                    break
                (length,) = struct.unpack(">I", header)
                body = self._read_exactly(length)
                if body is None:
                    break
                r = rpc_pb2.Response.FromString(body)
                if r.call_id == 0:
                    # The daemon ends the connection and says why.
                    failure = ConnectionClosed(f"practiced closed the connection: {r.status.reason}: {r.status.message}",
                                               RPCError.from_status(r.status))
                    continue
                with self._lock:
                    replies = self._calls.get(r.call_id)
                if replies is not None:
                    replies.put(r)
        except OSError as e:
            failure = ConnectionClosed(f"the connection to practiced failed: {e}")
        with self._lock:
            self._closed = failure
            pending = list(self._calls.values())
        for replies in pending:
            replies.put(failure)
