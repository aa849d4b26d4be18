/// Text shown to a terminal or written as one journal line: stored values keep control characters
/// verbatim (a newline, an ESC in a client-chosen name), so whoever prints them escapes them.
public enum ControlCharacters {
  /// `s` with every C0 control, DEL and C1 control escaped (`\n`, `\t`, `\r`, else `\u{1b}`); other
  /// text, non-ASCII included, unchanged.
  public static func escaped(_ s: String) -> String {
    guard s.unicodeScalars.contains(where: isControl) else { return s }
    var out = ""
    for u in s.unicodeScalars {
      switch u {
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      case "\r": out += "\\r"
      default:
        if isControl(u) {
          out += "\\u{" + String(u.value, radix: 16) + "}"
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    return out
  }

  static func isControl(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || (0x7f...0x9f).contains(u.value) }
}
