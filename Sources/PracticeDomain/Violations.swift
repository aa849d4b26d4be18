import PracticeCore

/// A field violation, as the domain reports it (the same shape as the wire's `FieldViolation`).
public typealias FieldViolationValue = FieldViolation

extension FieldViolation {
  public init(_ field: String, _ description: String) { self.init(field: field, description: description) }
}

/// Collects every violation of a request so they are reported at once.
public struct Violations: Sendable {
  public private(set) var list: [FieldViolation] = []
  public init() {}

  public mutating func add(_ field: String, _ description: String) {
    list.append(FieldViolation(field: field, description: description))
  }
  public mutating func add(_ more: [FieldViolation]) { list.append(contentsOf: more) }

  public var isEmpty: Bool { list.isEmpty }

  /// Throws `INVALID_ARGUMENT` / `VALIDATION_FAILED` with every violation, when there is any.
  public func check() throws(DomainError) {
    if !list.isEmpty { throw DomainError.invalid(list) }
  }
}
