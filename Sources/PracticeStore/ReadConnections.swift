import Foundation
import GRDB
import PracticeCore

/// Read-only connections kept open for `SQLiteStore.read`, one handed to each reading thread at a
/// time (in practice one per event loop, since reads are served there).
///
/// GRDB's `DatabasePool.read` is correct but costs more than a short indexed read itself: a
/// generic pool checkout, a savepoint whose `BEGIN` and `COMMIT` are parsed on every call, a schema
/// version check. Here a read takes a connection off a free list, runs in a transaction begun and
/// ended by prepared statements (one snapshot, as the pool gives), and puts the connection back.
/// WAL lets these connections read while the writer writes.
final class ReadConnections: Sendable {
  private let path: String
  private let configuration: Configuration
  /// Idle connections. More than `keep` idle ones are closed.
  private let idle = LockedState<[DatabaseQueue]>([])
  private let keep: Int

  /// `keep`: reads run on the event loops and on the tasks' cooperative pool, one thread per core
  /// each, so up to two reads per core at once; fewer idle connections would open and close one on
  /// every read past them.
  init(path: String, keep: Int = 2 * ProcessInfo.processInfo.activeProcessorCount) {
    var config = Configuration()
    config.readonly = true
    config.busyMode = .timeout(10)
    config.label = "practiced.read"
    self.configuration = config
    self.path = path
    self.keep = keep
  }

  func read<T>(_ body: (Database) throws -> T) throws -> T {
    let queue = try idle.withLock { $0.popLast() } ?? DatabaseQueue(path: path, configuration: configuration)
    defer {
      idle.withLock { if $0.count < keep { $0.append(queue) } }
    }
    return try queue.inDatabase { db in try db.readTransaction { try body(db) } }
  }

  /// Closes the idle connections (the store is closing; no read is in flight).
  func close() {
    let queues = idle.withLock { q in
      defer { q.removeAll() }
      return q
    }
    for q in queues { try? q.close() }
  }
}
