import Foundation
import Logging
import PracticeCore
import PracticeProto
import PracticeServices
import PracticeStore
import PracticeTestSupport
import Testing

/// Who a test client is, as the dispatcher sees it.
enum PeerKind {
  case `operator`, service, denied

  var peerClass: PeerClass {
    switch self {
    case .operator: .operator
    case .service: .service
    case .denied: .denied
    }
  }
}

/// The daemon's services without the daemon: a SQLite store in a temporary state directory, the
/// dispatcher that serves every method (test hooks included, the scheduler behind TestClock/Advance),
/// and typed clients over the in-process transport. What needs a socket, a process or systemd is in
/// EndToEndTests.
final class ServiceHarness: Sendable {
  let directory: URL
  let stateDirectory: String
  let env: ServiceEnvironment
  let dispatcher: Dispatcher

  init(changeRetention: Int64? = nil) throws {
    directory = URL(fileURLWithPath: NSTemporaryDirectory())
      .appendingPathComponent("practiced-services-\(UUID().uuidString.prefix(8))")
    stateDirectory = directory.appendingPathComponent("state").path
    try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
    var logger = Logger(label: "practiced.test")
    logger.logLevel = .warning
    // As the daemon has it: the read cache in front of the SQLite store.
    let store = CachingStore(try SQLiteStore(path: stateDirectory + "/practiced.db"))
    env = changeRetention.map { ServiceEnvironment(store: store, changeRetention: $0, logger: logger) }
      ?? ServiceEnvironment(store: store, logger: logger)
    let scheduler = Scheduler(env: env)
    dispatcher = Services.makeDispatcher(
      env: env, configuration: .init(testHooks: true), runDueWork: { try await scheduler.runDue() })
  }

  /// A client whose calls the dispatcher sees as coming from a peer of `kind`.
  func connect(as kind: PeerKind = .operator) async throws -> InProcessTransport {
    InProcessTransport(
      dispatcher: dispatcher, peer: Peer(credentials: .init(pid: 1, uid: 1000, gid: 1000), peerClass: kind.peerClass),
      logger: env.logger)
  }

  func cleanUp() async {
    try? await env.store.close()
    try? FileManager.default.removeItem(at: directory)
  }
}

extension InProcessTransport {
  /// Nothing to close in process; kept so that a test reads the same over either transport.
  func close() async {}
}

/// Runs `body` with fresh services and always cleans up.
func withServices<T>(changeRetention: Int64? = nil, _ body: (ServiceHarness) async throws -> T) async throws -> T {
  let h = try ServiceHarness(changeRetention: changeRetention)
  do {
    let r = try await body(h)
    await h.cleanUp()
    return r
  } catch {
    await h.cleanUp()
    throw error
  }
}
