import Foundation
import NIOCore
import NIOPosix
import PracticeCore
import PracticeProto
import PracticeWire
import SwiftProtobuf
import Synchronization

/// A failure of the connection itself (not of one call).
public struct ConnectionError: Error, CustomStringConvertible, Sendable {
  public var description: String
  /// The status the daemon sent with `call_id = 0` before closing, if it sent one.
  public var status: RPCError?
  /// The system error behind a failed connect or a broken connection (ENOENT, EACCES, ...), if any.
  public var errno: Int32?
  public init(_ description: String, status: RPCError? = nil, errno: Int32? = nil) {
    self.description = description
    self.status = status
    self.errno = errno
  }

  /// A system error in words ("No such file or directory"), not as the socket library prints it.
  static func describe(_ error: any Error) -> (text: String, errno: Int32?) {
    if let io = error as? IOError { return (String(cString: strerror(io.errnoCode)), io.errnoCode) }
    if let channel = error as? ChannelError, case .connectTimeout = channel { return ("timed out", ETIMEDOUT) }
    return ("\(error)", nil)
  }
}

/// One connection to practiced, multiplexing many concurrent calls by `call_id`.
///
/// Every call gives up by itself at its deadline plus `deadlineGrace` (for a unary call without a
/// timeout, the daemon's default deadline, `defaultTimeout`), with `DEADLINE_EXCEEDED`: a stopped or
/// wedged daemon never hangs the caller. The connection stays usable (the daemon is told to cancel
/// the call). A connection made with `connect(path:)` reconnects on the next call after the daemon
/// closed it (an idle connection, a restart); `closeReason` says why it was closed.
public final class PracticeConnection: ClientTransport {
  /// `$PRACTICED_SOCKET`, else `/run/practiced/practiced.sock`.
  public static var defaultSocketPath: String {
    let env = ProcessInfo.processInfo.environment["PRACTICED_SOCKET"] ?? ""
    return env.isEmpty ? "/run/practiced/practiced.sock" : env
  }

  /// How long after its deadline a call that got no answer is given up by the client. The daemon
  /// answers `DEADLINE_EXCEEDED` itself at the deadline; the grace covers the trip back.
  public static let deadlineGrace: Duration = .milliseconds(500)
  /// The deadline the client assumes for a unary call sent without a timeout: the daemon's default.
  public static let defaultTimeout: Duration = .seconds(30)
  /// How long `connect` waits for the daemon to accept.
  public static let defaultConnectTimeout: Duration = .seconds(5)

  /// The socket, its handler and its writer; replaced when the connection reconnects. A class: a
  /// call takes the current one with a single retain.
  final class Link: Sendable {
    let channel: Channel
    let handler: ClientHandler
    let writer: LoopWriter

    init(channel: Channel, handler: ClientHandler, writer: LoopWriter) {
      self.channel = channel
      self.handler = handler
      self.writer = writer
    }
  }

  /// How to open the connection again (nil: an adopted socket, which cannot be reopened).
  struct Reopen: Sendable {
    let path: String
    var group: EventLoopGroup
    let maxFrameSize: Int
    let connectTimeout: Duration
  }

  private let link: LockedState<Link>
  private let reopen: Reopen?
  private let nextCallID = Atomic<UInt64>(1)
  private let ownedGroup: MultiThreadedEventLoopGroup?
  private let executor: EventLoopTaskExecutor

  private init(link: Link, reopen: Reopen?, ownedGroup: MultiThreadedEventLoopGroup?) {
    self.link = LockedState(link)
    self.reopen = reopen
    self.ownedGroup = ownedGroup
    self.executor = EventLoopTaskExecutor(link.channel.eventLoop)
  }

  /// Connects to the daemon's socket. `reconnect`: a call made after the daemon closed the
  /// connection opens a new one first (calls in flight at the close still fail).
  public static func connect(
    path: String = PracticeConnection.defaultSocketPath, group: EventLoopGroup? = nil,
    maxFrameSize: Int = FrameLimits.defaultMaxFrameSize,
    connectTimeout: Duration = PracticeConnection.defaultConnectTimeout, reconnect: Bool = true
  ) async throws -> PracticeConnection {
    let owned = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
    do {
      var reopen = Reopen(path: path, group: group ?? owned!, maxFrameSize: maxFrameSize, connectTimeout: connectTimeout)
      let link = try await reopen.open()
      // A reconnection stays on this first connection's event loop, which `taskExecutor` names.
      reopen.group = link.channel.eventLoop
      return PracticeConnection(link: link, reopen: reconnect ? reopen : nil, ownedGroup: owned)
    } catch {
      try? await owned?.shutdownGracefully()
      throw error
    }
  }

  /// Adopts an already-connected Unix socket (the connection takes ownership of `fd`).
  public static func adopt(
    fd: Int32, group: EventLoopGroup? = nil, maxFrameSize: Int = FrameLimits.defaultMaxFrameSize
  ) async throws -> PracticeConnection {
    let owned = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
    do {
      let link = try await Link.open(group: group ?? owned!, maxFrameSize: maxFrameSize, connectTimeout: nil) {
        try await $0.withConnectedSocket(fd).get()
      }
      return PracticeConnection(link: link, reopen: nil, ownedGroup: owned)
    } catch {
      try? await owned?.shutdownGracefully()
      throw error
    }
  }

  /// A new link in place of `current`, which the daemon closed (the connection reconnects).
  private func reconnect(_ reopen: Reopen) async throws -> Link {
    let fresh = try await reopen.open()
    let (chosen, loser) = link.withLock { l -> (Link, Link?) in
      // Another call reconnected first: keep its link.
      if !l.handler.isClosed { return (l, fresh) }
      l = fresh
      return (fresh, nil)
    }
    if let loser { loser.channel.close(promise: nil) }
    return chosen
  }

  /// Why the daemon closed the connection (`IDLE_TIMEOUT`, `SHUTTING_DOWN`, a framing error), when
  /// it said so before closing.
  public var closeReason: RPCError? { link.withLock { $0 }.handler.closeStatus }

  /// A new call: its id and its request frame.
  private func request(_ method: String, _ payload: Data, _ options: CallOptions) -> (UInt64, RequestFrame) {
    let callID = nextCallID.wrappingAdd(1, ordering: .relaxed).oldValue
    let frame = RequestFrame(
      callID: callID, method: method, payload: payload, metadata: options.entries, timeoutMs: options.timeoutMs)
    return (callID, frame)
  }

  private func send(_ frame: RequestFrame, on link: Link) {
    link.writer.writeAndFlush { frame.encode(into: &$0) }
  }

  private func sendCancel(_ callID: UInt64, on link: Link) {
    send(RequestFrame(callID: callID, cancel: true), on: link)
  }

  private static let defaultTimeoutNs = Int64(defaultTimeout / .nanoseconds(1))
  private static let graceNs = Int64(deadlineGrace / .nanoseconds(1))

  /// When a call without an answer is given up: its deadline (`timeout_ms` as sent, or the default)
  /// plus the grace. Integer arithmetic: this runs on every call.
  private static func giveUpAt(timeoutMs: UInt32) -> UInt64 {
    let deadline = timeoutMs == 0 ? defaultTimeoutNs : Int64(timeoutMs) * 1_000_000
    return DispatchTime.now().uptimeNanoseconds &+ UInt64(deadline &+ graceNs)
  }

  /// A unary call with an encoded payload; returns the encoded response.
  /// Throws `RPCError` for a non-OK status (`DEADLINE_EXCEEDED` too when the daemon did not answer
  /// within the deadline and its grace), `ConnectionError` when the connection fails.
  /// Cancelling the calling task sends a cancel frame.
  public func unary(method: String, payload: Data, options: CallOptions = .init()) async throws -> Data {
    let link = self.link.withLock { $0 }
    // The reconnection is a call of its own, not a step before this one: an await here that the
    // usual path skips would still split this function at it, on every call.
    if let reopen, link.handler.isClosed {
      return try await unary(on: try await reconnect(reopen), method: method, payload: payload, options: options)
    }
    return try await unary(on: link, method: method, payload: payload, options: options)
  }

  @inline(__always)
  private func unary(on link: Link, method: String, payload: Data, options: CallOptions) async throws -> Data {
    let (callID, frame) = request(method, payload, options)
    let giveUp = Self.giveUpAt(timeoutMs: frame.timeoutMs)
    return try await withTaskCancellationHandler {
      // Unsafe (unchecked) continuation: ClientHandler resumes each exactly once, as it takes the call
      // out of its table under its lock (a response, a connection failure, the deadline, or a refused
      // register).
      try await withUnsafeThrowingContinuation { (k: UnsafeContinuation<Data, Error>) in
        guard link.handler.register(callID, .unary(k, giveUpAt: giveUp)) else { return }
        send(frame, on: link)
      }
    } onCancel: {
      sendCancel(callID, on: link)
    }
  }

  /// A server-streaming call with an encoded payload: the items, then the end (an error for a
  /// non-OK final status). Ending the iteration early cancels the call.
  public func serverStream(method: String, payload: Data, options: CallOptions = .init())
    -> AsyncThrowingStream<Data, Error>
  {
    let link = self.link.withLock { $0 }
    let (callID, frame) = request(method, payload, options)
    let (stream, continuation) = AsyncThrowingStream<Data, Error>.makeStream(bufferingPolicy: .unbounded)
    continuation.onTermination = { [weak self] reason in
      if case .cancelled = reason {
        link.handler.forget(callID)
        self?.sendCancel(callID, on: link)
      }
    }
    // A stream without a timeout has no deadline (a Watch runs until cancelled).
    let giveUp = options.timeout == nil ? UInt64.max : Self.giveUpAt(timeoutMs: frame.timeoutMs)
    if link.handler.register(callID, .stream(continuation, giveUpAt: giveUp)) { send(frame, on: link) }
    return stream
  }

  /// The connection's event loop as a task executor. A task that prefers it
  /// (`withTaskExecutorPreference(connection.taskExecutor) { ... }`, or
  /// `group.addTask(executorPreference: connection.taskExecutor)`) sends its requests and resumes
  /// with their responses on the thread that does the socket I/O: two thread hops fewer per call.
  /// Keep such a task short of blocking work: it shares the thread with the connection.
  public var taskExecutor: any TaskExecutor { executor }

  /// Calls in flight on this connection.
  public var inFlight: Int { link.withLock { $0 }.handler.pendingCount }

  /// Closes the connection; calls in flight fail with `ConnectionError`.
  public func close() async {
    try? await link.withLock { $0 }.channel.close()
    try? await ownedGroup?.shutdownGracefully()
  }

  /// Half-closes: tells the daemon no more requests come (EOF); responses still arrive.
  public func finishWriting() async throws {
    try await link.withLock { $0 }.channel.close(mode: .output)
  }

  /// Resolves when the daemon closes the connection.
  public func waitClosed() async { try? await link.withLock { $0 }.channel.closeFuture.get() }
}

extension PracticeConnection.Link {
  /// Opens a channel with a `ClientHandler`, and its writer.
  static func open(
    group: EventLoopGroup, maxFrameSize: Int, connectTimeout: Duration?,
    _ connect: (ClientBootstrap) async throws -> Channel
  ) async throws -> PracticeConnection.Link {
    let handler = ClientHandler(maxFrameSize: maxFrameSize)
    var bootstrap = ClientBootstrap(group: group)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
      }
    if let connectTimeout {
      bootstrap = bootstrap.connectTimeout(.nanoseconds(Int64(connectTimeout / .nanoseconds(1))))
    }
    do {
      let channel = try await connect(bootstrap)
      let writer = try await channel.eventLoop.submit {
        LoopWriter(context: try channel.pipeline.syncOperations.context(handler: handler))
      }.get()
      return PracticeConnection.Link(channel: channel, handler: handler, writer: writer)
    } catch {
      let (text, code) = ConnectionError.describe(error)
      throw ConnectionError("cannot connect: \(text)", errno: code)
    }
  }
}

extension PracticeConnection.Reopen {
  func open() async throws -> PracticeConnection.Link {
    try await PracticeConnection.Link.open(group: group, maxFrameSize: maxFrameSize, connectTimeout: connectTimeout) {
      try await $0.connect(unixDomainSocketPath: path).get()
    }
  }
}

/// Runs jobs on an event loop. A job enqueued from the loop itself (a continuation resumed by a
/// channel handler) joins the loop's queue without waking anything.
final class EventLoopTaskExecutor: TaskExecutor {
  let loop: any EventLoop
  init(_ loop: any EventLoop) { self.loop = loop }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
  }
}

/// Pairs response frames with pending calls.
final class ClientHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
  typealias InboundIn = ByteBuffer

  /// A call waiting for its answer, and when the client gives it up (`NIODeadline` nanoseconds).
  enum Pending {
    case unary(UnsafeContinuation<Data, Error>, giveUpAt: UInt64)
    case stream(AsyncThrowingStream<Data, Error>.Continuation, giveUpAt: UInt64)

    var giveUpAt: UInt64 {
      switch self {
      case .unary(_, let at), .stream(_, let at): at
      }
    }
  }

  private struct State {
    var pending: [UInt64: Pending] = [:]
    var closedError: Error?
    /// The status the daemon sent with `call_id = 0` before closing.
    var closeStatus: RPCError?
    /// Writes a cancel frame for a call given up (set when the handler joins its pipeline).
    var sendCancel: (@Sendable (UInt64) -> Void)?
  }

  private let state = LockedState(State())
  private let closed = Atomic<Bool>(false)
  private let parser: LockedState<FrameParser>

  init(maxFrameSize: Int) { parser = LockedState(FrameParser(maxFrameSize: maxFrameSize)) }

  var pendingCount: Int { state.withLock { $0.pending.count } }
  /// Whether the connection is closed: no call can be registered any more.
  var isClosed: Bool { closed.load(ordering: .acquiring) }
  var closeStatus: RPCError? { state.withLock { $0.closeStatus } }

  /// Registers a call before its request is sent; fails it at once when the connection is closed.
  func register(_ callID: UInt64, _ pending: Pending) -> Bool {
    let closed: Error? = state.withLock { s in
      if let e = s.closedError { return e }
      s.pending[callID] = pending
      return nil
    }
    if let closed {
      Self.fail(pending, closed)
      return false
    }
    return true
  }

  func forget(_ callID: UInt64) { _ = state.withLock { $0.pending.removeValue(forKey: callID) } }

  func handlerAdded(context: ChannelHandlerContext) {
    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
    let loop = context.eventLoop
    state.withLock {
      $0.sendCancel = { callID in
        loop.execute {
          var frame = bound.value.channel.allocator.buffer(capacity: 16)
          RequestFrame(callID: callID, cancel: true).encode(into: &frame)
          bound.value.writeAndFlush(NIOAny(frame), promise: nil)
        }
      }
    }
    DeadlineSweeper.shared.add(self)
  }

  /// Fails the calls whose time is up with `DEADLINE_EXCEEDED`; returns their ids.
  func giveUpExpired(now: NIODeadline) -> [UInt64] {
    let now = now.uptimeNanoseconds
    let expired = state.withLock { s -> [(UInt64, Pending)] in
      let ids = s.pending.filter { $0.value.giveUpAt <= now }.map(\.key)
      return ids.map { ($0, s.pending.removeValue(forKey: $0)!) }
    }
    for (_, p) in expired { Self.fail(p, Self.gaveUp) }
    if !expired.isEmpty, let sendCancel = state.withLock({ $0.sendCancel }) {
      // Ask the daemon to drop them: the connection stays usable.
      for (callID, _) in expired { sendCancel(callID) }
    }
    return expired.map(\.0)
  }

  static let gaveUp = RPCError(
    .deadlineExceeded, .deadlineExceeded,
    "no answer from practiced within the deadline and \(PracticeConnection.deadlineGrace) more (the client gave up)")

  private static func fail(_ p: Pending, _ error: Error) {
    switch p {
    case .unary(let k, _): k.resume(throwing: error)
    case .stream(let c, _): c.finish(throwing: error)
    }
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let bytes = unwrapInboundIn(data)
    do {
      // Frames are taken out under the lock and delivered after it; a read usually holds one frame,
      // kept apart so that no array is allocated for it.
      var first: ByteBuffer?
      var more: [ByteBuffer] = []
      try parser.withLock { (p: inout FrameParser) throws(FrameError) in
        p.append(bytes)
        first = try p.next()
        guard first != nil else { return }
        while let body = try p.next() { more.append(body) }
      }
      if let first { try handle(first) }
      for body in more { try handle(body) }
    } catch {
      failAll(ConnectionError("bad response from the daemon: \(error)"))
      context.close(promise: nil)
    }
  }

  private func handle(_ body: ByteBuffer) throws {
    // An OK response is read straight from the frame; anything else goes through swift-protobuf.
    if let plain = body.withUnsafeReadableBytes(PlainResponse.parse), plain.callID != 0 {
      deliver(callID: plain.callID, more: plain.more, payload: plain.payload, error: plain.hasStatus ? nil : Self.noStatus)
    } else {
      let response = try Practice_Rpc_V1_Response(serializedBytes: [UInt8](body.readableBytesView))
      deliver(response)
    }
  }

  private static let noStatus = RPCError.internal("response without status")

  private func deliver(_ response: Practice_Rpc_V1_Response) {
    if response.callID == 0 {
      let status = RPCError(status: response.status)
      failAll(ConnectionError("the daemon closed the connection: \(status?.description ?? "?")", status: status))
      return
    }
    deliver(callID: response.callID, more: response.more, payload: response.payload,
            error: response.hasStatus ? RPCError(status: response.status) : Self.noStatus)
  }

  /// A call's response. `error`: nil for OK, else the final status (only read when `more` is false).
  private func deliver(callID: UInt64, more: Bool, payload: Data, error: RPCError?) {
    if more {
      let p = state.withLock { $0.pending[callID] }
      if case .stream(let c, _)? = p { c.yield(payload) }
      return
    }
    guard let p = state.withLock({ $0.pending.removeValue(forKey: callID) }) else { return }
    switch p {
    case .unary(let k, _):
      if let error { k.resume(throwing: error) } else { k.resume(returning: payload) }
    case .stream(let c, _):
      if let error { c.finish(throwing: error) } else { c.finish() }
    }
  }

  private func failAll(_ error: Error) {
    let pending = state.withLock { s -> [Pending] in
      if s.closedError == nil { s.closedError = error }
      if let status = (error as? ConnectionError)?.status, s.closeStatus == nil { s.closeStatus = status }
      s.sendCancel = nil
      defer { s.pending.removeAll() }
      return Array(s.pending.values)
    }
    closed.store(true, ordering: .releasing)
    for p in pending { Self.fail(p, error) }
  }

  /// The sweeper lets go of the handler when it leaves the pipeline: on every close, also of a channel
  /// that never became active (a failed connect), which gets no `channelInactive`.
  func handlerRemoved(context: ChannelHandlerContext) {
    DeadlineSweeper.shared.remove(self)
  }

  func channelInactive(context: ChannelHandlerContext) {
    failAll(ConnectionError("connection closed"))
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    let (text, code) = ConnectionError.describe(error)
    failAll(ConnectionError("connection error: \(text)", errno: code))
    context.close(promise: nil)
  }
}

/// Gives up the calls of every open connection that are past their deadline and grace, every 250 ms,
/// from one timer of its own: a timer on each connection's event loop made every turn of the loop
/// look at the clock.
final class DeadlineSweeper: Sendable {
  static let shared = DeadlineSweeper()
  static let interval: DispatchTimeInterval = .milliseconds(250)

  private struct State {
    var handlers: [ObjectIdentifier: ClientHandler] = [:]
    var timer: DispatchSourceTimer?
  }

  private let state = LockedState(State())
  private let queue = DispatchQueue(label: "practice.client.deadlines")

  func add(_ handler: ClientHandler) {
    state.withLock { s in
      s.handlers[ObjectIdentifier(handler)] = handler
      if s.timer == nil {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + Self.interval, repeating: Self.interval, leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in self?.sweep() }
        timer.resume()
        s.timer = timer
      }
    }
  }

  func contains(_ handler: ClientHandler) -> Bool {
    state.withLock { $0.handlers[ObjectIdentifier(handler)] != nil }
  }

  /// Forgets a closed connection's handler; the timer stops with the last one.
  func remove(_ handler: ClientHandler) {
    let timer: DispatchSourceTimer? = state.withLock { s in
      s.handlers[ObjectIdentifier(handler)] = nil
      guard s.handlers.isEmpty else { return nil }
      defer { s.timer = nil }
      return s.timer
    }
    timer?.cancel()
  }

  private func sweep() {
    let handlers = state.withLock { Array($0.handlers.values) }
    let now = NIODeadline.now()
    for handler in handlers { _ = handler.giveUpExpired(now: now) }
  }
}
