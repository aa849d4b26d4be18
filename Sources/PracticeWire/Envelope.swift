import Foundation
import NIOCore
import PracticeCore
import PracticeProto
import SwiftProtobuf

extension Practice_Rpc_V1_Request {
  /// Decodes a request from one frame's body. `previousMethod`: the method of the connection's last
  /// request; a request for the same method shares its string instead of building another.
  public init(frame body: ByteBuffer, previousMethod: String = "") throws(FrameError) {
    do {
      self = try body.withUnsafeReadableBytes { raw in
        if let plain = Practice_Rpc_V1_Request.plain(raw, previousMethod: previousMethod) { return plain }
        // The rare request the plain reader leaves to swift-protobuf, from a copy of its bytes (the
        // raw buffer is not a SwiftProtobufContiguousBytes).
        return try Practice_Rpc_V1_Request(serializedBytes: [UInt8](raw))
      }
    } catch {
      throw .undecodable
    }
  }

  /// A request read straight from its bytes, without swift-protobuf's generic decoder: the fields of
  /// `Request` and `MetadataEntry` with their own wire types, strings that are valid UTF-8. Anything
  /// else (an unknown field, a wrong wire type, a malformed varint or length, a `timeout_ms` past 32
  /// bits) returns nil and the caller decodes with swift-protobuf, so the result is always what it
  /// would decode. Later occurrences of a field win, as in protobuf.
  public static func plain(_ bytes: UnsafeRawBufferPointer) -> Practice_Rpc_V1_Request? {
    plain(bytes, previousMethod: "")
  }

  /// `plain(_:)`, sharing the string of `previousMethod` (the connection's last request's) when the
  /// method is the same.
  public static func plain(_ bytes: UnsafeRawBufferPointer, previousMethod: String) -> Practice_Rpc_V1_Request? {
    var r = WireReader(bytes)
    var request = Practice_Rpc_V1_Request()
    while !r.atEnd {
      switch r.varint() {
      case 0x08:  // call_id
        guard let v = r.varint() else { return nil }
        request.callID = v
      case 0x12:  // method
        guard let b = r.bytes() else { return nil }
        if WireReader.equal(b, previousMethod) {
          request.method = previousMethod
        } else {
          guard let v = WireReader.string(b) else { return nil }
          request.method = v
        }
      case 0x1A:  // payload
        guard let v = r.bytes() else { return nil }
        request.payload = Data(v)
      case 0x22:  // metadata: one MetadataEntry
        guard let v = r.bytes() else { return nil }
        var entry = Practice_Rpc_V1_MetadataEntry()
        var e = WireReader(v)
        while !e.atEnd {
          switch e.varint() {
          case 0x0A:
            guard let key = e.string() else { return nil }
            entry.key = key
          case 0x12:
            guard let value = e.string() else { return nil }
            entry.value = value
          default:
            return nil
          }
        }
        request.metadata.append(entry)
      case 0x28:  // timeout_ms
        guard let v = r.varint(), v <= UInt64(UInt32.max) else { return nil }
        request.timeoutMs = UInt32(v)
      case 0x30:  // cancel
        guard let v = r.varint() else { return nil }
        request.cancel = v != 0
      default:
        return nil
      }
    }
    return request
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
  /// Appends the frame to `out` (a buffer kept for reuse: `LoopWriter.writeAndFlush(encoding:)`).
  public static func encode(callID: UInt64, payload: Data, into out: inout ByteBuffer) {
    var body = 2  // status: tag, length 0
    if callID != 0 { body += 1 + WireWriter.varintSize(callID) }
    if !payload.isEmpty { body += WireWriter.lengthDelimitedSize(payload.count) }
    WireWriter.frame(body: body, into: &out) { w in
      if callID != 0 {
        w.byte(0x08)
        w.varint(callID)
      }
      w.byte(0x12)  // status: field 2, length-delimited, empty
      w.byte(0x00)
      if !payload.isEmpty { payload.withUnsafeBytes { w.lengthDelimited(0x1A, $0) } }
    }
  }
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
    var response = PlainResponse()
    var r = WireReader(bytes)
    while !r.atEnd {
      switch r.varint() {
      case 0x08:  // call_id
        guard let v = r.varint() else { return nil }
        response.callID = v
      case 0x12:  // status: only the empty one (OK, nothing else) is read here
        guard r.varint() == 0 else { return nil }
        response.hasStatus = true
      case 0x1A:  // payload (the last one wins, as in protobuf)
        guard let v = r.bytes() else { return nil }
        response.payload = Data(v)
      case 0x20:  // more
        guard let v = r.varint() else { return nil }
        response.more = v != 0
      default:
        return nil
      }
    }
    return response
  }
}

/// Reads the protobuf wire format for the plain paths (`PlainResponse`, `Request.plain`): varints
/// as swift-protobuf reads them (at most 10 bytes), length-delimited fields within the buffer,
/// strings only when valid UTF-8. Every nil makes the caller fall back to swift-protobuf.
struct WireReader {
  private let buffer: UnsafeRawBufferPointer
  private var i = 0

  init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

  var atEnd: Bool { i >= buffer.count }

  mutating func varint() -> UInt64? {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while i < buffer.count, shift < 64 {
      let b = buffer[i]
      i += 1
      value |= UInt64(b & 0x7F) << shift
      if b < 0x80 { return value }
      shift += 7
    }
    return nil
  }

  /// A length-delimited field's bytes.
  mutating func bytes() -> UnsafeRawBufferPointer? {
    guard let n = varint(), n <= UInt64(buffer.count - i) else { return nil }
    let field = UnsafeRawBufferPointer(rebasing: buffer[i..<(i + Int(n))])
    i += Int(n)
    return field
  }

  mutating func string() -> String? {
    guard let b = bytes() else { return nil }
    return Self.string(b)
  }

  /// The string of a field's bytes, or nil when they are not valid UTF-8.
  static func string(_ b: UnsafeRawBufferPointer) -> String? {
    // ASCII (method paths, ids) is valid UTF-8 as it is; String(validating:) walks the generic
    // transcoder, several times the cost of this test and String(decoding:)'s copy.
    if isASCII(b) { return String(decoding: b, as: UTF8.self) }
    return String(validating: b, as: UTF8.self)
  }

  /// Whether a field's bytes are the UTF-8 of `s` (a string the caller already has).
  static func equal(_ b: UnsafeRawBufferPointer, _ s: String) -> Bool {
    guard !b.isEmpty else { return false }
    var s = s
    return s.withUTF8 { u in u.count == b.count && memcmp(u.baseAddress!, b.baseAddress!, b.count) == 0 }
  }

  /// Whether no byte has its high bit set: eight bytes at a time, then the rest.
  static func isASCII(_ b: UnsafeRawBufferPointer) -> Bool {
    var i = 0
    while i + 8 <= b.count {
      if b.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
      i += 8
    }
    while i < b.count {
      if b[i] >= 0x80 { return false }
      i += 1
    }
    return true
  }
}

extension Practice_Rpc_V1_Request {
  /// The request encoded as one frame: written straight into the buffer by `RequestFrame`, the bytes
  /// swift-protobuf would encode. A request carrying unknown fields is encoded by swift-protobuf.
  public func frame(allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
    guard unknownFields.data.isEmpty, metadata.allSatisfy({ $0.unknownFields.data.isEmpty }) else {
      let bytes: [UInt8] = try! serializedBytes()
      return FrameEncoder.frame(bytes, allocator: allocator)
    }
    return RequestFrame.encode(
      callID: callID, method: method, payload: payload, metadata: metadata.map { ($0.key, $0.value) },
      timeoutMs: timeoutMs, cancel: cancel, allocator: allocator)
  }
}

/// The frame of a request, from its fields: what a client sends, without building a `Request`
/// message first. The bytes are those swift-protobuf encodes for the same `Request` (fields in
/// number order, defaults left out): `call_id` (1), `method` (2), `payload` (3), each metadata entry
/// (4: key 1, value 2), `timeout_ms` (5), `cancel` (6).
public struct RequestFrame {
  public var callID: UInt64
  public var method: String
  public var payload: Data
  /// Not generic over the metadata's collection: called from another module, a generic function runs
  /// unspecialized and looks up type metadata at run time, which cost more than the whole encoding.
  public var metadata: [(String, String)]
  public var timeoutMs: UInt32
  public var cancel: Bool

  public init(
    callID: UInt64, method: String = "", payload: Data = Data(), metadata: [(String, String)] = [],
    timeoutMs: UInt32 = 0, cancel: Bool = false
  ) {
    self.callID = callID
    self.method = method
    self.payload = payload
    self.metadata = metadata
    self.timeoutMs = timeoutMs
    self.cancel = cancel
  }

  /// The frame in a buffer of its own.
  public static func encode(
    callID: UInt64, method: String = "", payload: Data = Data(), metadata: [(String, String)] = [],
    timeoutMs: UInt32 = 0, cancel: Bool = false, allocator: ByteBufferAllocator
  ) -> ByteBuffer {
    let frame = RequestFrame(
      callID: callID, method: method, payload: payload, metadata: metadata, timeoutMs: timeoutMs, cancel: cancel)
    var out = allocator.buffer(capacity: FrameLimits.headerSize + frame.bodySize)
    frame.encode(into: &out)
    return out
  }

  private static func entrySize(_ key: String, _ value: String) -> Int {
    (key.isEmpty ? 0 : WireWriter.lengthDelimitedSize(key.utf8.count))
      + (value.isEmpty ? 0 : WireWriter.lengthDelimitedSize(value.utf8.count))
  }

  var bodySize: Int {
    var body = 0
    if callID != 0 { body += 1 + WireWriter.varintSize(callID) }
    if !method.isEmpty { body += WireWriter.lengthDelimitedSize(method.utf8.count) }
    if !payload.isEmpty { body += WireWriter.lengthDelimitedSize(payload.count) }
    for (key, value) in metadata { body += WireWriter.lengthDelimitedSize(Self.entrySize(key, value)) }
    if timeoutMs != 0 { body += 1 + WireWriter.varintSize(UInt64(timeoutMs)) }
    if cancel { body += 2 }
    return body
  }

  /// Appends the frame to `out` (a buffer kept for reuse: `LoopWriter.writeAndFlush(encoding:)`).
  public func encode(into out: inout ByteBuffer) {
    WireWriter.frame(body: bodySize, into: &out) { w in
      if callID != 0 {
        w.byte(0x08)
        w.varint(callID)
      }
      if !method.isEmpty { w.text(0x12, method) }
      if !payload.isEmpty { payload.withUnsafeBytes { w.lengthDelimited(0x1A, $0) } }
      for (key, value) in metadata {
        w.byte(0x22)
        w.varint(UInt64(Self.entrySize(key, value)))
        if !key.isEmpty { w.text(0x0A, key) }
        if !value.isEmpty { w.text(0x12, value) }
      }
      if timeoutMs != 0 {
        w.byte(0x28)
        w.varint(UInt64(timeoutMs))
      }
      if cancel {
        w.byte(0x30)
        w.byte(0x01)
      }
    }
  }
}

/// Writes the protobuf wire format into a frame sized beforehand (the plain encoders: `SuccessFrame`,
/// `Request.frame`), in one access to the buffer: each ByteBuffer.writeInteger call pays its own
/// bounds and uniqueness checks, which cost more than the bytes.
struct WireWriter {
  private let buffer: UnsafeMutableRawBufferPointer
  private(set) var count = 0

  private init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

  /// Appends a frame whose body, `body` bytes long, `write` writes.
  static func frame(body: Int, into out: inout ByteBuffer, _ write: (inout WireWriter) -> Void) {
    let total = FrameLimits.headerSize + body
    out.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
      var w = WireWriter(UnsafeMutableRawBufferPointer(rebasing: raw[0..<total]))
      let length = UInt32(body)
      w.byte(UInt8(truncatingIfNeeded: length >> 24))
      w.byte(UInt8(truncatingIfNeeded: length >> 16))
      w.byte(UInt8(truncatingIfNeeded: length >> 8))
      w.byte(UInt8(truncatingIfNeeded: length))
      write(&w)
      precondition(w.count == total, "WireWriter: wrote \(w.count) bytes of \(total)")
      return total
    }
  }

  static func varintSize(_ v: UInt64) -> Int { v == 0 ? 1 : (64 - v.leadingZeroBitCount + 6) / 7 }

  static func lengthDelimitedSize(_ n: Int) -> Int { 1 + varintSize(UInt64(n)) + n }

  mutating func byte(_ b: UInt8) {
    precondition(count < buffer.count, "WireWriter: past the frame")
    buffer[count] = b
    count += 1
  }

  mutating func varint(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      byte(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    byte(UInt8(v))
  }

  mutating func lengthDelimited(_ tag: UInt8, _ bytes: UnsafeRawBufferPointer) {
    byte(tag)
    varint(UInt64(bytes.count))
    precondition(bytes.count <= buffer.count - count, "WireWriter: past the frame")
    if let base = bytes.baseAddress { (buffer.baseAddress! + count).copyMemory(from: base, byteCount: bytes.count) }
    count += bytes.count
  }

  mutating func text(_ tag: UInt8, _ s: String) {
    var s = s
    s.withUTF8 { lengthDelimited(tag, UnsafeRawBufferPointer($0)) }
  }
}
