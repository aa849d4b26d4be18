import Logging
import PracticeCore
import PracticeProto
import PracticeStore

/// Publishes the change events other processes committed to a shared store (PostgreSQL), so this
/// daemon's watchers see every instance's changes. The signals only say which account moved; the
/// events themselves are read from `change_events` by sequence, after the last one published, so a
/// lost or repeated signal loses or repeats nothing (the hub publishes each account's events once, in
/// order). After a reconnect, every account with a place in the hub catches up.
public struct ChangeFeed: Sendable {
  let env: ServiceEnvironment

  public init(env: ServiceEnvironment) { self.env = env }

  /// Runs until `signals` ends (its task cancelled).
  public func run(_ signals: AsyncStream<StoreChangeSignal>) async {
    let hub = env.changes
    for await signal in signals {
      do {
        switch signal {
        case .changed(let account, let first):
          // Nobody watches it: nothing to read; its place is dropped, so it cannot go stale.
          guard hub.isWatched(account) else {
            hub.forget(account)
            continue
          }
          try await catchUp(account, after: hub.lastPublished(account) ?? first - 1)
        case .resync:
          for account in hub.knownAccounts where hub.isWatched(account) {
            if let last = hub.lastPublished(account) { try await catchUp(account, after: last) }
          }
        }
      } catch {
        env.logger.warning("change feed: cannot read change events", metadata: ["error": "\(error)"])
      }
    }
  }

  /// Publishes the account's events after `after`, oldest first.
  func catchUp(_ account: String, after: Int64) async throws {
    var last = after
    while true {
      let from = last
      let batch = try await env.store.read { r in try r.changes(account: account, afterSequence: from, limit: 1000) }
      guard let end = batch.last else { return }
      env.changes.publish(batch)
      last = end.sequence
      if batch.count < 1000 { return }
    }
  }
}
