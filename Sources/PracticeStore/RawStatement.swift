import Foundation
import GRDB
import GRDBSQLite

/// A statement bound and stepped through SQLite's C API: the one way `SQLiteAccess` runs its
/// statements. GRDB still prepares, caches and finalizes it (`cachedStatement`); this skips GRDB's
/// per-call machinery (an argument array of existentials,
/// validation, a cursor, a Row, observation callbacks), which costs more than SQLite's own work for
/// the one-row statements every mutation runs (the account and business information reads, their
/// write, the change sequence, the audit and change events) and for the room conflict search.
/// Measured on the group-commit thread at 64 writers, GRDB's share was a fifth of its samples.
///
/// GRDB hands out one cached statement per SQL text, reset when its `RawStatement` ends: a statement
/// must end before the same SQL is run again (`SQLiteAccess`'s helpers each run one and end it).
/// A statement run this way is only run this way: GRDB would not know what is bound. Only
/// statements that neither begin nor end a transaction or savepoint (GRDB tracks those) belong here.
/// Every value is a bound parameter.
struct RawStatement: ~Copyable {
  private let statement: Statement  // keeps GRDB's prepared statement alive while it is used
  private let handle: OpaquePointer
  private let connection: OpaquePointer?
  private let sql: String

  init(_ db: Database, _ sql: String) throws {
    statement = try db.cachedStatement(sql: sql)
    handle = statement.sqliteStatement
    connection = db.sqliteConnection
    self.sql = sql
  }

  deinit {
    sqlite3_reset(handle)
    sqlite3_clear_bindings(handle)
  }

  private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

  /// Binds the values to the parameters 1, 2, ... in order.
  func bind(_ values: Value...) throws { try bind(values) }

  /// Binds the values to the parameters 1, 2, ... in order.
  func bind(_ values: [Value]) throws {
    for (i, value) in zip(Int32(1)..., values) {
      let code: Int32
      switch value {
      case .int(let n):
        code = sqlite3_bind_int64(handle, i, n)
      case .text(let s):
        // withCString always gives a pointer, so an empty string binds '' and never NULL.
        code = s.withCString { sqlite3_bind_text(handle, i, $0, Int32(s.utf8.count), Self.transient) }
      case .null:
        code = sqlite3_bind_null(handle, i)
      case .blob(let d):
        code = d.isEmpty
          ? sqlite3_bind_zeroblob(handle, i, 0)
          : d.withUnsafeBytes { sqlite3_bind_blob(handle, i, $0.baseAddress, Int32($0.count), Self.transient) }
      }
      guard code == SQLITE_OK else { throw failure(code) }
    }
  }

  /// Steps once: true when a row is ready to read.
  func step() throws -> Bool {
    switch sqlite3_step(handle) {
    case SQLITE_ROW: return true
    case SQLITE_DONE: return false
    case let code: throw failure(code)
    }
  }

  /// Steps to the end of a statement that returns no row.
  func run() throws {
    while try step() {}
  }

  func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

  /// The column's bytes (a copy); nil when it is NULL.
  func data(_ column: Int32) -> Data? {
    guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
    // SQLite's order: the pointer first, then its length.
    let bytes = sqlite3_column_blob(handle, column)
    let count = Int(sqlite3_column_bytes(handle, column))
    guard let bytes, count > 0 else { return Data() }
    return Data(bytes: bytes, count: count)
  }

  /// The column's text; nil when it is NULL.
  func text(_ column: Int32) -> String? {
    guard sqlite3_column_type(handle, column) != SQLITE_NULL, let bytes = sqlite3_column_text(handle, column) else {
      return nil
    }
    let count = Int(sqlite3_column_bytes(handle, column))
    return String(decoding: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self)
  }

  private func failure(_ code: Int32) -> DatabaseError {
    DatabaseError(
      resultCode: ResultCode(rawValue: code),
      message: connection.map { String(cString: sqlite3_errmsg($0)) }, sql: sql)
  }

  enum Value {
    case int(Int64)
    case text(String)
    case blob(Data)
    case null

    static func integer(_ n: some BinaryInteger) -> Value { .int(Int64(n)) }
    static func flag(_ b: Bool) -> Value { .int(b ? 1 : 0) }
    /// NULL for nil.
    static func optionalText(_ s: String?) -> Value { s.map { .text($0) } ?? .null }
  }
}
