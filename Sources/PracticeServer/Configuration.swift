import Foundation
import Logging
import PracticeRPC
import PracticeWire

/// Everything the daemon can be told (flags, environment, or a configuration file).
/// Defaults are documented in docs/OPERATIONS.md.
public struct DaemonConfiguration: Sendable {
  /// The Unix socket path (`$PRACTICED_SOCKET` overrides the default).
  public var socketPath: String = "/run/practiced/practiced.sock"
  /// Where the database lives (`practiced.db` inside).
  public var stateDirectory: String = "/var/lib/practiced"
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
  public var peerPolicy: PeerPolicy = PeerPolicy()
  public var testHooks: Bool = false
  /// Change events buffered per watcher before it is ended with WATCH_OVERFLOW.
  public var watchBuffer: Int = 1024
  /// Change events kept per account for Watch's after_sequence.
  public var changeRetention: Int64 = 10_000
  public var logLevel: Logger.Level = .info

  public init() {}

  public var databasePath: String { (stateDirectory as NSString).appendingPathComponent("practiced.db") }
}

extension Duration {
  var timeAmountNanoseconds: Int64 {
    let c = components
    return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
  }
}
