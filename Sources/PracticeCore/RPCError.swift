import Foundation
import PracticeProto

/// One invalid field of a request: `field` is the proto field path (dotted for nested fields).
public struct FieldViolation: Hashable, Sendable, CustomStringConvertible {
  public var field: String
  public var description: String
  public init(field: String, description: String) {
    self.field = field
    self.description = description
  }
}

/// A non-OK outcome of a call: everything a caller needs to act on it.
/// It maps one to one onto `practice.rpc.v1.Status`.
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
  public var code: StatusCode
  public var message: String
  public var reason: Reason
  public var violations: [FieldViolation]
  public var detail: Data

  public init(
    _ code: StatusCode, _ reason: Reason, _ message: String,
    violations: [FieldViolation] = [], detail: Data = Data()
  ) {
    self.code = code
    self.reason = reason
    self.message = message
    self.violations = violations
    self.detail = detail
  }

  public var description: String {
    var text = "\(code.name) \(reason.rawValue): \(message)"
    for v in violations { text += "\n  \(v.field): \(v.description)" }
    return text
  }

  // Common errors, so every layer words them the same way.
  public static func invalidArgument(_ violations: [FieldViolation]) -> RPCError {
    let fields = violations.map(\.field).joined(separator: ", ")
    return RPCError(.invalidArgument, .validationFailed, "invalid fields: \(fields)", violations: violations)
  }
  public static func invalidArgument(field: String, _ description: String) -> RPCError {
    invalidArgument([FieldViolation(field: field, description: description)])
  }
  public static func notFound(_ what: String) -> RPCError {
    RPCError(.notFound, .notFound, "\(what) not found")
  }
  public static func failedPrecondition(_ reason: Reason, _ message: String, detail: Data = Data()) -> RPCError {
    RPCError(.failedPrecondition, reason, message, detail: detail)
  }
  public static func permissionDenied(_ reason: Reason, _ message: String) -> RPCError {
    RPCError(.permissionDenied, reason, message)
  }
  public static func `internal`(_ message: String) -> RPCError {
    RPCError(.internal, .internalError, message)
  }

  /// The wire form.
  public var status: Practice_Rpc_V1_Status {
    var s = Practice_Rpc_V1_Status()
    s.code = code.rawValue
    s.message = message
    s.reason = reason.rawValue
    s.violations = violations.map { v in
      var f = Practice_Rpc_V1_FieldViolation()
      f.field = v.field
      f.description_p = v.description
      return f
    }
    s.detail = detail
    return s
  }

  /// The error a non-OK wire status stands for (`nil` for OK).
  public init?(status: Practice_Rpc_V1_Status) {
    guard status.code != 0 else { return nil }
    self.init(
      StatusCode(rawValue: status.code) ?? .unknown, Reason(rawValue: status.reason), status.message,
      violations: status.violations.map { FieldViolation(field: $0.field, description: $0.description_p) },
      detail: status.detail)
  }
}

extension Practice_Rpc_V1_Status {
  public static let ok: Practice_Rpc_V1_Status = {
    var s = Practice_Rpc_V1_Status()
    s.code = 0
    return s
  }()
}

/// An error of a lower layer that knows the status it stands for. The dispatcher turns anything a
/// handler throws into a status: an `RPCError` as it is, one of these by `rpcError`, anything else
/// `INTERNAL`.
public protocol RPCErrorConvertible: Error {
  var rpcError: RPCError { get }
}
