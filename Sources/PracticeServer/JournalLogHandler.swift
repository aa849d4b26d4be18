import Foundation
import Logging
import PracticeWire

/// Log lines on stderr in a form journald reads: a `<N>` syslog priority prefix, then
/// `label: message key=value ...`. Never log secrets: callers pass only masked values.
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

  private static func priority(_ level: Logger.Level) -> Int {
    switch level {
    case .trace, .debug: 7
    case .info: 6
    case .notice: 5
    case .warning: 4
    case .error: 3
    case .critical: 2
    }
  }

  private static let lock = NSLock()

  public func log(event: LogEvent) {
    var line = "<\(Self.priority(event.level))>\(label): \(Self.clean(event.message.description))"
    let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
    for key in all.keys.sorted() {
      line += " \(key)=\(Self.clean(all[key]!.description))"
    }
    line += "\n"
    Self.lock.lock()
    FileHandle.standardError.write(Data(line.utf8))
    Self.lock.unlock()
  }

  /// One line per event: control characters (a newline in a client-chosen string) are escaped.
  static func clean(_ s: String) -> String { ControlCharacters.escaped(s) }
}
