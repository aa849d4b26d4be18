import Foundation
import PracticeCore

/// Paging of list calls: `page_size` (default 50, max 500) and an opaque `page_token`.
public struct PageRequest: Sendable, Equatable {
  public static let defaultSize = 50
  public static let maxSize = 500

  /// How many items to return.
  public let size: Int
  /// The key after which the page starts (decoded from the token), nil for the first page.
  public let after: String?

  /// Validates the request's `page_size` and `page_token`. A size above the maximum is lowered to it.
  /// `scope` binds a token to the list it came from (a token of another list is refused).
  public init(size: Int32, token: String, scope: String) throws(DomainError) {
    var violations = Violations()
    if size < 0 { violations.add("page_size", "must not be negative") }
    var after: String?
    if !token.isEmpty {
      if let decoded = PageRequest.decode(token), decoded.scope == scope {
        after = decoded.key
      } else {
        violations.add("page_token", "is not a page token of this list")
      }
    }
    try violations.check()
    self.size = size == 0 ? PageRequest.defaultSize : min(Int(size), PageRequest.maxSize)
    self.after = after
  }

  /// The token for the page after the one that ended with `lastKey`.
  public static func token(scope: String, lastKey: String) -> String {
    let raw = Data("\(scope)\u{1}\(lastKey)".utf8)
    return raw.base64EncodedString().replacingOccurrences(of: "+", with: "-")
      .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
  }

  static func decode(_ token: String) -> (scope: String, key: String)? {
    guard token.count <= 1024 else { return nil }
    var b64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while b64.count % 4 != 0 { b64 += "=" }
    guard let data = Data(base64Encoded: b64), let text = String(data: data, encoding: .utf8) else { return nil }
    let parts = text.split(separator: "\u{1}", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2 else { return nil }
    return (String(parts[0]), String(parts[1]))
  }

  /// Splits `items` fetched with a limit of `size + 1` into the page and the next token.
  public func page<T>(_ items: [T], key: (T) -> String, scope: String) -> (items: [T], next: String) {
    guard items.count > size else { return (items, "") }
    let page = Array(items.prefix(size))
    return (page, PageRequest.token(scope: scope, lastKey: key(page.last!)))
  }
}
