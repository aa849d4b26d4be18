import Foundation

/// Rules for plain text fields.
public enum TextRules {
  /// A required display string: not blank, at most `maxLength` characters. Control characters are
  /// kept verbatim (U+0000 never gets here: the protocol refuses it in every string); whoever shows
  /// the value escapes them (practicectl, the journal). Returns a description of what is wrong, or nil.
  public static func checkName(_ value: String, maxLength: Int = 200, required: Bool = true) -> String? {
    // A name that starts with a printable ASCII character other than space is not blank: skip the trim.
    let startsPrintable = value.utf8.first.map { $0 > 0x20 && $0 < 0x7f } ?? false
    if !startsPrintable && value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
      return required ? "is required" : nil
    }
    // Never more characters than UTF-8 bytes: count characters only when the bytes could exceed.
    if value.utf8.count > maxLength && value.count > maxLength { return "must be at most \(maxLength) characters" }
    return nil
  }

  /// A syntactically valid email address: one `@`, a local part of printable ASCII without spaces
  /// (at most 64), a domain of dot-separated labels of letters, digits and hyphens with a dot
  /// (at most 253 in all). Internationalized domains must come in their ASCII (punycode) form.
  public static func isValidEmail(_ value: String) -> Bool {
    guard value.count <= 254, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return false }
    let parts = value.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count == 2 else { return false }
    let local = parts[0], domain = parts[1]
    guard !local.isEmpty, local.count <= 64, !local.hasPrefix("."), !local.hasSuffix("."),
      !local.contains("..")
    else { return false }
    let localAllowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-")
    guard local.allSatisfy({ localAllowed.contains($0) }) else { return false }
    let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
    guard labels.count >= 2, domain.count <= 253 else { return false }
    for label in labels {
      guard !label.isEmpty, label.count <= 63, !label.hasPrefix("-"), !label.hasSuffix("-"),
        label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
      else { return false }
    }
    return labels.last!.allSatisfy { $0.isLetter }  // the top-level domain is alphabetic
  }

  /// An IANA time zone name this system knows ("America/New_York", "UTC").
  public static func isKnownTimeZone(_ name: String) -> Bool {
    guard !name.isEmpty, name.count <= 64 else { return false }
    return TimeZone(identifier: name) != nil
  }
}
