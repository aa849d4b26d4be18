import Foundation
import PracticeProto
import SwiftProtobuf

/// A resource as an audit event records it (before or after a change, secrets already masked),
/// stored in binary and rendered as the event's `before_json` / `after_json` when the log is read.
///
/// Encoding the JSON on every mutation cost the writer thread about a sixth of a write's CPU (it
/// runs inside the group commit, one write after another); the audit log is read far less often than
/// it is written. The JSON a reader gets is the same: it is rendered from the same field values with
/// the same options.
public struct AuditSnapshot: Sendable, Equatable {
  /// The message's full protobuf name (`practice.v1.BusinessInfo`).
  public var typeName: String
  public var bytes: Data

  /// The binary snapshot of `message`, or nil when its type is not in `types` (the caller then stores
  /// the JSON itself).
  public init?(_ message: any SwiftProtobuf.Message) {
    let name = type(of: message).protoMessageName
    guard Self.types[name] != nil, let bytes = try? message.serializedData() else { return nil }
    self.typeName = name
    self.bytes = bytes
  }

  public init(typeName: String, bytes: Data) {
    self.typeName = typeName
    self.bytes = bytes
  }

  /// The JSON of `message` as the audit log shows it (proto field names); "" when it cannot be encoded.
  public static func json(_ message: any SwiftProtobuf.Message) -> String {
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    return (try? message.jsonString(options: options)) ?? ""
  }

  /// The snapshot's JSON, as `json` gave it for the message when it was recorded.
  public var json: String {
    guard let type = Self.types[typeName], let message = try? type.init(serializedBytes: bytes) else { return "" }
    return Self.json(message)
  }

  /// The resource types mutations record. A type missing here is still audited, as JSON written at once.
  static let types: [String: any SwiftProtobuf.Message.Type] = Dictionary(
    uniqueKeysWithValues: ([
      Practice_V1_Account.self, Practice_V1_User.self, Practice_V1_BusinessInfo.self, Practice_V1_Location.self,
      Practice_V1_PayerPosRule.self, Practice_V1_Room.self, Practice_V1_RoomBooking.self,
      Practice_V1_Subscription.self, Practice_V1_PaymentMethod.self, Practice_V1_Invoice.self,
    ] as [any SwiftProtobuf.Message.Type]).map { ($0.protoMessageName, $0) })
}
