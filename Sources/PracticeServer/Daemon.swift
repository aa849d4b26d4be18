import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import PracticeCore
import PracticeRPC
import PracticeServices
import PracticeStore
import PracticeStorePostgres
import ServiceLifecycle

/// The whole daemon: store, services, dispatcher, socket server, systemd notifications, run as one
/// service group (SIGTERM/SIGINT: stop accepting, drain calls, close the database).
public struct Daemon {
  public let configuration: DaemonConfiguration
  public let logger: Logger
  public let metrics: DaemonMetrics

  public init(configuration: DaemonConfiguration, logger: Logger, metrics: DaemonMetrics) {
    self.configuration = configuration
    self.logger = logger
    self.metrics = metrics
  }

  public func run() async throws {
    // Files the daemon creates (the database, its WAL and shared-memory files, the lock) are 0600
    // whatever the umask it was started with; the socket is made 0660 where it is bound.
    umask(0o077)
    try StateDirectory.prepare(configuration.stateDirectory, mode: configuration.stateDirectoryMode)
    // Before anything else is touched: one daemon per state, and a socket path no live daemon
    // answers on (a stale socket is replaced; a regular file or a too-long path is refused).
    let peerPolicy = try configuration.peers.policy()
    let stateLock = try StateLock(directory: configuration.stateDirectory)
    let activated = SystemdSocket.take()
    if activated == nil { try SocketPath.prepare(configuration.socketPath) }
    SystemdNotifier.notify("STATUS=opening the database")
    let extender = SystemdNotifier.isEnabled ? StartTimeoutExtender() : nil
    let opened: OpenedStore
    do {
      defer { extender?.stop() }
      opened = try await OpenedStore.open(configuration, logger: logger)
    }
    let store = opened.base
    // With test hooks, a store shared by many instances keeps the test clock, so that they agree.
    let clock = DaemonClock(shared: configuration.testHooks ? store as? any StoreSharedClock : nil)
    let env = ServiceEnvironment(
      store: opened.serving, clock: clock, changes: ChangeHub(bufferCapacity: configuration.watchBuffer),
      changeRetention: configuration.changeRetention,
      idempotencyRetentionMs: configuration.idempotencyRetention.components.seconds * 1000, terms: configuration.terms,
      // Export chunks of at most 256 KiB (and half a frame): with two waiting for the client, an export
      // holds little memory whatever the account's size.
      exportChunkBytes: max(4096, min(256 << 10, configuration.maxFrameSize / 2)), instanceID: configuration.instanceID,
      logger: logger)
    let scheduler = Scheduler(env: env)
    let metricsText: @Sendable () async -> String = { [metrics, gauge = opened.gauge] in
      await metrics.text(store: store, database: gauge)
    }
    let dispatcher = Services.makeDispatcher(
      env: env,
      configuration: .init(testHooks: configuration.testHooks, defaultDeadline: configuration.defaultDeadline),
      runDueWork: { try await scheduler.runDue() },
      metricsText: metricsText)
    if configuration.testHooks { logger.warning("test hooks are enabled: never in production") }

    let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
    let logger = self.logger
    let server = RPCServer(
      configuration: configuration, peerPolicy: peerPolicy, dispatcher: dispatcher, group: group, logger: logger,
      activated: activated,
      onReady: { socket in
        SystemdNotifier.notify("READY=1\nSTATUS=serving on \(socket)")
        // Start-up (opening, checking and migrating the database) freed what it allocated: return
        // it to the system, so the idle daemon's RSS is what serving needs.
        _ = malloc_trim(0)
        Allocator.keepFreedMemoryWarm()
      })
    let watchdog = Watchdog(store: opened.filePath == nil ? nil : store, group: group, logger: logger)
    var extra: [ServiceGroupConfiguration.ServiceConfiguration] = []
    if let listen = configuration.metricsListen {
      extra.append(.init(service: MetricsHTTPServer(
        host: listen.host, port: listen.port, group: group, logger: logger, text: metricsText)))
    }
    // A store shared with other instances: their change events reach this daemon's watchers.
    var feed: [ServiceGroupConfiguration.ServiceConfiguration] = []
    if let signals = store as? any StoreChangeSignals {
      feed.append(.init(service: ChangeFeedService(feed: ChangeFeed(env: env), signals: signals)))
    }
    let serviceGroup = ServiceGroup(
      configuration: .init(
        services: extra + [
          .init(service: server),
          .init(service: watchdog),
          .init(service: HealthProbe(
            store: store, health: env.health, interval: configuration.healthProbeInterval,
            socketPath: server.socketPath, logger: logger)),
          .init(service: SchedulerService(
            scheduler: scheduler, interval: configuration.schedulerInterval,
            leadership: store as? any StoreLeadership, logger: logger)),
        ] + feed,
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    do {
      try await serviceGroup.run()
    } catch {
      logger.error("daemon stopped: \(error)")
      SystemdNotifier.notify("STOPPING=1")
      try? await store.close()
      try? await group.shutdownGracefully()
      withExtendedLifetime(stateLock) {}
      throw error
    }
    SystemdNotifier.notify("STOPPING=1\nSTATUS=stopped")
    try await store.close()
    try await group.shutdownGracefully()
    logger.info("stopped")
    withExtendedLifetime(stateLock) {}
  }
}

/// Sends `WATCHDOG=1` at half the interval systemd asks for, while the event loops turn and, for a
/// SQLite file, a store read succeeds (never tied to a write: a full disk must not cause restart
/// loops). A shared PostgreSQL database is not probed: its outage would have systemd restart every
/// instance in a loop, and a restart cannot mend it (Health says NOT_SERVING instead).
struct Watchdog: Service {
  let store: (any Store)?
  let group: EventLoopGroup
  let logger: Logger

  func run() async throws {
    guard let interval = SystemdNotifier.watchdogInterval else {
      try await gracefulShutdown()
      return
    }
    let period = interval / 2
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
      do {
        try await group.next().submit {}.get()
        try await store?.read { r in try r.probe() }
        SystemdNotifier.notify("WATCHDOG=1")
      } catch {
        logger.warning("watchdog probe failed: \(error)")
      }
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
    }
  }
}

/// Runs the scheduler's due work now and then (and once at start-up, to catch up). With a store
/// shared by many instances, only the one that leads runs it (`leadership`); the jobs re-check what
/// is due under the account's lock, so two leaders overlapping for a moment change nothing.
struct SchedulerService: Service {
  let scheduler: Scheduler
  let interval: Duration
  let leadership: (any StoreLeadership)?
  let logger: Logger

  func run() async throws {
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
      if let leadership, !(await leadership.tryLead()) {
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        continue
      }
      let start = ContinuousClock.now
      do {
        let jobs = try await scheduler.runDue()
        DaemonMetrics.schedulerRunsOK.increment()
        DaemonMetrics.schedulerJobs.increment(by: Int64(jobs))
        DaemonMetrics.schedulerLastSuccess.record(1)
      } catch {
        logger.error("scheduler run failed: \(error)")
        DaemonMetrics.schedulerRunsFailed.increment()
        DaemonMetrics.schedulerLastSuccess.record(0)
      }
      DaemonMetrics.schedulerDuration.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
      DaemonMetrics.schedulerLastRun.record(Date().timeIntervalSince1970)
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
  }
}

/// Probes the store on a timer, a read and a small write, so that `Health/Check` says `NOT_SERVING`
/// when the database stops accepting writes before a client's write fails, and `SERVING` again by
/// itself when writes work (space came back, the file is writable again). A failed client write
/// turns it `NOT_SERVING` too (`HealthState`). Each transition is logged once (warning, then notice)
/// and shown in systemd's `STATUS=`.
struct HealthProbe: Service {
  let store: any Store
  let health: HealthState
  let interval: Duration
  let socketPath: String
  let logger: Logger

  func run() async throws {
    var reported = true
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
      var failure: (any Error)?
      do {
        try await store.read { r in try r.probe() }
        try await store.write { w in try w.probeWrite() }
        health.writeSucceeded()
      } catch {
        failure = error
        health.writeFailed()
        DaemonMetrics.probeFailures.increment()
      }
      let serving = health.serving
      if serving != reported {
        reported = serving
        if serving {
          logger.notice("health: SERVING again, the store accepts writes")
          SystemdNotifier.notify("STATUS=serving on \(socketPath)")
        } else {
          let why = failure.map { "\($0)" } ?? "a write failed"
          logger.warning("health: NOT_SERVING, the store refuses writes", metadata: ["error": "\(why)"])
          SystemdNotifier.notify("STATUS=NOT_SERVING: the store refuses writes (\(why))")
        }
      }
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
  }
}

/// glibc's allocator, tuned for a daemon whose writer frees and reallocates the same few hundred KiB in
/// every batch. By default glibc returns a thread arena's free top to the system as soon as it passes
/// 128 KiB and takes it back, page fault by page fault, on the next batch: about 10 minor faults per
/// write, 6% of the group-commit thread's samples at 64 concurrent writers. Keeping up to 4 MiB of free
/// top per arena (and mapping only allocations of 4 MiB or more) ends that. Set after READY, once
/// `malloc_trim(0)` has returned start-up's memory, so the idle daemon's RSS is unchanged.
enum Allocator {
  static func keepFreedMemoryWarm() {
    _ = mallopt(-1 /* M_TRIM_THRESHOLD */, 4 << 20)
    _ = mallopt(-2 /* M_TOP_PAD */, 512 << 10)
    _ = mallopt(-3 /* M_MMAP_THRESHOLD */, 4 << 20)
  }
}

/// glibc's mallopt(3) (malloc.h is not part of the Glibc module).
@_silgen_name("mallopt")
private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32

/// glibc's malloc_trim(3) (malloc.h is not part of the Glibc module).
@_silgen_name("malloc_trim")
private func malloc_trim(_ pad: Int) -> Int32

/// The store the configuration names, opened: SQLite in the state directory behind the read cache
/// (one daemon owns the file, so the cache stays coherent with every write), or a PostgreSQL database
/// shared with other instances, behind the same cache checking each answer against the database's
/// change sequences (another instance's write must be seen at once).
struct OpenedStore {
  /// The backend itself (health probes, metrics, shutdown).
  let base: any Store
  /// What the services use.
  let serving: any Store
  /// The SQLite file; nil for PostgreSQL.
  let filePath: String?
  let gauge: DatabaseGauge

  static func open(_ configuration: DaemonConfiguration, logger: Logger) async throws -> OpenedStore {
    guard let text = configuration.databaseURL else {
      let sqlite = try SQLiteStore(path: configuration.databasePath)
      return OpenedStore(
        base: sqlite, serving: CachingStore(sqlite), filePath: configuration.databasePath,
        gauge: .sqlite(configuration.databasePath))
    }
    let url = try PostgresURL(text)
    let password = try configuration.databasePassword()
    logger.info("opening the shared database", metadata: ["database": "\(url)"])
    let store = try await PostgresStore(
      url: url, password: password, name: "practiced/\(configuration.instanceID)",
      statementDeadline: configuration.statementDeadline, logger: logger)
    let gauge = DatabaseGauge(backend: "postgresql", path: url.description) {
      (try? await store.databaseSize()).map { UInt64($0) }
    }
    // The read cache asks the database, in batches, whether what it holds is still current.
    return OpenedStore(base: store, serving: CachingStore(store, freshness: store), filePath: nil, gauge: gauge)
  }
}

extension DaemonConfiguration {
  /// The PostgreSQL password: the password file's first line, else `PGPASSWORD`, else none (peer or
  /// trust authentication on a local socket).
  func databasePassword() throws -> String? {
    if let passwordFile {
      guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
        throw StoreOpenError(path: passwordFile, problem: "cannot read the password file")
      }
      return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
    }
    return ProcessInfo.processInfo.environment["PGPASSWORD"]
  }
}

/// The change feed of a store shared with other instances, for as long as the daemon runs.
struct ChangeFeedService: Service {
  let feed: ChangeFeed
  let signals: any StoreChangeSignals

  func run() async throws {
    await cancelWhenGracefulShutdown { await feed.run(signals.changeSignals()) }
  }
}
