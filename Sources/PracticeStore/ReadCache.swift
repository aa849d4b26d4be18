import Foundation
import PracticeCore
import PracticeProto

/// Committed rows that reads ask for on every call (an account, a user for authorization, the
/// business information, a room for an availability check, a subscription for the lifecycle dates), kept in memory as the domain values the
/// store returns, so a read that finds them touches no SQLite connection.
///
/// Coherence with writes: every write batch calls `beginWrite()` before its transaction and
/// `endWrite()` after its commit (and the after-commit hooks that publish change events) have run.
/// While a write is in progress the cache neither answers nor fills; each call clears it. A read that
/// misses notes the generation before its transaction and fills only if no write began since, so an
/// entry never holds data older than the last commit, and a caller that saw a write acknowledged
/// never reads what was there before it.
///
/// Writes by other processes (several instances on one database) are not seen here: each entry
/// carries a stamp, its account's change sequence when it was read, which `CachingStore` checks
/// against the database before it answers from memory (0 where no such check is made).
final class ReadCache: Sendable {
  enum Key: Hashable, Sendable {
    case account(String)
    case user(account: String, id: String)
    case business(String)
    case room(account: String, id: String)
    case subscription(String)

    func hash(into h: inout Hasher) {
      switch self {
      case .account(let id):
        h.combine(0 as UInt8)
        h.combine(id)
      case .user(let account, let id):
        h.combine(1 as UInt8)
        h.combine(account)
        h.combine(id)
      case .business(let account):
        h.combine(2 as UInt8)
        h.combine(account)
      case .room(let account, let id):
        h.combine(3 as UInt8)
        h.combine(account)
        h.combine(id)
      case .subscription(let account):
        h.combine(4 as UInt8)
        h.combine(account)
      }
    }

    /// The account the row belongs to.
    var account: String {
      switch self {
      case .account(let id), .business(let id), .subscription(let id): id
      case .user(let account, _), .room(let account, _): account
      }
    }
  }

  /// What an entry holds: one case per kind of value, so that reading one back needs no dynamic cast.
  enum Value: Sendable {
    case account(Practice_V1_Account)
    case user(Practice_V1_User)
    case business(Practice_V1_BusinessInfo)
    case room(Practice_V1_Room)
    case subscription(Practice_V1_Subscription)
  }

  /// A value and its stamp.
  struct Entry: Sendable {
    let value: Value
    let stamp: Int64
  }

  private struct State {
    var entries: [Key: Entry] = [:]
    var generation: UInt64 = 0
    var writing = 0
  }

  /// Shared by every event loop and the writer thread.
  private let state = LockedState(State())
  /// Past this many entries the cache starts again empty (a bound on memory, not an LRU).
  let capacity: Int

  init(capacity: Int = 20_000) { self.capacity = capacity }

  /// The value cached for `key`, or nil: also while a write is in progress, and once a write began
  /// since the reader noted `generation`. A read's values then all come from one moment: a reader
  /// whose snapshot predates a commit never mixes it with an entry filled after it.
  func get<T: CacheableValue>(_ key: Key, as: T.Type = T.self, generation: UInt64) -> (value: T, stamp: Int64)? {
    state.withLock { s in
      guard s.writing == 0, s.generation == generation, let e = s.entries[key], let v = T(cached: e.value) else { return nil }
      return (v, e.stamp)
    }
  }

  /// The generation a read must note before it opens its transaction.
  var generation: UInt64 { state.withLock { $0.generation } }

  /// Stores what a read found, unless a write began since `generation` was noted.
  func fill(_ key: Key, _ value: ReadCache.Value, stamp: Int64 = 0, generation: UInt64) {
    state.withLock { s in
      guard s.writing == 0, s.generation == generation else { return }
      if s.entries.count >= capacity { s.entries.removeAll(keepingCapacity: true) }
      s.entries[key] = Entry(value: value, stamp: stamp)
    }
  }

  /// Drops entries found out of date (another process changed their account).
  func remove(_ keys: some Sequence<Key>) {
    state.withLock { s in
      for k in keys { s.entries.removeValue(forKey: k) }
    }
  }

  func beginWrite() {
    state.withLock { s in
      s.writing += 1
      s.generation &+= 1
      s.entries.removeAll(keepingCapacity: true)
    }
  }

  func endWrite() {
    state.withLock { s in
      s.writing -= 1
      s.generation &+= 1
      s.entries.removeAll(keepingCapacity: true)
    }
  }
}

/// Thrown by a cache-only reader when what the body asks for is not cached: the read runs again on
/// a SQLite connection.
struct CacheMiss: Error {}

/// A type the read cache holds: how it goes into and comes out of a `ReadCache.Value`.
protocol CacheableValue: Sendable {
  init?(cached: ReadCache.Value)
  var cached: ReadCache.Value { get }
}

extension Practice_V1_Account: CacheableValue {
  init?(cached: ReadCache.Value) {
    guard case .account(let v) = cached else { return nil }
    self = v
  }
  var cached: ReadCache.Value { .account(self) }
}

extension Practice_V1_User: CacheableValue {
  init?(cached: ReadCache.Value) {
    guard case .user(let v) = cached else { return nil }
    self = v
  }
  var cached: ReadCache.Value { .user(self) }
}

extension Practice_V1_BusinessInfo: CacheableValue {
  init?(cached: ReadCache.Value) {
    guard case .business(let v) = cached else { return nil }
    self = v
  }
  var cached: ReadCache.Value { .business(self) }
}

extension Practice_V1_Room: CacheableValue {
  init?(cached: ReadCache.Value) {
    guard case .room(let v) = cached else { return nil }
    self = v
  }
  var cached: ReadCache.Value { .room(self) }
}

extension Practice_V1_Subscription: CacheableValue {
  init?(cached: ReadCache.Value) {
    guard case .subscription(let v) = cached else { return nil }
    self = v
  }
  var cached: ReadCache.Value { .subscription(self) }
}
