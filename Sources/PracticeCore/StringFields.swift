import Foundation
import PracticeProto
import SwiftProtobuf

/// Walks every string field of a message, nested messages included, with its proto field path
/// ("business_info.address.city", "users[2].name"). Used for the U+0000 rule of docs/PROTOCOL.md and
/// for the card-number scan.
public enum StringFields {
  /// Calls `body(path, value)` for every non-empty string field of `message`, depth first, in field order.
  public static func forEach<M: SwiftProtobuf.Message>(
    in message: M, _ body: (_ path: String, _ value: String) throws -> Void
  ) rethrows {
    try forEachLazily(in: message) { path, value in try body(path(), value) }
  }

  /// `forEach`, with the path computed only when the body asks for it (the per-request scans: a path
  /// is needed only for a violation).
  public static func forEachLazily<M: SwiftProtobuf.Message>(
    in message: M, _ body: (_ path: () -> String, _ value: String) throws -> Void
  ) rethrows {
    // The visitor cannot rethrow the closure's error type, so it collects and stops.
    try withoutActuallyEscaping(body) { body in
      var visitor = Walker(body: { path, value in
        do { try body(path, value); return nil } catch { return error }
      })
      visitor.nameLookup = Walker.names(for: M.self)
      try? message.traverse(visitor: &visitor)
      if let error = visitor.failure { try { throw error }() }
    }
  }

  /// The first string field that holds U+0000, as a violation.
  public static func nulViolation(in message: some SwiftProtobuf.Message) -> FieldViolation? {
    var found: FieldViolation?
    forEachLazily(in: message) { path, value in
      if found == nil, value.utf8.contains(0) {
        found = FieldViolation(field: path(), description: "must not contain U+0000")
      }
    }
    return found
  }

  private struct Stop: Error {}

  private struct Walker: SwiftProtobuf.Visitor {
    var prefix: [String] = []
    var nameLookup: (Int) -> String = { "\($0)" }
    let body: (() -> String, String) -> Error?
    var failure: Error?

    init(body: @escaping (() -> String, String) -> Error?) { self.body = body }

    private func path(_ field: Int, index: Int? = nil) -> String {
      var name = nameLookup(field)
      if let index { name += "[\(index)]" }
      return (prefix + [name]).joined(separator: ".")
    }

    private mutating func emit(_ field: Int, index: Int? = nil, _ value: String) throws {
      guard !value.isEmpty else { return }
      let walker = self
      if let e = body({ walker.path(field, index: index) }, value) {
        failure = e
        throw Stop()
      }
    }

    private mutating func descend<M: SwiftProtobuf.Message>(_ value: M, path: String) throws {
      var inner = Walker(body: body)
      inner.prefix = [path]
      inner.nameLookup = Walker.names(for: M.self)
      do { try value.traverse(visitor: &inner) } catch {
        failure = inner.failure
        throw error
      }
    }

    static func names<M: SwiftProtobuf.Message>(for type: M.Type) -> (Int) -> String {
      let messageName = M.protoMessageName
      return { number in FieldNames.name(message: messageName, field: number) ?? "\(number)" }
    }

    mutating func visitSingularStringField(value: String, fieldNumber: Int) throws {
      try emit(fieldNumber, value)
    }
    mutating func visitRepeatedStringField(value: [String], fieldNumber: Int) throws {
      for (i, v) in value.enumerated() { try emit(fieldNumber, index: i, v) }
    }
    mutating func visitSingularMessageField<M: SwiftProtobuf.Message>(value: M, fieldNumber: Int) throws {
      try descend(value, path: path(fieldNumber))
    }
    mutating func visitRepeatedMessageField<M: SwiftProtobuf.Message>(value: [M], fieldNumber: Int) throws {
      for (i, v) in value.enumerated() { try descend(v, path: path(fieldNumber, index: i)) }
    }
    mutating func visitSingularGroupField<G: SwiftProtobuf.Message>(value: G, fieldNumber: Int) throws {
      try descend(value, path: path(fieldNumber))
    }

    // Everything else holds no strings.
    mutating func visitUnknown(bytes: Data) throws {}
    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws {}
    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws {}
    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws {}
    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws {}
    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws {}
    mutating func visitSingularEnumField<E: SwiftProtobuf.Enum>(value: E, fieldNumber: Int) throws {}
    mutating func visitRepeatedEnumField<E: SwiftProtobuf.Enum>(value: [E], fieldNumber: Int) throws {}
    mutating func visitPackedEnumField<E: SwiftProtobuf.Enum>(value: [E], fieldNumber: Int) throws {}
    mutating func visitRepeatedGroupField<G: SwiftProtobuf.Message>(value: [G], fieldNumber: Int) throws {}
    mutating func visitMapField<K, V>(
      fieldType: _ProtobufMap<K, V>.Type, value: _ProtobufMap<K, V>.BaseType, fieldNumber: Int
    ) throws {}
    mutating func visitMapField<K, V>(
      fieldType: _ProtobufEnumMap<K, V>.Type, value: _ProtobufEnumMap<K, V>.BaseType, fieldNumber: Int
    ) throws where V.RawValue == Int {}
    mutating func visitMapField<K, V>(
      fieldType: _ProtobufMessageMap<K, V>.Type, value: _ProtobufMessageMap<K, V>.BaseType, fieldNumber: Int
    ) throws {}
    mutating func visitExtensionFields(fields: ExtensionFieldValueSet, start: Int, end: Int) throws {}
    mutating func visitExtensionFieldsAsMessageSet(fields: ExtensionFieldValueSet, start: Int, end: Int) throws {}
  }
}
