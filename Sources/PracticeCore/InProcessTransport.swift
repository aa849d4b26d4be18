import Foundation
import Logging
import PracticeProto

/// A client transport that calls a `Dispatcher` in the same process, as one peer: the typed clients
/// over it go through the same method lookup, peer check, decoding, request filters, handlers and
/// error mapping as over the socket, without frames or a connection. Deadlines, cancellation and
/// streams behave as over the socket (docs/PROTOCOL.md, "Calls"); framing, peer credentials and the
/// connection's limits belong to the socket transport and are not here.
public struct InProcessTransport: ClientTransport {
  public let dispatcher: Dispatcher
  public let peer: Peer
  public let logger: Logger
  private let calls = LockedState<(lastID: UInt64, inFlight: Int)>((0, 0))

  public init(dispatcher: Dispatcher, peer: Peer, logger: Logger = Logger(label: "practiced.in-process")) {
    self.dispatcher = dispatcher
    self.peer = peer
    self.logger = logger
  }

  public func unary(method: String, payload: Data, options: CallOptions) async throws -> Data {
    let (route, context, deadline) = try start(method, payload, options)
    return try await run(context, deadline: deadline) { [dispatcher] in
      try await dispatcher.run(context, route: route, payload: payload) { _ in
        throw RPCError.internal("a unary call sent a stream item")
      } ?? Data()
    }
  }

  public func serverStream(method: String, payload: Data, options: CallOptions) -> AsyncThrowingStream<Data, Error> {
    let (stream, continuation) = AsyncThrowingStream<Data, Error>.makeStream(bufferingPolicy: .unbounded)
    let route: Route
    let context: CallContext
    let deadline: Duration?
    do {
      (route, context, deadline) = try start(method, payload, options)
    } catch {
      continuation.finish(throwing: error)
      return stream
    }
    let task = Task { [dispatcher] in
      do {
        _ = try await run(context, deadline: deadline) {
          try await dispatcher.run(context, route: route, payload: payload) { bytes in
            guard context.control.ifNotEnded({ continuation.yield(bytes) }) else {
              throw context.control.endedError ?? RPCError(.cancelled, .cancelled, "call ended")
            }
          }
        }
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    continuation.onTermination = { reason in
      if case .cancelled = reason {
        _ = context.control.end(RPCError(.cancelled, .cancelled, "cancelled by the client"))
        task.cancel()
      }
    }
    return stream
  }

  /// The call's context and deadline (the same rules as the socket's: `timeout`, else the daemon's
  /// default for a unary call, none for a stream).
  private func start(_ method: String, _ payload: Data, _ options: CallOptions) throws
    -> (Route, CallContext, Duration?)
  {
    let route = try dispatcher.resolve(method).get()
    let descriptor = route.method
    var metadata: [String: String] = [:]
    for (key, value) in options.entries where metadata[key] == nil { metadata[key] = value }
    let callID = calls.withLock { c -> UInt64 in
      c.lastID += 1
      return c.lastID
    }
    let context = CallContext(
      method: descriptor, callID: callID, peer: peer, metadata: metadata, control: CallControl(), logger: logger,
      requestBytes: payload)
    let deadline = options.timeout ?? (descriptor.serverStreaming ? nil : dispatcher.configuration.defaultDeadline)
    return (route, context, deadline)
  }

  /// Calls whose handlers have not returned yet.
  public var inFlight: Int { calls.withLock { $0.inFlight } }

  /// Runs the call; past its deadline, or when the caller's task is cancelled, ends it from outside
  /// (the commit rule applies: a mutation that has entered its commit reports its real result).
  private func run<T: Sendable>(
    _ context: CallContext, deadline: Duration?, _ body: @escaping @Sendable () async throws -> T
  ) async throws -> T {
    let control = context.control
    calls.withLock { $0.inFlight += 1 }
    let call = Task { [calls] in
      defer { calls.withLock { $0.inFlight -= 1 } }
      return try await body()
    }
    let timer = deadline.map { d in
      Task {
        try await Task.sleep(for: d)
        if control.end(RPCError(.deadlineExceeded, .deadlineExceeded, "deadline exceeded")) { call.cancel() }
      }
    }
    defer { timer?.cancel() }
    return try await withTaskCancellationHandler {
      do {
        let value = try await call.value
        if let ended = control.endedError { throw ended }
        return value
      } catch {
        throw control.endedError ?? error
      }
    } onCancel: {
      // Ended now, or already (a stream whose consumer went away): the handler's task stops. A call
      // that entered its commit is left to finish.
      _ = control.end(RPCError(.cancelled, .cancelled, "cancelled by the client"))
      if control.endedError != nil { call.cancel() }
    }
  }
}
