import PracticeProto
import SwiftProtobuf

/// Messages and enums of a descriptor set by full name (".practice.v1.Address"): the set compiled in
/// (`compiled`: field names in paths, practicectl's JSON with every field) or one the daemon serves
/// (practicectl describe).
public struct DescriptorIndex: Sendable {
  public var messages: [String: Google_Protobuf_DescriptorProto] = [:]
  public var enums: [String: Google_Protobuf_EnumDescriptorProto] = [:]

  public static let compiled: DescriptorIndex = {
    (try? Google_Protobuf_FileDescriptorSet(serializedBytes: PracticeDescriptorSet.bytes)).map(DescriptorIndex.init) ?? DescriptorIndex()
  }()

  public init() {}

  public init(_ set: Google_Protobuf_FileDescriptorSet) {
    func add(_ m: Google_Protobuf_DescriptorProto, prefix: String) {
      let full = prefix + "." + m.name
      messages[full] = m
      for e in m.enumType { enums[full + "." + e.name] = e }
      for nested in m.nestedType { add(nested, prefix: full) }
    }
    for file in set.file {
      let prefix = file.package.isEmpty ? "" : "." + file.package
      for m in file.messageType { add(m, prefix: prefix) }
      for e in file.enumType { enums[prefix + "." + e.name] = e }
    }
  }

  /// A type by its full name, with or without the leading dot, or by its short name when only one
  /// type has it.
  public func resolve(_ name: String) -> String? {
    let dotted = name.hasPrefix(".") ? name : "." + name
    if messages[dotted] != nil || enums[dotted] != nil { return dotted }
    let matches = (Array(messages.keys) + Array(enums.keys)).filter { $0.hasSuffix("." + name) }
    return matches.count == 1 ? matches[0] : nil
  }
}

/// Proto field names by message and field number, from the embedded descriptor set.
public enum FieldNames {
  private static let table: [String: [Int: String]] = DescriptorIndex.compiled.messages.reduce(into: [:]) { table, entry in
    // Keyed without the leading dot, as messages name themselves ("practice.v1.Address").
    table[String(entry.key.dropFirst())] = Dictionary(entry.value.field.map { (Int($0.number), $0.name) }, uniquingKeysWith: { a, _ in a })
  }

  /// The proto name of field `number` of the message named `messageName` ("practice.v1.Address").
  public static func name(message messageName: String, field number: Int) -> String? {
    table[messageName]?[number]
  }
}
