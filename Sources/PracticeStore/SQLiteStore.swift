import CoreMetrics
import Foundation
import GRDB
import PracticeCore
import PracticeProto
import SwiftProtobuf

/// The SQLite backend (GRDB): WAL, `synchronous=FULL`, one writer, concurrent readers.
public final class SQLiteStore: Store, StoreFaultInjection, Sendable {
  /// `PRAGMA application_id` of a practiced database ("PRAC").
  public static let applicationID: Int32 = 0x5052_4143

  private let writer: any DatabaseWriter
  public let path: String?
  /// The connections reads use on a database file (nil in memory: the queue reads itself).
  private let readers: ReadConnections?

  /// Opens (or creates) the database at `path` and migrates it.
  /// Refuses a file that is not a practiced database (a foreign or corrupt file is never re-created).
  public init(path: String) throws {
    try SQLiteStore.checkHeader(path: path)
    var config = Configuration()
    config.busyMode = .timeout(10)
    config.prepareDatabase { db in
      try db.execute(sql: "PRAGMA synchronous = FULL")
    }
    config.label = "practiced"
    let pool: DatabasePool
    do {
      pool = try DatabasePool(path: path, configuration: config)
    } catch {
      throw StoreOpenError(path: path, problem: "cannot open: \(error)")
    }
    // GRDB's DatabasePool puts its writer in WAL mode and then sets `synchronous = NORMAL` on it,
    // after `prepareDatabase` ran: set FULL again, so every acknowledged commit is fsynced.
    do {
      try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    } catch {
      throw StoreOpenError(path: path, problem: "cannot set synchronous=FULL: \(error)")
    }
    self.writer = pool
    self.committer = GroupCommitter(writer: pool)
    self.path = path
    self.readers = ReadConnections(path: path)
    try SQLiteStore.checkAndMigrate(pool, path: path)
  }

  /// A private in-memory database (tests and fuzzing; not durable).
  public init(inMemory: Void = ()) throws {
    let queue = try DatabaseQueue()
    self.writer = queue
    self.committer = GroupCommitter(writer: queue)
    self.path = nil
    self.readers = nil
    try SQLiteStore.checkAndMigrate(queue, path: ":memory:")
  }

  /// A private in-memory copy of another store's database, made with SQLite's backup API (fuzzing:
  /// a fresh, already migrated store per input without running the migrations again).
  public init(inMemoryCopyOf source: SQLiteStore) throws {
    let queue = try DatabaseQueue()
    try source.writer.backup(to: queue)
    self.writer = queue
    self.committer = GroupCommitter(writer: queue)
    self.path = nil
    self.readers = nil
  }

  /// Reads an existing file's header before anything opens it for writing, so that a refused file
  /// stays byte for byte as it was (opening it as a pool would switch it to WAL and rewrite its
  /// header). A missing or empty file is a new database. A SQLite file with another application id
  /// is refused unless it holds no table (then it is adopted, as a database created empty for us).
  static func checkHeader(path: String) throws {
    guard let handle = FileHandle(forReadingAtPath: path) else { return }
    defer { try? handle.close() }
    let header = (try? handle.read(upToCount: 100)) ?? Data()
    if header.isEmpty { return }
    guard header.count == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
      throw StoreOpenError(path: path, problem: "not a SQLite database")
    }
    let appID = header[68..<72].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    if Int32(bitPattern: appID) == applicationID { return }
    var config = Configuration()
    config.readonly = true
    let tables: Int
    do {
      let queue = try DatabaseQueue(path: path, configuration: config)
      defer { try? queue.close() }
      tables = try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0 }
    } catch {
      throw StoreOpenError(path: path, problem: "cannot read: \(error)")
    }
    if tables > 0 {
      throw StoreOpenError(path: path, problem: "not a practiced database (application_id \(Int32(bitPattern: appID)))")
    }
  }

  private static func checkAndMigrate(_ db: any DatabaseWriter, path: String) throws {
    do {
      try db.writeWithoutTransaction { db in
        let appID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let tables = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
        if appID != applicationID {
          if tables > 0 {
            throw StoreOpenError(path: path, problem: "not a practiced database (application_id \(appID))")
          }
          try db.execute(sql: "PRAGMA application_id = \(applicationID)")
        }
        let check = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "?"
        if check != "ok" { throw StoreOpenError(path: path, problem: "integrity check failed: \(check)") }
      }
      try migrator.migrate(db)
      // The start-up check read every page through the writer's cache: give that memory back.
      try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA shrink_memory") }
    } catch let e as StoreOpenError {
      throw e
    } catch let e as DatabaseError {
      throw StoreOpenError(path: path, problem: "\(e.message ?? "\(e.resultCode)") (\(e.resultCode))")
    }
  }

  /// The schema, as migrations. Never edit a migration that has shipped: add one.
  static var migrator: DatabaseMigrator {
    var m = DatabaseMigrator()
    m.registerMigration("v1") { db in
      try db.execute(sql: """
        CREATE TABLE accounts (
          id TEXT PRIMARY KEY NOT NULL,
          state INTEGER NOT NULL,
          created_at_ms INTEGER NOT NULL,
          version INTEGER NOT NULL,
          change_seq INTEGER NOT NULL DEFAULT 0,  -- the account's change sequence
          body BLOB NOT NULL              -- practice.v1.Account
        ) WITHOUT ROWID;
        CREATE TABLE users (
          account_id TEXT NOT NULL REFERENCES accounts(id),
          id TEXT NOT NULL,
          email_key TEXT,                 -- lower-cased email while active, else NULL
          active INTEGER NOT NULL,
          version INTEGER NOT NULL,
          body BLOB NOT NULL,             -- practice.v1.User
          PRIMARY KEY (account_id, id)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX users_active_email ON users(account_id, email_key) WHERE email_key IS NOT NULL;
        CREATE TABLE audit_events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          account_id TEXT NOT NULL,
          time_ms INTEGER NOT NULL,
          actor_user_id TEXT NOT NULL,
          method TEXT NOT NULL,
          resource_id TEXT NOT NULL,
          body BLOB NOT NULL              -- practice.v1.AuditEvent (secrets masked)
        );
        CREATE INDEX audit_by_account_time ON audit_events(account_id, time_ms, id);
        CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TABLE change_events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,   -- order across accounts
          account_id TEXT NOT NULL,
          sequence INTEGER NOT NULL,
          body BLOB NOT NULL,             -- practice.v1.ChangeEvent
          UNIQUE (account_id, sequence)
        );
        CREATE TABLE idempotency (
          scope TEXT NOT NULL,
          key TEXT NOT NULL,
          method TEXT NOT NULL,
          payload_hash BLOB NOT NULL,
          response BLOB NOT NULL,         -- practice.rpc.v1.Response
          created_at_ms INTEGER NOT NULL,
          PRIMARY KEY (scope, key)
        ) WITHOUT ROWID;
        CREATE INDEX idempotency_by_age ON idempotency(created_at_ms);
        CREATE TABLE business_info (
          account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts(id),
          version INTEGER NOT NULL,
          body BLOB NOT NULL              -- practice.v1.BusinessInfo (tax id as given, digits)
        ) WITHOUT ROWID;
        CREATE TABLE locations (
          account_id TEXT NOT NULL REFERENCES accounts(id),
          id TEXT NOT NULL,
          archived INTEGER NOT NULL,
          is_default INTEGER NOT NULL,
          version INTEGER NOT NULL,
          body BLOB NOT NULL,             -- practice.v1.Location
          PRIMARY KEY (account_id, id)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX locations_one_default ON locations(account_id) WHERE is_default = 1 AND archived = 0;
        CREATE TABLE payer_pos_rules (
          account_id TEXT NOT NULL REFERENCES accounts(id),
          payer_id TEXT NOT NULL,
          version INTEGER NOT NULL,
          body BLOB NOT NULL,             -- practice.v1.PayerPosRule
          PRIMARY KEY (account_id, payer_id)
        ) WITHOUT ROWID;
        CREATE TABLE rooms (
          account_id TEXT NOT NULL REFERENCES accounts(id),
          id TEXT NOT NULL,
          archived INTEGER NOT NULL,
          version INTEGER NOT NULL,
          body BLOB NOT NULL,             -- practice.v1.Room
          PRIMARY KEY (account_id, id)
        ) WITHOUT ROWID;
        CREATE TABLE room_bookings (
          id TEXT PRIMARY KEY NOT NULL,
          account_id TEXT NOT NULL REFERENCES accounts(id),
          room_id TEXT NOT NULL,
          start_ms INTEGER NOT NULL,
          end_ms INTEGER NOT NULL,
          status INTEGER NOT NULL,        -- 1 active, 2 cancelled
          series_id TEXT NOT NULL,
          occurrence INTEGER NOT NULL,
          version INTEGER NOT NULL,
          body BLOB NOT NULL              -- practice.v1.RoomBooking
        );
        -- Conflict checks: active bookings of a room by start. A booking lasts at most 24 hours, so the
        -- bookings that can overlap [s, e) start in (s - 24h, e): a bounded range search.
        CREATE INDEX room_bookings_active ON room_bookings(room_id, start_ms, end_ms) WHERE status = 1;
        CREATE INDEX room_bookings_by_room ON room_bookings(account_id, room_id, start_ms, id);
        CREATE INDEX room_bookings_series ON room_bookings(series_id, occurrence) WHERE series_id != '';
        CREATE TABLE subscriptions (
          account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts(id),
          version INTEGER NOT NULL,
          body BLOB NOT NULL              -- practice.v1.Subscription, with the processor token
        ) WITHOUT ROWID;
        CREATE TABLE usage (
          account_id TEXT NOT NULL REFERENCES accounts(id),
          period_start TEXT NOT NULL,
          active_clients INTEGER NOT NULL,
          electronic_claims INTEGER NOT NULL,
          PRIMARY KEY (account_id, period_start)
        ) WITHOUT ROWID;
        CREATE TABLE invoices (
          account_id TEXT NOT NULL,       -- kept after a purge: no REFERENCES
          id TEXT NOT NULL,
          number INTEGER NOT NULL,
          period_start TEXT NOT NULL,
          status INTEGER NOT NULL,
          body BLOB NOT NULL,             -- practice.v1.Invoice (no card data)
          PRIMARY KEY (account_id, id),
          UNIQUE (account_id, period_start),
          UNIQUE (account_id, number)
        ) WITHOUT ROWID;
        CREATE TABLE health_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at_ms INTEGER NOT NULL);
        """)
    }
    // The conflict search, v2:
    // - Its window: a booking that overlaps [s, e) starts in (s - the room's longest booking, e),
    //   usually an hour or two wide where v1's 24-hour bound read a day of bookings. The triggers keep
    //   `rooms.longest_booking_ms` at least as long as any booking of the room ever written (it never
    //   shrinks: a cancelled booking only widens the window, which stays correct).
    // - Its rows: bookings are stored in (room, start) order (WITHOUT ROWID), so the bookings a search
    //   finds, bodies included, sit side by side on one or two pages. v1 kept them in insertion
    //   order, and each conflicting booking cost a read of its own page.
    m.registerMigration("v2-conflict-search") { db in
      try db.execute(sql: """
        ALTER TABLE rooms ADD COLUMN longest_booking_ms INTEGER NOT NULL DEFAULT 0;
        UPDATE rooms SET longest_booking_ms = coalesce((
          SELECT max(end_ms - start_ms) FROM room_bookings b WHERE b.account_id = rooms.account_id AND b.room_id = rooms.id
        ), 0);
        CREATE TABLE room_bookings_v2 (
          id TEXT NOT NULL,
          account_id TEXT NOT NULL REFERENCES accounts(id),
          room_id TEXT NOT NULL,
          start_ms INTEGER NOT NULL,
          end_ms INTEGER NOT NULL,
          status INTEGER NOT NULL,        -- 1 active, 2 cancelled
          series_id TEXT NOT NULL,
          occurrence INTEGER NOT NULL,
          version INTEGER NOT NULL,
          body BLOB NOT NULL,             -- practice.v1.RoomBooking
          PRIMARY KEY (room_id, start_ms, id)
        ) WITHOUT ROWID;
        INSERT INTO room_bookings_v2 (id, account_id, room_id, start_ms, end_ms, status, series_id, occurrence, version, body)
          SELECT id, account_id, room_id, start_ms, end_ms, status, series_id, occurrence, version, body FROM room_bookings;
        DROP TABLE room_bookings;
        ALTER TABLE room_bookings_v2 RENAME TO room_bookings;
        CREATE UNIQUE INDEX room_bookings_id ON room_bookings(id);
        CREATE INDEX room_bookings_by_room ON room_bookings(account_id, room_id, start_ms, id);
        CREATE INDEX room_bookings_series ON room_bookings(series_id, occurrence) WHERE series_id != '';
        CREATE TRIGGER room_bookings_longest AFTER INSERT ON room_bookings BEGIN
          UPDATE rooms SET longest_booking_ms = NEW.end_ms - NEW.start_ms
          WHERE account_id = NEW.account_id AND id = NEW.room_id AND longest_booking_ms < NEW.end_ms - NEW.start_ms;
        END;
        CREATE TRIGGER room_bookings_longest_moved AFTER UPDATE OF start_ms, end_ms ON room_bookings BEGIN
          UPDATE rooms SET longest_booking_ms = NEW.end_ms - NEW.start_ms
          WHERE account_id = NEW.account_id AND id = NEW.room_id AND longest_booking_ms < NEW.end_ms - NEW.start_ms;
        END;
        """)
    }
    // Audit events keep the resource before and after in binary, rendered as JSON when the log is
    // read (AuditSnapshot); the events written before keep their JSON in `body`.
    m.registerMigration("v3-audit-snapshots") { db in
      try db.execute(sql: """
        ALTER TABLE audit_events ADD COLUMN before_type TEXT;
        ALTER TABLE audit_events ADD COLUMN before_pb BLOB;
        ALTER TABLE audit_events ADD COLUMN after_type TEXT;
        ALTER TABLE audit_events ADD COLUMN after_pb BLOB;
        """)
    }
    // Lifecycle notices sent (NOTICE change events 7 days and 1 day before a trial, grace or
    // retention end): the key makes each go out once, whatever the scheduler retries.
    m.registerMigration("v4-lifecycle-notices") { db in
      try db.execute(sql: """
        CREATE TABLE lifecycle_notices (
          account_id TEXT NOT NULL,
          step INTEGER NOT NULL,
          at_ms INTEGER NOT NULL,
          days_before INTEGER NOT NULL,
          sent_at_ms INTEGER NOT NULL,
          PRIMARY KEY (account_id, step, at_ms, days_before)
        ) WITHOUT ROWID;
        """)
    }
    // Idempotency records keep the request's bytes (`request`) instead of their SHA-256
    // (`payload_hash`, left empty from now on): a retry is compared byte for byte, and the daemon
    // needs no cryptography library for it. A record from before keeps its hash and no request.
    m.registerMigration("v5-idempotency-request") { db in
      try db.execute(sql: "ALTER TABLE idempotency ADD COLUMN request BLOB")
    }
    return m
  }

  /// Reads run on the calling thread, without suspending, in a read transaction on one of the store's
  /// read connections: a snapshot read from the page cache takes microseconds, less than a hop to
  /// another thread and back would cost. (`needsDatabase` is for a cache in front of the store,
  /// `CachingStore`: every read here reads the database.)
  public func read<T>(needsDatabase: Bool, _ body: @escaping (any StoreReader) throws -> T) async throws -> T {
    do {
      let read = { (db: Database) in try body(SQLiteAccess(db: db)) }
      if let readers { return try readers.read(read) }
      return try writer.read(read)
    } catch let e as DatabaseError {
      throw SQLiteStore.map(e)
    }
  }

  /// The snapshot is a read transaction held on a thread of its own (a read connection, or the
  /// writer's queue in memory), never on the caller's (`StreamedRead`).
  public func readEach<Item: Sendable>(
    window: Int, _ body: @escaping @Sendable (any StoreReader, _ emit: (Item) throws -> Void) throws -> Void,
    consume: (Item) async throws -> Void
  ) async throws {
    let readers = self.readers
    let writer = self.writer
    try await StreamedRead.run(
      window: window, threadName: "practiced.read-each",
      produce: { emit in
        let run = { (db: Database) in try body(SQLiteAccess(db: db), emit) }
        if let readers { try readers.read(run) } else { try writer.read(run) }
      },
      mapError: { ($0 as? DatabaseError).map(SQLiteStore.map) ?? $0 },
      consume: consume)
  }

  /// Writes are group-committed: the bodies waiting when the writer is free run in one transaction,
  /// each in its own savepoint (a body that throws undoes only itself), and one durable commit
  /// answers them all. A caller returns only after the commit that holds its write.
  public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreWriter) throws -> T) async throws -> T {
    do {
      return try await committer.submit { db in try body(SQLiteAccess(db: db)) }
    } catch let e as DatabaseError {
      throw SQLiteStore.map(e)
    }
  }

  private let committer: GroupCommitter

  public func close() async throws {
    readers?.close()
    if let pool = writer as? DatabasePool {
      // Fold the WAL into the database file on a clean stop (the pool's last connection to close is
      // a read-only reader, which cannot): the file alone is then the whole database.
      _ = try? await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
      try pool.close()
    }
    if let queue = writer as? DatabaseQueue { try queue.close() }
  }

  public func setReadOnly(_ on: Bool) async throws {
    try await writer.writeWithoutTransaction { db in try db.execute(sql: on ? "PRAGMA query_only = 1" : "PRAGMA query_only = 0") }
  }

  /// SQLite's errors in the store's terms.
  static func map(_ e: DatabaseError) -> StoreError {
    switch e.resultCode {
    case .SQLITE_FULL:
      return StoreError(.full, "the database's disk is full: changes are refused until space returns")
    case .SQLITE_READONLY, .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_BUSY, .SQLITE_LOCKED,
      .SQLITE_CORRUPT, .SQLITE_NOTADB:
      return StoreError(.unavailable, "the store cannot serve this call: \(e.resultCode)")
    case .SQLITE_CONSTRAINT:
      return StoreError(.conflict, "conflicts with an existing record")
    default:
      return StoreError(.other, "store error \(e.resultCode)")
    }
  }

  /// The conflict query the store runs (parameters: account, room, start, end), for the benchmark's
  /// SQL-level timing.
  public static var conflictSQL: String { SQLiteAccess.conflictSQL }

  /// The query plan of the room-conflict check (tests assert it is a bounded search on the key).
  public func conflictQueryPlan() async throws -> String {
    try await writer.read { db in
      try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + SQLiteAccess.conflictSQL, arguments: ["a", "r", 0, 1])
        .map { $0["detail"] as String }.joined(separator: "\n")
    }
  }

  /// A pragma read on the writer connection (tests check its durability settings).
  public func writerPragma(_ sql: String) async throws -> String? {
    try await writer.writeWithoutTransaction { db in try String.fetchOne(db, sql: sql) }
  }

  /// Runs a SQL statement for diagnostics and tests (`PRAGMA ...`), returning the first column.
  public func pragma(_ sql: String) async throws -> String? {
    try await writer.read { db in try String.fetchOne(db, sql: sql) }
  }
}

/// A database file practiced refuses to open.
public struct StoreOpenError: Error, CustomStringConvertible {
  public var path: String
  public var problem: String
  public var description: String { "cannot use database \(path): \(problem)" }

  public init(path: String, problem: String) {
    self.path = path
    self.problem = problem
  }
}

/// Batches concurrent write bodies into one transaction and one commit (group commit).
final class GroupCommitter: Sendable {
  /// One caller's write: `run` runs its body in the batch's transaction and returns what answers
  /// the caller once the commit's outcome is known (the value stays typed inside it); `fail` answers
  /// a body that threw.
  private struct Job {
    let run: @Sendable (Database) throws -> @Sendable (_ commitFailure: Error?) -> Void
    let fail: @Sendable (Error) -> Void
  }

  private let writer: any DatabaseWriter
  /// The bodies waiting for the next transaction, and whether a drain is running.
  private struct Queue {
    var pending: [Job] = []
    var draining = false
  }

  private let state = LockedState(Queue())
  private let queue = DispatchQueue(label: "practiced.group-commit")
  /// The most bodies one transaction takes.
  static let maxBatch = 256

  init(writer: any DatabaseWriter) {
    self.writer = writer
  }

  func submit<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (k: CheckedContinuation<T, Error>) in
      let job = Job(
        run: { db in
          let value = try body(db)
          return { commitFailure in
            if let commitFailure { k.resume(throwing: commitFailure) } else { k.resume(returning: value) }
          }
        },
        fail: { k.resume(throwing: $0) })
      let start = state.withLock { s in
        s.pending.append(job)
        defer { s.draining = true }
        return !s.draining
      }
      if start { queue.async { self.drain() } }
    }
  }

  private func drain() {
    while true {
      let batch = state.withLock { s in
        let batch = Array(s.pending.prefix(Self.maxBatch))
        s.pending.removeFirst(batch.count)
        if batch.isEmpty { s.draining = false }
        return batch
      }
      if batch.isEmpty { return }
      run(batch)
    }
  }

  /// Mutations committed together (a metric).
  static let batchSizes = Recorder(label: "practiced_group_commit_batch_size")

  private func run(_ batch: [Job]) {
    Self.batchSizes.record(batch.count)
    // Each body's outcome: what answers it after the commit, or the error it threw.
    var outcomes = [Result<@Sendable (Error?) -> Void, Error>](repeating: .failure(CancellationError()), count: batch.count)
    var commitFailure: Error?
    do {
      try writer.writeWithoutTransaction { db in
        try db.inTransaction(.immediate) {
          for (i, job) in batch.enumerated() {
            do {
              outcomes[i] = .success(try db.savepoint("job") { try job.run(db) })
            } catch {
              outcomes[i] = .failure(error)
              // SQLITE_FULL, IOERR, NOMEM and BUSY may roll the whole transaction back: the bodies
              // after this one must not run outside a transaction (each would commit on its own).
              if !db.isInsideTransaction { throw error }
            }
          }
          return .commit
        }
      }
    } catch {
      // The commit itself failed: nothing of the batch was written.
      commitFailure = error
    }
    for (job, outcome) in zip(batch, outcomes) {
      switch outcome {
      case .success(let answer): answer(commitFailure)
      case .failure(let error): job.fail(commitFailure ?? error)
      }
    }
  }
}
