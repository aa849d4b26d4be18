import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import PracticeCore
import PracticeStore

/// The PostgreSQL backend: many practiced instances, on many hosts, share one database.
///
/// The store's seam is synchronous (a body reads and writes as it decides), postgres-nio is not: each
/// call runs on one of the store's own threads with a session of its own, blocking on the session's
/// futures, never on an event loop or the cooperative pool. What keeps the instances one truth:
/// - a read is a `REPEATABLE READ, READ ONLY` transaction (one snapshot), never a cache;
/// - a write is one `READ COMMITTED` transaction; a mutation first takes its account's row lock
///   (`lockAccount`), so one account's mutations run one after the other across the cluster.
///   Serialization failures and deadlocks run the body again, a bounded number of times;
/// - a write is acknowledged only once `COMMIT` answered `COMMIT`; a lost connection at any point
///   is `.unavailable`, never success;
/// - after the commit, a `NOTIFY` names the accounts with new change events (`ChangeSignals`).
public final class PostgresStore: Store, StoreFaultInjection, StoreChangeSignals, StoreLeadership, StoreSharedClock, StoreFreshness, Sendable {
  /// The first key of every advisory lock practiced takes (the second names what is locked).
  static let lockClass: Int32 = 0x5052_4143  // "PRAC"
  static let idempotencyLockClass: Int32 = lockClass + 1
  /// Session-level advisory lock keys (with `lockClass`).
  static let migrationLock: Int32 = 1
  static let schedulerLock: Int32 = 2
  /// The channel of change notifications; the payload is "FIRST_SEQUENCE ACCOUNT_ID".
  public static let changeChannel = "practiced_changes"
  /// How many times a write runs again after a serialization failure or a deadlock.
  static let maxRetries = 8

  public let url: PostgresURL
  let configuration: PostgresConnection.Configuration
  let logger: Logger
  let group: MultiThreadedEventLoopGroup
  private let threads: NIOThreadPool
  private let sessions: SessionPool
  private let readOnly = LockedState(false)
  let name: String
  /// The leader's connection, holding the scheduler's session-level advisory lock (never pooled:
  /// the lock lives as long as this session).
  private let leader = LockedState<PostgresConnection?>(nil)
  private let nextConnectionID = LockedState(0)

  /// Connects, checks the server's durability settings and the database's identity, and migrates it
  /// (under an advisory lock: N instances starting together migrate once).
  /// `password`: from PGPASSWORD or the password file, never from the URL.
  /// `name`: the connections' `application_name` (`practiced/INSTANCE`; the listening connection
  /// adds `/listen`, the leader's `/leader`), so an operator can tell them apart in pg_stat_activity.
  /// `statementDeadline`: how long a pooled session's statement may go unanswered before its connection
  /// is closed (its call fails UNAVAILABLE): a partitioned network must not hold a store thread for good.
  public init(
    url: PostgresURL, password: String?, name: String = "practiced", poolSize: Int = 16,
    statementDeadline: Duration = .seconds(60), logger: Logger
  ) async throws
  {
    self.url = url
    self.name = name
    self.logger = logger
    var config: PostgresConnection.Configuration
    switch url.endpoint {
    case .socket(let dir, let port):
      config = .init(unixSocketPath: "\(dir)/.s.PGSQL.\(port)", username: url.user, password: password, database: url.database)
    case .tcp(let host, let port):
      config = .init(
        host: host, port: port, username: url.user, password: password, database: url.database, tls: try Self.tls(url))
    }
    config.options.connectTimeout = .seconds(5)
    config.options.additionalStartupParameters = [("application_name", name)]
    configuration = config
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    threads = NIOThreadPool(numberOfThreads: poolSize)
    threads.start()
    let connect = Self.connector(
      config, group: group, deadline: .nanoseconds(Int64(statementDeadline / .nanoseconds(1))), logger: logger,
      ids: nextConnectionID)
    sessions = SessionPool(size: poolSize, connect: connect)
    do {
      try await threads.runIfActive { [sessions] in
        try sessions.withSession { s in try Self.prepare(s, url: url) }
      }
    } catch {
      try? await shutdown()
      throw Self.openError(url, error)
    }
  }

  /// The TLS a TCP connection requires (`sslmode`): a server that does not offer it is refused.
  static func tls(_ url: PostgresURL) throws -> PostgresConnection.Configuration.TLS {
    var tls = TLSConfiguration.makeClientConfiguration()
    switch url.tls {
    case .disable: return .disable
    case .require: tls.certificateVerification = .none
    case .verifyCA: tls.certificateVerification = .noHostnameVerification
    case .verifyFull: tls.certificateVerification = .fullVerification
    }
    if let file = url.rootCertificates {
      do {
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
      } catch {
        throw StoreOpenError(path: url.description, problem: "sslrootcert \(file): \(error)")
      }
    }
    do {
      return .require(try NIOSSLContext(configuration: tls))
    } catch {
      throw StoreOpenError(path: url.description, problem: "TLS: \(error)")
    }
  }

  static func connector(
    _ config: PostgresConnection.Configuration, group: MultiThreadedEventLoopGroup, deadline: TimeAmount, logger: Logger,
    ids: LockedState<Int>
  ) -> @Sendable () throws -> Session {
    { [group] in
      let id = ids.withLock { $0 += 1; return $0 }
      do {
        let c = try PostgresConnection.connect(on: group.next(), configuration: config, id: id, logger: logger).wait()
        return Session(connection: c, deadline: deadline, logger: logger)
      } catch {
        throw StoreError(.unavailable, "cannot reach the database: \(Self.describe(error))")
      }
    }
  }

  private static func openError(_ url: PostgresURL, _ error: any Error) -> StoreOpenError {
    if let e = error as? StoreOpenError { return e }
    if let e = error as? StoreError { return StoreOpenError(path: url.description, problem: e.message) }
    return StoreOpenError(path: url.description, problem: describe(error))
  }

  /// Start-up checks and migrations, on one session.
  private static func prepare(_ s: Session, url: PostgresURL) throws {
    func setting(_ name: String) throws -> String {
      let r = try s.query("SELECT current_setting($1)", [.text(name)])
      return try r.rows.first.flatMap { try PostgresAccess.text(PostgresRandomAccessRow($0)[0]) } ?? ""
    }
    let version = Int(try setting("server_version_num")) ?? 0
    guard version >= 150_000 else {
      throw StoreOpenError(path: url.description, problem: "PostgreSQL \(version / 10000) is too old: 15 or later is needed")
    }
    // An acknowledged write must survive a crash of the server.
    guard try setting("fsync") == "on" else {
      throw StoreOpenError(path: url.description, problem: "the server runs with fsync = off: acknowledged writes could be lost")
    }
    guard try setting("synchronous_commit") != "off" else {
      throw StoreOpenError(
        path: url.description, problem: "the server runs with synchronous_commit = off: acknowledged writes could be lost")
    }
    _ = try s.query("SELECT pg_advisory_lock($1, $2)", [.int4(lockClass), .int4(migrationLock)])
    defer { _ = try? s.query("SELECT pg_advisory_unlock($1, $2)", [.int4(lockClass), .int4(migrationLock)]) }
    let hasMeta = try s.query("SELECT to_regclass('practiced_meta') IS NOT NULL").rows.first.map {
      try PostgresRandomAccessRow($0)[0].decode(Bool.self)
    } ?? false
    var current = 0
    if hasMeta {
      let meta = try s.query("SELECT key, value FROM practiced_meta").rows.map { r -> (String, String) in
        let row = PostgresRandomAccessRow(r)
        return (try PostgresAccess.text(row[0]) ?? "", try PostgresAccess.text(row[1]) ?? "")
      }
      let values = Dictionary(meta, uniquingKeysWith: { $1 })
      guard values["application_id"] == PostgresSchema.applicationID else {
        throw StoreOpenError(
          path: url.description, problem: "not a practiced database (application_id \(values["application_id"] ?? "none"))")
      }
      current = Int(values["schema_version"] ?? "") ?? 0
      guard current <= PostgresSchema.migrations.count else {
        throw StoreOpenError(
          path: url.description,
          problem: "the schema is version \(current), newer than this practiced knows (\(PostgresSchema.migrations.count)): upgrade practiced")
      }
    } else {
      let tables = try s.query(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
      ).rows.first.map { try PostgresAccess.int(PostgresRandomAccessRow($0)[0]) } ?? 0
      if tables > 0 {
        throw StoreOpenError(path: url.description, problem: "not a practiced database (it has tables but no practiced_meta)")
      }
    }
    for n in current..<PostgresSchema.migrations.count {
      _ = try s.query("BEGIN")
      do {
        if n == 0 {
          _ = try s.query("CREATE TABLE practiced_meta (key text PRIMARY KEY, value text NOT NULL)")
          _ = try s.query(
            "INSERT INTO practiced_meta VALUES ('application_id', $1), ('schema_version', '0')",
            [.text(PostgresSchema.applicationID)])
        }
        // One statement at a time: the extended protocol takes one per query.
        for statement in PostgresSchema.statements(PostgresSchema.migrations[n]) { _ = try s.query(statement) }
        _ = try s.query("UPDATE practiced_meta SET value = $1 WHERE key = 'schema_version'", [.text("\(n + 1)")])
        _ = try s.query("COMMIT")
      } catch {
        _ = try? s.query("ROLLBACK")
        throw StoreOpenError(path: url.description, problem: "migration \(n + 1) failed: \(describe(error))")
      }
    }
  }

  // MARK: the contract

  /// Runs `body` on a store thread with a session; the store's errors in its own terms. The caller
  /// waits for the store thread, so `body` (neither escaping nor sendable) is only ever used by one
  /// thread at a time: it is handed over through memory the caller owns until the thread is done.
  private func onSession<T>(_ body: @escaping (Session) throws -> T) async throws -> T {
    // The caller waits for the store thread: `body` and its result are only ever used by one thread
    // at a time.
    let job = Unchecked(body)
    do {
      return try await threads.runIfActive { [sessions] in
        Unchecked(try sessions.withSession { try job.value($0) })
      }.value
    } catch {
      throw Self.map(error)
    }
  }

  public func read<T>(needsDatabase: Bool, _ body: @escaping (any StoreReader) throws -> T) async throws -> T {
    try await onSession { s in try Self.readTransaction(s) { try body(PostgresAccess(session: s)) } }
  }

  /// One snapshot; its `COMMIT` is sent without waiting (a read has nothing to make durable).
  private static func readTransaction<T>(_ s: Session, _ body: () throws -> T) throws -> T {
    s.send("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    do {
      let value = try body()
      s.send("COMMIT")
      return value
    } catch {
      s.send("ROLLBACK")
      throw error
    }
  }

  public func readEach<Item: Sendable>(
    window: Int, _ body: @escaping @Sendable (any StoreReader, _ emit: (Item) throws -> Void) throws -> Void,
    consume: (Item) async throws -> Void
  ) async throws {
    let sessions = self.sessions
    try await StreamedRead.run(
      window: window, threadName: "practiced.read-each",
      produce: { emit in
        try sessions.withSession { s in try Self.readTransaction(s) { try body(PostgresAccess(session: s), emit) } }
      },
      mapError: Self.map, consume: consume)
  }

  public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreWriter) throws -> T) async throws -> T {
    let readOnly = self.readOnly.withLock { $0 }
    let (value, hooks) = try await onSession { s in try Self.writeTransaction(s, readOnly: readOnly, body) }
    for hook in hooks { hook() }
    return value
  }

  /// One transaction, run again after a serialization failure or a deadlock. Returns the body's value
  /// and the hooks to run now that it committed.
  private static func writeTransaction<T>(
    _ s: Session, readOnly: Bool, _ body: (any StoreWriter) throws -> T
  ) throws -> (T, [@Sendable () -> Void]) {
    var attempt = 0
    while true {
      attempt += 1
      let access = PostgresAccess(session: s)
      s.send(readOnly ? "BEGIN READ ONLY" : "BEGIN")
      let value: T
      do {
        value = try body(access)
        try s.flush()
      } catch {
        if s.isUsable { _ = try? s.query("ROLLBACK") }
        if attempt <= maxRetries, isRetryable(error) {
          usleep(UInt32.random(in: 100...2000) * UInt32(attempt))
          continue
        }
        throw error
      }
      let tag: String
      do {
        tag = try s.query("COMMIT").metadata.command
      } catch {
        if attempt <= maxRetries, isRetryable(error), s.isUsable { continue }
        // Whether the commit happened is unknown: never answer success.
        if !s.isUsable {
          throw StoreError(.unavailable, "the connection was lost during COMMIT: the write may or may not have been made")
        }
        throw error
      }
      guard tag == "COMMIT" else {
        throw StoreError(.unavailable, "the database rolled the transaction back")
      }
      // Other instances learn of the new change events (after the commit: a NOTIFY inside the
      // transaction would serialize every writer of the cluster on the notification queue's lock).
      for (account, first) in access.changedAccounts {
        s.send("SELECT pg_notify($1, $2)", [.text(changeChannel), .text("\(first) \(account)")])
      }
      return (value, access.commitHooks)
    }
  }

  static func isRetryable(_ error: any Error) -> Bool {
    guard let e = error as? PSQLError, e.code == .server, let state = e.serverInfo?[.sqlState] else { return false }
    return state == "40001" || state == "40P01"
  }

  /// The database's size on the server, in bytes (a metric).
  public func databaseSize() async throws -> Int64 {
    try await onSession { s in
      try s.query("SELECT pg_database_size(current_database())").rows.first.map {
        try PostgresAccess.int(PostgresRandomAccessRow($0)[0])
      } ?? 0
    }
  }

  public func close() async throws {
    if let held = leader.withLock({ c -> PostgresConnection? in defer { c = nil }; return c }) {
      try? await held.close()
    }
    sessions.close()
    try await shutdown()
  }

  private func shutdown() async throws {
    try await threads.shutdownGracefully()
    try await group.shutdownGracefully()
  }

  /// While on, write transactions begin `READ ONLY`: every write fails as on a read-only database.
  public func setReadOnly(_ on: Bool) async throws {
    readOnly.withLock { $0 = on }
  }

  /// A connection of its own, named `name/role`.
  private func dedicatedConnection(_ role: String) async throws -> PostgresConnection {
    var config = configuration
    config.options.additionalStartupParameters = [("application_name", "\(name)/\(role)")]
    let id = nextConnectionID.withLock { $0 += 1; return $0 }
    return try await PostgresConnection.connect(on: group.next(), configuration: config, id: id, logger: logger)
  }

  // MARK: change signals

  /// A listening connection of its own; after every (re)connect, `.resync` (notifications sent while
  /// it was away are lost), then one signal per notification.
  public func changeSignals() -> AsyncStream<StoreChangeSignal> {
    AsyncStream { continuation in
      let task = Task {
        while !Task.isCancelled {
          do {
            let connection = try await dedicatedConnection("listen")
            do {
              try await connection.listen(on: Self.changeChannel) { notifications in
                continuation.yield(.resync)
                for try await n in notifications {
                  let parts = n.payload.split(separator: " ", maxSplits: 1)
                  guard parts.count == 2, let first = Int64(parts[0]) else { continue }
                  continuation.yield(.changed(account: String(parts[1]), firstSequence: first))
                }
              }
            } catch {
              logger.warning("change notifications: the listening connection failed; reconnecting", metadata: ["error": "\(Self.describe(error))"])
            }
            try? await connection.close()
          } catch {
            logger.warning("change notifications: cannot connect", metadata: ["error": "\(Self.describe(error))"])
          }
          try? await Task.sleep(for: .milliseconds(500))
        }
        continuation.finish()
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }

  // MARK: leadership

  /// The scheduler's lock: a session-level advisory lock on a dedicated connection. A leader that
  /// dies (or loses its connection) loses the lock with its session; another instance takes it at
  /// its next try.
  public func tryLead() async -> Bool {
    if let held = leader.withLock({ $0 }) {
      if !held.isClosed, (try? await held.query("SELECT 1", logger: logger)) != nil { return true }
      leader.withLock { $0 = nil }
      try? await held.close()
    }
    do {
      let connection = try await dedicatedConnection("leader")
      let rows = try await connection.query(
        "SELECT pg_try_advisory_lock(\(Self.lockClass), \(Self.schedulerLock))", logger: logger)
      var won = false
      for try await (value) in rows.decode(Bool.self) { won = value }
      if won {
        leader.withLock { $0 = connection }
        logger.notice("this instance now runs the scheduler (it holds the scheduler's lock)")
        return true
      }
      try? await connection.close()
    } catch {
      logger.warning("scheduler lock: cannot reach the database", metadata: ["error": "\(Self.describe(error))"])
    }
    return false
  }

  // MARK: freshness of the read cache

  public func changeSequences(accounts: [String]) async throws -> [String: Int64] {
    try await onSession { s in
      var out: [String: Int64] = [:]
      for row in try s.query("SELECT id, change_seq FROM accounts WHERE id = ANY($1)", [.texts(accounts)]).rows {
        let r = PostgresRandomAccessRow(row)
        out[try PostgresAccess.text(r[0]) ?? ""] = try r[1].decode(Int64.self)
      }
      return out
    }
  }

  // MARK: the test clock (--test-hooks)

  public func clockOffsetMs() async throws -> Int64 {
    try await onSession { s in
      try s.query("SELECT offset_ms FROM test_clock WHERE id = 1").rows.first.map {
        try PostgresRandomAccessRow($0)[0].decode(Int64.self)
      } ?? 0
    }
  }

  public func advanceClock(byMs: Int64) async throws -> Int64 {
    try await onSession { s in
      let r = try s.query(
        """
        INSERT INTO test_clock (id, offset_ms) VALUES (1, $1)
        ON CONFLICT (id) DO UPDATE SET offset_ms = test_clock.offset_ms + EXCLUDED.offset_ms RETURNING offset_ms
        """, [.int(byMs)])
      return try r.rows.first.map { try PostgresRandomAccessRow($0)[0].decode(Int64.self) } ?? byMs
    }
  }

  // MARK: errors

  static func describe(_ error: any Error) -> String {
    if let e = error as? PSQLError {
      if let message = e.serverInfo?[.message] {
        return "\(message) (SQLSTATE \(e.serverInfo?[.sqlState] ?? "?"))"
      }
      // A connection that failed below PostgreSQL (TLS: an unchecked certificate, a refused name).
      return e.underlying.map { "\(e.code): \($0)" } ?? "\(e.code)"
    }
    return "\(error)"
  }

  /// PostgreSQL's errors in the store's terms; anything else as it was thrown.
  static func map(_ error: any Error) -> any Error {
    guard let e = error as? PSQLError else { return error }
    guard e.code == .server, let state = e.serverInfo?[.sqlState] else {
      return StoreError(.unavailable, "the database connection failed: \(e.code)")
    }
    let message = e.serverInfo?[.message] ?? "database error"
    switch state {
    case "23P01":
      let detail = e.serverInfo?[.detail].map { ": \($0)" } ?? ""
      return StoreError(.overlap, "the room is booked at that time (the database refused an overlapping booking\(detail))")
    case "23505":
      return StoreError(.conflict, "conflicts with an existing record")
    case "53100":
      return StoreError(.full, "the database's disk is full: changes are refused until space returns")
    case "25006":
      return StoreError(.unavailable, "the store cannot serve this call: the database is read-only")
    case "40001", "40P01":
      return StoreError(.unavailable, "the write kept conflicting with others (SQLSTATE \(state)); try again")
    default:
      if state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("53") || state.hasPrefix("58") {
        return StoreError(.unavailable, "the store cannot serve this call: \(message) (SQLSTATE \(state))")
      }
      return StoreError(.other, "store error: \(message) (SQLSTATE \(state))")
    }
  }
}

/// A value handed between the caller and a store thread that awaits it: never used by both at once.
struct Unchecked<T>: @unchecked Sendable {
  let value: T
  init(_ value: T) { self.value = value }
}
