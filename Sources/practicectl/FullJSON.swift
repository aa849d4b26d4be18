import Foundation
import PracticeCore
import PracticeProto
import SwiftProtobuf

/// Proto3 JSON with every field. swift-protobuf's encoder leaves out a field at its default value
/// (proto3's JSON mapping allows that; protobuf's `always_print_fields_with_no_presence` option, which
/// swift-protobuf lacks, prints them), so a script's `select(.active == false)` would find nothing.
/// The missing fields are filled in from the descriptor set the daemon also serves: "" for strings and
/// bytes, 0 (int64s as "0", as the mapping writes them), false, the enum's zero name, [] and {} for
/// repeated and map fields. Fields with presence (messages, oneof members) stay absent when unset.
enum FullJSON {
  private static let index = DescriptorIndex.compiled

  /// The message as a JSON value (a dictionary) with every field.
  static func object(_ m: some SwiftProtobuf.Message) throws -> Any {
    let parsed = try JSONSerialization.jsonObject(with: try m.jsonUTF8Data(), options: [.fragmentsAllowed])
    return fill(parsed, type: "." + type(of: m).protoMessageName)
  }

  /// One line of JSON for the message, every field.
  static func string(_ m: some SwiftProtobuf.Message) throws -> String {
    line(try object(m))
  }

  /// One line of JSON, keys sorted (stable output for diffs and tests).
  static func line(_ value: Any) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
    else { return "{}" }
    return String(decoding: data, as: UTF8.self)
  }

  private static func fill(_ value: Any, type: String) -> Any {
    guard var object = value as? [String: Any], let descriptor = index.messages[type] else { return value }
    for field in descriptor.field {
      let key = field.hasJsonName ? field.jsonName : field.name
      let repeated = field.label == .repeated
      let isMap = repeated && field.type == .message && index.messages[field.typeName]?.options.mapEntry == true
      if let present = object[key] {
        guard field.type == .message, !isMap else { continue }
        if repeated, let items = present as? [Any] {
          object[key] = items.map { fill($0, type: field.typeName) }
        } else if !repeated {
          object[key] = fill(present, type: field.typeName)
        }
        continue
      }
      if isMap { object[key] = [String: Any](); continue }
      if repeated { object[key] = [Any](); continue }
      // Presence: an unset message or oneof member (proto3 `optional` included) is absent, not default.
      if field.type == .message || field.hasOneofIndex { continue }
      switch field.type {
      case .string, .bytes: object[key] = ""
      case .bool: object[key] = false
      case .int64, .uint64, .sint64, .fixed64, .sfixed64: object[key] = "0"
      case .enum: object[key] = index.enums[field.typeName]?.value.first?.name ?? 0
      default: object[key] = 0
      }
    }
    return object
  }
}
