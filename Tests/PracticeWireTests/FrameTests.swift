import Foundation
import NIOCore
import PracticeCore
import PracticeProto
import PracticeWire
import SwiftProtobuf
import Testing

@Suite("Frame parser")
struct FrameParserTests {
  /// A stream of frames of assorted sizes (1 byte up to past a 64 KiB boundary).
  static let bodies: [[UInt8]] = [1, 2, 3, 100, 4096, 70_000].enumerated().map { i, n in
    (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
  }
  static var stream: [UInt8] {
    var out: [UInt8] = []
    for b in bodies {
      withUnsafeBytes(of: UInt32(b.count).bigEndian) { out += $0 }
      out += b
    }
    return out
  }

  private func parse(chunks: [ArraySlice<UInt8>], max: Int = FrameLimits.defaultMaxFrameSize) throws -> [[UInt8]] {
    var parser = FrameParser(maxFrameSize: max)
    var frames: [[UInt8]] = []
    for chunk in chunks {
      parser.append(ByteBuffer(bytes: chunk))
      while let f = try parser.next() { frames.append(Array(f.readableBytesView)) }
    }
    #expect(!parser.hasPartialFrame)
    return frames
  }

  @Test("every split point of a valid stream yields the same frames")
  func everySplitPoint() throws {
    let s = Self.stream
    // Every split point near the frame boundaries and through the small frames, plus a stride
    // through the large one (all 74 KiB split points: too slow for no extra coverage).
    var points = Set(0...min(s.count, 5000))
    points.formUnion(stride(from: 0, through: s.count, by: 97))
    points.formUnion((s.count - 200)...s.count)
    for k in points.sorted() {
      let frames = try parse(chunks: [s[0..<k], s[k..<s.count]])
      #expect(frames == Self.bodies, "split at \(k)")
    }
  }

  @Test("one byte at a time")
  func oneByteAtATime() throws {
    let s = Self.stream
    let frames = try parse(chunks: s.indices.map { s[$0..<($0 + 1)] })
    #expect(frames == Self.bodies)
  }

  @Test("chunks of at most 143 bytes")
  func smallChunks() throws {
    let s = Self.stream
    let chunks = stride(from: 0, to: s.count, by: 143).map { s[$0..<min($0 + 143, s.count)] }
    #expect(try parse(chunks: chunks) == Self.bodies)
  }

  @Test("an oversize length fails as soon as the 4 length bytes are in, before any body")
  func oversize() {
    var parser = FrameParser(maxFrameSize: 1024)
    parser.append(ByteBuffer(bytes: [0x00, 0x00, 0x04]))
    #expect(throws: Never.self) { _ = try parser.next() }
    parser.append(ByteBuffer(bytes: [0x01]))  // length 1025
    #expect(throws: FrameError.tooLarge(length: 1025, max: 1024)) { _ = try parser.next() }
    do {
      _ = try parser.next()
    } catch {
      #expect(error.error.code == .resourceExhausted)
      #expect(error.error.reason == .frameTooLarge)
    }
  }

  @Test("the largest allowed frame passes; one byte more fails")
  func boundary() throws {
    var parser = FrameParser(maxFrameSize: 8)
    parser.append(ByteBuffer(bytes: [0, 0, 0, 8] + [UInt8](repeating: 7, count: 8)))
    #expect(try parser.next()?.readableBytes == 8)
    parser.append(ByteBuffer(bytes: [0, 0, 0, 9]))
    #expect(throws: FrameError.self) { _ = try parser.next() }
  }

  @Test("a 4 GiB length is refused without allocating")
  func hugeLength() {
    var parser = FrameParser()
    parser.append(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF]))
    #expect(throws: FrameError.tooLarge(length: Int(UInt32.max), max: FrameLimits.defaultMaxFrameSize)) {
      _ = try parser.next()
    }
  }

  @Test("zero length is BAD_FRAME")
  func zeroLength() {
    var parser = FrameParser()
    parser.append(ByteBuffer(bytes: [0, 0, 0, 0, 1, 2]))
    #expect(throws: FrameError.emptyFrame) { _ = try parser.next() }
    #expect(FrameError.emptyFrame.error.reason == .badFrame)
    #expect(FrameError.emptyFrame.error.code == .invalidArgument)
  }

  @Test("garbage that frames but does not decode as a Request is BAD_FRAME")
  func garbage() throws {
    var parser = FrameParser()
    let junk: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x07]
    parser.append(ByteBuffer(bytes: [0, 0, 0, UInt8(junk.count)] + junk))
    let body = try #require(try parser.next())
    #expect(throws: FrameError.undecodable) { _ = try Practice_Rpc_V1_Request(frame: body) }
  }

  @Test("random garbage never crashes the parser and only fails with frame errors")
  func randomGarbage() {
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<500 {
      var parser = FrameParser(maxFrameSize: 4096)
      let bytes = (0..<Int.random(in: 0..<600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      parser.append(ByteBuffer(bytes: bytes))
      do {
        while let body = try parser.next() { _ = try? Practice_Rpc_V1_Request(frame: body) }
      } catch {
        #expect([Reason.frameTooLarge, .badFrame].contains(error.error.reason))
      }
    }
  }

  @Test("a truncated frame at EOF is kept as a partial frame, never delivered")
  func truncatedAtEOF() throws {
    var parser = FrameParser()
    parser.append(ByteBuffer(bytes: [0, 0, 0, 10, 1, 2, 3]))
    #expect(try parser.next() == nil)
    #expect(parser.hasPartialFrame)
    #expect(parser.bufferedBytes == 7)
  }

  @Test("encoder and parser round-trip a Request")
  func roundTrip() throws {
    var r = Practice_Rpc_V1_Request()
    r.callID = 42
    r.method = "/practice.v1.AccountService/GetAccount"
    r.payload = Data([1, 2, 3])
    r.timeoutMs = 250
    var parser = FrameParser()
    parser.append(r.frame())
    let body = try #require(try parser.next())
    #expect(try Practice_Rpc_V1_Request(frame: body) == r)
  }
}
