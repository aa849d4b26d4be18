import Foundation
import Glibc
import Logging
import PracticeCore
import PracticeWire

/// The daemon's log handler. Under systemd's journal (stderr is the stream `$JOURNAL_STREAM` names),
/// each event goes to the journal's native socket with its metadata as structured fields
/// (`PRACTICED_PEER_UID=...`). Elsewhere, one line on stderr: a `<N>` syslog priority prefix, then
/// `label: message key=value ...` in logfmt, every value quoted and escaped as needed, so nothing a
/// client sends (a request id, an actor) can add a field or a line. Never log secrets: callers pass
/// only masked values.
public struct JournalLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level
  private let label: String

  public init(label: String, level: Logger.Level) {
    self.label = label
    self.logLevel = level
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  static func priority(_ level: Logger.Level) -> Int {
    switch level {
    case .trace, .debug: 7
    case .info: 6
    case .notice: 5
    case .warning: 4
    case .error: 3
    case .critical: 2
    }
  }

  /// Serializes writes to stderr (one line per event, never interleaved).
  private static let stderrLock = LockedState(())
  /// The journal's socket, when stderr is connected to the journal.
  private static let journal: JournalSocket? = JournalSocket.forStderr()

  public func log(event: LogEvent) {
    let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
    let fields = all.keys.sorted().map { ($0, all[$0]!.description) }
    if let journal = Self.journal,
      journal.send(Self.journalFields(label: label, level: event.level, message: event.message.description, fields))
    {
      return
    }
    let line = Self.line(label: label, level: event.level, message: event.message.description, fields) + "\n"
    Self.stderrLock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
  }

  /// One logfmt line (without the newline).
  static func line(label: String, level: Logger.Level, message: String, _ fields: [(String, String)]) -> String {
    var line = "<\(priority(level))>\(label): \(logfmtMessage(message))"
    for (key, value) in fields { line += " \(logfmtKey(key))=\(logfmtValue(value))" }
    return line
  }

  /// A value as logfmt writes it: bare when it is a plain token, else in double quotes with `"` and
  /// `\` escaped; control characters are escaped either way (one event, one line).
  static func logfmtValue(_ s: String) -> String {
    let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { c in
      c.value > 0x20 && c.value != 0x7f && c != "\"" && c != "=" && c != "\\" && !c.properties.isWhitespace
    }
    if plain { return s }
    return "\"" + escaped(s) + "\""
  }

  /// The message stays bare unless it could be read as a field (`=`) or holds a quote.
  static func logfmtMessage(_ s: String) -> String {
    s.contains("=") || s.contains("\"") ? "\"" + escaped(s) + "\"" : ControlCharacters.escaped(s)
  }

  /// Keys are ours, but are kept to a logfmt identifier all the same.
  static func logfmtKey(_ s: String) -> String {
    String(s.unicodeScalars.map { c in
      (c.properties.isAlphabetic && c.isASCII) || ("0"..."9").contains(c) || c == "_" || c == "." || c == "-"
        ? Character(c) : "_"
    })
  }

  private static func escaped(_ s: String) -> String {
    ControlCharacters.escaped(s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))
  }

  /// The journal fields of one event: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, and one
  /// `PRACTICED_<KEY>` field per metadata entry.
  static func journalFields(label: String, level: Logger.Level, message: String, _ fields: [(String, String)])
    -> [(String, String)]
  {
    var out = [("MESSAGE", message), ("PRIORITY", "\(priority(level))"), ("SYSLOG_IDENTIFIER", label)]
    for (key, value) in fields { out.append(("PRACTICED_" + journalKey(key), value)) }
    return out
  }

  /// A journal field name: upper-case letters, digits and `_`.
  static func journalKey(_ s: String) -> String {
    String(s.unicodeScalars.map { c in
      c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c)) ? Character(String(c).uppercased()) : "_"
    })
  }
}

/// systemd's native journal protocol: one datagram per event to `/run/systemd/journal/socket`, each
/// field `NAME=value\n`, or `NAME\n` + 64-bit little-endian length + value + `\n` for a value with a
/// newline (the binary-safe form).
final class JournalSocket: Sendable {
  private let fd: Int32
  private let address: UnixAddress

  init?(path: String) {
    guard let address = UnixAddress(path) else { return nil }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return nil }
    self.fd = fd
    self.address = address
  }

  deinit { close(fd) }

  /// The journal's socket when stderr is the journal stream (`$JOURNAL_STREAM` is `device:inode`
  /// of stderr, as systemd sets it for `StandardError=journal`).
  static func forStderr(environment: [String: String] = ProcessInfo.processInfo.environment) -> JournalSocket? {
    guard let stream = environment["JOURNAL_STREAM"] else { return nil }
    let parts = stream.split(separator: ":")
    var st = stat()
    guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]), fstat(2, &st) == 0,
      UInt64(st.st_dev) == dev, UInt64(st.st_ino) == ino
    else { return nil }
    return JournalSocket(path: "/run/systemd/journal/socket")
  }

  static func encode(_ fields: [(String, String)]) -> [UInt8] {
    var out: [UInt8] = []
    for (name, value) in fields {
      out += Array(name.utf8)
      let bytes = Array(value.utf8)
      if bytes.contains(UInt8(ascii: "\n")) {
        out.append(UInt8(ascii: "\n"))
        var length = UInt64(bytes.count).littleEndian
        withUnsafeBytes(of: &length) { out += $0 }
        out += bytes
      } else {
        out.append(UInt8(ascii: "="))
        out += bytes
      }
      out.append(UInt8(ascii: "\n"))
    }
    return out
  }

  /// Sends one event; false when the journal did not take it (the caller falls back to stderr).
  func send(_ fields: [(String, String)]) -> Bool {
    let message = Self.encode(fields)
    return address.withSockaddr { sendto(fd, message, message.count, Int32(MSG_NOSIGNAL), $0, $1) } == message.count
  }
}
