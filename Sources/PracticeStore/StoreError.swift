/// A storage failure in the store's own terms. Each backend maps its errors to these (SQLite:
/// `SQLiteStore.map`); the services map these to the status a caller gets, in one place
/// (`StoreError.rpcError`, PracticeServices).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
  public enum Kind: Sendable, Equatable {
    /// The disk is full: writes are refused until space returns; reads work.
    case full
    /// The database cannot serve the call for now (read-only file, I/O error, locked, unreachable).
    case unavailable
    /// A write conflicts with an existing row (a uniqueness rule).
    case conflict
    /// A room booking overlaps an active one (the database's exclusion constraint, PostgreSQL).
    case overlap
    /// A row the write expected is gone.
    case notFound
    /// A stored row cannot be read back (a bug or a damaged file).
    case corrupt
    /// Anything else the backend reported.
    case other
  }

  public let kind: Kind
  /// What happened, for logs and the status message; never holds row contents.
  public let message: String

  public init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }

  public var description: String { "\(kind): \(message)" }
}
