import Foundation
import PracticeProto
import SwiftProtobuf

/// A method's handler, type-erased to bytes.
public struct Route: Sendable {
  public enum Kind: Sendable { case read, mutation, stream }

  /// Where a call of the route starts. The transport honours it; the handler is the same either way.
  public enum Execution: Sendable {
    /// On a task of its own.
    case task
    /// On the thread that read the request (the connection's event loop), as a task started there
    /// (`Task.immediate`): a handler that never suspends (a read from the cache or a short SQLite
    /// read) is answered before the next request is read, with no thread hop and no deadline timer;
    /// one that suspends (an audited read waiting for its write) continues as any task.
    case connectionThread
  }

  public let method: MethodDescriptor
  public let kind: Kind
  public internal(set) var execution: Execution = .task
  /// Decodes the request, runs the handler; for a unary call returns the encoded response, for a
  /// stream sends items through `send` and returns `nil`.
  @usableFromInline let invoke: @Sendable (
    CallContext, Data, [RequestFilter], @escaping @Sendable (Data) async throws -> Void
  ) async throws -> Data?
  /// Its metrics, made by the dispatcher that serves it.
  var metrics: CallMetrics = .unknown

  @usableFromInline init(
    method: MethodDescriptor, kind: Kind,
    invoke: @escaping @Sendable (
      CallContext, Data, [RequestFilter], @escaping @Sendable (Data) async throws -> Void
    ) async throws -> Data?
  ) {
    self.method = method
    self.kind = kind
    self.invoke = invoke
  }
}

/// A request filter runs on every decoded request before its handler (the U+0000 rule, the
/// card-number scan). It throws an `RPCError` to refuse the call.
public struct RequestFilter: Sendable {
  /// A cheap test on the encoded request: false when no string field of the decoded request can
  /// hold what `check` refuses (every string's UTF-8 bytes appear verbatim in the encoding), so the
  /// walk over the decoded message is skipped. Must never say false for a request `check` refuses.
  public let mayRefuse: @Sendable (UnsafeRawBufferPointer) -> Bool
  public let check: @Sendable (CallContext, any SwiftProtobuf.Message) throws -> Void

  public init(
    mayRefuse: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool = { _ in true },
    check: @escaping @Sendable (CallContext, any SwiftProtobuf.Message) throws -> Void
  ) {
    self.mayRefuse = mayRefuse
    self.check = check
  }
}

extension [RequestFilter] {
  /// Runs the filters on a decoded request whose encoding is `payload`.
  @usableFromInline func apply(_ ctx: CallContext, _ request: some SwiftProtobuf.Message, payload: Data) throws {
    for filter in self where payload.withUnsafeBytes(filter.mayRefuse) { try filter.check(ctx, request) }
  }
}

/// The method table: which handler serves which method path. The services register into it
/// through their generated `register(into:)`.
public struct Router: MethodRegistrar, Sendable {
  public typealias Context = CallContext

  // Inlinable registration: the services' generated `register(into:)` specializes these for each
  // method's message types (unspecialized, every call went through generic metadata and thunks).
  @usableFromInline var routes: [String: Route] = [:]

  public init() {}

  @usableFromInline static func decode<Req: SwiftProtobuf.Message>(_ type: Req.Type, _ payload: Data) throws -> Req {
    do {
      return try Req(serializedBytes: payload)
    } catch {
      throw RPCError(.invalidArgument, .badPayload, "payload does not decode as \(Req.protoMessageName)")
    }
  }

  /// Registers a unary method: a read when proto/ marks it `NO_SIDE_EFFECTS`, else a mutation.
  @inlinable public mutating func unary<Req: SwiftProtobuf.Message, Resp: SwiftProtobuf.Message>(
    _ method: MethodDescriptor, _ handler: @escaping @Sendable (Req, CallContext) async throws -> Resp
  ) {
    routes[method.path] = Route(method: method, kind: method.hasSideEffects ? .mutation : .read) {
      ctx, payload, filters, _ in
      let request = try Router.decode(Req.self, payload)
      try filters.apply(ctx, request, payload: payload)
      return try await handler(request, ctx).serializedData()
    }
  }

  /// Registers a server-streaming method.
  @inlinable public mutating func serverStreaming<Req: SwiftProtobuf.Message, Item: SwiftProtobuf.Message>(
    _ method: MethodDescriptor,
    _ handler: @escaping @Sendable (Req, ServerStreamWriter<Item>, CallContext) async throws -> Void
  ) {
    routes[method.path] = Route(method: method, kind: .stream) { ctx, payload, filters, send in
      let request = try Router.decode(Req.self, payload)
      try filters.apply(ctx, request, payload: payload)
      try await handler(request, ServerStreamWriter(sendBytes: send), ctx)
      return nil
    }
  }

  /// Starts the calls of a registered unary method on the connection's thread
  /// (`Route.Execution.connectionThread`): for reads that usually finish without suspending.
  public mutating func startOnConnectionThread(_ method: MethodDescriptor) {
    precondition(routes[method.path] != nil && !method.serverStreaming, "\(method.path): not a registered unary method")
    routes[method.path]!.execution = .connectionThread
  }
}
