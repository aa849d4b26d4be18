import Foundation
import PracticeProto
import SwiftProtobuf

/// Writes the items of a server-streaming call. `send` waits until the item is handed to the
/// transport's socket (backpressure) and throws once the call has ended.
public struct StreamWriter<Item: SwiftProtobuf.Message>: Sendable {
  let sendBytes: @Sendable (Data) async throws -> Void

  public init(sendBytes: @escaping @Sendable (Data) async throws -> Void) {
    self.sendBytes = sendBytes
  }

  public func send(_ item: Item) async throws {
    try await sendBytes(try item.serializedData())
  }
}

/// A method's handler, type-erased to bytes.
public struct Route: Sendable {
  public enum Kind: Sendable { case read, mutation, stream }

  public let method: MethodDescriptor
  public let kind: Kind
  /// Decodes the request, runs the handler; for a unary call returns the encoded response, for a
  /// stream sends items through `send` and returns `nil`.
  let invoke: @Sendable (
    CallContext, Data, [RequestFilter], @escaping @Sendable (Data) async throws -> Void
  ) async throws -> Data?
  /// A read that can be answered without suspending: decodes, filters and runs the synchronous
  /// handler on the caller's thread (the connection's event loop). Returns nil when this request
  /// needs `invoke` instead.
  var invokeInline: (@Sendable (CallContext, Data, [RequestFilter]) throws -> Data?)?
  /// Its metrics, made by the dispatcher that serves it.
  var metrics: CallMetrics = .unknown
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
  func apply(_ ctx: CallContext, _ request: some SwiftProtobuf.Message, payload: Data) throws {
    for filter in self where payload.withUnsafeBytes(filter.mayRefuse) { try filter.check(ctx, request) }
  }
}

/// The method table: which handler serves which method path.
public struct Router: Sendable {
  public private(set) var routes: [String: Route] = [:]

  public init() {}

  private static func descriptor(_ path: String, _ req: Any.Type, _ resp: Any.Type) -> MethodDescriptor {
    guard let m = MethodCatalog.method(path) else { preconditionFailure("\(path) is not declared in proto/") }
    precondition(m.requestType == req && m.responseType == resp, "\(path): message types differ from proto/")
    return m
  }

  static func decode<Req: SwiftProtobuf.Message>(_ type: Req.Type, _ payload: Data) throws -> Req {
    do {
      return try Req(serializedBytes: payload)
    } catch {
      throw RPCError(.invalidArgument, .badPayload, "payload does not decode as \(Req.protoMessageName)")
    }
  }

  /// Registers a unary method. `mutation` decides how it is logged and whether it is a write.
  public mutating func unary<Req: SwiftProtobuf.Message, Resp: SwiftProtobuf.Message>(
    _ path: String, mutation: Bool,
    _ handler: @escaping @Sendable (CallContext, Req) async throws -> Resp
  ) {
    let m = Router.descriptor(path, Req.self, Resp.self)
    precondition(!m.serverStreaming, "\(path) is server streaming")
    routes[path] = Route(method: m, kind: mutation ? .mutation : .read) { ctx, payload, filters, _ in
      let request = try Router.decode(Req.self, payload)
      try filters.apply(ctx, request, payload: payload)
      var ctx = ctx
      if mutation { ctx.requestBytes = payload }
      return try await handler(ctx, request).serializedData()
    }
  }

  /// Registers a read served inline: `inline` answers on the connection's event loop without a task
  /// (a read from the store's cache or a short SQLite read), or returns nil to hand the request to
  /// `handler`, which runs as a task like any call.
  public mutating func unary<Req: SwiftProtobuf.Message, Resp: SwiftProtobuf.Message>(
    _ path: String,
    inline: @escaping @Sendable (CallContext, Req) throws -> Resp?,
    _ handler: @escaping @Sendable (CallContext, Req) async throws -> Resp
  ) {
    unary(path, inlineEncoded: { ctx, req in try inline(ctx, req)?.serializedData() }, handler)
  }

  /// `unary(_:inline:_:)` for an inline answer that is already encoded (a response kept encoded in
  /// the store's read cache): `inline` returns the bytes of a `Resp`.
  public mutating func unary<Req: SwiftProtobuf.Message, Resp: SwiftProtobuf.Message>(
    _ path: String,
    inlineEncoded inline: @escaping @Sendable (CallContext, Req) throws -> Data?,
    _ handler: @escaping @Sendable (CallContext, Req) async throws -> Resp
  ) {
    unary(path, mutation: false, handler)
    routes[path]!.invokeInline = { ctx, payload, filters in
      let request = try Router.decode(Req.self, payload)
      try filters.apply(ctx, request, payload: payload)
      return try inline(ctx, request)
    }
  }

  /// Registers a read whose handler never suspends: served inline.
  public mutating func read<Req: SwiftProtobuf.Message, Resp: SwiftProtobuf.Message>(
    _ path: String, _ handler: @escaping @Sendable (CallContext, Req) throws -> Resp
  ) {
    unary(path, inline: handler) { ctx, req in try handler(ctx, req) }
  }

  /// Registers a server-streaming method.
  public mutating func serverStreaming<Req: SwiftProtobuf.Message, Item: SwiftProtobuf.Message>(
    _ path: String,
    _ handler: @escaping @Sendable (CallContext, Req, StreamWriter<Item>) async throws -> Void
  ) {
    let m = Router.descriptor(path, Req.self, Item.self)
    precondition(m.serverStreaming, "\(path) is not server streaming")
    routes[path] = Route(method: m, kind: .stream) { ctx, payload, filters, send in
      let request = try Router.decode(Req.self, payload)
      try filters.apply(ctx, request, payload: payload)
      try await handler(ctx, request, StreamWriter(sendBytes: send))
      return nil
    }
  }
}
