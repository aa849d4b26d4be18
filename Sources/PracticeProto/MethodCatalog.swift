import SwiftProtobuf

/// One RPC method: its path on the wire and its message types.
/// `@unchecked`: metatypes of messages are immutable, but `any Message.Type` is not declared Sendable.
public struct MethodDescriptor: @unchecked Sendable, Hashable {
  /// "/practice.v1.AccountService/CreateAccount"
  public let path: String
  public let requestType: any SwiftProtobuf.Message.Type
  public let responseType: any SwiftProtobuf.Message.Type
  public let serverStreaming: Bool

  public init(
    _ path: String, _ requestType: any SwiftProtobuf.Message.Type,
    _ responseType: any SwiftProtobuf.Message.Type, serverStreaming: Bool
  ) {
    self.path = path
    self.requestType = requestType
    self.responseType = responseType
    self.serverStreaming = serverStreaming
  }

  /// "practice.v1.AccountService"
  public var service: String {
    let trimmed = path.dropFirst()
    return String(trimmed[..<(trimmed.firstIndex(of: "/") ?? trimmed.endIndex)])
  }

  /// "CreateAccount"
  public var name: String { String(path[path.index(after: path.lastIndex(of: "/")!)...]) }

  /// Whether the method exists only with `--test-hooks`.
  public var isTestOnly: Bool { path.hasPrefix("/practice.test.") }

  public static func == (a: MethodDescriptor, b: MethodDescriptor) -> Bool { a.path == b.path }
  public func hash(into h: inout Hasher) { h.combine(path) }
}

/// Every method declared in proto/ (the list itself is generated: Generated/MethodCatalog.swift).
public enum MethodCatalog {
  private static let byPath: [String: MethodDescriptor] = Dictionary(
    uniqueKeysWithValues: all.map { ($0.path, $0) })

  /// The method with this path, if declared.
  public static func method(_ path: String) -> MethodDescriptor? { byPath[path] }

  /// Looks a method up by a full path, "Service/Method", "package.Service/Method" or a bare method
  /// name when that name is unique (for `practicectl call`).
  public static func lookup(_ name: String) -> MethodDescriptor? {
    if let m = byPath[name] { return m }
    if let m = byPath["/" + name] { return m }
    let matches = all.filter {
      $0.path.hasSuffix("/" + name) || $0.path.hasSuffix("." + name)
    }
    return matches.count == 1 ? matches[0] : nil
  }
}
