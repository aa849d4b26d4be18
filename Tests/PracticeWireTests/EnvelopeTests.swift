import Foundation
import NIOCore
import PracticeCore
import PracticeProto
import PracticeWire
import SwiftProtobuf
import Testing

@Suite("Success frames")
struct SuccessFrameTests {
  @Test("the direct encoding is byte for byte the encoded Response.success, for call ids and payload sizes across varint widths")
  func sameBytes() throws {
    let ids: [UInt64] = [0, 1, 127, 128, 300, 16_383, 16_384, 1 << 35, UInt64.max]
    let sizes = [0, 1, 127, 128, 300, 16_384, 70_000]
    for id in ids {
      for n in sizes {
        let payload = Data((0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        var direct = ByteBuffer()
        SuccessFrame.encode(callID: id, payload: payload, into: &direct)
        let reference = Practice_Rpc_V1_Response.success(callID: id, payload: payload).frame()
        #expect(direct == reference, "call_id \(id), payload \(n) bytes")
        var parser = FrameParser()
        parser.append(direct)
        let body = try #require(try parser.next())
        let decoded = try Practice_Rpc_V1_Response(serializedBytes: [UInt8](body.readableBytesView))
        #expect(decoded.callID == id && decoded.payload == payload && decoded.hasStatus && decoded.status.code == 0)
      }
    }
  }
}

@Suite("Plain responses (the client's direct read)")
struct PlainResponseTests {
  /// What swift-protobuf decodes, in PlainResponse's terms; nil when it would not be plain.
  func reference(_ bytes: [UInt8]) -> PlainResponse?? {
    guard let r = try? Practice_Rpc_V1_Response(serializedBytes: bytes) else { return .none }
    guard !r.hasStatus || r.status == Practice_Rpc_V1_Status() else { return .some(nil) }
    var p = PlainResponse()
    p.callID = r.callID
    p.hasStatus = r.hasStatus
    p.payload = r.payload
    p.more = r.more
    return .some(p)
  }

  @Test("success frames and stream items read plainly, exactly as swift-protobuf decodes them")
  func plain() throws {
    for id: UInt64 in [0, 1, 300, 1 << 35, UInt64.max] {
      for n in [0, 1, 128, 70_000] {
        let payload = Data((0..<n).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        var parser = FrameParser()
        var frame = ByteBuffer()
        SuccessFrame.encode(callID: id, payload: payload, into: &frame)
        parser.append(frame)
        let body = try #require(try parser.next())
        let plain = try #require(body.withUnsafeReadableBytes(PlainResponse.parse))
        #expect(plain.callID == id && plain.hasStatus && plain.payload == payload && !plain.more)
        var item = Practice_Rpc_V1_Response()
        item.callID = id
        item.payload = payload
        item.more = true
        let bytes: [UInt8] = try item.serializedBytes()
        #expect(bytes.withUnsafeBytes(PlainResponse.parse) == reference(bytes)!)
        #expect(bytes.withUnsafeBytes(PlainResponse.parse)?.more == true)
      }
    }
  }

  @Test("errors, unknown fields and damaged bytes are left to swift-protobuf; nothing plain differs from it")
  func notPlain() throws {
    var failed = Practice_Rpc_V1_Response()
    failed.callID = 9
    failed.status.code = 6
    failed.status.reason = "ROOM_CONFLICT"
    let failedBytes: [UInt8] = try failed.serializedBytes()
    #expect(failedBytes.withUnsafeBytes(PlainResponse.parse) == nil)
    var okWithMessage = Practice_Rpc_V1_Response()
    okWithMessage.callID = 9
    okWithMessage.status.message = "fine"
    #expect(try (okWithMessage.serializedBytes() as [UInt8]).withUnsafeBytes(PlainResponse.parse) == nil)
    // Random mutations of a success frame: whenever the direct read answers, it answers what
    // swift-protobuf decodes (repeated fields, last one wins, included).
    var base = Practice_Rpc_V1_Response.success(callID: 4242, payload: Data("hello, practice".utf8))
    base.more = false
    let good: [UInt8] = try base.serializedBytes() + (try base.serializedBytes() as [UInt8])
    var plainReads = 0
    for b in damagedCopies(of: good) {
      guard let plain = b.withUnsafeBytes(PlainResponse.parse) else { continue }
      plainReads += 1
      let expected = reference(b)
      #expect(expected != nil, "plain read of bytes swift-protobuf refuses: \(b)")
      if let expected { #expect(plain == expected, "bytes \(b)") }
    }
    #expect(plainReads > 0)
  }
}

@Suite("Plain requests (the daemon's direct read)")
struct PlainRequestTests {
  func request(_ id: UInt64, _ method: String, payload: Data = Data(), metadata: [(String, String)] = [],
               timeoutMs: UInt32 = 0, cancel: Bool = false) -> Practice_Rpc_V1_Request {
    var r = Practice_Rpc_V1_Request()
    r.callID = id
    r.method = method
    r.payload = payload
    r.metadata = metadata.map { key, value in
      var e = Practice_Rpc_V1_MetadataEntry()
      e.key = key
      e.value = value
      return e
    }
    r.timeoutMs = timeoutMs
    r.cancel = cancel
    return r
  }

  @Test("a request's frame is byte for byte swift-protobuf's encoding, across field combinations and varint widths")
  func frameBytes() throws {
    var count = 0
    for id: UInt64 in [0, 1, 128, UInt64.max] {
      for method in ["", "/practice.v1.BusinessService/GetBusinessInfo", "/práctica/Método"] {
        for n in [0, 1, 200, 70_000] {
          let metadataSets: [[(String, String)]] = [
            [], [("actor", "usr_1")],
            [("", ""), ("k", ""), ("", "v"), ("idempotency-key", String(repeating: "é", count: 100))],
          ]
          for metadata in metadataSets {
            for (timeout, cancel) in [(UInt32(0), false), (1, true), (UInt32.max, false)] {
              let r = request(id, method, payload: Data(repeating: 0xA5, count: n), metadata: metadata,
                              timeoutMs: timeout, cancel: cancel)
              let reference = FrameEncoder.frame(try r.serializedBytes() as [UInt8])
              #expect(r.frame() == reference, "\(r)")
              count += 1
            }
          }
        }
      }
    }
    #expect(count == 432)
  }

  @Test("every field of a request reads plainly, exactly as swift-protobuf decodes it")
  func plain() throws {
    let requests = [
      request(1, "/practice.v1.BusinessService/GetBusinessInfo", payload: Data("acct".utf8)),
      request(UInt64.max, "/practice.v1.RoomService/CheckRoomAvailability", payload: Data(repeating: 7, count: 70_000),
              metadata: [("actor", "usr_1"), ("idempotency-key", "k-ü-1"), ("actor", "second"), ("", "")],
              timeoutMs: UInt32.max),
      request(300, "", cancel: true),
      request(0, "/práctica.v1/Método"),
      Practice_Rpc_V1_Request(),
    ]
    for r in requests {
      let bytes: [UInt8] = try r.serializedBytes()
      let plain = try #require(bytes.withUnsafeBytes(Practice_Rpc_V1_Request.plain))
      #expect(plain == r)
      #expect(try Practice_Rpc_V1_Request(frame: ByteBuffer(bytes: bytes)) == r)
    }
  }

  @Test("a request for the connection's previous method reads the same, whatever the previous method was")
  func previousMethod() throws {
    let methods = [
      "", "/practice.v1.BusinessService/GetBusinessInfo", "/practice.v1.BusinessService/GetBusinessInfX",
      "/practice.v1.BusinessService/GetBusinessInf", "/practice.v1.AccountService/GetAccount", "/práctica.v1/Método",
      "/p", "/q",
    ]
    for method in methods {
      let bytes: [UInt8] = try request(7, method, payload: Data("acct_1".utf8)).serializedBytes()
      let expected = try #require(bytes.withUnsafeBytes { Practice_Rpc_V1_Request.plain($0) })
      for previous in methods {
        let plain = try #require(bytes.withUnsafeBytes { Practice_Rpc_V1_Request.plain($0, previousMethod: previous) })
        #expect(plain == expected, "method \(method), previous \(previous)")
        #expect(try Practice_Rpc_V1_Request(frame: ByteBuffer(bytes: bytes), previousMethod: previous) == expected)
      }
    }
    // A method that is not UTF-8 stays unreadable beside a previous method of its length (a comparison
    // of lengths alone would take the previous method for it).
    let badUTF8: [UInt8] = [0x08, 0x05, 0x12, 0x02, 0xC3, 0x28]
    #expect(badUTF8.withUnsafeBytes { Practice_Rpc_V1_Request.plain($0, previousMethod: "/p") } == nil)
  }

  @Test("unknown fields, wrong wire types, bad UTF-8 and damaged bytes are left to swift-protobuf; nothing plain differs from it")
  func notPlain() throws {
    // Field 7 (varint) is not a field of Request.
    let unknownBytes: [UInt8] = try request(5, "/practice.rpc.v1.Health/Check").serializedBytes() + [0x38, 0x01]
    #expect(unknownBytes.withUnsafeBytes(Practice_Rpc_V1_Request.plain) == nil)
    let decoded = try Practice_Rpc_V1_Request(frame: ByteBuffer(bytes: unknownBytes))
    #expect(decoded.callID == 5 && decoded.unknownFields.data == Data([0x38, 0x01]))
    // method as a varint (wrong wire type): swift-protobuf keeps it as an unknown field.
    let wrongType: [UInt8] = [0x08, 0x05, 0x10, 0x01]
    #expect(wrongType.withUnsafeBytes(Practice_Rpc_V1_Request.plain) == nil)
    // A method that is not UTF-8: refused either way.
    let badUTF8: [UInt8] = [0x08, 0x05, 0x12, 0x02, 0xC3, 0x28]
    #expect(badUTF8.withUnsafeBytes(Practice_Rpc_V1_Request.plain) == nil)
    #expect(throws: FrameError.self) { try Practice_Rpc_V1_Request(frame: ByteBuffer(bytes: badUTF8)) }
    // timeout_ms past 32 bits: swift-protobuf truncates; the plain read leaves it to it.
    let wideTimeout: [UInt8] = [0x28, 0x80, 0x80, 0x80, 0x80, 0x10]
    #expect(wideTimeout.withUnsafeBytes(Practice_Rpc_V1_Request.plain) == nil)

    // Random mutations of a request with every field: whenever the direct read answers, it
    // answers what swift-protobuf decodes (repeated fields, last one wins, included).
    let base = request(4242, "/practice.v1.BusinessService/GetBusinessInfo", payload: Data("acct_1".utf8),
                       metadata: [("actor", "usr_9")], timeoutMs: 1500, cancel: false)
    let good: [UInt8] = try base.serializedBytes() + (try base.serializedBytes() as [UInt8])
    var plainReads = 0
    for b in damagedCopies(of: good) {
      guard let plain = b.withUnsafeBytes(Practice_Rpc_V1_Request.plain) else { continue }
      plainReads += 1
      let expected = try? Practice_Rpc_V1_Request(serializedBytes: b)
      #expect(expected != nil, "plain read of bytes swift-protobuf refuses: \(b)")
      if let expected { #expect(plain == expected, "bytes \(b)") }
    }
    #expect(plainReads > 0)
  }
}

/// `count` copies of `good`, each with one random change: a byte replaced, the end cut off, or a byte
/// inserted (the damaged inputs the plain reads are compared with swift-protobuf on).
func damagedCopies(of good: [UInt8], count: Int = 5_000) -> [[UInt8]] {
  var rng = SystemRandomNumberGenerator()
  return (0..<count).map { _ in
    var b = good
    switch Int.random(in: 0..<3, using: &rng) {
    case 0: b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
    case 1: b.removeLast(Int.random(in: 1..<b.count, using: &rng))
    default: b.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0..<b.count, using: &rng))
    }
    return b
  }
}
