import Foundation

/// State behind an NSLock (a pthread mutex). The daemon and the client library use it rather than
/// `Synchronization.Mutex`: ThreadSanitizer sees a pthread mutex's ordering and not Mutex's, and reported
/// the state behind Mutex (call tables, subscriptions, free lists) as races that were none.
/// Inlinable, so that callers in other modules get a specialized `withLock` (unspecialized, each call
/// looked up generic metadata at run time).
/// `@unchecked`: `value` is only reached through `withLock`.
public final class LockedState<Value>: @unchecked Sendable {
  @usableFromInline var value: Value
  @usableFromInline let lock = NSLock()

  @inlinable public init(_ value: Value) { self.value = value }

  @inlinable public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
    lock.lock()
    defer { lock.unlock() }
    return try body(&value)
  }
}
