import Foundation
import Logging
import PracticeCore
import PracticeDomain
import PracticeStore

/// The one clock the whole daemon reads. In tests (`--test-hooks`) it can be moved forward: in this
/// process, or, when the store is shared by many processes, in the store, which every one of them
/// reads at each use (so a move through one instance is seen by the next call to any other).
public final class DaemonClock: Sendable {
  private let offsetMs = LockedState<Int64>(0)
  private let shared: (any StoreSharedClock)?

  public init(shared: (any StoreSharedClock)? = nil) { self.shared = shared }

  /// Unix milliseconds, UTC.
  public func nowMs() async throws -> Int64 {
    let offset = try await shared?.clockOffsetMs() ?? offsetMs.withLock { $0 }
    return Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) + offset
  }

  /// Moves the clock forward (test hooks only).
  public func advance(byMs: Int64) async throws {
    precondition(byMs >= 0)
    if let shared {
      _ = try await shared.advanceClock(byMs: byMs)
    } else {
      offsetMs.withLock { $0 += byMs }
    }
  }
}

/// Resource ids: a prefix and 20 random base32 characters (100 bits).
public enum IDs {
  private static let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")

  public static func make(_ prefix: String) -> String {
    var rng = SystemRandomNumberGenerator()
    var out = prefix + "_"
    for _ in 0..<20 { out.append(alphabet[Int(rng.next(upperBound: UInt32(alphabet.count)))]) }
    return out
  }
}

/// What every service needs.
public final class ServiceEnvironment: Sendable {
  public let store: any Store
  public let clock: DaemonClock
  public let changes: ChangeHub
  public let health: HealthState
  public let logger: Logger
  /// Change events kept per account for Watch's `after_sequence`.
  public let changeRetention: Int64
  /// How long an idempotency record is kept; the scheduler expires older ones.
  public let idempotencyRetentionMs: Int64
  /// Prices, trial, retention and grace.
  public let terms: BillingTerms
  /// The largest ExportAccount chunk, in bytes (under the frame limit).
  public let exportChunkBytes: Int
  /// This instance's name, recorded in every audit event.
  public let instanceID: String
  /// Idempotency keys whose first call is still running.
  let keysInFlight = KeysInFlight()

  public init(store: any Store, clock: DaemonClock = DaemonClock(), changes: ChangeHub = ChangeHub(),
              health: HealthState = HealthState(), changeRetention: Int64 = 10_000,
              idempotencyRetentionMs: Int64 = 24 * 3_600_000,
              terms: BillingTerms = BillingTerms(), exportChunkBytes: Int = 1 << 20, instanceID: String = "",
              logger: Logger) {
    self.instanceID = instanceID
    precondition(changeRetention > 0 && idempotencyRetentionMs > 0)
    self.idempotencyRetentionMs = idempotencyRetentionMs
    self.terms = terms
    self.exportChunkBytes = exportChunkBytes
    self.changeRetention = changeRetention
    self.store = store
    self.clock = clock
    self.changes = changes
    self.health = health
    self.logger = logger
  }
}

/// Whether the store accepts writes: `NOT_SERVING` from a failed write until a write succeeds.
public final class HealthState: Sendable {
  private let failing = LockedState(false)
  public init() {}
  public var serving: Bool { !failing.withLock { $0 } }
  public func writeFailed() { failing.withLock { $0 = true } }
  public func writeSucceeded() { failing.withLock { $0 = false } }
}

final class KeysInFlight: Sendable {
  private let keys = LockedState(Set<String>())
  func claim(_ key: String) -> Bool { keys.withLock { $0.insert(key).inserted } }
  func release(_ key: String) { _ = keys.withLock { $0.remove(key) } }
}
