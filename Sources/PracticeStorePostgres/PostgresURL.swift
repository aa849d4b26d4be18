import Foundation

/// Where a PostgreSQL database is, from libpq's URL form:
/// `postgresql://USER@/DBNAME?host=/run/postgresql` (a socket directory) or
/// `postgresql://USER@HOST:PORT/DBNAME`. The password never comes from the URL (it would be on a
/// command line or in a configuration file that is logged): it comes from `PGPASSWORD` or a
/// password file.
///
/// Over TCP the connection is encrypted and the server's certificate checked against its host name
/// unless the URL says otherwise (`sslmode`, as libpq spells it: `verify-full`, the default here;
/// `verify-ca`; `require`, encrypted but unchecked; `disable`), trusting the system's certificate
/// authorities or those of `sslrootcert=FILE` (PEM). A Unix socket needs no TLS.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
  public enum Endpoint: Sendable, Equatable {
    /// A Unix socket: `DIRECTORY/.s.PGSQL.PORT`.
    case socket(directory: String, port: Int)
    case tcp(host: String, port: Int)
  }

  /// How a TCP connection is protected (libpq's `sslmode`).
  public enum TLSMode: String, Sendable, Equatable, CaseIterable {
    case disable
    case require
    case verifyCA = "verify-ca"
    case verifyFull = "verify-full"
  }

  public var endpoint: Endpoint
  public var user: String
  public var database: String
  /// `.disable` for a Unix socket.
  public var tls: TLSMode
  /// Certificate authorities to trust instead of the system's (PEM).
  public var rootCertificates: String?

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
    let known = ["host", "port", "user", "dbname", "sslmode", "sslrootcert"]
    for name in query.keys where !known.contains(name) {
      throw Invalid(description: "unknown URL parameter \(name) (known: \(known.joined(separator: ", ")))")
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
    if case .socket = endpoint {
      tls = .disable
    } else if let mode = query["sslmode"] {
      guard let m = TLSMode(rawValue: mode) else {
        let modes = TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
        throw Invalid(description: "sslmode: \(mode) is not one of \(modes) (allow and prefer would fall back to plain text)")
      }
      tls = m
    } else {
      tls = .verifyFull
    }
    rootCertificates = query["sslrootcert"].flatMap { $0.isEmpty ? nil : $0 }
    if rootCertificates != nil, tls == .disable || tls == .require {
      throw Invalid(description: "sslrootcert is used only with sslmode=verify-ca or verify-full")
    }
  }

  /// The URL without secrets (it never holds one), for logs.
  public var description: String {
    switch endpoint {
    case .socket(let dir, let port): "postgresql://\(user)@/\(database)?host=\(dir)&port=\(port)"
    case .tcp(let host, let port):
      "postgresql://\(user)@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
        + (rootCertificates.map { "&sslrootcert=\($0)" } ?? "")
    }
  }
}
