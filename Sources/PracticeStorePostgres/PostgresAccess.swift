import Foundation
import NIOCore
import PostgresNIO
import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore
import SwiftProtobuf

/// Store reads and writes on one session inside a transaction. Every statement runs one way:
/// `$n` parameters bound from `PGValue`s, waited for on the session (`Session.query`).
final class PostgresAccess: StoreWriter {
  let session: Session
  /// Run after the commit, in order.
  private(set) var commitHooks: [@Sendable () -> Void] = []
  /// The accounts whose change events this transaction appended, with the first sequence of each
  /// (notified after the commit).
  private(set) var changedAccounts: [(account: String, firstSequence: Int64)] = []
  private var savepoints = 0

  init(session: Session) { self.session = session }

  // MARK: statements

  /// A statement whose answer the caller does not need: sent without waiting for it (the session
  /// reports its failure at the next statement waited for, or at the transaction's end).
  private func execute(_ sql: String, _ values: PGValue...) throws {
    session.send(sql, values)
  }

  /// Runs a statement that writes one row; `.notFound` when it wrote none.
  private func executeOne(_ sql: String, _ values: PGValue..., missing: String) throws {
    let result = try session.query(sql, values)
    guard result.metadata.rows == 1 else { throw StoreError(.notFound, missing) }
  }

  private func rows<T>(_ sql: String, _ values: [PGValue], _ read: (PostgresRandomAccessRow) throws -> T) throws -> [T] {
    try session.query(sql, values).rows.map { try read(PostgresRandomAccessRow($0)) }
  }

  private func row<T>(_ sql: String, _ values: PGValue..., read: (PostgresRandomAccessRow) throws -> T) throws -> T? {
    try session.query(sql, values).rows.first.map { try read(PostgresRandomAccessRow($0)) }
  }

  private func bodies<M: SwiftProtobuf.Message>(_ type: M.Type, _ sql: String, _ values: PGValue...) throws -> [M] {
    try rows(sql, values) { try Self.decode(M.self, $0[0]) }
  }

  private func body<M: SwiftProtobuf.Message>(_ type: M.Type, _ sql: String, _ values: PGValue...) throws -> M? {
    try session.query(sql, values).rows.first.map { try Self.decode(M.self, PostgresRandomAccessRow($0)[0]) }
  }

  /// A query's single integer (a count, a maximum); 0 for NULL.
  private func integer(_ sql: String, _ values: PGValue...) throws -> Int64 {
    guard let first = try session.query(sql, values).rows.first else { return 0 }
    return try Self.int(PostgresRandomAccessRow(first)[0])
  }

  static func int(_ cell: PostgresCell) throws -> Int64 {
    try cell.decode(Int64?.self) ?? 0
  }

  static func text(_ cell: PostgresCell) throws -> String? {
    try cell.decode(String?.self)
  }

  static func data(_ cell: PostgresCell) throws -> Data? {
    try cell.decode(ByteBuffer?.self).map { Data($0.readableBytesView) }
  }

  static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ cell: PostgresCell) throws -> M {
    guard let data = try data(cell) else { throw StoreError(.corrupt, "missing row body") }
    return try M(serializedBytes: data)
  }

  private func encode(_ m: some SwiftProtobuf.Message) throws -> PGValue { .bytes(try m.serializedData()) }

  // MARK: transactions

  func savepoint<T>(_ body: () throws -> T) throws -> T {
    savepoints += 1
    let name = "body\(savepoints)"
    session.send("SAVEPOINT \(name)")
    let value: T
    do {
      value = try body()
    } catch let error where error is PSQLError || error is StoreError {
      // The database refused a statement (perhaps one sent before the savepoint, which then never
      // began): the whole write fails, and is rolled back whole.
      throw error
    } catch {
      // The body refused (a rule): what it wrote goes, the transaction goes on.
      try session.flush()
      _ = try session.query("ROLLBACK TO SAVEPOINT \(name)")
      session.send("RELEASE SAVEPOINT \(name)")
      throw error
    }
    session.send("RELEASE SAVEPOINT \(name)")
    return value
  }

  /// Sent without waiting: the transaction's next statement runs once the lock is held.
  func lockAccount(_ id: String) throws {
    session.send("SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE", [.text(id)])
  }

  func claimIdempotencyKey(scope: String, key: String) throws -> Bool {
    let result = try session.query(
      "SELECT pg_try_advisory_xact_lock(\(PostgresStore.idempotencyLockClass), hashtext($1))",
      [.text(scope + "\u{1}" + key)])
    guard let first = result.rows.first else { return false }
    return try PostgresRandomAccessRow(first)[0].decode(Bool.self)
  }

  func afterCommit(_ body: @escaping @Sendable () -> Void) {
    commitHooks.append(body)
  }

  // MARK: accounts

  private static func account(_ r: PostgresRandomAccessRow) throws -> Practice_V1_Account {
    var a = try decode(Practice_V1_Account.self, r[0])
    a.changeSequence = try int(r[1])
    return a
  }

  func account(_ id: String) throws -> Practice_V1_Account? {
    try row("SELECT body, change_seq FROM accounts WHERE id = $1", .text(id), read: Self.account)
  }

  func accounts(after: String?, limit: Int, includeClosed: Bool) throws -> [Practice_V1_Account] {
    let sql = """
      SELECT body, change_seq FROM accounts WHERE id > $1
      \(includeClosed ? "" : "AND state = \(Practice_V1_AccountState.active.rawValue)")
      ORDER BY id LIMIT $2
      """
    return try rows(sql, [.text(after ?? ""), .integer(limit)], Self.account)
  }

  func accountCount() throws -> Int { Int(try integer("SELECT count(*) FROM accounts")) }

  func nextChangeSequence(account: String) throws -> Int64 {
    guard
      let seq = try row(
        "UPDATE accounts SET change_seq = change_seq + 1 WHERE id = $1 RETURNING change_seq", .text(account),
        read: { try Self.int($0[0]) })
    else { throw StoreError(.notFound, "account") }
    return seq
  }

  func insertAccount(_ a: Practice_V1_Account) throws {
    try execute(
      "INSERT INTO accounts (id, state, created_at_ms, version, body) VALUES ($1, $2, $3, $4, $5)",
      .text(a.accountID), .integer(a.state.rawValue), .int(a.createdAtMs), .int(a.version), try encode(a))
  }

  func updateAccount(_ a: Practice_V1_Account) throws {
    try executeOne(
      "UPDATE accounts SET state = $1, version = $2, body = $3 WHERE id = $4",
      .integer(a.state.rawValue), .int(a.version), try encode(a), .text(a.accountID), missing: "account")
  }

  func accountIDs(after: String?, limit: Int) throws -> [String] {
    try rows(
      "SELECT id FROM accounts WHERE id > $1 AND state != $2 ORDER BY id LIMIT $3",
      [.text(after ?? ""), .integer(Practice_V1_AccountState.purged.rawValue), .integer(limit)]
    ) { try Self.text($0[0]) ?? "" }
  }

  // MARK: users

  func user(account: String, id: String) throws -> Practice_V1_User? {
    try body(Practice_V1_User.self, "SELECT body FROM users WHERE account_id = $1 AND id = $2", .text(account), .text(id))
  }

  func users(account: String, after: String?, limit: Int, includeInactive: Bool) throws -> [Practice_V1_User] {
    try bodies(
      Practice_V1_User.self,
      """
      SELECT body FROM users WHERE account_id = $1 AND id > $2 \(includeInactive ? "" : "AND active")
      ORDER BY id LIMIT $3
      """, .text(account), .text(after ?? ""), .integer(limit))
  }

  func activeUser(account: String, email: String) throws -> Practice_V1_User? {
    try body(
      Practice_V1_User.self, "SELECT body FROM users WHERE account_id = $1 AND email_key = $2", .text(account),
      .text(email.lowercased()))
  }

  private static func emailKey(_ u: Practice_V1_User) -> String? {
    u.active && !u.email.isEmpty ? u.email.lowercased() : nil
  }

  func insertUser(_ u: Practice_V1_User) throws {
    try execute(
      "INSERT INTO users (account_id, id, email_key, active, version, body) VALUES ($1, $2, $3, $4, $5, $6)",
      .text(u.accountID), .text(u.userID), .optionalText(Self.emailKey(u)), .bool(u.active), .int(u.version),
      try encode(u))
  }

  func updateUser(_ u: Practice_V1_User) throws {
    try executeOne(
      "UPDATE users SET email_key = $1, active = $2, version = $3, body = $4 WHERE account_id = $5 AND id = $6",
      .optionalText(Self.emailKey(u)), .bool(u.active), .int(u.version), try encode(u), .text(u.accountID),
      .text(u.userID), missing: "user")
  }

  // MARK: business information, locations, payer rules

  /// A table of one row per account, its version and body (business information, subscriptions):
  /// the account's row.
  private func perAccount<M: SwiftProtobuf.Message>(_ type: M.Type, _ table: String, _ account: String) throws -> M? {
    try body(M.self, "SELECT body FROM \(table) WHERE account_id = $1", .text(account))
  }

  /// Writes the account's row of a one-row-per-account table.
  private func putPerAccount(_ table: String, account: String, version: Int64, _ m: some SwiftProtobuf.Message) throws {
    try execute(
      """
      INSERT INTO \(table) (account_id, version, body) VALUES ($1, $2, $3)
      ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, body = excluded.body
      """, .text(account), .int(version), try encode(m))
  }

  func businessInfo(account: String) throws -> Practice_V1_BusinessInfo? {
    try perAccount(Practice_V1_BusinessInfo.self, "business_info", account)
  }

  func putBusinessInfo(_ b: Practice_V1_BusinessInfo) throws {
    try putPerAccount("business_info", account: b.accountID, version: b.version, b)
  }

  func location(account: String, id: String) throws -> Practice_V1_Location? {
    try body(
      Practice_V1_Location.self, "SELECT body FROM locations WHERE account_id = $1 AND id = $2", .text(account), .text(id))
  }

  func locations(account: String, after: String?, limit: Int, includeArchived: Bool) throws -> [Practice_V1_Location] {
    try bodies(
      Practice_V1_Location.self,
      """
      SELECT body FROM locations WHERE account_id = $1 AND id > $2 \(includeArchived ? "" : "AND NOT archived")
      ORDER BY id LIMIT $3
      """, .text(account), .text(after ?? ""), .integer(limit))
  }

  func defaultLocation(account: String) throws -> Practice_V1_Location? {
    try body(
      Practice_V1_Location.self, "SELECT body FROM locations WHERE account_id = $1 AND is_default AND NOT archived",
      .text(account))
  }

  func putLocation(_ l: Practice_V1_Location) throws {
    try execute(
      """
      INSERT INTO locations (account_id, id, archived, is_default, version, body) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (account_id, id) DO UPDATE SET archived = excluded.archived, is_default = excluded.is_default,
        version = excluded.version, body = excluded.body
      """, .text(l.accountID), .text(l.locationID), .bool(l.archived), .bool(l.isDefault), .int(l.version),
      try encode(l))
  }

  func payerRule(account: String, payerID: String) throws -> Practice_V1_PayerPosRule? {
    try body(
      Practice_V1_PayerPosRule.self, "SELECT body FROM payer_pos_rules WHERE account_id = $1 AND payer_id = $2",
      .text(account), .text(payerID))
  }

  func payerRules(account: String, after: String?, limit: Int) throws -> [Practice_V1_PayerPosRule] {
    try bodies(
      Practice_V1_PayerPosRule.self,
      "SELECT body FROM payer_pos_rules WHERE account_id = $1 AND payer_id > $2 ORDER BY payer_id LIMIT $3",
      .text(account), .text(after ?? ""), .integer(limit))
  }

  func putPayerRule(_ r: Practice_V1_PayerPosRule) throws {
    try execute(
      """
      INSERT INTO payer_pos_rules (account_id, payer_id, version, body) VALUES ($1, $2, $3, $4)
      ON CONFLICT (account_id, payer_id) DO UPDATE SET version = excluded.version, body = excluded.body
      """, .text(r.accountID), .text(r.payerID), .int(r.version), try encode(r))
  }

  func deletePayerRule(account: String, payerID: String) throws {
    try execute("DELETE FROM payer_pos_rules WHERE account_id = $1 AND payer_id = $2", .text(account), .text(payerID))
  }

  // MARK: rooms and bookings

  func room(account: String, id: String) throws -> Practice_V1_Room? {
    try body(Practice_V1_Room.self, "SELECT body FROM rooms WHERE account_id = $1 AND id = $2", .text(account), .text(id))
  }

  func rooms(account: String, after: String?, limit: Int, includeArchived: Bool, locationID: String?) throws
    -> [Practice_V1_Room]
  {
    try RoomPaging.filtered(after: after, limit: limit, locationID: locationID) { cursor in
      try bodies(
        Practice_V1_Room.self,
        """
        SELECT body FROM rooms WHERE account_id = $1 AND id > $2 \(includeArchived ? "" : "AND NOT archived")
        ORDER BY id LIMIT $3
        """, .text(account), .text(cursor), .integer(limit))
    }
  }

  func putRoom(_ r: Practice_V1_Room) throws {
    try execute(
      """
      INSERT INTO rooms (account_id, id, archived, version, body) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (account_id, id) DO UPDATE SET archived = excluded.archived, version = excluded.version,
        body = excluded.body
      """, .text(r.accountID), .text(r.roomID), .bool(r.archived), .int(r.version), try encode(r))
  }

  func booking(account: String, id: String) throws -> Practice_V1_RoomBooking? {
    try body(
      Practice_V1_RoomBooking.self, "SELECT body FROM room_bookings WHERE account_id = $1 AND id = $2", .text(account),
      .text(id))
  }

  /// The active bookings of room $2 overlapping [$3, $4): the exclusion constraint's GiST index
  /// answers the range overlap.
  static let conflictSQL = """
    SELECT body FROM room_bookings
    WHERE account_id = $1 AND room_id = $2 AND status = 1 AND int8range(start_ms, end_ms) && int8range($3, $4)
    ORDER BY start_ms
    """

  func conflicts(account: String, room: String, startMs: Int64, endMs: Int64) throws -> [Practice_V1_RoomBooking] {
    try rows(Self.conflictSQL, [.text(account), .text(room), .int(startMs), .int(endMs)]) {
      try Self.decode(Practice_V1_RoomBooking.self, $0[0])
    }
  }

  func bookings(account: String, room: String, fromMs: Int64, toMs: Int64, after: (Int64, String)?, limit: Int,
                includeCancelled: Bool) throws -> [Practice_V1_RoomBooking] {
    let (afterStart, afterID) = after ?? (Int64.min, "")
    return try bodies(
      Practice_V1_RoomBooking.self,
      """
      SELECT body FROM room_bookings
      WHERE account_id = $1 AND room_id = $2 AND start_ms > $3 AND start_ms < $4 AND end_ms > $5
        AND (start_ms, id) > ($6, $7) \(includeCancelled ? "" : "AND status = 1")
      ORDER BY start_ms, id LIMIT $8
      """, .text(account), .text(room), .int(fromMs - RoomRules.maxBookingMs), .int(toMs), .int(fromMs),
      .int(afterStart), .text(afterID), .integer(limit))
  }

  func series(_ seriesID: String, fromOccurrence: Int32) throws -> [Practice_V1_RoomBooking] {
    try bodies(
      Practice_V1_RoomBooking.self,
      "SELECT body FROM room_bookings WHERE series_id = $1 AND occurrence >= $2 ORDER BY occurrence", .text(seriesID),
      .integer(fromOccurrence))
  }

  func activeBookingCount(account: String, room: String, endingAfterMs: Int64) throws -> Int {
    Int(
      try integer(
        "SELECT count(*) FROM room_bookings WHERE account_id = $1 AND room_id = $2 AND end_ms > $3 AND status = 1",
        .text(account), .text(room), .int(endingAfterMs)))
  }

  func putBooking(_ b: Practice_V1_RoomBooking) throws {
    try execute(
      """
      INSERT INTO room_bookings (id, account_id, room_id, start_ms, end_ms, status, overridden, series_id, occurrence,
        version, body)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
      ON CONFLICT (id) DO UPDATE SET room_id = excluded.room_id, start_ms = excluded.start_ms, end_ms = excluded.end_ms,
        status = excluded.status, overridden = excluded.overridden, version = excluded.version, body = excluded.body
      """, .text(b.bookingID), .text(b.accountID), .text(b.roomID), .int(b.startMs), .int(b.endMs),
      .integer(b.status.rawValue), .bool(b.overridden), .text(b.seriesID), .integer(b.occurrence), .int(b.version),
      try encode(b))
  }

  // MARK: billing

  func subscription(account: String) throws -> Practice_V1_Subscription? {
    try perAccount(Practice_V1_Subscription.self, "subscriptions", account)
  }

  func putSubscription(_ s: Practice_V1_Subscription) throws {
    try putPerAccount("subscriptions", account: s.accountID, version: s.version, s)
  }

  func usage(account: String, periodStart: String) throws -> (activeClients: Int64, electronicClaims: Int64)? {
    try row(
      "SELECT active_clients, electronic_claims FROM usage WHERE account_id = $1 AND period_start = $2", .text(account),
      .text(periodStart)
    ) { (activeClients: try Self.int($0[0]), electronicClaims: try Self.int($0[1])) }
  }

  func usageReports(account: String) throws -> [(periodStart: String, activeClients: Int64, electronicClaims: Int64)] {
    try rows(
      "SELECT period_start, active_clients, electronic_claims FROM usage WHERE account_id = $1 ORDER BY period_start",
      [.text(account)]
    ) { (periodStart: try Self.text($0[0]) ?? "", activeClients: try Self.int($0[1]), electronicClaims: try Self.int($0[2])) }
  }

  func putUsage(account: String, periodStart: String, activeClients: Int64, electronicClaims: Int64) throws {
    try execute(
      """
      INSERT INTO usage (account_id, period_start, active_clients, electronic_claims) VALUES ($1, $2, $3, $4)
      ON CONFLICT (account_id, period_start) DO UPDATE SET active_clients = excluded.active_clients,
        electronic_claims = excluded.electronic_claims
      """, .text(account), .text(periodStart), .int(activeClients), .int(electronicClaims))
  }

  func invoice(account: String, id: String) throws -> Practice_V1_Invoice? {
    try body(Practice_V1_Invoice.self, "SELECT body FROM invoices WHERE account_id = $1 AND id = $2", .text(account), .text(id))
  }

  func invoice(account: String, periodStart: String) throws -> Practice_V1_Invoice? {
    try body(
      Practice_V1_Invoice.self, "SELECT body FROM invoices WHERE account_id = $1 AND period_start = $2", .text(account),
      .text(periodStart))
  }

  func invoices(account: String, beforeNumber: Int64?, limit: Int) throws -> [Practice_V1_Invoice] {
    try bodies(
      Practice_V1_Invoice.self,
      "SELECT body FROM invoices WHERE account_id = $1 AND number < $2 ORDER BY number DESC LIMIT $3",
      .text(account), .int(beforeNumber ?? Int64.max), .integer(limit))
  }

  func maxInvoiceNumber(account: String) throws -> Int64 {
    try integer("SELECT max(number) FROM invoices WHERE account_id = $1", .text(account))
  }

  func invoiceCount(account: String, statuses: [Practice_V1_InvoiceStatus]) throws -> Int {
    guard !statuses.isEmpty else { return 0 }
    let list = statuses.map { "\($0.rawValue)" }.joined(separator: ",")
    // The statuses are the enum's numbers, not caller text.
    return Int(try integer("SELECT count(*) FROM invoices WHERE account_id = $1 AND status IN (\(list))", .text(account)))
  }

  func putInvoice(_ i: Practice_V1_Invoice) throws {
    try execute(
      """
      INSERT INTO invoices (account_id, id, number, period_start, status, body) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (account_id, id) DO UPDATE SET status = excluded.status, body = excluded.body
      """, .text(i.accountID), .text(i.invoiceID), .int(i.number), .text(i.periodStart), .integer(i.status.rawValue),
      try encode(i))
  }

  func purgeAccountData(account: String) throws {
    for (table, column) in StoreSchema.accountTables where table != "accounts" && table != "invoices" {
      try execute("DELETE FROM \(table) WHERE \(column) = $1", .text(account))
    }
  }

  // MARK: audit

  func appendAudit(_ e: Practice_V1_AuditEvent, before: AuditSnapshot?, after: AuditSnapshot?) throws {
    try execute(
      """
      INSERT INTO audit_events (account_id, time_ms, actor_user_id, method, resource_id, body, before_type, before_pb,
        after_type, after_pb)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
      """,
      .text(e.accountID), .int(e.timeMs), .text(e.actorUserID), .text(e.method), .text(e.resourceID), try encode(e),
      .optionalText(before?.typeName), .optionalBytes(before?.bytes), .optionalText(after?.typeName),
      .optionalBytes(after?.bytes))
  }

  func auditEvents(_ q: AuditQuery) throws -> [Practice_V1_AuditEvent] {
    var sql = "SELECT id, body, before_type, before_pb, after_type, after_pb FROM audit_events WHERE account_id = $1"
    var args: [PGValue] = [.text(q.accountID)]
    func add(_ clause: String, _ v: PGValue) {
      args.append(v)
      sql += " AND \(clause) $\(args.count)"
    }
    if q.fromMs > 0 { add("time_ms >=", .int(q.fromMs)) }
    if q.toMs > 0 { add("time_ms <", .int(q.toMs)) }
    if let a = q.actorUserID { add("actor_user_id =", .text(a)) }
    if let r = q.resourceID { add("resource_id =", .text(r)) }
    if let m = q.method { add("method =", .text(m)) }
    if let after = q.afterID { add("id >", .int(after)) }
    args.append(.integer(q.limit))
    sql += " ORDER BY id LIMIT $\(args.count)"
    return try rows(sql, args) { row in
      var e = try Self.decode(Practice_V1_AuditEvent.self, row[1])
      e.eventID = try Self.int(row[0])
      if let type = try Self.text(row[2]) {
        e.beforeJson = AuditSnapshot(typeName: type, bytes: try Self.data(row[3]) ?? Data()).json
      }
      if let type = try Self.text(row[4]) {
        e.afterJson = AuditSnapshot(typeName: type, bytes: try Self.data(row[5]) ?? Data()).json
      }
      return e
    }
  }

  // MARK: changes

  func appendChange(_ e: Practice_V1_ChangeEvent) throws {
    try execute(
      "INSERT INTO change_events (account_id, sequence, body) VALUES ($1, $2, $3)", .text(e.accountID), .int(e.sequence),
      try encode(e))
    if !changedAccounts.contains(where: { $0.account == e.accountID }) {
      changedAccounts.append((e.accountID, e.sequence))
    }
  }

  func changes(account: String, afterSequence: Int64, limit: Int) throws -> [Practice_V1_ChangeEvent] {
    try rows(
      "SELECT body FROM change_events WHERE account_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
      [.text(account), .int(afterSequence), .integer(limit)]
    ) { try Self.decode(Practice_V1_ChangeEvent.self, $0[0]) }
  }

  func oldestKeptSequence(account: String) throws -> Int64 {
    try integer("SELECT min(sequence) FROM change_events WHERE account_id = $1", .text(account))
  }

  func trimChanges(account: String, keep: Int64) throws {
    try execute(
      """
      DELETE FROM change_events WHERE account_id = $1 AND sequence <=
        (SELECT max(sequence) FROM change_events WHERE account_id = $1) - $2
      """, .text(account), .int(keep))
  }

  // MARK: idempotency and notices

  func idempotency(scope: String, key: String) throws -> IdempotencyRecord? {
    try row(
      "SELECT method, request, response, created_at_ms FROM idempotency WHERE scope = $1 AND key = $2", .text(scope),
      .text(key)
    ) {
      IdempotencyRecord(
        scope: scope, key: key, method: try Self.text($0[0]) ?? "", request: try Self.data($0[1]),
        response: try Self.data($0[2]) ?? Data(), createdAtMs: try Self.int($0[3]))
    }
  }

  func putIdempotency(_ r: IdempotencyRecord) throws {
    try execute(
      "INSERT INTO idempotency (scope, key, method, request, response, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
      .text(r.scope), .text(r.key), .text(r.method), .optionalBytes(r.request), .bytes(r.response), .int(r.createdAtMs))
  }

  func expireIdempotency(beforeMs: Int64) throws {
    try execute("DELETE FROM idempotency WHERE created_at_ms < $1", .int(beforeMs))
  }

  func noticeSent(account: String, step: Practice_V1_LifecycleStep, atMs: Int64, daysBefore: Int32) throws -> Bool {
    try integer(
      "SELECT count(*) FROM lifecycle_notices WHERE account_id = $1 AND step = $2 AND at_ms = $3 AND days_before = $4",
      .text(account), .integer(step.rawValue), .int(atMs), .integer(daysBefore)) > 0
  }

  func putNotice(account: String, step: Practice_V1_LifecycleStep, atMs: Int64, daysBefore: Int32, sentAtMs: Int64) throws {
    try execute(
      "INSERT INTO lifecycle_notices (account_id, step, at_ms, days_before, sent_at_ms) VALUES ($1, $2, $3, $4, $5)",
      .text(account), .integer(step.rawValue), .int(atMs), .integer(daysBefore), .int(sentAtMs))
  }

  // MARK: health

  func probe() throws { _ = try integer("SELECT 1") }

  func probeWrite() throws {
    try execute(
      "INSERT INTO health_probe (id, at_ms) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
      .int(Int64(Date().timeIntervalSince1970 * 1000)))
  }
}
