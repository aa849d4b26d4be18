import Foundation
import Logging
import PracticeProto
import SwiftProtobuf

/// Runs one call: finds the method, checks the peer class, decodes the payload, runs the request
/// filters and the handler, and turns every outcome into a status. Knows nothing of sockets.
public final class Dispatcher: Sendable {
  public struct Configuration: Sendable {
    /// Serve the `practice.test.v1` methods (only with `--test-hooks`).
    public var testHooks: Bool
    /// The deadline of a unary call that sends `timeout_ms = 0`.
    public var defaultDeadline: Duration

    public init(testHooks: Bool = false, defaultDeadline: Duration = .seconds(30)) {
      self.testHooks = testHooks
      self.defaultDeadline = defaultDeadline
    }
  }

  public let configuration: Configuration
  private let routes: [String: Route]
  /// The routes started on the connection's thread, served under this configuration: a handful,
  /// searched by comparing paths (their lengths first), which costs less than hashing the path for the
  /// dictionary.
  private let inlineRoutes: [Route]
  private let inlinePaths: [String]
  private let filters: [RequestFilter]

  public init(router: Router, filters: [RequestFilter] = [], configuration: Configuration = .init()) {
    var routes = router.routes
    // A method that is not served (a test hook without --test-hooks) gets no series of its own.
    for (path, route) in routes where Self.isServed(route.method, configuration) {
      routes[path]!.metrics = CallMetrics(method: path)
    }
    self.routes = routes
    self.filters = [Dispatcher.refuseNUL] + filters
    self.configuration = configuration
    self.inlineRoutes = routes.values
      .filter { $0.execution == .connectionThread && Self.isServed($0.method, configuration) }
      .sorted { $0.method.path < $1.method.path }
    self.inlinePaths = inlineRoutes.map(\.method.path)
  }

  /// The method paths served (Reflection/Describe lists them).
  public var servedMethods: [String] {
    MethodCatalog.all.filter { routes[$0.path] != nil && isServed($0) }.map(\.path)
  }

  private func isServed(_ method: MethodDescriptor) -> Bool { Self.isServed(method, configuration) }

  private static func isServed(_ method: MethodDescriptor, _ configuration: Configuration) -> Bool {
    !method.isTestOnly || configuration.testHooks
  }

  /// The route of a method path, in one lookup. Fails with `UNIMPLEMENTED` for an unknown method, or a
  /// test hook without `--test-hooks`.
  public func resolve(_ path: String) -> Result<Route, RPCError> {
    if let route = routes[path], isServed(route.method) { return .success(route) }
    // A refusal here is counted under "unknown" (its latency is nil: no clock read for every call).
    let error: RPCError
    if let method = MethodCatalog.method(path) {
      error = isServed(method)
        ? RPCError(.unimplemented, .notImplemented, "\(path) is declared but not implemented yet")
        : RPCError(.unimplemented, .testHooksDisabled, "\(path) exists only with --test-hooks")
    } else {
      error = RPCError(.unimplemented, .unknownMethod, "unknown method \(Self.printable(path))")
    }
    CallMetrics.unknown.record(error, start: DispatchTime.now().uptimeNanoseconds)
    return .failure(error)
  }

  /// Runs the call on its route (from `resolve` or `inlineRoute`). Returns the encoded response for a
  /// unary call, `nil` for a finished stream; throws the `RPCError` the call ends with.
  public func run(
    _ context: CallContext, route: Route, payload: Data, send: @escaping @Sendable (Data) async throws -> Void
  ) async throws(RPCError) -> Data? {
    let start = DispatchTime.now().uptimeNanoseconds
    CallMetrics.running.increment()
    defer { CallMetrics.running.decrement() }
    do {
      try Self.checkPeer(context)
      try Self.checkMetadata(context)
      let result = try await route.invoke(context, payload, filters, send)
      finished(context, route, error: nil, start: start)
      return result
    } catch {
      let rpcError = Self.rpcError(error, context: context)
      finished(context, route, error: rpcError, start: start)
      throw rpcError
    }
  }

  /// The route of `path` when its calls start on the connection's thread
  /// (`Route.Execution.connectionThread`).
  public func inlineRoute(_ path: String) -> Route? {
    let length = path.utf8.count
    for i in inlinePaths.indices where inlinePaths[i].utf8.count == length && inlinePaths[i] == path {
      return inlineRoutes[i]
    }
    return nil
  }

  /// The one method any peer that can connect may call (the socket's permissions decide who can):
  /// a monitoring user needs no service role to ask whether the daemon serves.
  public static let anyPeerMethod = "/practice.rpc.v1.Health/Check"

  /// A denied peer is refused before anything else, even for a method that is not served, except
  /// for `anyPeerMethod`.
  private static func checkPeer(_ context: CallContext) throws {
    if context.peer.peerClass == .denied && context.method.path != anyPeerMethod {
      throw RPCError.permissionDenied(.peerNotAllowed, "peer uid \(context.peer.credentials.uid) is not allowed")
    }
  }

  /// Metadata is text: no U+0000.
  private static func checkMetadata(_ context: CallContext) throws {
    for (key, value) in context.metadata where key.utf8.contains(0) || value.utf8.contains(0) {
      throw RPCError.invalidArgument(field: "metadata", "must not contain U+0000")
    }
  }

  /// Maps anything a handler throws to the status the caller gets.
  static func rpcError(_ error: any Error, context: CallContext) -> RPCError {
    if let e = error as? RPCError { return e }
    if let e = error as? any RPCErrorConvertible { return e.rpcError }
    if let ended = context.control.endedError { return ended }
    if error is CancellationError { return RPCError(.cancelled, .cancelled, "call cancelled") }
    context.logger.error("internal error in \(context.method.path): \(error)")
    return .internal("internal error")
  }

  /// A call's end: its metrics and its log line.
  private func finished(_ context: CallContext, _ route: Route, error: RPCError?, start: UInt64) {
    route.metrics.record(error, start: start)
    log(context, route, error: error)
  }

  private func log(_ context: CallContext, _ route: Route, error: RPCError?) {
    // Reads that succeed are logged only at debug: build nothing unless that line will be written.
    let denied = error?.code == .permissionDenied
    if !denied && route.kind != .mutation && context.logger.logLevel > .debug { return }
    var metadata: Logger.Metadata = [
      "method": "\(context.method.path)", "call": "\(context.callID)",
      "peer_class": "\(context.peer.peerClass)", "peer_uid": "\(context.peer.credentials.uid)",
      "peer_pid": "\(context.peer.credentials.pid)",
    ]
    if let rid = context.requestID { metadata["request_id"] = "\(rid)" }
    if let actor = context.actor { metadata["actor"] = "\(actor)" }
    if let error {
      metadata["code"] = "\(error.code.name)"
      metadata["reason"] = "\(error.reason.rawValue)"
    }
    if let error, error.code == .permissionDenied {
      context.logger.notice("call denied", metadata: metadata)
    } else if route.kind == .mutation {
      context.logger.info(error == nil ? "mutation applied" : "mutation refused", metadata: metadata)
    } else {
      context.logger.debug("call served", metadata: metadata)
    }
  }

  /// The U+0000 rule of docs/PROTOCOL.md, for every string field of every request.
  /// A string holding U+0000 puts a 0x00 byte in the encoding: a request without one is let through
  /// without the walk.
  static let refuseNUL = RequestFilter(mayRefuse: { bytes in
    bytes.isEmpty ? false : memchr(bytes.baseAddress!, 0, bytes.count) != nil
  }) { _, message in
    if let violation = StringFields.nulViolation(in: message) {
      throw RPCError.invalidArgument([violation])
    }
  }

  /// A method name as it may be logged: printable, bounded.
  static func printable(_ s: String) -> String {
    let cleaned = String(s.unicodeScalars.prefix(200).map { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
    return "\"\(cleaned)\""
  }
}
