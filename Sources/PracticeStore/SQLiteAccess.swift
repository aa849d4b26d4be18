import Foundation
import GRDB
import PracticeCore
import PracticeDomain
import PracticeProto
import SwiftProtobuf

/// Store reads and writes on one GRDB connection inside a transaction. Every statement runs one
/// way: prepared and cached by GRDB, bound and stepped on SQLite's C API (`RawStatement`), every
/// value a bound parameter. (Transaction and savepoint statements stay with GRDB, which tracks them.)
struct SQLiteAccess: StoreWriter {
  let db: Database

  init(db: Database) { self.db = db }

  /// Runs a statement that returns no row.
  private func execute(_ sql: String, _ values: RawStatement.Value...) throws {
    let s = try RawStatement(db, sql)
    try s.bind(values)
    try s.run()
  }

  /// Every row of a query, each read by `read`.
  private func rows<T>(_ sql: String, _ values: [RawStatement.Value], _ read: (borrowing RawStatement) throws -> T)
    throws -> [T]
  {
    let s = try RawStatement(db, sql)
    try s.bind(values)
    var out: [T] = []
    while try s.step() { out.append(try read(s)) }
    return out
  }

  /// The first row of a query, read by `read`; nil when there is none.
  private func row<T>(_ sql: String, _ values: RawStatement.Value..., read: (borrowing RawStatement) throws -> T)
    throws -> T?
  {
    let s = try RawStatement(db, sql)
    try s.bind(values)
    return try s.step() ? try read(s) : nil
  }

  /// The messages in the first column (`body`) of every row.
  private func bodies<M: SwiftProtobuf.Message>(_ type: M.Type, _ sql: String, _ values: RawStatement.Value...) throws
    -> [M]
  {
    try rows(sql, values) { try decode(M.self, $0.data(0)) }
  }

  /// The message in the first column (`body`) of the first row; nil when there is none.
  private func body<M: SwiftProtobuf.Message>(_ type: M.Type, _ sql: String, _ values: RawStatement.Value...) throws
    -> M?
  {
    let s = try RawStatement(db, sql)
    try s.bind(values)
    return try s.step() ? try decode(M.self, s.data(0)) : nil
  }

  /// A query's single integer (a count, a maximum); 0 for NULL.
  private func integer(_ sql: String, _ values: RawStatement.Value...) throws -> Int64 {
    let s = try RawStatement(db, sql)
    try s.bind(values)
    return try s.step() ? s.int64(0) : 0
  }

  private func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ data: Data?) throws -> M {
    guard let data else { throw StoreError(.corrupt, "missing row body") }
    return try M(serializedBytes: data)
  }

  private func encode(_ m: some SwiftProtobuf.Message) throws -> Data { try m.serializedData() }

  // MARK: accounts

  /// An account from `SELECT body, change_seq`.
  private func accountRow(_ s: borrowing RawStatement) throws -> Practice_V1_Account {
    var a = try decode(Practice_V1_Account.self, s.data(0))
    a.changeSequence = s.int64(1)
    return a
  }

  func account(_ id: String) throws -> Practice_V1_Account? {
    try row("SELECT body, change_seq FROM accounts WHERE id = ?", .text(id), read: accountRow)
  }

  func accounts(after: String?, limit: Int, includeClosed: Bool) throws -> [Practice_V1_Account] {
    let sql = """
      SELECT body, change_seq FROM accounts WHERE id > ?
      \(includeClosed ? "" : "AND state = \(Practice_V1_AccountState.active.rawValue)")
      ORDER BY id LIMIT ?
      """
    return try rows(sql, [.text(after ?? ""), .integer(limit)], accountRow)
  }

  func nextChangeSequence(account: String) throws -> Int64 {
    // An UPDATE, then a SELECT of the row it wrote: SQLite runs `UPDATE ... RETURNING` through a
    // temporary table, which cost more than the second lookup.
    try execute("UPDATE accounts SET change_seq = change_seq + 1 WHERE id = ?", .text(account))
    guard db.changesCount == 1 else { throw StoreError(.notFound, "account") }
    guard let seq = try row("SELECT change_seq FROM accounts WHERE id = ?", .text(account), read: { $0.int64(0) }) else {
      throw StoreError(.notFound, "account")
    }
    return seq
  }

  func savepoint<T>(_ body: () throws -> T) throws -> T {
    try db.savepoint("body", body)
  }

  /// The one writer already serializes every transaction.
  func lockAccount(_ id: String) throws {}

  /// One daemon owns the file; Mutations claims keys in its memory.
  func claimIdempotencyKey(scope: String, key: String) throws -> Bool { true }

  func accountCount() throws -> Int { Int(try integer("SELECT count(*) FROM accounts")) }

  func insertAccount(_ a: Practice_V1_Account) throws {
    try execute(
      "INSERT INTO accounts (id, state, created_at_ms, version, body) VALUES (?, ?, ?, ?, ?)",
      .text(a.accountID), .integer(a.state.rawValue), .int(a.createdAtMs), .int(a.version), .blob(try encode(a)))
  }

  func updateAccount(_ a: Practice_V1_Account) throws {
    try execute(
      "UPDATE accounts SET state = ?, version = ?, body = ? WHERE id = ?",
      .integer(a.state.rawValue), .int(a.version), .blob(try encode(a)), .text(a.accountID))
    guard db.changesCount == 1 else { throw StoreError(.notFound, "account") }
  }

  // MARK: users

  func user(account: String, id: String) throws -> Practice_V1_User? {
    try body(Practice_V1_User.self, "SELECT body FROM users WHERE account_id = ? AND id = ?", .text(account), .text(id))
  }

  func users(account: String, after: String?, limit: Int, includeInactive: Bool) throws -> [Practice_V1_User] {
    let sql = """
      SELECT body FROM users WHERE account_id = ? AND id > ? \(includeInactive ? "" : "AND active = 1")
      ORDER BY id LIMIT ?
      """
    return try bodies(Practice_V1_User.self, sql, .text(account), .text(after ?? ""), .integer(limit))
  }

  func activeUser(account: String, email: String) throws -> Practice_V1_User? {
    try body(
      Practice_V1_User.self, "SELECT body FROM users WHERE account_id = ? AND email_key = ?", .text(account),
      .text(email.lowercased()))
  }

  private static func emailKey(_ u: Practice_V1_User) -> String? {
    u.active && !u.email.isEmpty ? u.email.lowercased() : nil
  }

  func insertUser(_ u: Practice_V1_User) throws {
    try execute(
      "INSERT INTO users (account_id, id, email_key, active, version, body) VALUES (?, ?, ?, ?, ?, ?)",
      .text(u.accountID), .text(u.userID), .optionalText(Self.emailKey(u)), .flag(u.active), .int(u.version),
      .blob(try encode(u)))
  }

  func updateUser(_ u: Practice_V1_User) throws {
    try execute(
      "UPDATE users SET email_key = ?, active = ?, version = ?, body = ? WHERE account_id = ? AND id = ?",
      .optionalText(Self.emailKey(u)), .flag(u.active), .int(u.version), .blob(try encode(u)), .text(u.accountID),
      .text(u.userID))
    guard db.changesCount == 1 else { throw StoreError(.notFound, "user") }
  }

  // MARK: business information

  func businessInfo(account: String) throws -> Practice_V1_BusinessInfo? {
    try body(Practice_V1_BusinessInfo.self, "SELECT body FROM business_info WHERE account_id = ?", .text(account))
  }

  func putBusinessInfo(_ b: Practice_V1_BusinessInfo) throws {
    try execute(
      """
      INSERT INTO business_info (account_id, version, body) VALUES (?, ?, ?)
      ON CONFLICT(account_id) DO UPDATE SET version = excluded.version, body = excluded.body
      """, .text(b.accountID), .int(b.version), .blob(try encode(b)))
  }

  // MARK: locations and payer rules

  func location(account: String, id: String) throws -> Practice_V1_Location? {
    try body(Practice_V1_Location.self, "SELECT body FROM locations WHERE account_id = ? AND id = ?", .text(account), .text(id))
  }

  func locations(account: String, after: String?, limit: Int, includeArchived: Bool) throws -> [Practice_V1_Location] {
    let sql = """
      SELECT body FROM locations WHERE account_id = ? AND id > ? \(includeArchived ? "" : "AND archived = 0")
      ORDER BY id LIMIT ?
      """
    return try bodies(Practice_V1_Location.self, sql, .text(account), .text(after ?? ""), .integer(limit))
  }

  func defaultLocation(account: String) throws -> Practice_V1_Location? {
    try body(
      Practice_V1_Location.self, "SELECT body FROM locations WHERE account_id = ? AND is_default = 1 AND archived = 0",
      .text(account))
  }

  func putLocation(_ l: Practice_V1_Location) throws {
    try execute(
      """
      INSERT INTO locations (account_id, id, archived, is_default, version, body) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT(account_id, id) DO UPDATE SET archived = excluded.archived, is_default = excluded.is_default,
        version = excluded.version, body = excluded.body
      """, .text(l.accountID), .text(l.locationID), .flag(l.archived), .flag(l.isDefault), .int(l.version),
      .blob(try encode(l)))
  }

  func payerRule(account: String, payerID: String) throws -> Practice_V1_PayerPosRule? {
    try body(
      Practice_V1_PayerPosRule.self, "SELECT body FROM payer_pos_rules WHERE account_id = ? AND payer_id = ?",
      .text(account), .text(payerID))
  }

  func payerRules(account: String, after: String?, limit: Int) throws -> [Practice_V1_PayerPosRule] {
    try bodies(
      Practice_V1_PayerPosRule.self,
      "SELECT body FROM payer_pos_rules WHERE account_id = ? AND payer_id > ? ORDER BY payer_id LIMIT ?",
      .text(account), .text(after ?? ""), .integer(limit))
  }

  func putPayerRule(_ r: Practice_V1_PayerPosRule) throws {
    try execute(
      """
      INSERT INTO payer_pos_rules (account_id, payer_id, version, body) VALUES (?, ?, ?, ?)
      ON CONFLICT(account_id, payer_id) DO UPDATE SET version = excluded.version, body = excluded.body
      """, .text(r.accountID), .text(r.payerID), .int(r.version), .blob(try encode(r)))
  }

  func deletePayerRule(account: String, payerID: String) throws {
    try execute("DELETE FROM payer_pos_rules WHERE account_id = ? AND payer_id = ?", .text(account), .text(payerID))
  }

  // MARK: rooms and bookings

  func room(account: String, id: String) throws -> Practice_V1_Room? {
    try body(Practice_V1_Room.self, "SELECT body FROM rooms WHERE account_id = ? AND id = ?", .text(account), .text(id))
  }

  func rooms(account: String, after: String?, limit: Int, includeArchived: Bool, locationID: String?) throws -> [Practice_V1_Room] {
    try RoomPaging.filtered(after: after, limit: limit, locationID: locationID) { cursor in
      try bodies(
        Practice_V1_Room.self,
        """
        SELECT body FROM rooms WHERE account_id = ? AND id > ? \(includeArchived ? "" : "AND archived = 0")
        ORDER BY id LIMIT ?
        """, .text(account), .text(cursor), .integer(limit))
    }
  }

  func putRoom(_ r: Practice_V1_Room) throws {
    try execute(
      """
      INSERT INTO rooms (account_id, id, archived, version, body) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(account_id, id) DO UPDATE SET archived = excluded.archived, version = excluded.version,
        body = excluded.body
      """, .text(r.accountID), .text(r.roomID), .flag(r.archived), .int(r.version), .blob(try encode(r)))
  }

  func booking(account: String, id: String) throws -> Practice_V1_RoomBooking? {
    try body(
      Practice_V1_RoomBooking.self, "SELECT body FROM room_bookings WHERE account_id = ? AND id = ?", .text(account),
      .text(id))
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
    "coalesce((SELECT longest_booking_ms FROM rooms WHERE account_id = ?1 AND id = ?2), \(RoomRules.maxBookingMs))"

  func conflicts(account: String, room: String, startMs: Int64, endMs: Int64) throws -> [Practice_V1_RoomBooking] {
    try bodies(Practice_V1_RoomBooking.self, Self.conflictSQL, .text(account), .text(room), .int(startMs), .int(endMs))
  }

  func bookings(account: String, room: String, fromMs: Int64, toMs: Int64, after: (Int64, String)?, limit: Int,
                includeCancelled: Bool) throws -> [Practice_V1_RoomBooking] {
    let (afterStart, afterID) = after ?? (Int64.min, "")
    let sql = """
      SELECT body FROM room_bookings
      WHERE account_id = ? AND room_id = ? AND start_ms > ? AND start_ms < ? AND end_ms > ?
        AND (start_ms > ? OR (start_ms = ? AND id > ?)) \(includeCancelled ? "" : "AND status = 1")
      ORDER BY start_ms, id LIMIT ?
      """
    return try bodies(
      Practice_V1_RoomBooking.self, sql, .text(account), .text(room), .int(fromMs - RoomRules.maxBookingMs), .int(toMs),
      .int(fromMs), .int(afterStart), .int(afterStart), .text(afterID), .integer(limit))
  }

  func series(_ seriesID: String, fromOccurrence: Int32) throws -> [Practice_V1_RoomBooking] {
    try bodies(
      Practice_V1_RoomBooking.self,
      "SELECT body FROM room_bookings WHERE series_id = ? AND occurrence >= ? ORDER BY occurrence", .text(seriesID),
      .integer(fromOccurrence))
  }

  func activeBookingCount(account: String, room: String, endingAfterMs: Int64) throws -> Int {
    Int(
      try integer(
        """
        SELECT count(*) FROM room_bookings
        WHERE room_id = ?2 AND start_ms > ?3 - \(Self.longestBookingSQL) AND end_ms > ?3 AND status = 1
        """, .text(account), .text(room), .int(endingAfterMs)))
  }

  /// Inserts or updates a booking; an update may move it (MoveRoomBooking). `start_ms` and `end_ms` are
  /// in the update's SET list, so the trigger that keeps `rooms.longest_booking_ms` fires for the room
  /// the booking is in afterwards, a room it moved to included.
  func putBooking(_ b: Practice_V1_RoomBooking) throws {
    try execute(
      """
      INSERT INTO room_bookings (id, account_id, room_id, start_ms, end_ms, status, series_id, occurrence, version, body)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(id) DO UPDATE SET room_id = excluded.room_id, start_ms = excluded.start_ms, end_ms = excluded.end_ms,
        status = excluded.status, version = excluded.version, body = excluded.body
      """, .text(b.bookingID), .text(b.accountID), .text(b.roomID), .int(b.startMs), .int(b.endMs),
      .integer(b.status.rawValue), .text(b.seriesID), .integer(b.occurrence), .int(b.version), .blob(try encode(b)))
  }

  // MARK: billing

  func subscription(account: String) throws -> Practice_V1_Subscription? {
    try body(Practice_V1_Subscription.self, "SELECT body FROM subscriptions WHERE account_id = ?", .text(account))
  }

  func putSubscription(_ s: Practice_V1_Subscription) throws {
    try execute(
      """
      INSERT INTO subscriptions (account_id, version, body) VALUES (?, ?, ?)
      ON CONFLICT(account_id) DO UPDATE SET version = excluded.version, body = excluded.body
      """, .text(s.accountID), .int(s.version), .blob(try encode(s)))
  }

  func usage(account: String, periodStart: String) throws -> (activeClients: Int64, electronicClaims: Int64)? {
    try row(
      "SELECT active_clients, electronic_claims FROM usage WHERE account_id = ? AND period_start = ?", .text(account),
      .text(periodStart)
    ) { (activeClients: $0.int64(0), electronicClaims: $0.int64(1)) }
  }

  func usageReports(account: String) throws -> [(periodStart: String, activeClients: Int64, electronicClaims: Int64)] {
    try rows(
      "SELECT period_start, active_clients, electronic_claims FROM usage WHERE account_id = ? ORDER BY period_start",
      [.text(account)]
    ) { (periodStart: $0.text(0) ?? "", activeClients: $0.int64(1), electronicClaims: $0.int64(2)) }
  }

  func putUsage(account: String, periodStart: String, activeClients: Int64, electronicClaims: Int64) throws {
    try execute(
      """
      INSERT INTO usage (account_id, period_start, active_clients, electronic_claims) VALUES (?, ?, ?, ?)
      ON CONFLICT(account_id, period_start) DO UPDATE SET active_clients = excluded.active_clients,
        electronic_claims = excluded.electronic_claims
      """, .text(account), .text(periodStart), .int(activeClients), .int(electronicClaims))
  }

  func invoice(account: String, id: String) throws -> Practice_V1_Invoice? {
    try body(Practice_V1_Invoice.self, "SELECT body FROM invoices WHERE account_id = ? AND id = ?", .text(account), .text(id))
  }

  func invoice(account: String, periodStart: String) throws -> Practice_V1_Invoice? {
    try body(
      Practice_V1_Invoice.self, "SELECT body FROM invoices WHERE account_id = ? AND period_start = ?", .text(account),
      .text(periodStart))
  }

  func invoices(account: String, beforeNumber: Int64?, limit: Int) throws -> [Practice_V1_Invoice] {
    try bodies(
      Practice_V1_Invoice.self, "SELECT body FROM invoices WHERE account_id = ? AND number < ? ORDER BY number DESC LIMIT ?",
      .text(account), .int(beforeNumber ?? Int64.max), .integer(limit))
  }

  func maxInvoiceNumber(account: String) throws -> Int64 {
    try integer("SELECT max(number) FROM invoices WHERE account_id = ?", .text(account))
  }

  func invoiceCount(account: String, statuses: [Practice_V1_InvoiceStatus]) throws -> Int {
    guard !statuses.isEmpty else { return 0 }
    let marks = Array(repeating: "?", count: statuses.count).joined(separator: ", ")
    let s = try RawStatement(db, "SELECT count(*) FROM invoices WHERE account_id = ? AND status IN (\(marks))")
    try s.bind([.text(account)] + statuses.map { .integer($0.rawValue) })
    return try s.step() ? Int(s.int64(0)) : 0
  }

  func putInvoice(_ i: Practice_V1_Invoice) throws {
    try execute(
      """
      INSERT INTO invoices (account_id, id, number, period_start, status, body) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT(account_id, id) DO UPDATE SET status = excluded.status, body = excluded.body
      """, .text(i.accountID), .text(i.invoiceID), .int(i.number), .text(i.periodStart), .integer(i.status.rawValue),
      .blob(try encode(i)))
  }

  func accountIDs(after: String?, limit: Int) throws -> [String] {
    try rows(
      "SELECT id FROM accounts WHERE id > ? AND state != ? ORDER BY id LIMIT ?",
      [.text(after ?? ""), .integer(Practice_V1_AccountState.purged.rawValue), .integer(limit)]
    ) { $0.text(0) ?? "" }
  }

  func purgeAccountData(account: String) throws {
    for (table, column) in StoreSchema.accountTables where table != "accounts" && table != "invoices" {
      try execute("DELETE FROM \(table) WHERE \(column) = ?", .text(account))
    }
  }

  // MARK: audit

  func appendAudit(_ e: Practice_V1_AuditEvent, before: AuditSnapshot?, after: AuditSnapshot?) throws {
    try execute(
      """
      INSERT INTO audit_events (account_id, time_ms, actor_user_id, method, resource_id, body, before_type, before_pb, after_type, after_pb)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      """,
      .text(e.accountID), .int(e.timeMs), .text(e.actorUserID), .text(e.method), .text(e.resourceID), .blob(try encode(e)),
      .optionalText(before?.typeName), before.map { .blob($0.bytes) } ?? .null,
      .optionalText(after?.typeName), after.map { .blob($0.bytes) } ?? .null)
  }

  func auditEvents(_ q: AuditQuery) throws -> [Practice_V1_AuditEvent] {
    var sql = "SELECT id, body, before_type, before_pb, after_type, after_pb FROM audit_events WHERE account_id = ?"
    var args: [RawStatement.Value] = [.text(q.accountID)]
    if q.fromMs > 0 { sql += " AND time_ms >= ?"; args.append(.int(q.fromMs)) }
    if q.toMs > 0 { sql += " AND time_ms < ?"; args.append(.int(q.toMs)) }
    if let a = q.actorUserID { sql += " AND actor_user_id = ?"; args.append(.text(a)) }
    if let r = q.resourceID { sql += " AND resource_id = ?"; args.append(.text(r)) }
    if let m = q.method { sql += " AND method = ?"; args.append(.text(m)) }
    if let after = q.afterID { sql += " AND id > ?"; args.append(.int(after)) }
    sql += " ORDER BY id LIMIT ?"
    args.append(.integer(q.limit))
    return try rows(sql, args) { row in
      var e = try decode(Practice_V1_AuditEvent.self, row.data(1))
      e.eventID = row.int64(0)
      // Events written since v3 keep the resource in binary; earlier ones carry their JSON.
      if let type = row.text(2) {
        e.beforeJson = AuditSnapshot(typeName: type, bytes: row.data(3) ?? Data()).json
      }
      if let type = row.text(4) {
        e.afterJson = AuditSnapshot(typeName: type, bytes: row.data(5) ?? Data()).json
      }
      return e
    }
  }

  // MARK: changes

  func appendChange(_ e: Practice_V1_ChangeEvent) throws {
    try execute(
      "INSERT INTO change_events (account_id, sequence, body) VALUES (?, ?, ?)", .text(e.accountID), .int(e.sequence),
      .blob(try encode(e)))
  }

  func changes(account: String, afterSequence: Int64, limit: Int) throws -> [Practice_V1_ChangeEvent] {
    try rows(
      "SELECT body FROM change_events WHERE account_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
      [.text(account), .int(afterSequence), .integer(limit)]
    ) { try decode(Practice_V1_ChangeEvent.self, $0.data(0)) }
  }

  func oldestKeptSequence(account: String) throws -> Int64 {
    try integer("SELECT min(sequence) FROM change_events WHERE account_id = ?", .text(account))
  }

  func trimChanges(account: String, keep: Int64) throws {
    try execute(
      """
      DELETE FROM change_events WHERE account_id = ? AND sequence <=
        (SELECT max(sequence) FROM change_events WHERE account_id = ?) - ?
      """, .text(account), .text(account), .int(keep))
  }

  // MARK: idempotency

  func idempotency(scope: String, key: String) throws -> IdempotencyRecord? {
    try row(
      "SELECT method, request, response, created_at_ms FROM idempotency WHERE scope = ? AND key = ?", .text(scope),
      .text(key)
    ) {
      IdempotencyRecord(
        scope: scope, key: key, method: $0.text(0) ?? "", request: $0.data(1), response: $0.data(2) ?? Data(),
        createdAtMs: $0.int64(3))
    }
  }

  func putIdempotency(_ r: IdempotencyRecord) throws {
    try execute(
      """
      INSERT INTO idempotency (scope, key, method, payload_hash, request, response, created_at_ms)
      VALUES (?, ?, ?, X'', ?, ?, ?)
      """, .text(r.scope), .text(r.key), .text(r.method), r.request.map { .blob($0) } ?? .null, .blob(r.response),
      .int(r.createdAtMs))
  }

  func noticeSent(account: String, step: Practice_V1_LifecycleStep, atMs: Int64, daysBefore: Int32) throws -> Bool {
    try integer(
      "SELECT count(*) FROM lifecycle_notices WHERE account_id = ? AND step = ? AND at_ms = ? AND days_before = ?",
      .text(account), .integer(step.rawValue), .int(atMs), .integer(daysBefore)) > 0
  }

  func putNotice(account: String, step: Practice_V1_LifecycleStep, atMs: Int64, daysBefore: Int32, sentAtMs: Int64) throws {
    try execute(
      "INSERT INTO lifecycle_notices (account_id, step, at_ms, days_before, sent_at_ms) VALUES (?, ?, ?, ?, ?)",
      .text(account), .integer(step.rawValue), .int(atMs), .integer(daysBefore), .int(sentAtMs))
  }

  func expireIdempotency(beforeMs: Int64) throws {
    try execute("DELETE FROM idempotency WHERE created_at_ms < ?", .int(beforeMs))
  }

  func afterCommit(_ body: @escaping @Sendable () -> Void) {
    db.afterNextTransaction(onCommit: { _ in body() })
  }

  // MARK: health

  func probe() throws { _ = try integer("SELECT 1") }

  func probeWrite() throws {
    try execute(
      "INSERT INTO health_probe (id, at_ms) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at_ms = excluded.at_ms",
      .int(Int64(Date().timeIntervalSince1970 * 1000)))
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
