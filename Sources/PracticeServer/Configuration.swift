import Foundation
import Logging
import PracticeCore
import PracticeDomain
import PracticeRPC
import PracticeWire

/// Everything the daemon can be told (flags, environment, or a configuration file).
/// Defaults are documented in docs/OPERATIONS.md.
public struct DaemonConfiguration: Sendable {
  /// The Unix socket path (`$PRACTICED_SOCKET` overrides the default).
  public var socketPath: String = "/run/practiced/practiced.sock"
  /// Where the database lives (`practiced.db` inside), with the daemon's lock (`practiced.lock`).
  public var stateDirectory: String = "/var/lib/practiced"
  /// The state directory's mode, set at start whatever the umask (files inside are always 0600).
  public var stateDirectoryMode: mode_t = 0o700
  public var maxFrameSize: Int = FrameLimits.defaultMaxFrameSize
  public var defaultDeadline: Duration = .seconds(30)
  public var maxConnections: Int = 1024
  public var maxInFlightPerConnection: Int = 128
  public var idleTimeout: Duration = .seconds(300)
  public var frameTimeout: Duration = .seconds(10)
  /// Unsent output above which the daemon stops reading from a connection.
  public var outputHighWaterMark: Int = 1 << 20
  public var outputLowWaterMark: Int = 256 << 10
  /// How long in-flight calls get to finish on shutdown.
  public var shutdownGrace: Duration = .seconds(10)
  /// Who is an operator and who a service peer.
  public var peers = PeerSettings()
  public var testHooks: Bool = false
  /// This instance's name in audit events and log lines (`--instance-id`, `instance_id`): the host name
  /// unless given. Peer uids and pids mean something only on their own host.
  public var instanceID: String = DaemonConfiguration.hostName

  /// A PostgreSQL database shared by many instances (`--database`, `database`): libpq's URL form,
  /// `postgresql://USER@/DBNAME?host=/run/postgresql`. Nil: SQLite in the state directory.
  public var databaseURL: String?
  /// A file holding the PostgreSQL password (`password_file`); `PGPASSWORD` otherwise.
  public var passwordFile: String?
  /// How long a PostgreSQL statement may go unanswered before its connection is closed
  /// (`database.statement_deadline_seconds`): lock waits included, so well above any normal one.
  public var statementDeadline: Duration = .seconds(60)

  /// The host's name (gethostname), "localhost" when it has none.
  public static var hostName: String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
    let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return name.isEmpty ? "localhost" : name
  }

  /// An instance id: 1-64 characters of letters, digits, '.', '-' and '_'.
  public static func isValidInstanceID(_ id: String) -> Bool {
    (1...64).contains(id.utf8.count)
      && id.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
  }
  /// Change events buffered per watcher before it is ended with WATCH_OVERFLOW.
  public var watchBuffer: Int = 1024
  /// Change events kept per account for Watch's after_sequence.
  public var changeRetention: Int64 = 10_000
  /// How long an idempotency record is kept before the scheduler expires it.
  public var idempotencyRetention: Duration = .seconds(24 * 3600)
  public var logLevel: Logger.Level = .info

  /// Prices, trial, retention and grace (the configuration file's `billing.*` keys).
  public var terms = BillingTerms()
  /// How often the scheduler looks for due work (invoices, trial ends, grace ends, purges).
  public var schedulerInterval: Duration = .seconds(60)
  /// How often the store is probed (a read and a small write) for `Health/Check`.
  public var healthProbeInterval: Duration = .seconds(5)
  /// An HTTP address for Prometheus to scrape `GET /metrics` (off by default; `Metrics/Get` over the
  /// socket always works). The shipped unit has `PrivateNetwork=yes`: change it to use this.
  public var metricsListen: ListenAddress?

  /// `HOST:PORT` of the metrics endpoint.
  public struct ListenAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
      guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
        (0...65535).contains(port)
      else { return nil }
      var host = String(text[..<colon])
      if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
      guard !host.isEmpty else { return nil }
      self.host = host
      self.port = port
    }
  }

  public init() {}

  /// Reads a configuration file: `key = value` lines, `#` comments. Unknown keys and bad values are
  /// errors (the daemon refuses to start rather than run with a setting it did not understand).
  public mutating func load(file path: String) throws {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.isEmpty { continue }
      let parts = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard parts.count == 2, !parts[0].isEmpty else { throw ConfigError(path, n + 1, "expected key = value") }
      let (key, value) = (parts[0], parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
      func int() throws -> Int {
        guard let v = Int(value), v >= 0 else { throw ConfigError(path, n + 1, "\(key) must be a whole number") }
        return v
      }
      switch key {
      case "billing.currency":
        guard value.count == 3, value.allSatisfy({ $0.isUppercase }) else { throw ConfigError(path, n + 1, "an ISO 4217 code") }
        terms.currency = value
      case "billing.freemium_price_minor": terms.freemiumMinor = Int64(try int())
      case "billing.professional_price_minor": terms.professionalMinor = Int64(try int())
      case "billing.archive_price_minor": terms.archiveMinor = Int64(try int())
      case "billing.trial_days": terms.trialDays = try int()
      case "billing.retention_days": terms.retentionDays = try int()
      case "billing.grace_days": terms.graceDays = try int()
      case "instance_id":
        guard Self.isValidInstanceID(value) else {
          throw ConfigError(path, n + 1, "instance_id: 1-64 letters, digits, '.', '-' or '_'")
        }
        instanceID = value
      case "database":
        guard value.hasPrefix("postgresql://") || value.hasPrefix("postgres://") else {
          throw ConfigError(path, n + 1, "database: a postgresql:// URL")
        }
        databaseURL = value
      case "password_file": passwordFile = value
      case "database.statement_deadline_seconds": statementDeadline = .seconds(max(1, try int()))
      case "scheduler.interval_seconds": schedulerInterval = .seconds(max(1, try int()))
      case "idempotency.retention_hours": idempotencyRetention = .seconds(max(1, try int()) * 3600)
      case "metrics.listen":
        guard let address = ListenAddress(value) else { throw ConfigError(path, n + 1, "metrics.listen must be HOST:PORT") }
        metricsListen = address
      case "health.probe_interval_ms": healthProbeInterval = .milliseconds(max(10, try int()))
      case "state_directory_mode":
        guard let mode = mode_t(value, radix: 8), mode <= 0o777 else {
          throw ConfigError(path, n + 1, "state_directory_mode must be octal, such as 0700")
        }
        stateDirectoryMode = mode
      default: throw ConfigError(path, n + 1, "unknown key \(key)")
      }
    }
  }

  public var databasePath: String { (stateDirectory as NSString).appendingPathComponent("practiced.db") }
}

extension Duration {
  var timeAmountNanoseconds: Int64 {
    let c = components
    return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
  }
}

/// The peer classes as configured (docs/OPERATIONS.md, "Peers"): uids, and groups by name or gid.
/// The one place their defaults are written.
public struct PeerSettings: Sendable, Equatable {
  public var operatorUIDs: Set<UInt32> = [0]
  public var operatorGroups: [String] = ["practiced-admin"]
  public var serviceUIDs: Set<UInt32> = []
  public var serviceGroups: [String] = ["practiced"]
  /// Whether each group list was given (a given group that does not exist is an error; a default
  /// one is skipped, so that a machine without the `practiced` groups still starts).
  public var operatorGroupsGiven = false
  public var serviceGroupsGiven = false

  public init() {}

  /// The policy, with the group names looked up in the group database.
  public func policy() throws -> PeerPolicy {
    PeerPolicy(
      operatorUIDs: operatorUIDs, operatorGIDs: try Self.gids(operatorGroups, required: operatorGroupsGiven),
      serviceUIDs: serviceUIDs, serviceGIDs: try Self.gids(serviceGroups, required: serviceGroupsGiven))
  }

  private static func gids(_ names: [String], required: Bool) throws -> Set<UInt32> {
    var out = Set<UInt32>()
    for name in names where !name.isEmpty {
      if let gid = UInt32(name) {
        out.insert(gid)
      } else if let g = getgrnam(name) {
        out.insert(g.pointee.gr_gid)
      } else if required {
        throw StartupError("unknown group \(name)")
      }
    }
    return out
  }

  /// "0,1001" as uids; nil for text that is not a list of uids.
  public static func uids(_ text: String) -> Set<UInt32>? {
    var out = Set<UInt32>()
    for part in text.split(separator: ",") {
      guard let id = UInt32(part.trimmingCharacters(in: .whitespaces)) else { return nil }
      out.insert(id)
    }
    return out
  }

  /// "practiced-admin,60001" as names or gids.
  public static func groups(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
  }
}

public struct ConfigError: Error, CustomStringConvertible {
  public var description: String
  init(_ path: String, _ line: Int, _ problem: String) { description = "\(path):\(line): \(problem)" }
}

extension UInt8 {
  /// An ASCII letter or digit.
  var isASCIIAlphanumeric: Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self)
      || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
  }
}
