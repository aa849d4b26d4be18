import Foundation
import Logging
import NIOCore
import NIOPosix
import PracticeCore
import PracticeProto
import PracticeRPC
import PracticeWire

/// Writes a connection's responses to its channel, from any thread.
struct ChannelResponseWriter: ResponseWriter {
  let writer: LoopWriter

  func write(_ response: Practice_Rpc_V1_Response) {
    writer.writeAndFlush(response.frame(allocator: writer.allocator), promise: nil)
  }

  func writeItem(_ response: Practice_Rpc_V1_Response) -> EventLoopFuture<Void> {
    let promise = writer.channel.eventLoop.makePromise(of: Void.self)
    writer.writeAndFlush(response.frame(allocator: writer.allocator), promise: promise)
    return promise.futureResult
  }

  func writeSuccess(callID: UInt64, payload: Data) {
    writer.writeSuccess(callID: callID, payload: payload)
  }
}

/// One client connection: frames in, calls to the multiplexer, and the connection-life rules of
/// docs/PROTOCOL.md (frame timeout, idle timeout, EOF, framing errors).
/// `@unchecked`: its mutable state is touched only on its channel's event loop; other threads call
/// only `beginShutdown`, `inFlight` and `endAllAndClose`, which go through the multiplexer's lock or
/// hop to the loop.
final class ConnectionHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private let peer: Peer
  private let configuration: DaemonConfiguration
  private let dispatcher: Dispatcher
  private let logger: Logger
  private let registry: ConnectionRegistry

  // Event-loop state.
  private var parser: FrameParser
  private var multiplexer: CallMultiplexer!
  /// The multiplexer writes through it; detached when the handler leaves the pipeline, which breaks
  /// the cycle handler → multiplexer → writer → context → handler.
  private var writer: LoopWriter?
  private var channel: Channel?
  private var frameTimer: Scheduled<Void>?
  private var idleTimer: Scheduled<Void>?
  private var lastActivity = NIODeadline.now()
  private var framesAtTimerStart = 0
  private var inputClosed = false
  /// The method of the last request read (`Request(frame:previousMethod:)`).
  private var lastMethod = ""
  private var closing = false

  init(peer: Peer, configuration: DaemonConfiguration, dispatcher: Dispatcher, logger: Logger,
       registry: ConnectionRegistry) {
    self.peer = peer
    self.configuration = configuration
    self.dispatcher = dispatcher
    self.logger = logger
    self.registry = registry
    self.parser = FrameParser(maxFrameSize: configuration.maxFrameSize)
  }

  func handlerAdded(context: ChannelHandlerContext) {
    let channel = context.channel
    self.channel = channel
    let loop = context.eventLoop
    let writer = LoopWriter(context: context)
    self.writer = writer
    multiplexer = CallMultiplexer(
      dispatcher: dispatcher, peer: peer, eventLoop: loop,
      writer: ChannelResponseWriter(writer: writer),
      configuration: .init(maxInFlight: configuration.maxInFlightPerConnection), logger: logger,
      onIdle: { [weak self] in
        guard let handler = self else { return }
        loop.execute { handler.becameIdle() }
      })
    registry.add(self)
    scheduleIdleCheck(after: configuration.idleTimeout)
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    writer?.detach()
  }

  func channelInactive(context: ChannelHandlerContext) {
    frameTimer?.cancel()
    idleTimer?.cancel()
    multiplexer.connectionClosed()
    registry.remove(self)
    logger.debug("connection closed", metadata: ["peer": "\(peer)"])
    context.fireChannelInactive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !closing else { return }
    lastActivity = .now()
    parser.append(unwrapInboundIn(data))
    do {
      while let body = try parser.next() {
        let request = try Practice_Rpc_V1_Request(frame: body, previousMethod: lastMethod)
        lastMethod = request.method
        if case .close(let error) = multiplexer.receive(request) {
          fail(context: context, error)
          return
        }
      }
    } catch {
      fail(context: context, error)
      return
    }
    updateFrameTimer(context: context)
  }

  private func updateFrameTimer(context: ChannelHandlerContext) {
    if !parser.hasPartialFrame {
      frameTimer?.cancel()
      frameTimer = nil
      return
    }
    // A new partial frame began in this read: its first byte starts the clock.
    if frameTimer == nil || parser.framesCompleted != framesAtTimerStart {
      frameTimer?.cancel()
      framesAtTimerStart = parser.framesCompleted
      frameTimer = context.eventLoop.scheduleTask(in: .nanoseconds(configuration.frameTimeout.timeAmountNanoseconds)) {
        [weak self] in
        guard let self, let channel = self.channel, !self.closing else { return }
        self.failChannel(channel, .timeout)
      }
    }
  }

  /// Back-pressure: while more than the high-water mark of output is unsent (a client that sends
  /// but does not read), the connection is not read; reading resumes below the low-water mark. The
  /// same rule as NIO's BackPressureHandler, kept here to spare every read and write a handler.
  func channelWritabilityChanged(context: ChannelHandlerContext) {
    let writable = context.channel.isWritable
    try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: writable)
    if !writable { context.flush() }
    context.fireChannelWritabilityChanged()
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case ChannelEvent.inputClosed = event {
      // EOF: a partial frame is dropped; calls in flight finish and are answered, then we close.
      inputClosed = true
      frameTimer?.cancel()
      frameTimer = nil
      if multiplexer.inFlight == 0 { closeGracefully() }
      return
    }
    context.fireUserInboundEventTriggered(event)
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    logger.debug("connection error", metadata: ["peer": "\(peer)", "error": "\(error)"])
    context.close(promise: nil)
  }

  private func fail(context: ChannelHandlerContext, _ error: Error) {
    let frameError = (error as? FrameError) ?? .undecodable
    failChannel(context.channel, frameError)
  }

  /// A framing error: one Response with call_id 0, then close. In-flight calls are cancelled.
  private func failChannel(_ channel: Channel, _ error: FrameError) {
    guard !closing else { return }
    closing = true
    frameTimer?.cancel()
    logger.notice("framing error, closing connection", metadata: [
      "peer": "\(peer)", "reason": "\(error.error.reason.rawValue)",
    ])
    multiplexer.connectionClosed()
    let response = Practice_Rpc_V1_Response.failure(callID: 0, error.error)
    channel.writeAndFlush(response.frame(allocator: channel.allocator)).whenComplete { _ in
      channel.close(promise: nil)
    }
  }

  private func becameIdle() {
    lastActivity = .now()
    if inputClosed { closeGracefully() }
  }

  private func closeGracefully() {
    guard !closing, let channel else { return }
    closing = true
    // Close after what was written is flushed.
    channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in
      channel.close(promise: nil)
    }
  }

  private func scheduleIdleCheck(after delay: Duration) {
    guard let channel else { return }
    idleTimer = channel.eventLoop.scheduleTask(in: .nanoseconds(delay.timeAmountNanoseconds)) { [weak self] in
      self?.idleCheck()
    }
  }

  private func idleCheck() {
    guard !closing else { return }
    let idle = configuration.idleTimeout.timeAmountNanoseconds
    let quietFor = NIODeadline.now().uptimeNanoseconds - lastActivity.uptimeNanoseconds
    if multiplexer.inFlight == 0 && Int64(quietFor) >= idle, let channel {
      logger.debug("closing idle connection", metadata: ["peer": "\(peer)"])
      // Say why before closing (docs/PROTOCOL.md, connection life): the client reports the reason
      // instead of a bare broken pipe, and may reconnect.
      let error = RPCError(.unavailable, .idleTimeout,
                           "closed after \(idle / 1_000_000) ms without a call")
      channel.write(Practice_Rpc_V1_Response.failure(callID: 0, error).frame(allocator: channel.allocator), promise: nil)
      closeGracefully()
    } else {
      let remaining = max(idle - Int64(quietFor), idle / 10, 1_000_000)
      scheduleIdleCheck(after: .nanoseconds(multiplexer.inFlight == 0 ? remaining : idle))
    }
  }

  // MARK: shutdown (called from any thread)

  func beginShutdown() { multiplexer.beginShutdown() }
  var inFlight: Int { multiplexer.inFlight }
  func endAllAndClose() {
    multiplexer.endAll()
    channel?.eventLoop.execute { [weak self] in self?.closeGracefully() }
  }
}

/// The live connections, for shutdown and the connection limit.
final class ConnectionRegistry: Sendable {
  private struct State {
    var handlers: [ObjectIdentifier: ConnectionHandler] = [:]
    var count = 0
  }

  private let state = LockedState(State())

  /// Reserves a place for a new connection; false when at the limit.
  func reserve(limit: Int) -> Bool {
    state.withLock { s in
      guard s.count < limit else { return false }
      s.count += 1
      DaemonMetrics.connections.set(s.count)
      return true
    }
  }

  func release() {
    state.withLock { s in
      s.count -= 1
      DaemonMetrics.connections.set(s.count)
    }
  }

  func add(_ h: ConnectionHandler) { state.withLock { $0.handlers[ObjectIdentifier(h)] = h } }

  func remove(_ h: ConnectionHandler) { state.withLock { $0.handlers[ObjectIdentifier(h)] = nil } }

  var all: [ConnectionHandler] { state.withLock { Array($0.handlers.values) } }

  var connectionCount: Int { state.withLock { $0.count } }
}
