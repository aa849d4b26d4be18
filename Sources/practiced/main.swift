import ArgumentParser
import Foundation
import Logging
import PracticeCore
import PracticeRPC
import PracticeServer
import PracticeWire

/// practiced: the account-settings daemon. Flags override the environment, which overrides defaults.
@main
struct Practiced: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "practiced",
    abstract: "The practice account-settings daemon (protobuf RPC over a Unix socket).",
    discussion: "See docs/OPERATIONS.md for every setting and its default.",
    version: PracticeVersion.string)

  /// The defaults, as `DaemonConfiguration` sets them: the help below quotes them from here.
  private static let d = DaemonConfiguration()
  private static func ms(_ duration: Duration) -> Int { Int(duration / .milliseconds(1)) }
  private static func list<T>(_ items: some Collection<T>) -> String {
    items.isEmpty ? "none" : items.map { "\($0)" }.sorted().joined(separator: ",")
  }

  @Option(help: "Unix socket path (env PRACTICED_SOCKET; default \(d.socketPath)).")
  var socket: String?

  @Option(help: "State directory holding practiced.db (env PRACTICED_STATE_DIR, or systemd's STATE_DIRECTORY; default \(d.stateDirectory)).")
  var stateDir: String?

  @Option(help: "Mode of the state directory, octal (default 0\(String(d.stateDirectoryMode, radix: 8))).")
  var stateDirMode: String?

  @Option(help: "How often the store is probed for Health/Check, in milliseconds (default \(ms(d.healthProbeInterval))).")
  var healthProbeIntervalMs: Int?

  @Option(help: "Serve Prometheus metrics over HTTP at HOST:PORT, e.g. 127.0.0.1:9464 (default: off; needs network access the shipped unit denies).")
  var metricsListen: String?

  @Option(help: "Maximum frame size in bytes (default \(d.maxFrameSize)).")
  var maxFrameSize: Int?

  @Option(help: "Deadline of unary calls that send timeout_ms = 0, in milliseconds (default \(ms(d.defaultDeadline))).")
  var defaultDeadlineMs: Int?

  @Option(help: "Maximum open connections (default \(d.maxConnections)).")
  var maxConnections: Int?

  @Option(help: "Maximum calls in flight per connection (default \(d.maxInFlightPerConnection)).")
  var maxInFlight: Int?

  @Option(help: "Idle connection timeout in milliseconds (default \(ms(d.idleTimeout))).")
  var idleTimeoutMs: Int?

  @Option(help: "Frame timeout in milliseconds (default \(ms(d.frameTimeout))).")
  var frameTimeoutMs: Int?

  @Option(help: "Shutdown grace period for in-flight calls, in milliseconds (default \(ms(d.shutdownGrace))).")
  var shutdownGraceMs: Int?

  @Option(help: "Comma-separated uids that are operators (default \(list(d.peers.operatorUIDs))). Empty: none.")
  var operatorUids: String?

  @Option(help: "Comma-separated group names or gids whose members are operators (default \(list(d.peers.operatorGroups))).")
  var operatorGroups: String?

  @Option(help: "Comma-separated uids that are service peers (default \(list(d.peers.serviceUIDs))).")
  var serviceUids: String?

  @Option(help: "Comma-separated group names or gids whose members are service peers (default \(list(d.peers.serviceGroups))).")
  var serviceGroups: String?

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env PRACTICED_LOG_LEVEL; default \(d.logLevel.rawValue)).")
  var logLevel: String?

  @Option(help: "Configuration file (billing prices, trial, retention, grace; see docs/OPERATIONS.md). Env PRACTICED_CONFIG.")
  var config: String?

  @Option(help: "Change events buffered per watcher before it ends with WATCH_OVERFLOW (default \(d.watchBuffer)).")
  var watchBuffer: Int?

  @Option(help: "Change events kept per account for Watch's after_sequence (default \(d.changeRetention)).")
  var changeRetention: Int64?

  @Flag(help: "Serve the practice.test.v1 methods (tests only; never in production).")
  var testHooks = false

  @Option(help: "This instance's name in audit events and logs (env PRACTICED_INSTANCE_ID; default: the host name).")
  var instanceId: String?

  @Option(help: "A PostgreSQL database shared by many instances: postgresql://USER@/DBNAME?host=/run/postgresql (env PRACTICED_DATABASE; default: SQLite in the state directory). The password comes from PGPASSWORD or the configuration file's password_file, never from the URL.")
  var database: String?

  func validate() throws {
    for (name, value) in [("max-frame-size", maxFrameSize), ("default-deadline-ms", defaultDeadlineMs),
                          ("max-connections", maxConnections), ("max-in-flight", maxInFlight),
                          ("idle-timeout-ms", idleTimeoutMs), ("frame-timeout-ms", frameTimeoutMs),
                          ("watch-buffer", watchBuffer), ("health-probe-interval-ms", healthProbeIntervalMs), ("change-retention", changeRetention.map { Int($0) })] {
      if let value, value <= 0 { throw ValidationError("--\(name) must be positive") }
    }
    if let maxFrameSize, maxFrameSize > Int(UInt32.max) { throw ValidationError("--max-frame-size is too large") }
    if let metricsListen, DaemonConfiguration.ListenAddress(metricsListen) == nil {
      throw ValidationError("--metrics-listen must be HOST:PORT")
    }
    for (name, value) in [("operator-uids", operatorUids), ("service-uids", serviceUids)] {
      if let value, PeerSettings.uids(value) == nil { throw ValidationError("--\(name): not a list of uids: \(value)") }
    }
    if let instanceId, !DaemonConfiguration.isValidInstanceID(instanceId) {
      throw ValidationError("--instance-id: 1-64 letters, digits, '.', '-' or '_'")
    }
    if let stateDirMode, mode_t(stateDirMode, radix: 8).map({ $0 > 0o777 }) ?? true {
      throw ValidationError("--state-dir-mode must be octal, such as 0700")
    }
  }

  func run() async throws {
    let env = ProcessInfo.processInfo.environment
    var config = DaemonConfiguration()
    if let file = self.config ?? env["PRACTICED_CONFIG"], !file.isEmpty {
      do {
        try config.load(file: file)
      } catch {
        FileHandle.standardError.write(Data("practiced: bad configuration: \(error)\n".utf8))
        throw ExitCode(78)
      }
    }
    if let s = socket ?? env["PRACTICED_SOCKET"], !s.isEmpty { config.socketPath = s }
    if let d = stateDir ?? env["PRACTICED_STATE_DIR"] ?? env["STATE_DIRECTORY"], !d.isEmpty {
      config.stateDirectory = d.split(separator: ":").first.map(String.init) ?? d
    }
    if let v = stateDirMode.flatMap({ mode_t($0, radix: 8) }) { config.stateDirectoryMode = v }
    if let v = metricsListen.flatMap(DaemonConfiguration.ListenAddress.init) { config.metricsListen = v }
    if let v = healthProbeIntervalMs { config.healthProbeInterval = .milliseconds(v) }
    if let v = maxFrameSize { config.maxFrameSize = v }
    if let v = defaultDeadlineMs { config.defaultDeadline = .milliseconds(v) }
    if let v = maxConnections { config.maxConnections = v }
    if let v = maxInFlight { config.maxInFlightPerConnection = v }
    if let v = idleTimeoutMs { config.idleTimeout = .milliseconds(v) }
    if let v = frameTimeoutMs { config.frameTimeout = .milliseconds(v) }
    if let v = shutdownGraceMs { config.shutdownGrace = .milliseconds(v) }
    config.testHooks = testHooks
    if let v = instanceId ?? env["PRACTICED_INSTANCE_ID"], !v.isEmpty {
      guard DaemonConfiguration.isValidInstanceID(v) else {
        throw ValidationError("PRACTICED_INSTANCE_ID: 1-64 letters, digits, '.', '-' or '_'")
      }
      config.instanceID = v
    }
    if let v = database ?? env["PRACTICED_DATABASE"], !v.isEmpty { config.databaseURL = v }
    if let v = watchBuffer { config.watchBuffer = v }
    if let v = changeRetention { config.changeRetention = v }
    let levelText = logLevel ?? env["PRACTICED_LOG_LEVEL"] ?? config.logLevel.rawValue
    guard let level = Logger.Level(rawValue: levelText) else {
      throw ValidationError("unknown log level \(levelText)")
    }
    config.logLevel = level
    if let v = operatorUids { config.peers.operatorUIDs = PeerSettings.uids(v)! }
    if let v = serviceUids { config.peers.serviceUIDs = PeerSettings.uids(v)! }
    if let v = operatorGroups { config.peers.operatorGroups = PeerSettings.groups(v); config.peers.operatorGroupsGiven = true }
    if let v = serviceGroups { config.peers.serviceGroups = PeerSettings.groups(v); config.peers.serviceGroupsGiven = true }

    LoggingSystem.bootstrap { label in JournalLogHandler(label: label, level: level) }
    var logger = Logger(label: "practiced")
    // Every line says which instance wrote it (several hosts may log to one place).
    logger[metadataKey: "instance"] = .string(config.instanceID)
    let metrics = DaemonMetrics.bootstrap()
    do {
      try await Daemon(configuration: config, logger: logger, metrics: metrics).run()
    } catch {
      logger.critical("practiced cannot run: \(error)")
      throw ExitCode(1)
    }
  }

}
