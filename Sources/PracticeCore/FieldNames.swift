import PracticeProto
import SwiftProtobuf

/// Proto field names by message and field number, read from the embedded descriptor set.
public enum FieldNames {
  private static let table: [String: [Int: String]] = {
    var table: [String: [Int: String]] = [:]
    guard let set = try? Google_Protobuf_FileDescriptorSet(serializedBytes: PracticeDescriptorSet.bytes) else {
      return table
    }
    func add(_ message: Google_Protobuf_DescriptorProto, prefix: String) {
      let full = prefix + "." + message.name
      table[full] = Dictionary(message.field.map { (Int($0.number), $0.name) }, uniquingKeysWith: { a, _ in a })
      for nested in message.nestedType { add(nested, prefix: full) }
    }
    for file in set.file {
      for message in file.messageType { add(message, prefix: file.package) }
    }
    return table
  }()

  /// The proto name of field `number` of the message named `messageName` ("practice.v1.Address").
  public static func name(message messageName: String, field number: Int) -> String? {
    table[messageName]?[number]
  }
}
