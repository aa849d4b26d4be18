#!/usr/bin/env python3
"""A practiced client written only from docs/PROTOCOL.md and proto/: no protobuf library, no Swift.

It frames requests by hand (uint32 big-endian length + practice.rpc.v1.Request), encodes the
protobuf messages field by field, creates an account and reads it back.
Usage: raw_client.py SOCKET_PATH PRACTICE_NAME  -> prints the account id; exits non-zero on failure.
"""
import socket
import struct
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3 | 0) + varint(value)


def field_bytes(number, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return varint(number << 3 | 2) + varint(len(data)) + data


def parse(data):
    """Decodes one message into {field number: [values]} (varints as int, length-delimited as bytes)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(data, i)
        elif wire == 2:
            length, i = read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        fields.setdefault(number, []).append(value)
    return fields


def read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def call(sock, call_id, method, payload):
    # practice.rpc.v1.Request: 1 call_id, 2 method, 3 payload
    request = field_varint(1, call_id) + field_bytes(2, method) + field_bytes(3, payload)
    sock.sendall(struct.pack(">I", len(request)) + request)
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    response = parse(recv_exact(sock, length))
    # practice.rpc.v1.Response: 1 call_id, 2 status, 3 payload, 4 more
    assert response.get(1, [0])[0] == call_id, "call_id mismatch"
    status = parse(response.get(2, [b""])[0])
    code = status.get(1, [0])[0]
    if code != 0:
        reason = status.get(3, [b""])[0].decode()
        message = status.get(2, [b""])[0].decode()
        raise RuntimeError("%s failed: code %d %s %s" % (method, code, reason, message))
    return response.get(3, [b""])[0]


def main():
    path, name = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    # CreateAccountRequest: 1 practice_name, 2 owner_name, 3 owner_email
    created = call(sock, 1, "/practice.v1.AccountService/CreateAccount",
                   field_bytes(1, name) + field_bytes(2, "Raw Owner") + field_bytes(3, "raw@example.com"))
    account = parse(parse(created)[1][0])  # CreateAccountResponse.account
    account_id = account[1][0].decode()
    # GetAccountRequest: 1 account_id -> GetAccountResponse: 1 account
    got = parse(parse(call(sock, 2, "/practice.v1.AccountService/GetAccount", field_bytes(1, account_id)))[1][0])
    assert got[1][0].decode() == account_id, "GetAccount returned another account"
    assert got[2][0].decode() == name, "practice name differs: %r" % got[2][0]
    print(account_id)


if __name__ == "__main__":
    main()
