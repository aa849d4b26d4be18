import Foundation
import NIOCore
import NIOEmbedded
import PracticeCore
import PracticeProto
import PracticeWire
import Testing

@testable import PracticeClient

@Suite("Client deadlines")
struct DeadlineTests {
  /// A handler in an embedded channel, as a connection's pipeline holds it.
  func handler() throws -> (ClientHandler, EmbeddedChannel) {
    let handler = ClientHandler(maxFrameSize: FrameLimits.defaultMaxFrameSize)
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(handler)
    // The test gives calls up itself: the shared sweeper must not do it first.
    DeadlineSweeper.shared.remove(handler)
    return (handler, channel)
  }

  @Test("a call past its deadline and grace fails DEADLINE_EXCEEDED and the daemon is asked to cancel it; a call before its time is kept")
  func givesUp() async throws {
    let (handler, channel) = try handler()
    defer { _ = try? channel.finish() }
    let now = NIODeadline.now()
    let late = now.uptimeNanoseconds - 1
    let later = now.uptimeNanoseconds + 60_000_000_000
    let outcome = Task {
      try await withUnsafeThrowingContinuation { (k: UnsafeContinuation<Data, Error>) in
        #expect(handler.register(7, .unary(k, giveUpAt: late)))
      }
    }
    // Wait until the call is registered, then a second one that still has time.
    while handler.pendingCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
    let (stream, continuation) = AsyncThrowingStream<Data, Error>.makeStream()
    #expect(handler.register(8, .stream(continuation, giveUpAt: later)))

    #expect(handler.giveUpExpired(now: now) == [7])
    await #expect(throws: RPCError.self) { _ = try await outcome.value }
    do {
      _ = try await outcome.value
    } catch let e as RPCError {
      #expect(e.code == .deadlineExceeded && e.reason == .deadlineExceeded)
    }
    #expect(handler.pendingCount == 1)

    // The cancel frame for call 7, written on the channel's loop.
    channel.embeddedEventLoop.run()
    let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
    var parser = FrameParser()
    parser.append(written)
    let frame = try #require(try parser.next())
    let request = try Practice_Rpc_V1_Request(serializedBytes: Array(frame.readableBytesView))
    #expect(request.callID == 7 && request.cancel)

    // A late answer to the given-up call is dropped; the connection goes on.
    var late7 = Practice_Rpc_V1_Response()
    late7.callID = 7
    late7.status = Practice_Rpc_V1_Status()
    try channel.writeInbound(late7.frame())
    #expect(handler.pendingCount == 1)
    _ = stream
  }

  @Test("a closed connection reports the daemon's reason and refuses new calls at once")
  func closeReason() async throws {
    let (handler, channel) = try handler()
    var notice = Practice_Rpc_V1_Response()
    notice.callID = 0
    notice.status.code = Int32(StatusCode.unavailable.rawValue)
    notice.status.reason = Reason.idleTimeout.rawValue
    try channel.writeInbound(notice.frame())
    #expect(handler.isClosed)
    #expect(handler.closeStatus?.reason == .idleTimeout)
    let (_, continuation) = AsyncThrowingStream<Data, Error>.makeStream()
    #expect(!handler.register(9, .stream(continuation, giveUpAt: .max)))
    _ = try? channel.finish()
  }

  @Test("a handler that leaves its pipeline without channelInactive (a failed connect) is not left with the deadline sweeper")
  func failedConnectLeavesNothing() throws {
    // NIO closes a channel that never became active (its connect failed) by removing its handlers,
    // without channelInactive: removing the handler here is that path.
    let handler = ClientHandler(maxFrameSize: FrameLimits.defaultMaxFrameSize)
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish() }
    try channel.pipeline.syncOperations.addHandler(handler)
    #expect(DeadlineSweeper.shared.contains(handler))
    let removed = channel.pipeline.syncOperations.removeHandler(handler)
    channel.embeddedEventLoop.run()
    try removed.wait()
    #expect(!DeadlineSweeper.shared.contains(handler))
  }
}
