import Foundation
import NIOCore
import PracticeProto
import SwiftProtobuf

/// Well-known metadata keys (docs/PROTOCOL.md, "Metadata keys").
public enum MetadataKey {
  public static let actor = "actor"
  public static let idempotencyKey = "idempotency-key"
  public static let requestID = "request-id"
}

extension Practice_Rpc_V1_Request {
  /// Decodes a request from one frame's body.
  public init(frame body: ByteBuffer) throws(FrameError) {
    do {
      self = try body.withUnsafeReadableBytes { raw in
        try Practice_Rpc_V1_Request(serializedBytes: raw)
      }
    } catch {
      throw .undecodable
    }
  }

  /// The first value of a metadata key.
  public func metadataValue(_ key: String) -> String? {
    metadata.first(where: { $0.key == key })?.value
  }
}

extension Practice_Rpc_V1_Response {
  /// A final response that reports `error`.
  public static func failure(callID: UInt64, _ error: RPCError) -> Practice_Rpc_V1_Response {
    var r = Practice_Rpc_V1_Response()
    r.callID = callID
    r.status = error.status
    return r
  }

  /// A final OK response with a payload.
  public static func success(callID: UInt64, payload: Data) -> Practice_Rpc_V1_Response {
    var r = Practice_Rpc_V1_Response()
    r.callID = callID
    r.status = .ok
    r.payload = payload
    return r
  }

  /// One item of a server stream.
  public static func streamItem(callID: UInt64, payload: Data) -> Practice_Rpc_V1_Response {
    var r = Practice_Rpc_V1_Response()
    r.callID = callID
    r.payload = payload
    r.more = true
    return r
  }

  /// The response encoded as one frame.
  public func frame(allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
    // Encoding a message we built ourselves cannot fail.
    let bytes: [UInt8] = try! serializedBytes()
    return FrameEncoder.frame(bytes, allocator: allocator)
  }
}

/// The frame of a final OK response, encoded straight into the buffer the transport writes: no
/// `Response` message, no intermediate array. The bytes are those of
/// `Practice_Rpc_V1_Response.success(callID:payload:).frame()`, fields in number order as every
/// protobuf encoder writes them: `call_id` (1, varint), `status` (2, an empty `Status`: code 0),
/// `payload` (3, bytes, left out when empty).
public enum SuccessFrame {
  public static func encode(callID: UInt64, payload: Data, allocator: ByteBufferAllocator) -> ByteBuffer {
    var body = 2  // status: tag, length 0
    if callID != 0 { body += 1 + varintSize(callID) }
    if !payload.isEmpty { body += 1 + varintSize(UInt64(payload.count)) + payload.count }
    let total = FrameLimits.headerSize + body
    var out = allocator.buffer(capacity: total)
    // One write into the buffer: each ByteBuffer.writeInteger call pays its own bounds and
    // uniqueness checks, which cost more than the bytes.
    out.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { dst in
      var i = 0
      func put(_ byte: UInt8) {
        dst[i] = byte
        i += 1
      }
      func putVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
          put(UInt8(truncatingIfNeeded: v) | 0x80)
          v >>= 7
        }
        put(UInt8(v))
      }
      let length = UInt32(body)
      put(UInt8(truncatingIfNeeded: length >> 24))
      put(UInt8(truncatingIfNeeded: length >> 16))
      put(UInt8(truncatingIfNeeded: length >> 8))
      put(UInt8(truncatingIfNeeded: length))
      if callID != 0 {
        put(0x08)
        putVarint(callID)
      }
      put(0x12)  // status: field 2, length-delimited, empty
      put(0x00)
      if !payload.isEmpty {
        put(0x1A)
        putVarint(UInt64(payload.count))
        payload.withUnsafeBytes { src in
          UnsafeMutableRawBufferPointer(rebasing: dst[i..<(i + src.count)]).copyMemory(from: src)
        }
        i += payload.count
      }
      precondition(i == total, "SuccessFrame: wrote \(i) bytes of \(total)")
      return i
    }
    return out
  }

  static func varintSize(_ v: UInt64) -> Int { v == 0 ? 1 : (64 - v.leadingZeroBitCount + 6) / 7 }
}

/// The client's side of `SuccessFrame`: reads a response body (call_id, an OK status with no fields,
/// a payload, `more`) straight from the frame's bytes, without building a `Response` message.
/// Anything else (a status with a code or message, an unknown field, a malformed varint) returns nil
/// and the caller decodes the body with swift-protobuf, so the result is always what it would decode.
public struct PlainResponse: Equatable, Sendable {
  public var callID: UInt64 = 0
  public var hasStatus = false
  public var payload = Data()
  public var more = false

  public init() {}

  public static func parse(_ bytes: UnsafeRawBufferPointer) -> PlainResponse? {
    var r = PlainResponse()
    var i = 0
    func varint() -> UInt64? {
      var value: UInt64 = 0
      var shift: UInt64 = 0
      while i < bytes.count, shift < 64 {
        let b = bytes[i]
        i += 1
        value |= UInt64(b & 0x7F) << shift
        if b < 0x80 { return value }
        shift += 7
      }
      return nil
    }
    while i < bytes.count {
      guard let tag = varint() else { return nil }
      switch tag {
      case 0x08:  // call_id
        guard let v = varint() else { return nil }
        r.callID = v
      case 0x12:  // status: only the empty one (OK, nothing else) is read here
        guard varint() == 0 else { return nil }
        r.hasStatus = true
      case 0x1A:  // payload (the last one wins, as in protobuf)
        guard let n = varint(), n <= UInt64(bytes.count - i) else { return nil }
        r.payload = Data(bytes[i..<(i + Int(n))])
        i += Int(n)
      case 0x20:  // more
        guard let v = varint() else { return nil }
        r.more = v != 0
      default:
        return nil
      }
    }
    return r
  }
}

extension Practice_Rpc_V1_Request {
  /// The request encoded as one frame.
  public func frame(allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
    let bytes: [UInt8] = try! serializedBytes()
    return FrameEncoder.frame(bytes, allocator: allocator)
  }
}
