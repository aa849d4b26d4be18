import Foundation
import NIOCore
import NIOEmbedded
import PracticeCore
import PracticeWire
import Testing

@Suite("LoopWriter")
struct LoopWriterTests {
  /// Gives the test a handler's context to write from, as the connection handler does.
  final class ContextHolder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var context: ChannelHandlerContext?
    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
  }

  func writer() throws -> (EmbeddedChannel, LoopWriter) {
    let channel = EmbeddedChannel()
    let holder = ContextHolder()
    try channel.pipeline.syncOperations.addHandler(holder)
    return (channel, LoopWriter(context: try #require(holder.context)))
  }

  func expected(_ callID: UInt64, _ payload: Data) -> ByteBuffer {
    var frame = ByteBuffer()
    SuccessFrame.encode(callID: callID, payload: payload, into: &frame)
    return frame
  }

  @Test("OK frames are written whole while the channel still holds the ones before (the spare buffer is never written over)")
  func heldFrames() throws {
    let (channel, writer) = try writer()
    let payloads = [
      Data("first".utf8), Data(repeating: 7, count: 300), Data(), Data(repeating: 9, count: 5_000),
      Data("fifth".utf8),
    ]
    for (i, p) in payloads.enumerated() { writer.writeSuccess(callID: UInt64(i + 1), payload: p) }
    for (i, p) in payloads.enumerated() {
      let frame = try #require(try channel.readOutbound(as: ByteBuffer.self))
      #expect(frame == expected(UInt64(i + 1), p), "frame \(i + 1)")
    }
    #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    _ = try channel.finish()
  }

  @Test("once the channel lets a frame go, the next frame reuses its storage; after detach nothing is written")
  func reuse() throws {
    let (channel, writer) = try writer()
    var storage = Set<UInt>()
    for i in 0..<20 {
      let payload = Data("payload \(i)".utf8)
      writer.writeSuccess(callID: UInt64(100 + i), payload: payload)
      let frame = try #require(try channel.readOutbound(as: ByteBuffer.self))
      #expect(frame == expected(UInt64(100 + i), payload))
      storage.insert(frame.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) })
    }
    #expect(storage.count == 1, "each small response allocated a buffer")

    writer.detach()
    writer.writeSuccess(callID: 1, payload: Data("late".utf8))
    #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    _ = try channel.finish()
  }
}
