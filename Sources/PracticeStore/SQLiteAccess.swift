import Foundation
import GRDB
import PracticeCore
import PracticeProto
import SwiftProtobuf

/// Store reads and writes on one GRDB connection inside a transaction. Every statement is
/// parameterized.
struct SQLiteAccess: StoreWriter {
  let db: Database

  init(db: Database) { self.db = db }

  private func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ data: Data?) throws -> M {
    guard let data else { throw StoreError(.corrupt, "missing row body") }
    return try M(serializedBytes: data)
  }

  private func encode(_ m: some SwiftProtobuf.Message) throws -> Data { try m.serializedData() }

  // MARK: accounts

  private func accountRow(_ row: Row) throws -> Practice_V1_Account {
    var a = try decode(Practice_V1_Account.self, row["body"])
    a.changeSequence = row["change_seq"]
    return a
  }

  func account(_ id: String) throws -> Practice_V1_Account? {
    let s = try RawStatement(db, "SELECT body, change_seq FROM accounts WHERE id = ?")
    try s.bind(.text(id))
    guard try s.step() else { return nil }
    var a = try decode(Practice_V1_Account.self, s.data(0))
    a.changeSequence = s.int64(1)
    return a
  }

  func accounts(after: String?, limit: Int, includeClosed: Bool) throws -> [Practice_V1_Account] {
    let sql = """
      SELECT body, change_seq FROM accounts WHERE id > ?
      \(includeClosed ? "" : "AND state = \(Practice_V1_AccountState.active.rawValue)")
      ORDER BY id LIMIT ?
      """
    return try Row.fetchAll(try db.cachedStatement(sql: sql), arguments: [after ?? "", limit]).map(accountRow)
  }

  func nextChangeSequence(account: String) throws -> Int64 {
    // An UPDATE, then a SELECT of the row it wrote: SQLite runs `UPDATE ... RETURNING` through a
    // temporary table, which cost more than the second lookup.
    let update = try RawStatement(db, "UPDATE accounts SET change_seq = change_seq + 1 WHERE id = ?")
    try update.bind(.text(account))
    try update.run()
    guard db.changesCount == 1 else { throw StoreError(.notFound, "account") }
    let read = try RawStatement(db, "SELECT change_seq FROM accounts WHERE id = ?")
    try read.bind(.text(account))
    guard try read.step() else { throw StoreError(.notFound, "account") }
    let seq = read.int64(0)
    try read.run()
    return seq
  }

  func savepoint<T>(_ body: () throws -> T) throws -> T {
    try db.savepoint("body", body)
  }

  func accountCount() throws -> Int { try Int.fetchOne(db, sql: "SELECT count(*) FROM accounts") ?? 0 }

  func insertAccount(_ a: Practice_V1_Account) throws {
    try db.cachedStatement(sql: "INSERT INTO accounts (id, state, created_at_ms, version, body) VALUES (?, ?, ?, ?, ?)").execute(arguments: [a.accountID, a.state.rawValue, a.createdAtMs, a.version, try encode(a)])
  }

  func updateAccount(_ a: Practice_V1_Account) throws {
    try db.cachedStatement(sql: "UPDATE accounts SET state = ?, version = ?, body = ? WHERE id = ?").execute(arguments: [a.state.rawValue, a.version, try encode(a), a.accountID])
    guard db.changesCount == 1 else { throw StoreError(.notFound, "account") }
  }

  // MARK: users

  func user(account: String, id: String) throws -> Practice_V1_User? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM users WHERE account_id = ? AND id = ?"), arguments: [account, id]
    ).map { try decode(Practice_V1_User.self, $0) }
  }

  func users(account: String, after: String?, limit: Int, includeInactive: Bool) throws -> [Practice_V1_User] {
    let sql = """
      SELECT body FROM users WHERE account_id = ? AND id > ? \(includeInactive ? "" : "AND active = 1")
      ORDER BY id LIMIT ?
      """
    return try Data.fetchAll(try db.cachedStatement(sql: sql), arguments: [account, after ?? "", limit]).map {
      try decode(Practice_V1_User.self, $0)
    }
  }

  func activeUser(account: String, email: String) throws -> Practice_V1_User? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM users WHERE account_id = ? AND email_key = ?"),
      arguments: [account, email.lowercased()]
    ).map { try decode(Practice_V1_User.self, $0) }
  }

  private static func emailKey(_ u: Practice_V1_User) -> String? {
    u.active && !u.email.isEmpty ? u.email.lowercased() : nil
  }

  func insertUser(_ u: Practice_V1_User) throws {
    try db.cachedStatement(sql: "INSERT INTO users (account_id, id, email_key, active, version, body) VALUES (?, ?, ?, ?, ?, ?)").execute(arguments: [u.accountID, u.userID, Self.emailKey(u), u.active, u.version, try encode(u)])
  }

  func updateUser(_ u: Practice_V1_User) throws {
    try db.cachedStatement(sql: "UPDATE users SET email_key = ?, active = ?, version = ?, body = ? WHERE account_id = ? AND id = ?").execute(arguments: [Self.emailKey(u), u.active, u.version, try encode(u), u.accountID, u.userID])
    guard db.changesCount == 1 else { throw StoreError(.notFound, "user") }
  }

  // MARK: business information

  func businessInfo(account: String) throws -> Practice_V1_BusinessInfo? {
    let s = try RawStatement(db, "SELECT body FROM business_info WHERE account_id = ?")
    try s.bind(.text(account))
    return try s.step() ? try decode(Practice_V1_BusinessInfo.self, s.data(0)) : nil
  }

  func putBusinessInfo(_ b: Practice_V1_BusinessInfo) throws {
    let s = try RawStatement(db, """
      INSERT INTO business_info (account_id, version, body) VALUES (?, ?, ?)
      ON CONFLICT(account_id) DO UPDATE SET version = excluded.version, body = excluded.body
      """)
    try s.bind(.text(b.accountID), .int(b.version), .blob(try encode(b)))
    try s.run()
  }

  // MARK: locations and payer rules

  func location(account: String, id: String) throws -> Practice_V1_Location? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM locations WHERE account_id = ? AND id = ?"), arguments: [account, id])
      .map { try decode(Practice_V1_Location.self, $0) }
  }

  func locations(account: String, after: String?, limit: Int, includeArchived: Bool) throws -> [Practice_V1_Location] {
    let sql = """
      SELECT body FROM locations WHERE account_id = ? AND id > ? \(includeArchived ? "" : "AND archived = 0")
      ORDER BY id LIMIT ?
      """
    return try Data.fetchAll(try db.cachedStatement(sql: sql), arguments: [account, after ?? "", limit]).map {
      try decode(Practice_V1_Location.self, $0)
    }
  }

  func defaultLocation(account: String) throws -> Practice_V1_Location? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM locations WHERE account_id = ? AND is_default = 1 AND archived = 0"), arguments: [account]
    ).map { try decode(Practice_V1_Location.self, $0) }
  }

  func putLocation(_ l: Practice_V1_Location) throws {
    try db.cachedStatement(sql: """
        INSERT INTO locations (account_id, id, archived, is_default, version, body) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(account_id, id) DO UPDATE SET archived = excluded.archived, is_default = excluded.is_default,
          version = excluded.version, body = excluded.body
        """).execute(arguments: [l.accountID, l.locationID, l.archived, l.isDefault, l.version, try encode(l)])
  }

  func payerRule(account: String, payerID: String) throws -> Practice_V1_PayerPosRule? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM payer_pos_rules WHERE account_id = ? AND payer_id = ?"), arguments: [account, payerID]
    ).map { try decode(Practice_V1_PayerPosRule.self, $0) }
  }

  func payerRules(account: String, after: String?, limit: Int) throws -> [Practice_V1_PayerPosRule] {
    try Data.fetchAll(try db.cachedStatement(sql: "SELECT body FROM payer_pos_rules WHERE account_id = ? AND payer_id > ? ORDER BY payer_id LIMIT ?"),
      arguments: [account, after ?? "", limit]
    ).map { try decode(Practice_V1_PayerPosRule.self, $0) }
  }

  func putPayerRule(_ r: Practice_V1_PayerPosRule) throws {
    try db.cachedStatement(sql: """
        INSERT INTO payer_pos_rules (account_id, payer_id, version, body) VALUES (?, ?, ?, ?)
        ON CONFLICT(account_id, payer_id) DO UPDATE SET version = excluded.version, body = excluded.body
        """).execute(arguments: [r.accountID, r.payerID, r.version, try encode(r)])
  }

  func deletePayerRule(account: String, payerID: String) throws {
    try db.cachedStatement(sql: "DELETE FROM payer_pos_rules WHERE account_id = ? AND payer_id = ?").execute(arguments: [account, payerID])
  }

  // MARK: rooms and bookings

  func room(account: String, id: String) throws -> Practice_V1_Room? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM rooms WHERE account_id = ? AND id = ?"), arguments: [account, id])
      .map { try decode(Practice_V1_Room.self, $0) }
  }

  func rooms(account: String, after: String?, limit: Int, includeArchived: Bool, locationID: String?) throws -> [Practice_V1_Room] {
    // Rooms per account are few; the location filter is applied on the decoded rows.
    var out: [Practice_V1_Room] = []
    var cursor = after ?? ""
    while out.count < limit {
      let batch = try Data.fetchAll(try db.cachedStatement(sql: """
          SELECT body FROM rooms WHERE account_id = ? AND id > ? \(includeArchived ? "" : "AND archived = 0")
          ORDER BY id LIMIT ?
          """), arguments: [account, cursor, limit]
      ).map { try decode(Practice_V1_Room.self, $0) }
      guard let last = batch.last else { break }
      cursor = last.roomID
      out += batch.filter { locationID == nil || $0.locationIds.contains(locationID!) }
    }
    return Array(out.prefix(limit))
  }

  func putRoom(_ r: Practice_V1_Room) throws {
    try db.cachedStatement(sql: """
        INSERT INTO rooms (account_id, id, archived, version, body) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(account_id, id) DO UPDATE SET archived = excluded.archived, version = excluded.version,
          body = excluded.body
        """).execute(arguments: [r.accountID, r.roomID, r.archived, r.version, try encode(r)])
  }

  func booking(account: String, id: String) throws -> Practice_V1_RoomBooking? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM room_bookings WHERE account_id = ? AND id = ?"), arguments: [account, id])
      .map { try decode(Practice_V1_RoomBooking.self, $0) }
  }

  /// The active bookings of a room that overlap [?3, ?4), by start (?1 account, ?2 room): a bounded
  /// range search on the table's key, (room, start). A booking that overlaps started after ?3 minus
  /// the longest booking the room has ever had (`rooms.longest_booking_ms`, kept by a trigger; 24
  /// hours, the most PRODUCT.md allows, if the room is unknown), so the search reads only the
  /// bookings that start in that window, not a whole day of them.
  static let conflictSQL = """
    SELECT body FROM room_bookings
    WHERE room_id = ?2 AND start_ms > ?3 - \(longestBookingSQL) AND start_ms < ?4 AND end_ms > ?3 AND status = 1
    ORDER BY start_ms
    """

  /// The longest booking room ?2 of account ?1 has ever had.
  static let longestBookingSQL =
    "coalesce((SELECT longest_booking_ms FROM rooms WHERE account_id = ?1 AND id = ?2), \(maxBookingMs))"

  func conflicts(account: String, room: String, startMs: Int64, endMs: Int64) throws -> [Practice_V1_RoomBooking] {
    // On the availability check's path: RawStatement, as the mutation statements.
    let s = try RawStatement(db, Self.conflictSQL)
    try s.bind(.text(account), .text(room), .int(startMs), .int(endMs))
    var found: [Practice_V1_RoomBooking] = []
    while try s.step() { found.append(try decode(Practice_V1_RoomBooking.self, s.data(0))) }
    return found
  }

  /// Bookings last at most 24 hours (PRODUCT.md).
  static let maxBookingMs: Int64 = 24 * 60 * 60 * 1000

  func bookings(account: String, room: String, fromMs: Int64, toMs: Int64, after: (Int64, String)?, limit: Int,
                includeCancelled: Bool) throws -> [Practice_V1_RoomBooking] {
    let (afterStart, afterID) = after ?? (Int64.min, "")
    let sql = """
      SELECT body FROM room_bookings
      WHERE account_id = ? AND room_id = ? AND start_ms > ? AND start_ms < ? AND end_ms > ?
        AND (start_ms > ? OR (start_ms = ? AND id > ?)) \(includeCancelled ? "" : "AND status = 1")
      ORDER BY start_ms, id LIMIT ?
      """
    return try Data.fetchAll(try db.cachedStatement(sql: sql),
      arguments: [account, room, fromMs - Self.maxBookingMs, toMs, fromMs, afterStart, afterStart, afterID, limit]
    ).map { try decode(Practice_V1_RoomBooking.self, $0) }
  }

  func series(_ seriesID: String, fromOccurrence: Int32) throws -> [Practice_V1_RoomBooking] {
    try Data.fetchAll(try db.cachedStatement(sql: "SELECT body FROM room_bookings WHERE series_id = ? AND occurrence >= ? ORDER BY occurrence"),
      arguments: [seriesID, fromOccurrence]
    ).map { try decode(Practice_V1_RoomBooking.self, $0) }
  }

  func activeBookingCount(account: String, room: String, endingAfterMs: Int64) throws -> Int {
    try Int.fetchOne(try db.cachedStatement(sql: """
        SELECT count(*) FROM room_bookings
        WHERE room_id = ?2 AND start_ms > ?3 - \(Self.longestBookingSQL) AND end_ms > ?3 AND status = 1
        """),
      arguments: [account, room, endingAfterMs]) ?? 0
  }

  func putBooking(_ b: Practice_V1_RoomBooking) throws {
    try db.cachedStatement(sql: """
        INSERT INTO room_bookings (id, account_id, room_id, start_ms, end_ms, status, series_id, occurrence, version, body)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET status = excluded.status, version = excluded.version, body = excluded.body
        """).execute(arguments: [b.bookingID, b.accountID, b.roomID, b.startMs, b.endMs, b.status.rawValue, b.seriesID, b.occurrence,
                  b.version, try encode(b)])
  }

  // MARK: billing

  func subscription(account: String) throws -> Practice_V1_Subscription? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM subscriptions WHERE account_id = ?"), arguments: [account])
      .map { try decode(Practice_V1_Subscription.self, $0) }
  }

  func putSubscription(_ s: Practice_V1_Subscription) throws {
    try db.cachedStatement(sql: """
        INSERT INTO subscriptions (account_id, version, body) VALUES (?, ?, ?)
        ON CONFLICT(account_id) DO UPDATE SET version = excluded.version, body = excluded.body
        """).execute(arguments: [s.accountID, s.version, try encode(s)])
  }

  func usage(account: String, periodStart: String) throws -> (activeClients: Int64, electronicClaims: Int64)? {
    try Row.fetchOne(try db.cachedStatement(sql: "SELECT active_clients, electronic_claims FROM usage WHERE account_id = ? AND period_start = ?"),
      arguments: [account, periodStart]
    ).map { (activeClients: $0["active_clients"], electronicClaims: $0["electronic_claims"]) }
  }

  func putUsage(account: String, periodStart: String, activeClients: Int64, electronicClaims: Int64) throws {
    try db.cachedStatement(sql: """
        INSERT INTO usage (account_id, period_start, active_clients, electronic_claims) VALUES (?, ?, ?, ?)
        ON CONFLICT(account_id, period_start) DO UPDATE SET active_clients = excluded.active_clients,
          electronic_claims = excluded.electronic_claims
        """).execute(arguments: [account, periodStart, activeClients, electronicClaims])
  }

  func invoice(account: String, id: String) throws -> Practice_V1_Invoice? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM invoices WHERE account_id = ? AND id = ?"), arguments: [account, id])
      .map { try decode(Practice_V1_Invoice.self, $0) }
  }

  func invoice(account: String, periodStart: String) throws -> Practice_V1_Invoice? {
    try Data.fetchOne(try db.cachedStatement(sql: "SELECT body FROM invoices WHERE account_id = ? AND period_start = ?"), arguments: [account, periodStart]
    ).map { try decode(Practice_V1_Invoice.self, $0) }
  }

  func invoices(account: String, beforeNumber: Int64?, limit: Int) throws -> [Practice_V1_Invoice] {
    try Data.fetchAll(try db.cachedStatement(sql: "SELECT body FROM invoices WHERE account_id = ? AND number < ? ORDER BY number DESC LIMIT ?"),
      arguments: [account, beforeNumber ?? Int64.max, limit]
    ).map { try decode(Practice_V1_Invoice.self, $0) }
  }

  func maxInvoiceNumber(account: String) throws -> Int64 {
    try Int64.fetchOne(try db.cachedStatement(sql: "SELECT max(number) FROM invoices WHERE account_id = ?"), arguments: [account]) ?? 0
  }

  func unpaidInvoiceCount(account: String) throws -> Int {
    try Int.fetchOne(try db.cachedStatement(sql: "SELECT count(*) FROM invoices WHERE account_id = ? AND status IN (?, ?)"),
      arguments: [account, Practice_V1_InvoiceStatus.open.rawValue, Practice_V1_InvoiceStatus.failed.rawValue]) ?? 0
  }

  func putInvoice(_ i: Practice_V1_Invoice) throws {
    try db.cachedStatement(sql: """
        INSERT INTO invoices (account_id, id, number, period_start, status, body) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(account_id, id) DO UPDATE SET status = excluded.status, body = excluded.body
        """).execute(arguments: [i.accountID, i.invoiceID, i.number, i.periodStart, i.status.rawValue, try encode(i)])
  }

  func accountIDs(after: String?, limit: Int) throws -> [String] {
    try String.fetchAll(try db.cachedStatement(sql: "SELECT id FROM accounts WHERE id > ? AND state != ? ORDER BY id LIMIT ?"),
      arguments: [after ?? "", Practice_V1_AccountState.purged.rawValue, limit])
  }

  /// Every table with an account column, and the column.
  static let accountTables: [(String, String)] = [
    ("accounts", "id"), ("users", "account_id"), ("business_info", "account_id"), ("locations", "account_id"),
    ("payer_pos_rules", "account_id"), ("rooms", "account_id"), ("room_bookings", "account_id"),
    ("subscriptions", "account_id"), ("usage", "account_id"), ("invoices", "account_id"),
    ("audit_events", "account_id"), ("change_events", "account_id"), ("idempotency", "scope"),
  ]

  func purgeAccountData(account: String) throws {
    for (table, column) in Self.accountTables where table != "accounts" && table != "invoices" {
      try db.cachedStatement(sql: "DELETE FROM \(table) WHERE \(column) = ?").execute(arguments: [account])
    }
  }

  // MARK: audit

  func appendAudit(_ e: Practice_V1_AuditEvent, before: AuditSnapshot?, after: AuditSnapshot?) throws -> Int64 {
    let s = try RawStatement(db, """
      INSERT INTO audit_events (account_id, time_ms, actor_user_id, method, resource_id, body, before_type, before_pb, after_type, after_pb)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      """)
    try s.bind(
      .text(e.accountID), .int(e.timeMs), .text(e.actorUserID), .text(e.method), .text(e.resourceID), .blob(try encode(e)),
      before.map { .text($0.typeName) } ?? .null, before.map { .blob($0.bytes) } ?? .null,
      after.map { .text($0.typeName) } ?? .null, after.map { .blob($0.bytes) } ?? .null)
    try s.run()
    return db.lastInsertedRowID
  }

  func auditEvents(_ q: AuditQuery) throws -> [Practice_V1_AuditEvent] {
    var sql = "SELECT id, body, before_type, before_pb, after_type, after_pb FROM audit_events WHERE account_id = ?"
    var args: StatementArguments = [q.accountID]
    if q.fromMs > 0 { sql += " AND time_ms >= ?"; args += [q.fromMs] }
    if q.toMs > 0 { sql += " AND time_ms < ?"; args += [q.toMs] }
    if let a = q.actorUserID { sql += " AND actor_user_id = ?"; args += [a] }
    if let r = q.resourceID { sql += " AND resource_id = ?"; args += [r] }
    if let m = q.method { sql += " AND method = ?"; args += [m] }
    if let after = q.afterID { sql += " AND id > ?"; args += [after] }
    sql += " ORDER BY id LIMIT ?"
    args += [q.limit]
    return try Row.fetchAll(try db.cachedStatement(sql: sql), arguments: args).map { row in
      var e = try decode(Practice_V1_AuditEvent.self, row["body"])
      e.eventID = row["id"]
      // Events written since v3 keep the resource in binary; earlier ones carry their JSON.
      if let type: String = row["before_type"] {
        e.beforeJson = AuditSnapshot(typeName: type, bytes: row["before_pb"] ?? Data()).json
      }
      if let type: String = row["after_type"] {
        e.afterJson = AuditSnapshot(typeName: type, bytes: row["after_pb"] ?? Data()).json
      }
      return e
    }
  }

  // MARK: changes

  func appendChange(_ e: Practice_V1_ChangeEvent) throws -> Int64 {
    let s = try RawStatement(db, "INSERT INTO change_events (account_id, sequence, body) VALUES (?, ?, ?)")
    try s.bind(.text(e.accountID), .int(e.sequence), .blob(try encode(e)))
    try s.run()
    return db.lastInsertedRowID
  }

  func changes(account: String?, afterGlobalID: Int64, limit: Int) throws -> [(globalID: Int64, event: Practice_V1_ChangeEvent)] {
    let rows: [Row]
    if let account {
      rows = try Row.fetchAll(try db.cachedStatement(sql: "SELECT id, body FROM change_events WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?"),
        arguments: [account, afterGlobalID, limit])
    } else {
      rows = try Row.fetchAll(try db.cachedStatement(sql: "SELECT id, body FROM change_events WHERE id > ? ORDER BY id LIMIT ?"),
        arguments: [afterGlobalID, limit])
    }
    return try rows.map { (globalID: $0["id"], event: try decode(Practice_V1_ChangeEvent.self, $0["body"])) }
  }

  func oldestKeptSequence(account: String) throws -> Int64 {
    try Int64.fetchOne(try db.cachedStatement(sql: "SELECT min(sequence) FROM change_events WHERE account_id = ?"), arguments: [account]) ?? 0
  }

  func globalID(account: String, sequence: Int64) throws -> Int64? {
    try Int64.fetchOne(try db.cachedStatement(sql: "SELECT id FROM change_events WHERE account_id = ? AND sequence = ?"),
      arguments: [account, sequence])
  }

  func latestGlobalChangeID() throws -> Int64 {
    try Int64.fetchOne(db, sql: "SELECT max(id) FROM change_events") ?? 0
  }

  func trimChanges(account: String, keep: Int64) throws {
    try db.cachedStatement(sql: """
        DELETE FROM change_events WHERE account_id = ? AND sequence <=
          (SELECT max(sequence) FROM change_events WHERE account_id = ?) - ?
        """).execute(arguments: [account, account, keep])
  }

  // MARK: idempotency

  func idempotency(scope: String, key: String) throws -> IdempotencyRecord? {
    try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM idempotency WHERE scope = ? AND key = ?"), arguments: [scope, key]
    ).map {
      IdempotencyRecord(
        scope: $0["scope"], key: $0["key"], method: $0["method"], payloadHash: $0["payload_hash"],
        response: $0["response"], createdAtMs: $0["created_at_ms"])
    }
  }

  func putIdempotency(_ r: IdempotencyRecord) throws {
    try db.cachedStatement(sql: """
        INSERT INTO idempotency (scope, key, method, payload_hash, response, created_at_ms)
        VALUES (?, ?, ?, ?, ?, ?)
        """).execute(arguments: [r.scope, r.key, r.method, r.payloadHash, r.response, r.createdAtMs])
  }

  func expireIdempotency(beforeMs: Int64) throws {
    try db.cachedStatement(sql: "DELETE FROM idempotency WHERE created_at_ms < ?").execute(arguments: [beforeMs])
  }

  func afterCommit(_ body: @escaping @Sendable () -> Void) {
    db.afterNextTransaction(onCommit: { _ in body() })
  }

  // MARK: health

  func probe() throws { _ = try Int.fetchOne(db, sql: "SELECT 1") }

  func probeWrite() throws {
    try db.cachedStatement(sql: "INSERT INTO health_probe (id, at_ms) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at_ms = excluded.at_ms").execute(arguments: [Int64(Date().timeIntervalSince1970 * 1000)])
  }
}

extension Database {
  /// Runs `body` in a savepoint: when it throws, what it wrote is undone and the error rethrown.
  /// The statements are prepared once per connection (GRDB's `inSavepoint` parses them on every
  /// call; the group committer runs two per mutation). `name` is a constant identifier.
  func savepoint<T>(_ name: StaticString, _ body: () throws -> T) throws -> T {
    try bracketed(
      begin: "SAVEPOINT \(name)", end: "RELEASE SAVEPOINT \(name)",
      undo: ["ROLLBACK TRANSACTION TO SAVEPOINT \(name)", "RELEASE SAVEPOINT \(name)"], body)
  }

  /// Runs `body` in a deferred (read) transaction begun and ended by prepared statements.
  func readTransaction<T>(_ body: () throws -> T) throws -> T {
    try bracketed(begin: "BEGIN DEFERRED TRANSACTION", end: "COMMIT TRANSACTION", undo: ["ROLLBACK TRANSACTION"], body)
  }

  private func bracketed<T>(begin: String, end: String, undo: [String], _ body: () throws -> T) throws -> T {
    try cachedStatement(sql: begin).execute()
    let value: T
    do {
      value = try body()
    } catch {
      // A failure that made SQLite roll the whole transaction back left nothing to undo.
      if isInsideTransaction {
        for sql in undo { try cachedStatement(sql: sql).execute() }
      }
      throw error
    }
    try cachedStatement(sql: end).execute()
    return value
  }
}
