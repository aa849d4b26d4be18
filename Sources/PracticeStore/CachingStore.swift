import Foundation
import PracticeCore
import PracticeProto

/// A read cache in front of any store: the rows nearly every call asks for (an account, the actor's
/// user, the business information, a room, a subscription) are answered from memory, as the domain values the store
/// returns. A decorator: the store behind it knows nothing of it.
///
/// `read` runs the body against the cache alone first (no transaction); if the body asks for
/// anything the cache does not hold, it runs again on the store, filling the cache. Coherence is
/// `ReadCache`'s: every write is bracketed by `beginWrite`/`endWrite`, so a caller that saw a write
/// acknowledged never reads what was there before it.
///
/// When other processes write the same database (`freshness`), that is not enough: every entry is
/// stamped with its account's change sequence (which every committed change moves) as read in the
/// snapshot that filled it, and an answer from memory stands only if each account it read still has
/// that sequence in the database, asked after the read began. Those questions are batched: while
/// one is out, every read that arrives waits for the next, which asks for all of them in one
/// statement, so under load one round trip serves many reads and none is answered from a check that
/// began before it arrived.
public final class CachingStore: Store, StoreFaultInjection {
  private let base: any Store
  private let cache: ReadCache
  private let freshness: FreshnessBatcher?

  public init(_ base: any Store, capacity: Int = 20_000, freshness: (any StoreFreshness)? = nil) {
    self.base = base
    self.cache = ReadCache(capacity: capacity)
    self.freshness = freshness.map(FreshnessBatcher.init)
  }

  public func read<T>(needsDatabase: Bool, _ body: @escaping (any StoreReader) throws -> T) async throws -> T {
    if !needsDatabase {
      let hits = freshness == nil ? nil : StampTracker()
      let outcome: Result<T, any Error>
      do {
        outcome = .success(try body(CachingReader(base: nil, cache: cache, generation: cache.generation, stamps: hits)))
      } catch is CacheMiss {
        outcome = .failure(CacheMiss())
      } catch {
        outcome = .failure(error)
      }
      if case .failure(let e) = outcome, e is CacheMiss {
        // Not all in memory: the store answers below.
      } else if let hits, let freshness {
        // What came from memory stands if no other process changed those accounts since.
        if try await freshness.unchanged(hits) { return try outcome.get() }
        cache.remove(hits.keys)
      } else {
        return try outcome.get()
      }
    }
    let generation = cache.generation
    let stamps = freshness == nil ? nil : StampTracker()
    return try await base.read(needsDatabase: true) { [cache] r in
      try body(CachingReader(base: r, cache: cache, generation: generation, stamps: stamps))
    }
  }

  /// Long reads go to the store itself: nothing they read is worth caching.
  public func readEach<Item: Sendable>(
    window: Int, _ body: @escaping @Sendable (any StoreReader, _ emit: (Item) throws -> Void) throws -> Void,
    consume: (Item) async throws -> Void
  ) async throws {
    try await base.readEach(window: window, body, consume: consume)
  }

  public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreWriter) throws -> T) async throws -> T {
    // Reads neither use nor fill the cache from before this write until it returned (committed, its
    // commit hooks run).
    cache.beginWrite()
    defer { cache.endWrite() }
    return try await base.write(body)
  }

  public func close() async throws { try await base.close() }

  public func setReadOnly(_ on: Bool) async throws {
    guard let faults = base as? any StoreFaultInjection else {
      throw StoreError(.unavailable, "the store behind the cache has no fault injection")
    }
    try await faults.setReadOnly(on)
  }
}

/// What a read sees through the cache: the cached kinds of rows from the cache, everything else from
/// the store's reader (`base`); a row read from the store is cached unless a write began since
/// `generation` was noted. Without a base (the cache-only pass), anything the cache does not hold
/// throws `CacheMiss`. With `stamps` (other processes write too), the cache-only pass notes each
/// entry's stamp for the check that follows, and a pass on the store uses an entry only if its stamp
/// is its account's sequence in this snapshot, and stamps what it fills with it.
private struct CachingReader: StoreReader {
  let base: (any StoreReader)?
  let cache: ReadCache
  let generation: UInt64
  let stamps: StampTracker?

  private func store() throws -> any StoreReader {
    guard let base else { throw CacheMiss() }
    return base
  }

  private func cached<T: CacheableValue>(_ key: ReadCache.Key, _ load: (any StoreReader) throws -> T?) throws -> T? {
    guard let stamps else {
      if let hit = cache.get(key, as: T.self, generation: generation) { return hit.value }
      let value = try load(try store())
      if let value { cache.fill(key, value.cached, generation: generation) }
      return value
    }
    guard let base else {
      guard let hit = cache.get(key, as: T.self, generation: generation) else { throw CacheMiss() }
      stamps.hit(key, stamp: hit.stamp)
      return hit.value
    }
    let sequence = try stamps.sequence(of: key.account, in: base)
    // The account itself was just read for its sequence.
    if case .account(let id) = key {
      guard let account = stamps.account(id) else { return nil }
      cache.fill(key, .account(account), stamp: sequence, generation: generation)
      return T(cached: .account(account))
    }
    if let hit = cache.get(key, as: T.self, generation: generation), hit.stamp == sequence { return hit.value }
    let value = try load(base)
    if let value { cache.fill(key, value.cached, stamp: sequence, generation: generation) }
    return value
  }

  func account(_ id: String) throws -> Practice_V1_Account? {
    try cached(.account(id)) { try $0.account(id) }
  }

  func accounts(after: String?, limit: Int, includeClosed: Bool) throws -> [Practice_V1_Account] {
    try store().accounts(after: after, limit: limit, includeClosed: includeClosed)
  }

  func accountCount() throws -> Int {
    try store().accountCount()
  }

  func user(account: String, id: String) throws -> Practice_V1_User? {
    try cached(.user(account: account, id: id)) { try $0.user(account: account, id: id) }
  }

  func users(account: String, after: String?, limit: Int, includeInactive: Bool) throws -> [Practice_V1_User] {
    try store().users(account: account, after: after, limit: limit, includeInactive: includeInactive)
  }

  func activeUser(account: String, email: String) throws -> Practice_V1_User? {
    try store().activeUser(account: account, email: email)
  }

  func businessInfo(account: String) throws -> Practice_V1_BusinessInfo? {
    try cached(.business(account)) { try $0.businessInfo(account: account) }
  }

  func location(account: String, id: String) throws -> Practice_V1_Location? {
    try store().location(account: account, id: id)
  }

  func locations(account: String, after: String?, limit: Int, includeArchived: Bool) throws -> [Practice_V1_Location] {
    try store().locations(account: account, after: after, limit: limit, includeArchived: includeArchived)
  }

  func defaultLocation(account: String) throws -> Practice_V1_Location? {
    try store().defaultLocation(account: account)
  }

  func payerRule(account: String, payerID: String) throws -> Practice_V1_PayerPosRule? {
    try store().payerRule(account: account, payerID: payerID)
  }

  func payerRules(account: String, after: String?, limit: Int) throws -> [Practice_V1_PayerPosRule] {
    try store().payerRules(account: account, after: after, limit: limit)
  }

  func room(account: String, id: String) throws -> Practice_V1_Room? {
    try cached(.room(account: account, id: id)) { try $0.room(account: account, id: id) }
  }

  func rooms(account: String, after: String?, limit: Int, includeArchived: Bool, locationID: String?) throws -> [Practice_V1_Room] {
    try store().rooms(account: account, after: after, limit: limit, includeArchived: includeArchived, locationID: locationID)
  }

  func booking(account: String, id: String) throws -> Practice_V1_RoomBooking? {
    try store().booking(account: account, id: id)
  }

  func conflicts(account: String, room: String, startMs: Int64, endMs: Int64) throws -> [Practice_V1_RoomBooking] {
    try store().conflicts(account: account, room: room, startMs: startMs, endMs: endMs)
  }

  func bookings(account: String, room: String, fromMs: Int64, toMs: Int64, after: (Int64, String)?, limit: Int, includeCancelled: Bool) throws -> [Practice_V1_RoomBooking] {
    try store().bookings(account: account, room: room, fromMs: fromMs, toMs: toMs, after: after, limit: limit, includeCancelled: includeCancelled)
  }

  func series(_ seriesID: String, fromOccurrence: Int32) throws -> [Practice_V1_RoomBooking] {
    try store().series(seriesID, fromOccurrence: fromOccurrence)
  }

  func activeBookingCount(account: String, room: String, endingAfterMs: Int64) throws -> Int {
    try store().activeBookingCount(account: account, room: room, endingAfterMs: endingAfterMs)
  }

  func usageReports(account: String) throws -> [(periodStart: String, activeClients: Int64, electronicClaims: Int64)] {
    try store().usageReports(account: account)
  }

  func subscription(account: String) throws -> Practice_V1_Subscription? {
    try cached(.subscription(account)) { try $0.subscription(account: account) }
  }

  func noticeSent(account: String, step: Practice_V1_LifecycleStep, atMs: Int64, daysBefore: Int32) throws -> Bool {
    try store().noticeSent(account: account, step: step, atMs: atMs, daysBefore: daysBefore)
  }

  func usage(account: String, periodStart: String) throws -> (activeClients: Int64, electronicClaims: Int64)? {
    try store().usage(account: account, periodStart: periodStart)
  }

  func invoice(account: String, id: String) throws -> Practice_V1_Invoice? {
    try store().invoice(account: account, id: id)
  }

  func invoice(account: String, periodStart: String) throws -> Practice_V1_Invoice? {
    try store().invoice(account: account, periodStart: periodStart)
  }

  func invoices(account: String, beforeNumber: Int64?, limit: Int) throws -> [Practice_V1_Invoice] {
    try store().invoices(account: account, beforeNumber: beforeNumber, limit: limit)
  }

  func maxInvoiceNumber(account: String) throws -> Int64 {
    try store().maxInvoiceNumber(account: account)
  }

  func invoiceCount(account: String, statuses: [Practice_V1_InvoiceStatus]) throws -> Int {
    try store().invoiceCount(account: account, statuses: statuses)
  }

  func accountIDs(after: String?, limit: Int) throws -> [String] {
    try store().accountIDs(after: after, limit: limit)
  }

  func auditEvents(_ query: AuditQuery) throws -> [Practice_V1_AuditEvent] {
    try store().auditEvents(query)
  }

  func changes(account: String, afterSequence: Int64, limit: Int) throws -> [Practice_V1_ChangeEvent] {
    try store().changes(account: account, afterSequence: afterSequence, limit: limit)
  }

  func oldestKeptSequence(account: String) throws -> Int64 {
    try store().oldestKeptSequence(account: account)
  }

  func idempotency(scope: String, key: String) throws -> IdempotencyRecord? {
    try store().idempotency(scope: scope, key: key)
  }

  func probe() throws {
    try store().probe()
  }

}

/// What one read noted about stamps: in the cache-only pass, the entries it used and their stamps;
/// in a pass on the store, each account's change sequence in its snapshot. Used by one read, on one
/// thread at a time.
final class StampTracker: @unchecked Sendable {
  private(set) var keys: [ReadCache.Key] = []
  /// Each account's stamp; nil when the read used entries of one account with different stamps.
  private(set) var stamps: [String: Int64?] = [:]
  /// The accounts a pass on the store read for their sequences (nil: no such account).
  private var accounts: [String: Practice_V1_Account?] = [:]

  func hit(_ key: ReadCache.Key, stamp: Int64) {
    keys.append(key)
    let account = key.account
    if let seen = stamps[account] {
      if seen != stamp { stamps[account] = .some(nil) }
    } else {
      stamps[account] = stamp
    }
  }

  /// The account's change sequence in the reader's snapshot (-1 when it has no account), read once.
  func sequence(of account: String, in reader: any StoreReader) throws -> Int64 {
    if let known = accounts[account] { return known?.changeSequence ?? -1 }
    let found = try reader.account(account)
    accounts[account] = .some(found)
    return found?.changeSequence ?? -1
  }

  /// The account as `sequence(of:in:)` read it.
  func account(_ id: String) -> Practice_V1_Account? { accounts[id] ?? nil }
}

/// Asks the database for accounts' change sequences in batches: a check asked while another is out
/// waits for the next, which begins after it was asked (so it sees every commit acknowledged before
/// the read began) and carries every account asked for meanwhile.
final class FreshnessBatcher: Sendable {
  private struct Batch {
    var accounts: Set<String> = []
    var waiters: [CheckedContinuation<[String: Int64], any Error>] = []
  }

  private struct State {
    var out = false
    var next = Batch()
  }

  private let source: any StoreFreshness
  private let state = LockedState(State())

  init(_ source: any StoreFreshness) { self.source = source }

  /// Whether every account the read used is at the sequence its entries were stamped with.
  func unchanged(_ tracker: StampTracker) async throws -> Bool {
    let used = tracker.stamps
    if used.isEmpty { return true }
    if used.values.contains(where: { $0 == nil }) { return false }
    let now = try await sequences(of: used.keys)
    return used.allSatisfy { account, stamp in now[account] == stamp }
  }

  private func sequences(of accounts: some Collection<String>) async throws -> [String: Int64] {
    try await withCheckedThrowingContinuation { waiter in
      let start = state.withLock { s -> Batch? in
        s.next.accounts.formUnion(accounts)
        s.next.waiters.append(waiter)
        guard !s.out else { return nil }
        s.out = true
        defer { s.next = Batch() }
        return s.next
      }
      if let start { ask(start) }
    }
  }

  /// Asks for one batch; then for the batch that gathered meanwhile, if any.
  private func ask(_ batch: Batch) {
    Task {
      var batch = batch
      while true {
        let answer: Result<[String: Int64], any Error>
        do { answer = .success(try await source.changeSequences(accounts: Array(batch.accounts))) } catch { answer = .failure(error) }
        for w in batch.waiters { w.resume(with: answer) }
        let next = state.withLock { s -> Batch? in
          guard !s.next.waiters.isEmpty else {
            s.out = false
            return nil
          }
          defer { s.next = Batch() }
          return s.next
        }
        guard let next else { return }
        batch = next
      }
    }
  }
}
