import Foundation
import Logging
import NIOCore
import PracticeCore
import PracticeProto
import PracticeWire

/// Where a connection's responses go. The NIO transport writes them to the socket; tests collect them.
/// Responses go out in the order the writes were made, whichever threads made them (`LoopOrder`).
public protocol ResponseWriter: Sendable {
  /// Queues a response for writing; never blocks.
  func write(_ response: Practice_Rpc_V1_Response)
  /// Queues a stream item at once; the future completes when the transport has written it
  /// (backpressure for streams).
  func writeItem(_ response: Practice_Rpc_V1_Response) -> EventLoopFuture<Void>
  /// Queues a unary call's OK response: `write(.success(callID:payload:))`, which a transport may
  /// encode without building the message.
  func writeSuccess(callID: UInt64, payload: Data)
}

extension ResponseWriter {
  public func writeSuccess(callID: UInt64, payload: Data) { write(.success(callID: callID, payload: payload)) }
}

/// One connection's calls: starts each request as a task, pairs responses by `call_id`, and enforces
/// the in-flight bound, deadlines, cancel frames, disconnects and shutdown (docs/PROTOCOL.md, "Calls").
/// Transport-agnostic: the socket server feeds it decoded requests, an in-process test can too.
public final class CallMultiplexer: Sendable {
  public struct Configuration: Sendable {
    public var maxInFlight: Int
    public init(maxInFlight: Int = 128) { self.maxInFlight = maxInFlight }
  }

  /// What the transport must do after a request.
  public enum Outcome: Sendable, Equatable {
    case accepted
    /// A protocol error: send one `Response` with `call_id = 0` carrying it, then close.
    case close(FrameError)
  }

  private struct Entry {
    let control: CallControl
    var task: Task<Void, Never>?
    var timer: Scheduled<Void>?
    let streaming: Bool
  }

  private struct State {
    var calls: [UInt64: Entry] = [:]
    var shuttingDown = false
    var closed = false
  }

  private let dispatcher: Dispatcher
  private let peer: Peer
  private let eventLoop: any EventLoop
  private let writer: any ResponseWriter
  private let configuration: Configuration
  private let logger: Logger
  private let state = LockedState(State())
  /// Called (outside any lock) whenever the number of calls in flight drops to zero.
  private let onIdle: @Sendable () -> Void

  public init(
    dispatcher: Dispatcher, peer: Peer, eventLoop: any EventLoop, writer: any ResponseWriter,
    configuration: Configuration = .init(), logger: Logger, onIdle: @escaping @Sendable () -> Void = {}
  ) {
    self.dispatcher = dispatcher
    self.peer = peer
    self.eventLoop = eventLoop
    self.writer = writer
    self.configuration = configuration
    self.logger = logger
    self.onIdle = onIdle
  }

  public var inFlight: Int { state.withLock { $0.calls.count } }

  /// Handles one decoded request.
  public func receive(_ request: Practice_Rpc_V1_Request) -> Outcome {
    let callID = request.callID
    if request.cancel {
      if callID != 0 {
        end(callID, RPCError(.cancelled, .cancelled, "cancelled by the client"), respond: true)
      }
      return .accepted
    }
    guard callID != 0 else { return .close(.badCallID("call_id 0 is not allowed")) }

    if let route = dispatcher.inlineRoute(request.method) {
      return startOnConnectionThread(request, route)
    }

    let resolved = dispatcher.resolve(request.method)
    let streaming = (try? resolved.get())?.method.serverStreaming ?? false
    let control: CallControl
    switch admit(callID, streaming: streaming) {
    case .admit(let c): control = c
    case let refused: return refuse(refused, callID)
    }

    let route: Route
    switch resolved {
    case .failure(let error):
      finish(callID, control, .failure(error))
      return .accepted
    case .success(let r):
      route = r
    }
    let method = route.method

    let context = context(request, method, control)
    let payload = request.payload
    let writer = self.writer
    let task = Task { [dispatcher] in
      let send: @Sendable (Data) async throws -> Void = { bytes in
        // Written under the call's lock, and writers keep the order of writes, so no item can follow
        // the call's final response.
        var written: EventLoopFuture<Void>?
        _ = control.ifNotEnded { written = writer.writeItem(.streamItem(callID: callID, payload: bytes)) }
        guard let written else { throw control.endedError ?? RPCError(.cancelled, .cancelled, "call ended") }
        do {
          try await written.cancellableGet()
        } catch {
          // The connection went away under the stream (I/O on a closed channel): the call is over, not
          // broken.
          throw control.endedError ?? RPCError(.cancelled, .cancelled, "the connection closed")
        }
      }
      let result: Result<Data?, RPCError>
      do throws(RPCError) {
        result = .success(try await dispatcher.run(context, route: route, payload: payload, send: send))
      } catch {
        result = .failure(error)
      }
      self.finish(callID, control, result)
    }
    let timer = deadline(request, method).map { armDeadline(callID, $0) }
    let stillThere = state.withLock { s -> Bool in
      guard s.calls[callID] != nil, s.calls[callID]!.control === control else { return false }
      s.calls[callID]!.task = task
      s.calls[callID]!.timer = timer
      return true
    }
    if !stillThere {
      // Ended (or finished) before we could record the task and timer.
      timer?.cancel()
      if control.endedError != nil { task.cancel() }
    }
    return .accepted
  }

  /// A call whose route starts on the connection's thread (`Route.Execution.connectionThread`): its
  /// task starts here, on the event loop, and runs until its handler first suspends. A handler that
  /// never suspends has written its response when `Task.immediate` returns: no thread hop, no
  /// deadline timer, no entry in the call table. One that suspended is entered in the table then,
  /// with its deadline, like any call. The admission rules are those of every call.
  private func startOnConnectionThread(_ request: Practice_Rpc_V1_Request, _ route: Route) -> Outcome {
    let callID = request.callID
    let control: CallControl
    switch admit(callID, streaming: false, register: false) {
    case .admit(let c): control = c
    case let refused: return refuse(refused, callID)
    }
    let context = context(request, route.method, control)
    let payload = request.payload
    let task = Task.immediate { [dispatcher] in
      let result: Result<Data?, RPCError>
      do throws(RPCError) {
        result = .success(try await dispatcher.run(context, route: route, payload: payload, send: Self.noItems))
      } catch {
        result = .failure(error)
      }
      self.finish(callID, control, result)
    }
    if control.isOver { return .accepted }
    // The handler suspended: the call is entered in the table (unless it finished in the meantime on
    // another thread: `finish` marks the control before it looks for an entry).
    let timer = deadline(request, route.method).map { armDeadline(callID, $0) }
    let entered = state.withLock { s -> Bool in
      guard !control.isOver else { return false }
      s.calls[callID] = Entry(control: control, task: task, timer: timer, streaming: false)
      return true
    }
    if !entered { timer?.cancel() }
    return .accepted
  }

  /// A unary call sends no stream items.
  private static let noItems: @Sendable (Data) async throws -> Void = { _ in
    throw RPCError.internal("a unary call sent a stream item")
  }

  /// The call's deadline: `timeout_ms`, or the default for unary calls; none for a stream without
  /// `timeout_ms`.
  private func deadline(_ request: Practice_Rpc_V1_Request, _ method: MethodDescriptor) -> TimeAmount? {
    if request.timeoutMs > 0 { return .milliseconds(Int64(request.timeoutMs)) }
    if method.serverStreaming { return nil }
    let d = dispatcher.configuration.defaultDeadline.components
    return .nanoseconds(d.seconds * 1_000_000_000 + d.attoseconds / 1_000_000_000)
  }

  private func armDeadline(_ callID: UInt64, _ deadline: TimeAmount) -> Scheduled<Void> {
    eventLoop.scheduleTask(in: deadline) { [weak self] () -> Void in
      self?.end(callID, RPCError(.deadlineExceeded, .deadlineExceeded, "deadline exceeded"), respond: true)
    }
  }

  private enum Admission { case admit(CallControl), duplicate, tooMany, shuttingDown }

  /// The admission rules of every call: a `call_id` not in flight, no shutdown, the in-flight bound.
  /// `register` enters the call in the table with its own control; a call started on the
  /// connection's thread is entered only if it suspends.
  private func admit(_ callID: UInt64, streaming: Bool, register: Bool = true) -> Admission {
    state.withLock { s in
      if s.calls[callID] != nil { return .duplicate }
      if s.shuttingDown || s.closed { return .shuttingDown }
      if s.calls.count >= configuration.maxInFlight { return .tooMany }
      let control = CallControl()
      if register { s.calls[callID] = Entry(control: control, task: nil, timer: nil, streaming: streaming) }
      return .admit(control)
    }
  }

  /// What the transport does for a call that was not admitted.
  private func refuse(_ admission: Admission, _ callID: UInt64) -> Outcome {
    switch admission {
    case .duplicate:
      return .close(.badCallID("call_id \(callID) is already in flight"))
    case .tooMany:
      writer.write(.failure(callID: callID, RPCError(
        .resourceExhausted, .tooManyCalls, "more than \(configuration.maxInFlight) calls in flight")))
    case .shuttingDown:
      writer.write(.failure(callID: callID, Self.shuttingDown))
    case .admit:
      preconditionFailure("an admitted call is not refused")
    }
    return .accepted
  }

  private func context(_ request: Practice_Rpc_V1_Request, _ method: MethodDescriptor, _ control: CallControl)
    -> CallContext
  {
    var metadata: [String: String] = [:]
    for entry in request.metadata where metadata[entry.key] == nil { metadata[entry.key] = entry.value }
    return CallContext(
      method: method, callID: request.callID, peer: peer, metadata: metadata, control: control, logger: logger,
      requestBytes: request.payload)
  }

  /// The call's own task is done: write its result unless it was ended from outside first.
  private func finish(_ callID: UInt64, _ control: CallControl, _ result: Result<Data?, RPCError>) {
    guard control.finish() else { return }
    let (removed, idle) = remove(callID, control)
    removed?.timer?.cancel()
    write(callID, result)
    if idle { onIdle() }
  }

  private func write(_ callID: UInt64, _ result: Result<Data?, RPCError>) {
    switch result {
    case .success(let payload):
      writer.writeSuccess(callID: callID, payload: payload ?? Data())
    case .failure(let error):
      writer.write(.failure(callID: callID, error))
    }
  }

  /// Ends a call from outside (deadline, cancel, shutdown, disconnect). A call that has entered its
  /// commit is left to finish and report its real result.
  private func end(_ callID: UInt64, _ error: RPCError, respond: Bool) {
    let entry = state.withLock { $0.calls[callID] }
    guard let entry, entry.control.end(error) else { return }
    let (removed, idle) = remove(callID, entry.control)
    removed?.timer?.cancel()
    removed?.task?.cancel()
    if respond { writer.write(.failure(callID: callID, error)) }
    if idle { onIdle() }
  }

  private func remove(_ callID: UInt64, _ control: CallControl) -> (Entry?, Bool) {
    state.withLock { s in
      guard let e = s.calls[callID], e.control === control else { return (nil, false) }
      s.calls[callID] = nil
      return (e, s.calls.isEmpty)
    }
  }

  /// The connection is gone: end every call without writing anything. Mutations past their commit
  /// point still complete (their results have nowhere to go).
  public func connectionClosed() {
    let ids = state.withLock { s -> [UInt64] in
      s.closed = true
      return Array(s.calls.keys)
    }
    for id in ids { end(id, RPCError(.cancelled, .cancelled, "connection closed"), respond: false) }
  }

  /// Shutdown, first step: refuse new calls and end open streams with `SHUTTING_DOWN`.
  public func beginShutdown() {
    let streams = state.withLock { s -> [UInt64] in
      s.shuttingDown = true
      return s.calls.filter { $0.value.streaming }.map(\.key)
    }
    for id in streams { end(id, Self.shuttingDown, respond: true) }
  }

  /// Shutdown, last step: end whatever is still in flight with `SHUTTING_DOWN`.
  public func endAll() {
    let ids = state.withLock { Array($0.calls.keys) }
    for id in ids { end(id, Self.shuttingDown, respond: true) }
  }

  static let shuttingDown = RPCError(.unavailable, .shuttingDown, "the daemon is shutting down")
}

/// Resumes a continuation at most once, from whichever comes first.
private final class ResumeOnce: Sendable {
  private let state = LockedState<(continuation: CheckedContinuation<Void, Error>?, early: Result<Void, Error>?)>((nil, nil))

  func attach(_ k: CheckedContinuation<Void, Error>) {
    let early = state.withLock { s -> Result<Void, Error>? in
      if let e = s.early { return e }
      s.continuation = k
      return nil
    }
    if let early { k.resume(with: early) }
  }

  func resume(_ result: Result<Void, Error>) {
    let k = state.withLock { s -> CheckedContinuation<Void, Error>? in
      if let k = s.continuation {
        s.continuation = nil
        s.early = result  // later resumes are ignored
        return k
      }
      if s.early == nil { s.early = result }
      return nil
    }
    k?.resume(with: result)
  }
}

extension EventLoopFuture where Value == Void {
  /// Waits for the future, or throws `CancellationError` as soon as the task is cancelled (a stream
  /// whose client stopped reading must still end when its call is ended).
  func cancellableGet() async throws {
    let once = ResumeOnce()
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (k: CheckedContinuation<Void, Error>) in
        once.attach(k)
        self.whenComplete { once.resume($0) }
      }
    } onCancel: {
      once.resume(.failure(CancellationError()))
    }
  }
}
