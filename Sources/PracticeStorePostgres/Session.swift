import Foundation
import Logging
import NIOCore
import PostgresNIO
import PracticeCore
import PracticeStore

/// A value bound to a statement's `$n` parameter.
enum PGValue {
  case text(String)
  case int(Int64)
  /// A 32-bit integer (the advisory lock functions' two-key form takes `integer`s).
  case int4(Int32)
  case bool(Bool)
  case bytes(Data)
  case texts([String])
  case null

  static func integer(_ v: some BinaryInteger) -> PGValue { .int(Int64(v)) }
  static func optionalText(_ v: String?) -> PGValue { v.map { .text($0) } ?? .null }
  static func optionalBytes(_ v: Data?) -> PGValue { v.map { .bytes($0) } ?? .null }

  func bind(_ b: inout PostgresBindings) {
    switch self {
    case .text(let s): b.append(s)
    case .int(let i): b.append(i)
    case .int4(let i): b.append(i)
    case .bool(let f): b.append(f)
    case .bytes(let d): b.append(ByteBuffer(bytes: d))
    case .texts(let a): b.append(a)
    case .null: b.appendNull()
    }
  }
}

/// One connection to the database, used by one thread at a time (a store call's, which blocks on
/// the connection's futures: the store's seam is synchronous, and its calls run on the store's
/// own threads, never on an event loop or the cooperative pool).
///
/// Statements whose result the caller need not see at once (`BEGIN`, `SAVEPOINT`, the account's
/// lock, writes without `RETURNING`, a read's `COMMIT`) are sent without waiting: PostgreSQL answers
/// them in order, and the next waited statement implies they ran; `flush` collects their outcome, and
/// a waited statement that fails reports the earliest of their failures instead of its own.
///
/// Every statement's answer is raced against the connection's end: postgres-nio writes a statement
/// to its channel without a write promise, so a statement sent as the server dies (stopped in
/// immediate mode, say) may never be answered, and a store thread waiting for it would wait for
/// ever. When the connection closes, every statement still waiting fails instead. And a statement
/// unanswered past the deadline (a network that drops packets without a reset, a server that hangs)
/// closes the connection: checked every few seconds, at no cost per statement beyond noting when it
/// was sent.
final class Session: @unchecked Sendable {
  let connection: PostgresConnection
  private let logger: Logger
  private var pending: [EventLoopFuture<PostgresQueryResult>] = []
  /// Set when the connection failed: the pool drops it and connects again.
  private(set) var broken = false
  private let waiting = LockedState(Waiting())

  /// The statements whose answers are awaited, failed together when the connection closes.
  private struct Waiting {
    var closed = false
    var next: UInt64 = 0
    var promises: [UInt64: (promise: EventLoopPromise<PostgresQueryResult>, sent: NIODeadline)] = [:]
  }

  init(connection: PostgresConnection, deadline: TimeAmount, logger: Logger) {
    self.connection = connection
    self.logger = logger
    let check = deadline < .seconds(10) ? deadline : .seconds(5)
    let watch = connection.eventLoop.scheduleRepeatedTask(initialDelay: check, delay: check) { [waiting] _ in
      let now = NIODeadline.now()
      let stuck = waiting.withLock { w in w.promises.values.contains { now - $0.sent > deadline } }
      guard stuck else { return }
      logger.warning(
        "database: a statement got no answer in time; closing its connection",
        metadata: ["deadline_ms": "\(deadline.nanoseconds / 1_000_000)"])
      connection.close().whenComplete { _ in }
    }
    connection.closeFuture.whenComplete { [waiting] _ in
      watch.cancel()
      let orphans = waiting.withLock { w in
        w.closed = true
        defer { w.promises = [:] }
        return w.promises.values.map(\.promise)
      }
      for p in orphans { p.fail(Session.closed) }
    }
  }

  static let closed = StoreError(.unavailable, "the database connection closed before the statement was answered")

  /// The statement's answer, or a failure as soon as the connection is closed.
  private func answer(_ sent: EventLoopFuture<PostgresQueryResult>) -> EventLoopFuture<PostgresQueryResult> {
    let promise = sent.eventLoop.makePromise(of: PostgresQueryResult.self)
    let key = waiting.withLock { w -> UInt64? in
      guard !w.closed else { return nil }
      w.next += 1
      w.promises[w.next] = (promise, .now())
      return w.next
    }
    guard let key else {
      promise.fail(Session.closed)
      return promise.futureResult
    }
    sent.whenComplete { [waiting] result in
      _ = waiting.withLock { $0.promises.removeValue(forKey: key) }
      promise.completeWith(result)
    }
    return promise.futureResult
  }

  private func makeQuery(_ sql: String, _ values: [PGValue]) -> PostgresQuery {
    var b = PostgresBindings(capacity: values.count)
    for v in values { v.bind(&b) }
    return PostgresQuery(unsafeSQL: sql, binds: b)
  }

  /// Runs a statement and waits for its rows. When it fails, a statement sent before it without
  /// waiting that failed is the one reported: after a failure PostgreSQL refuses every statement of
  /// the transaction ("current transaction is aborted"), which would hide the cause (a deadlock to
  /// retry, a unique violation).
  func query(_ sql: String, _ values: [PGValue] = []) throws -> PostgresQueryResult {
    do {
      return try answer(connection.query(makeQuery(sql, values), logger: logger)).wait()
    } catch {
      noteFailure(error)
      try flush()
      throw error
    }
  }

  /// Sends a statement without waiting for it.
  func send(_ sql: String, _ values: [PGValue] = []) {
    pending.append(answer(connection.query(makeQuery(sql, values), logger: logger)))
  }

  /// Waits for every statement sent; throws the first failure.
  func flush() throws {
    let sent = pending
    pending = []
    var first: (any Error)?
    for f in sent {
      do { _ = try f.wait() } catch {
        noteFailure(error)
        if first == nil { first = error }
      }
    }
    if let first { throw first }
  }

  private func noteFailure(_ error: any Error) {
    if let e = error as? PSQLError, e.code != .server { broken = true }
    if connection.isClosed { broken = true }
  }

  var isUsable: Bool { !broken && !connection.isClosed }

  /// Closes the connection without waiting (it is kept until closed: postgres-nio asserts that a
  /// connection is closed before it goes).
  func closeQuietly() {
    let connection = self.connection
    let future: EventLoopFuture<Void> = connection.close()
    future.whenComplete { _ in withExtendedLifetime(connection) {} }
  }
}

/// A fixed number of sessions, connected on first use and again after a failure.
final class SessionPool: Sendable {
  private let slots: LockedState<[Session?]>
  private let available: DispatchSemaphore
  private let connect: @Sendable () throws -> Session

  init(size: Int, connect: @escaping @Sendable () throws -> Session) {
    slots = LockedState(Array(repeating: nil, count: size))
    available = DispatchSemaphore(value: 0)
    for _ in 0..<size { available.signal() }
    self.connect = connect
  }

  /// Runs `body` with a session of its own (blocks while every session is in use).
  func withSession<T>(_ body: (Session) throws -> T) throws -> T {
    available.wait()
    var session = slots.withLock { $0.removeLast() }
    defer {
      if let s = session, !s.isUsable {
        s.closeQuietly()
        session = nil
      }
      let kept = session
      slots.withLock { $0.append(kept) }
      available.signal()
    }
    if session == nil || !session!.isUsable {
      if let s = session { s.closeQuietly() }
      session = nil
      session = try connect()
    }
    // Whatever the last user sent without waiting (a read's COMMIT) is answered before this user's
    // first statement; its outcome concerns nobody now.
    try? session!.flush()
    return try body(session!)
  }

  /// Closes every idle session (the store is closing).
  func close() {
    let all = slots.withLock { s in
      defer { s = s.map { _ in nil } }
      return s
    }
    for case let s? in all { s.closeQuietly() }
  }
}
