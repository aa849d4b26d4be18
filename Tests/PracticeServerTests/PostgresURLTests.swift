import PracticeStorePostgres
import Testing

/// `--database`'s URL, alone: where it points, and how a TCP connection is protected.
@Suite("PostgreSQL URLs")
struct PostgresURLTests {
  @Test("a socket directory or a host; the user and database from the URL or its parameters")
  func endpoints() throws {
    let socket = try PostgresURL("postgresql://practiced@/practice?host=/run/postgresql")
    #expect(socket.endpoint == .socket(directory: "/run/postgresql", port: 5432))
    #expect(socket.user == "practiced" && socket.database == "practice")
    #expect(socket.tls == .disable)
    let tcp = try PostgresURL("postgres://app@db.example:6432/practice")
    #expect(tcp.endpoint == .tcp(host: "db.example", port: 6432))
    let params = try PostgresURL("postgresql:///?host=db.example&port=5433&user=u&dbname=d")
    #expect(params.endpoint == .tcp(host: "db.example", port: 5433) && params.user == "u" && params.database == "d")
  }

  @Test("over TCP: verify-full unless the URL says otherwise; sslrootcert only where certificates are checked")
  func tlsModes() throws {
    #expect(try PostgresURL("postgresql://u@db.example/d").tls == .verifyFull)
    #expect(try PostgresURL("postgresql://u@db.example/d?sslmode=verify-ca&sslrootcert=/etc/ca.pem").tls == .verifyCA)
    #expect(try PostgresURL("postgresql://u@db.example/d?sslmode=verify-ca&sslrootcert=/etc/ca.pem").rootCertificates == "/etc/ca.pem")
    #expect(try PostgresURL("postgresql://u@db.example/d?sslmode=require").tls == .require)
    #expect(try PostgresURL("postgresql://u@db.example/d?sslmode=disable").tls == .disable)
    // A socket needs no TLS, whatever the URL says.
    #expect(try PostgresURL("postgresql://u@/d?host=/run/postgresql&sslmode=verify-full").tls == .disable)
    for refused in [
      "postgresql://u@db.example/d?sslmode=prefer",  // would fall back to plain text
      "postgresql://u@db.example/d?sslmode=allow",
      "postgresql://u@db.example/d?sslmode=require&sslrootcert=/etc/ca.pem",  // not checked: a false comfort
      "postgresql://u@db.example/d?sslmode=disable&sslrootcert=/etc/ca.pem",
    ] {
      #expect(throws: PostgresURL.Invalid.self, "\(refused)") { _ = try PostgresURL(refused) }
    }
  }

  @Test("refused: a password in the URL, an unknown parameter, a bad port, no user, no database, not postgresql://")
  func refusals() {
    for refused in [
      "postgresql://u:secret@db.example/d", "postgresql://u@db.example/d?connect_timeout=3",
      "postgresql://u@db.example/d?port=0", "postgresql://db.example/d", "postgresql://u@db.example",
      "mysql://u@db.example/d",
    ] {
      #expect(throws: PostgresURL.Invalid.self, "\(refused)") { _ = try PostgresURL(refused) }
    }
  }

  @Test("the URL as logged names the TLS mode and never a password")
  func description() throws {
    #expect(try PostgresURL("postgresql://u@db.example/d?sslmode=verify-ca&sslrootcert=/etc/ca.pem").description
      == "postgresql://u@db.example:5432/d?sslmode=verify-ca&sslrootcert=/etc/ca.pem")
    #expect(try PostgresURL("postgresql://u@/d?host=/run/postgresql").description == "postgresql://u@/d?host=/run/postgresql&port=5432")
  }
}
