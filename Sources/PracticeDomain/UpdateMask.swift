import PracticeCore

/// An `update_mask`: the proto field names a partial update changes.
public struct UpdateMask: Sendable {
  public let paths: Set<String>

  /// Validates `paths` against the fields an update may change. An empty mask is refused
  /// (`INVALID_ARGUMENT`), and so is an unknown path. A path names a field or a nested field
  /// ("address" or "address.city"); `allowed` lists the leaves and the parents that may be named.
  public init(_ paths: [String], allowed: Set<String>) throws(DomainError) {
    guard !paths.isEmpty else {
      throw DomainError.invalid(field: "update_mask", "must name at least one field")
    }
    var violations = Violations()
    for p in paths where !allowed.contains(p) {
      violations.add("update_mask", "unknown or read-only field \"\(p)\"")
    }
    try violations.check()
    self.paths = Set(paths)
  }

  /// Whether the mask changes anything of `field`: it covers it, or names a path under it ("address"
  /// or "address.city" for "address"). An update skips a nested message the mask does not touch
  /// without asking about each leaf.
  public func touches(_ field: String) -> Bool {
    if covers(field) { return true }
    let f = field.utf8
    return paths.contains { path in
      let p = path.utf8
      guard p.starts(with: f) else { return false }
      return p.dropFirst(f.count).first == UInt8(ascii: ".")
    }
  }

  /// Whether the mask covers `path` (named itself, or one of its parents is named).
  public func covers(_ path: String) -> Bool {
    if paths.contains(path) { return true }
    // Field paths are ASCII: look for the dots in the UTF-8 view (no grapheme breaking).
    var end = path.utf8.endIndex
    while let dot = path.utf8[..<end].lastIndex(of: UInt8(ascii: ".")) {
      if paths.contains(String(path[..<dot])) { return true }
      end = dot
    }
    return false
  }
}
