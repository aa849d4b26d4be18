import PracticeCore

/// What a domain rule refuses. The rules know nothing of statuses: this maps to one, in one place
/// (`rpcError`), which the dispatcher applies to whatever a handler lets through.
public enum DomainError: Error, Equatable, Sendable {
  /// Fields that break their rules, all of them at once.
  case invalid([FieldViolation])
  /// A rule the current state does not meet (a POS code not yet in effect), with its reason.
  case precondition(Reason, String)
  /// Stored data no rule accepts (an unknown stored code or time zone): a defect, not a request error.
  case inconsistent(String)

  /// The fields a refusal names (none but for `.invalid`).
  public var violations: [FieldViolation] {
    if case .invalid(let list) = self { return list }
    return []
  }

  /// One field that breaks its rule.
  public static func invalid(field: String, _ description: String) -> DomainError {
    .invalid([FieldViolation(field: field, description: description)])
  }
}

extension DomainError: RPCErrorConvertible {
  public var rpcError: RPCError {
    switch self {
    case .invalid(let violations): .invalidArgument(violations)
    case .precondition(let reason, let message): .failedPrecondition(reason, message)
    case .inconsistent(let message): .internal(message)
    }
  }
}
