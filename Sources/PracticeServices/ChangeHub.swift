import CoreMetrics
import Foundation
import PracticeCore
import PracticeProto

/// Live change events, published after each commit, fanned out to watchers. A watcher has a bounded
/// buffer: a writer never waits for a watcher; a watcher that falls behind is ended (`WATCH_OVERFLOW`).
///
/// Each account's events go out in sequence order, each once, whoever publishes them and in whatever
/// order: an event already published is dropped, and one that comes before its predecessor waits for
/// it. (SQLite publishes in commit order anyway. With PostgreSQL two commits of one account may run
/// their hooks in either order, and the change feed publishes other instances' events from the table.)
public final class ChangeHub: Sendable {
  public final class Subscription: Sendable {
    public let id: Int
    let accountID: String?
    let kinds: Set<Practice_V1_ResourceKind>
    let capacity: Int
    fileprivate let state = LockedState(SubscriptionState())

    init(id: Int, accountID: String?, kinds: Set<Practice_V1_ResourceKind>, capacity: Int) {
      self.id = id
      self.accountID = accountID
      self.kinds = kinds
      self.capacity = capacity
    }

    func matches(_ e: Practice_V1_ChangeEvent) -> Bool {
      (accountID == nil || accountID == e.accountID) && (kinds.isEmpty || kinds.contains(e.kind))
    }

    /// The next batch of events; waits for one. Returns nil when the subscription overflowed or ended.
    public func next() async -> [Practice_V1_ChangeEvent]? {
      while true {
        let ready: [Practice_V1_ChangeEvent]?? = state.withLock { s in
          if s.overflowed || s.ended { return .some(nil) }
          if !s.buffer.isEmpty {
            defer { s.buffer.removeAll() }
            return .some(s.buffer)
          }
          return .none
        }
        if let ready { return ready }
        await withCheckedContinuation { (k: CheckedContinuation<Void, Never>) in
          let resumeNow = state.withLock { s -> Bool in
            if s.overflowed || s.ended || !s.buffer.isEmpty { return true }
            s.waiter = k
            return false
          }
          if resumeNow { k.resume() }
        }
      }
    }

    public var overflowed: Bool { state.withLock { $0.overflowed } }

    /// Returns once the subscription has overflowed (never returns otherwise, unless ended).
    public func waitForOverflow() async {
      await withCheckedContinuation { (k: CheckedContinuation<Void, Never>) in
        let now = state.withLock { s -> Bool in
          if s.overflowed || s.ended { return true }
          s.overflowWaiters.append(k)
          return false
        }
        if now { k.resume() }
      }
    }

    fileprivate func deliver(_ e: Practice_V1_ChangeEvent) {
      let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
        guard !s.overflowed, !s.ended else { return [] }
        var out: [CheckedContinuation<Void, Never>] = []
        if s.buffer.count >= capacity {
          s.overflowed = true
          s.buffer.removeAll()
          out = s.overflowWaiters
          s.overflowWaiters = []
        } else {
          s.buffer.append(e)
        }
        if let w = s.waiter { out.append(w) }
        s.waiter = nil
        return out
      }
      for w in waiters { w.resume() }
    }

    fileprivate func end() {
      let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
        s.ended = true
        var out = s.overflowWaiters
        s.overflowWaiters = []
        if let w = s.waiter { out.append(w) }
        s.waiter = nil
        return out
      }
      for w in waiters { w.resume() }
    }
  }

  fileprivate struct SubscriptionState {
    var buffer: [Practice_V1_ChangeEvent] = []
    var overflowed = false
    var ended = false
    var waiter: CheckedContinuation<Void, Never>?
    var overflowWaiters: [CheckedContinuation<Void, Never>] = []
  }

  private struct State {
    var nextID = 1
    var subscriptions: [Int: Subscription] = [:]
  }

  private let state = LockedState(State())
  public let bufferCapacity: Int

  /// Per account: the last sequence published, and events that arrived before their predecessor.
  private struct Gate {
    var last: [String: Int64] = [:]
    var held: [String: [Int64: Practice_V1_ChangeEvent]] = [:]
  }

  /// Held while an event passes the gate and is delivered, so deliveries keep the gate's order.
  private let gate = LockedState(Gate())

  public init(bufferCapacity: Int = 1024) { self.bufferCapacity = bufferCapacity }

  public func subscribe(accountID: String?, kinds: Set<Practice_V1_ResourceKind>) -> Subscription {
    state.withLock { s in
      let sub = Subscription(id: s.nextID, accountID: accountID, kinds: kinds, capacity: bufferCapacity)
      s.nextID += 1
      s.subscriptions[sub.id] = sub
      Self.watchers.set(s.subscriptions.count)
      return sub
    }
  }

  public func unsubscribe(_ sub: Subscription) {
    state.withLock { s in
      s.subscriptions.removeValue(forKey: sub.id)
      Self.watchers.set(s.subscriptions.count)
    }
    sub.end()
  }

  /// Open Watch streams (a metric).
  static let watchers = Meter(label: "practiced_watchers")

  /// Publishes committed events: each account's in sequence order, each once (see the type).
  public func publish(_ events: [Practice_V1_ChangeEvent]) {
    guard !events.isEmpty else { return }
    gate.withLock { g in
      var ready: [Practice_V1_ChangeEvent] = []
      for e in events {
        let account = e.accountID
        if let last = g.last[account] {
          if e.sequence <= last { continue }
          if e.sequence > last + 1 {
            g.held[account, default: [:]][e.sequence] = e
            continue
          }
        }
        ready.append(e)
        var last = e.sequence
        while let next = g.held[account]?.removeValue(forKey: last + 1) {
          ready.append(next)
          last += 1
        }
        if g.held[account]?.isEmpty == true { g.held[account] = nil }
        g.last[account] = last
      }
      guard !ready.isEmpty else { return }
      let subs = state.withLock { Array($0.subscriptions.values) }
      for sub in subs {
        for e in ready where sub.matches(e) { sub.deliver(e) }
      }
    }
  }

  /// The last sequence published for an account (nil: none since start, or forgotten).
  public func lastPublished(_ accountID: String) -> Int64? {
    gate.withLock { $0.last[accountID] }
  }

  /// A watcher replayed an account up to `sequence`: what follows it is published from there on (when
  /// nothing was published for the account yet).
  public func prime(_ accountID: String, sequence: Int64) {
    gate.withLock { g in if g.last[accountID] == nil { g.last[accountID] = sequence } }
  }

  /// Forgets an account's place (nobody watches it): its next event is published as it comes.
  public func forget(_ accountID: String) {
    gate.withLock { g in
      g.last[accountID] = nil
      g.held[accountID] = nil
    }
  }

  /// The accounts with a place, to catch up after the change feed missed notifications.
  public var knownAccounts: [String] { gate.withLock { Array($0.last.keys) } }

  /// Whether a watcher would take an event of this account.
  public func isWatched(_ accountID: String) -> Bool {
    state.withLock { s in s.subscriptions.values.contains { $0.accountID == nil || $0.accountID == accountID } }
  }

  public var subscriberCount: Int { state.withLock { $0.subscriptions.count } }
}
