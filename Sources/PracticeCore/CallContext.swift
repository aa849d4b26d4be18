import Foundation
import Logging
import PracticeProto

/// Everything a handler knows about the call it serves. Handlers never see a socket.
public struct CallContext: Sendable {
  public let method: MethodDescriptor
  public let callID: UInt64
  public let peer: Peer
  /// Metadata of the request; for a repeated key the first value counts.
  public let metadata: [String: String]
  public let control: CallControl
  public let logger: Logger
  /// The request's payload as it arrived (a mutation's idempotency record is keyed on these bytes,
  /// not on a re-encoding).
  public let requestBytes: Data

  public init(
    method: MethodDescriptor, callID: UInt64, peer: Peer, metadata: [String: String],
    control: CallControl = CallControl(), logger: Logger, requestBytes: Data = Data()
  ) {
    self.method = method
    self.requestBytes = requestBytes
    self.callID = callID
    self.peer = peer
    self.metadata = metadata
    self.control = control
    self.logger = logger
  }

  /// The account user on whose behalf a service peer calls.
  public var actor: String? { metadata[MetadataKey.actor].flatMap { $0.isEmpty ? nil : $0 } }
  public var requestID: String? { metadata[MetadataKey.requestID].flatMap { $0.isEmpty ? nil : $0 } }
  public var idempotencyKey: String? {
    metadata[MetadataKey.idempotencyKey].flatMap { $0.isEmpty ? nil : $0 }
  }
}

/// The metadata keys the protocol defines (docs/PROTOCOL.md).
public enum MetadataKey {
  public static let actor = "actor"
  public static let idempotencyKey = "idempotency-key"
  public static let requestID = "request-id"
}

extension CallContext {
  /// Moves the rest of the handler off the connection's thread: for a handler whose route starts
  /// there (`Route.Execution.connectionThread`) but whose request asks for long work. Elsewhere it
  /// only lets other tasks run.
  public func leaveConnectionThread() async {
    // A task started on the connection's thread has no executor of its own: it resumes on the
    // global one.
    await Task.yield()
  }
}
