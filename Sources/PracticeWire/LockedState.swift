import Foundation

/// State behind an NSLock (a pthread mutex). The daemon and the client library use it rather than
/// `Synchronization.Mutex`: ThreadSanitizer sees a pthread mutex's ordering and not Mutex's, and reported
/// the state behind Mutex (call tables, subscriptions, free lists) as races that were none.
public final class LockedState<Value>: @unchecked Sendable {
  private var value: Value
  private let lock = NSLock()

  public init(_ value: Value) { self.value = value }

  public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
    lock.lock()
    defer { lock.unlock() }
    return try body(&value)
  }
}
