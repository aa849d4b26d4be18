import Foundation

/// Where a PostgreSQL database is, from libpq's URL form:
/// `postgresql://USER@/DBNAME?host=/run/postgresql` (a socket directory) or
/// `postgresql://USER@HOST:PORT/DBNAME`. The password never comes from the URL (it would be on a
/// command line or in a configuration file that is logged): it comes from `PGPASSWORD` or a
/// password file.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
  public enum Endpoint: Sendable, Equatable {
    /// A Unix socket: `DIRECTORY/.s.PGSQL.PORT`.
    case socket(directory: String, port: Int)
    case tcp(host: String, port: Int)
  }

  public var endpoint: Endpoint
  public var user: String
  public var database: String

  /// Whether `text` names a PostgreSQL database (rather than a SQLite file).
  public static func isPostgres(_ text: String) -> Bool {
    text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
  }

  public struct Invalid: Error, CustomStringConvertible {
    public var description: String
  }

  public init(_ text: String) throws {
    guard Self.isPostgres(text), let c = URLComponents(string: text) else {
      throw Invalid(description: "not a postgresql:// URL")
    }
    if c.password != nil {
      throw Invalid(description: "the URL holds a password: give it in PGPASSWORD or password_file instead")
    }
    let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
    for name in query.keys where !["host", "port", "user", "dbname"].contains(name) {
      throw Invalid(description: "unknown URL parameter \(name) (known: host, port, user, dbname)")
    }
    var port = c.port ?? 5432
    if let p = query["port"] {
      guard let n = Int(p), (1...65535).contains(n) else { throw Invalid(description: "port: not a port number") }
      port = n
    }
    let host = query["host"] ?? (c.host?.isEmpty == false ? c.host! : "/run/postgresql")
    endpoint = host.hasPrefix("/") ? .socket(directory: host, port: port) : .tcp(host: host, port: port)
    guard let user = query["user"] ?? c.user.flatMap({ $0.isEmpty ? nil : $0.removingPercentEncoding }) else {
      throw Invalid(description: "no user: postgresql://USER@/DBNAME?host=/run/postgresql")
    }
    self.user = user
    let path = String(c.path.drop(while: { $0 == "/" }))
    guard let database = query["dbname"] ?? (path.isEmpty ? nil : path.removingPercentEncoding) else {
      throw Invalid(description: "no database name: postgresql://USER@/DBNAME?host=/run/postgresql")
    }
    self.database = database
  }

  /// The URL without secrets (it never holds one), for logs.
  public var description: String {
    switch endpoint {
    case .socket(let dir, let port): "postgresql://\(user)@/\(database)?host=\(dir)&port=\(port)"
    case .tcp(let host, let port): "postgresql://\(user)@\(host):\(port)/\(database)"
    }
  }
}
