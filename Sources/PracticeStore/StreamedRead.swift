import Foundation
import PracticeCore

/// A long read handed to an async consumer, item by item, with bounded memory (`Store.readEach`).
///
/// `produce` runs on a thread of its own, never on the caller's: it blocks whenever `window` items
/// wait for `consume`, and a blocked thread of the cooperative pool would stall other tasks. However
/// the consumer stops (done, failed, cancelled), a producer waiting for room wakes, sees the stop
/// (its `emit` throws `CancellationError`), and ends its transaction. Every backend's `readEach` is this.
public enum StreamedRead {
  public static func run<Item: Sendable>(
    window: Int, threadName: String,
    produce: @escaping @Sendable (_ emit: (Item) throws -> Void) throws -> Void,
    mapError: @escaping @Sendable (any Error) -> any Error = { $0 },
    consume: (Item) async throws -> Void
  ) async throws {
    let (items, continuation) = AsyncThrowingStream<Item, Error>.makeStream(bufferingPolicy: .unbounded)
    // Created at 0 and raised to the window: libdispatch traps when a semaphore is freed below the
    // value it was created with, which a stopped read leaves it at.
    let credits = DispatchSemaphore(value: 0)
    for _ in 0..<max(1, window) { credits.signal() }
    let stopped = LockedState(false)
    continuation.onTermination = { _ in
      stopped.withLock { $0 = true }
      credits.signal()
    }
    let thread = Thread {
      do {
        try produce { item in
          credits.wait()
          if stopped.withLock({ $0 }) { throw CancellationError() }
          continuation.yield(item)
        }
        continuation.finish()
      } catch {
        continuation.finish(throwing: mapError(error))
      }
    }
    thread.name = threadName
    thread.start()
    do {
      for try await item in items {
        try await consume(item)
        credits.signal()
      }
    } catch {
      // The producer may be waiting for a credit: let it see the stop and end its transaction.
      stopped.withLock { $0 = true }
      credits.signal()
      throw error
    }
  }
}
