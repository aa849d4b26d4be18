import Foundation
import PracticeCore
import PracticeProto

/// The daemon's persistent state, behind a protocol so that a second backend can be added.
///
/// Contract:
/// - `read` sees a consistent snapshot of committed data.
/// - `write` runs its body in one transaction; the transaction is durable when `write` returns
///   (SQLite: WAL, `synchronous=FULL`). A body that throws writes nothing.
/// - Storage failures surface as `StoreError`: a full disk as `.full`; a read-only file, I/O errors
///   and a locked or corrupt file as `.unavailable`; a uniqueness rule as `.conflict`. What a body
///   throws comes back as it was thrown.
public protocol Store: Sendable {
  /// Runs `body` on a consistent snapshot of committed data. A backend that can answer without
  /// waiting (SQLite: a read on the calling thread) does not suspend, so a call started on the
  /// connection's thread is answered there; one that waits for a server suspends. The body may run
  /// twice (a cache in front of the store first tries it on the cache alone): it must be a pure read.
  /// `needsDatabase`: the body always reads past a cache (an index search), so it runs once.
  func read<T>(needsDatabase: Bool, _ body: @escaping (any StoreReader) throws -> T) async throws -> T
  /// Runs `body` on one consistent snapshot while `consume` takes each item it emits, as it comes: at
  /// most `window` items wait between them, so a long read (an export) never holds more than that in
  /// memory. `body` may block between items; it stops (with the error) when `consume` throws.
  func readEach<Item: Sendable>(
    window: Int, _ body: @escaping @Sendable (any StoreReader, _ emit: (Item) throws -> Void) throws -> Void,
    consume: (Item) async throws -> Void
  ) async throws
  func write<T: Sendable>(_ body: @escaping @Sendable (any StoreWriter) throws -> T) async throws -> T
  /// Closes the store; later calls fail.
  func close() async throws
}

/// Fault injection, for the `--test-hooks` method TestControl/SetStoreReadOnly; not part of the
/// store's contract: a backend may offer it (SQLiteStore does).
public protocol StoreFaultInjection: Sendable {
  /// While on, every write fails as it would on a read-only database file. Reads are unaffected.
  func setReadOnly(_ on: Bool) async throws
}

extension Store {
  public func read<T>(_ body: @escaping (any StoreReader) throws -> T) async throws -> T {
    try await read(needsDatabase: false, body)
  }
}

/// An audit event filter (AuditService/ListAuditEvents).
public struct AuditQuery: Sendable {
  public var accountID: String
  public var fromMs: Int64 = 0
  public var toMs: Int64 = 0
  public var actorUserID: String?
  public var resourceID: String?
  public var method: String?
  public var afterID: Int64?
  public var limit: Int

  public init(accountID: String, limit: Int) {
    self.accountID = accountID
    self.limit = limit
  }
}

/// An idempotency record (docs/PROTOCOL.md, "Idempotency").
public struct IdempotencyRecord: Sendable, Equatable {
  public var scope: String
  public var key: String
  public var method: String
  /// The request's payload as it arrived: a retry must send the same bytes. Nil in a record written
  /// before the schema's v5 (which kept a SHA-256 of them instead; such a record is at most the
  /// idempotency retention old).
  public var request: Data?
  /// The recorded final response (status and payload), encoded as `practice.rpc.v1.Response`.
  public var response: Data
  public var createdAtMs: Int64

  public init(scope: String, key: String, method: String, request: Data?, response: Data, createdAtMs: Int64) {
    self.scope = scope
    self.key = key
    self.method = method
    self.request = request
    self.response = response
    self.createdAtMs = createdAtMs
  }
}

/// Reads within a transaction or snapshot.
public protocol StoreReader {
  func account(_ id: String) throws -> Practice_V1_Account?
  /// Accounts ordered by id, after `after`, at most `limit`.
  func accounts(after: String?, limit: Int, includeClosed: Bool) throws -> [Practice_V1_Account]
  func accountCount() throws -> Int

  func user(account: String, id: String) throws -> Practice_V1_User?
  /// Users ordered by id.
  func users(account: String, after: String?, limit: Int, includeInactive: Bool) throws -> [Practice_V1_User]
  /// The active user of the account with this email (case-insensitive), if any.
  func activeUser(account: String, email: String) throws -> Practice_V1_User?

  func businessInfo(account: String) throws -> Practice_V1_BusinessInfo?

  func location(account: String, id: String) throws -> Practice_V1_Location?
  /// Locations ordered by id.
  func locations(account: String, after: String?, limit: Int, includeArchived: Bool) throws -> [Practice_V1_Location]
  /// The account's active default location.
  func defaultLocation(account: String) throws -> Practice_V1_Location?

  func payerRule(account: String, payerID: String) throws -> Practice_V1_PayerPosRule?
  func payerRules(account: String, after: String?, limit: Int) throws -> [Practice_V1_PayerPosRule]

  func room(account: String, id: String) throws -> Practice_V1_Room?
  /// Rooms ordered by id, optionally only those that apply to a location.
  func rooms(account: String, after: String?, limit: Int, includeArchived: Bool, locationID: String?) throws -> [Practice_V1_Room]

  func booking(account: String, id: String) throws -> Practice_V1_RoomBooking?
  /// Active bookings of a room overlapping [start, end), by start.
  func conflicts(account: String, room: String, startMs: Int64, endMs: Int64) throws -> [Practice_V1_RoomBooking]
  /// Bookings of a room overlapping [from, to), by (start, id), after a (start, id) key.
  func bookings(account: String, room: String, fromMs: Int64, toMs: Int64, after: (Int64, String)?, limit: Int,
                includeCancelled: Bool) throws -> [Practice_V1_RoomBooking]
  /// Bookings of a series from an occurrence on.
  func series(_ seriesID: String, fromOccurrence: Int32) throws -> [Practice_V1_RoomBooking]
  /// Active bookings of a room that end after `afterMs`.
  func activeBookingCount(account: String, room: String, endingAfterMs: Int64) throws -> Int

  func subscription(account: String) throws -> Practice_V1_Subscription?
  /// Every period's usage report of the account, by period start.
  func usageReports(account: String) throws -> [(periodStart: String, activeClients: Int64, electronicClaims: Int64)]
  /// (active clients, electronic claims) reported for a period.
  func usage(account: String, periodStart: String) throws -> (activeClients: Int64, electronicClaims: Int64)?
  func invoice(account: String, id: String) throws -> Practice_V1_Invoice?
  func invoice(account: String, periodStart: String) throws -> Practice_V1_Invoice?
  /// Invoices newest first (by number), before a number.
  func invoices(account: String, beforeNumber: Int64?, limit: Int) throws -> [Practice_V1_Invoice]
  func maxInvoiceNumber(account: String) throws -> Int64
  /// Invoices of the account in any of these statuses.
  func invoiceCount(account: String, statuses: [Practice_V1_InvoiceStatus]) throws -> Int
  /// Account ids in order, after a key, every state but purged (the scheduler's walk).
  func accountIDs(after: String?, limit: Int) throws -> [String]

  func auditEvents(_ query: AuditQuery) throws -> [Practice_V1_AuditEvent]
  /// Change events of an account after a sequence, by sequence (the change feed's catch-up).
  func changes(account: String, afterSequence: Int64, limit: Int) throws -> [Practice_V1_ChangeEvent]
  /// The oldest change sequence still kept for an account (0 when none is kept).
  func oldestKeptSequence(account: String) throws -> Int64

  func idempotency(scope: String, key: String) throws -> IdempotencyRecord?

  /// Whether the lifecycle notice (step at `atMs`, `daysBefore` days ahead) went out already.
  func noticeSent(account: String, step: Practice_V1_LifecycleStep, atMs: Int64, daysBefore: Int32) throws -> Bool

  /// A cheap read that proves the store answers (health probes, the watchdog).
  func probe() throws
}

/// Writes within a transaction.
public protocol StoreWriter: StoreReader {
  /// Serializes the account's mutations: taken first, held to the end of the transaction. (SQLite:
  /// nothing to do, its one writer runs one transaction at a time. PostgreSQL: the account row's
  /// lock, so the mutations of one account through every instance run one after the other.)
  func lockAccount(_ id: String) throws
  /// Claims an idempotency key for this transaction across every process sharing the database; false
  /// when another transaction holds it. (SQLite: always true, its one daemon owns the file and
  /// claims keys in memory. PostgreSQL: a transaction-scoped advisory lock on the key.)
  func claimIdempotencyKey(scope: String, key: String) throws -> Bool
  func insertAccount(_ account: Practice_V1_Account) throws
  /// Notes a lifecycle notice as sent (once: a second note of the same notice is refused by the key).
  func putNotice(account: String, step: Practice_V1_LifecycleStep, atMs: Int64, daysBefore: Int32, sentAtMs: Int64) throws
  func updateAccount(_ account: Practice_V1_Account) throws
  /// Adds one to the account's change sequence and returns the new value.
  func nextChangeSequence(account: String) throws -> Int64
  /// Runs `body` in a savepoint: when it throws, what it wrote is undone and the error rethrown.
  func savepoint<T>(_ body: () throws -> T) throws -> T
  func insertUser(_ user: Practice_V1_User) throws
  func updateUser(_ user: Practice_V1_User) throws
  /// Inserts or replaces an account's business information.
  func putBusinessInfo(_ info: Practice_V1_BusinessInfo) throws
  func putLocation(_ location: Practice_V1_Location) throws
  func putPayerRule(_ rule: Practice_V1_PayerPosRule) throws
  func deletePayerRule(account: String, payerID: String) throws
  func putRoom(_ room: Practice_V1_Room) throws
  func putBooking(_ booking: Practice_V1_RoomBooking) throws
  func putSubscription(_ subscription: Practice_V1_Subscription) throws
  func putUsage(account: String, periodStart: String, activeClients: Int64, electronicClaims: Int64) throws
  func putInvoice(_ invoice: Practice_V1_Invoice) throws
  /// Deletes every row of the account except its invoices and its accounts row (the caller turns
  /// that into the tombstone), audit events and change events included.
  func purgeAccountData(account: String) throws
  /// Appends an audit event. `before` / `after`: the resource in binary, rendered into the event's
  /// `before_json` / `after_json` when the log is read (when nil, the event carries its own JSON).
  /// Nothing is returned: a backend may send the insert without waiting for it (its failure is the
  /// write's).
  func appendAudit(_ event: Practice_V1_AuditEvent, before: AuditSnapshot?, after: AuditSnapshot?) throws
  /// Appends a change event (its sequence already assigned). Events are known by (account, sequence).
  func appendChange(_ event: Practice_V1_ChangeEvent) throws
  /// Keeps at most `keep` change events per account.
  func trimChanges(account: String, keep: Int64) throws
  func putIdempotency(_ record: IdempotencyRecord) throws
  /// Drops idempotency records created before `beforeMs`.
  func expireIdempotency(beforeMs: Int64) throws
  /// Runs `body` once the transaction has committed, in commit order (on the writer).
  func afterCommit(_ body: @escaping @Sendable () -> Void)
  /// A write that proves the store accepts writes (health probes after a failure).
  func probeWrite() throws
}

/// What every backend's schema shares.
public enum StoreSchema {
  /// Every table with an account column, and the column (the purge walks them).
  public static let accountTables: [(String, String)] = [
    ("accounts", "id"), ("users", "account_id"), ("business_info", "account_id"), ("locations", "account_id"),
    ("payer_pos_rules", "account_id"), ("rooms", "account_id"), ("room_bookings", "account_id"),
    ("subscriptions", "account_id"), ("usage", "account_id"), ("invoices", "account_id"),
    ("audit_events", "account_id"), ("change_events", "account_id"), ("idempotency", "scope"),
    ("lifecycle_notices", "account_id"),
  ]
}

/// A page of rooms that apply to a location. Rooms per account are few: the filter is applied on the
/// decoded rows, pages of `limit` read by `page(after id)` until `limit` match or none are left.
public enum RoomPaging {
  public static func filtered(
    after: String?, limit: Int, locationID: String?, page: (String) throws -> [Practice_V1_Room]
  ) throws -> [Practice_V1_Room] {
    var out: [Practice_V1_Room] = []
    var cursor = after ?? ""
    while out.count < limit {
      let batch = try page(cursor)
      guard let last = batch.last else { break }
      cursor = last.roomID
      out += batch.filter { locationID == nil || $0.locationIds.contains(locationID!) }
    }
    return Array(out.prefix(limit))
  }
}

/// What a backend shared by many processes tells each of them about the others' commits.
public enum StoreChangeSignal: Sendable, Equatable {
  /// An account has change events from `firstSequence` on that this process may not have published.
  case changed(account: String, firstSequence: Int64)
  /// Signals may have been missed (the listening connection was lost and is back): catch up on
  /// every account.
  case resync
}

/// A backend shared by many processes (PostgreSQL): signals of other processes' change events.
public protocol StoreChangeSignals: Sendable {
  /// Signals until the task iterating them is cancelled; reconnects by itself after a failure,
  /// sending `.resync` on each (re)connect.
  func changeSignals() -> AsyncStream<StoreChangeSignal>
}

/// A backend that other processes write too (several instances on one database): before the read
/// cache answers from memory, it asks whether the accounts it read changed since.
public protocol StoreFreshness: Sendable {
  /// Each account's change sequence now, as committed; an account missing from the answer is gone.
  func changeSequences(accounts: [String]) async throws -> [String: Int64]
}

/// A backend shared by many processes keeps the test clock's offset (`--test-hooks`), so that every
/// process reads the same time and `TestClock/Advance` through one moves them all.
public protocol StoreSharedClock: Sendable {
  /// The offset added to the wall clock, in milliseconds (0 until moved).
  func clockOffsetMs() async throws -> Int64
  /// Adds `byMs` to the offset; returns the new offset.
  func advanceClock(byMs: Int64) async throws -> Int64
}

/// A backend shared by many processes: one of them leads (runs the scheduler) at a time.
public protocol StoreLeadership: Sendable {
  /// Whether this process leads now, taking the lead when no live process holds it.
  func tryLead() async -> Bool
}
