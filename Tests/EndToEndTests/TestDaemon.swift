import CTestSupport
import Foundation
import Glibc
import NIOCore
import NIOPosix
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import PracticeWire
import SwiftProtobuf
import Synchronization
import Testing

/// Who a test connection is, as the daemon sees it. The test daemon is configured with no operator
/// uid: the class comes from the supplementary group the test thread connects with.
enum PeerKind {
  case `operator`, service, denied

  var groups: [gid_t] {
    switch self {
    case .operator: [TestDaemon.operatorGID]
    case .service: [TestDaemon.serviceGID]
    case .denied: []
    }
  }
}

/// A real practiced process on a temporary socket with a temporary database.
/// `@unchecked`: `process` changes only in `start`, which a test calls from its own task.
final class TestDaemon: @unchecked Sendable {
  static let operatorGID: gid_t = 60_001
  static let serviceGID: gid_t = 60_002

  let directory: URL
  let socketPath: String
  let stateDirectory: String
  let logPath: String
  let extraArguments: [String]
  private(set) var process: Child?

  static var binary: String {
    if let b = ProcessInfo.processInfo.environment["PRACTICED_BIN"], !b.isEmpty { return b }
    // The test bundle sits beside the products it was built with.
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = here.deletingLastPathComponent()
    for _ in 0..<4 {
      let candidate = dir.appendingPathComponent("practiced").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      dir = dir.deletingLastPathComponent()
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/practiced").path
  }

  /// Starts a daemon. `stateDirectory` reuses another daemon's data (restarts).
  init(_ extraArguments: [String] = [], stateDirectory: String? = nil) async throws {
    directory = URL(fileURLWithPath: NSTemporaryDirectory())
      .appendingPathComponent("practiced-test-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    socketPath = directory.appendingPathComponent("p.sock").path
    self.stateDirectory = stateDirectory ?? directory.appendingPathComponent("state").path
    logPath = directory.appendingPathComponent("daemon.log").path
    self.extraArguments = extraArguments
    try await start()
  }

  var arguments: [String] {
    [
      "--socket", socketPath, "--state-dir", stateDirectory, "--test-hooks",
      "--operator-uids", "", "--operator-groups", "\(Self.operatorGID)",
      "--service-uids", "", "--service-groups", "\(Self.serviceGID)", "--log-level", "debug",
    ] + (extraArguments.contains("--database") ? [] : databaseURL.map { ["--database", $0] } ?? []) + extraArguments
  }

  /// The PostgreSQL server the suite runs against, when `PRACTICED_TEST_POSTGRES` names one
  /// (`SOCKET_DIR:USER`, set by scripts/test for its PostgreSQL pass): every daemon then gets a
  /// database of its own on it, named after its state directory (a restart finds its data again).
  static var postgres: (socketDirectory: String, user: String)? {
    guard let v = ProcessInfo.processInfo.environment["PRACTICED_TEST_POSTGRES"], let colon = v.lastIndex(of: ":")
    else { return nil }
    return (String(v[..<colon]), String(v[v.index(after: colon)...]))
  }

  static var onPostgres: Bool { postgres != nil }

  /// This daemon's database on the test server (nil for SQLite); `databaseName` is created on start.
  var databaseURL: String? { Self.postgresURL(databaseName) }

  /// The URL of database `name` on the test server (nil without one).
  static func postgresURL(_ name: String) -> String? {
    postgres.map { "postgresql://\($0.user)@/\(name)?host=\($0.socketDirectory)" }
  }

  var databaseName: String {
    // A database given with --database (several daemons on one database): its name.
    if let i = extraArguments.firstIndex(of: "--database"), i + 1 < extraArguments.count,
      let c = URLComponents(string: extraArguments[i + 1])
    {
      return String(c.path.drop(while: { $0 == "/" }))
    }
    return "t_" + stateDirectory.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
      .description
  }

  static let psql = "/usr/lib/postgresql/15/bin/psql"

  /// Runs SQL on the test server's database `database` (psql, unaligned, no headers); its output.
  static func psql(_ database: String, _ sql: String) async throws -> String {
    guard let pg = postgres else { throw TestFailure("no PostgreSQL test server") }
    let r = try await runCommand(
      psql, ["-h", pg.socketDirectory, "-U", pg.user, "-d", database, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql])
    guard r.status == 0 else { throw TestFailure("psql: \(r.err)") }
    return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Creates this daemon's database on the test server unless it exists.
  private func createDatabase() async throws {
    guard Self.postgres != nil, !extraArguments.contains("--database") else { return }
    if try await Self.psql("postgres", "SELECT 1 FROM pg_database WHERE datname = '\(databaseName)'") == "1" { return }
    _ = try await Self.psql("postgres", "CREATE DATABASE \(databaseName)")
  }

  /// Runs SQL on this daemon's database: psql on PostgreSQL, python3's sqlite3 on the SQLite file.
  func sql(_ query: String) async throws -> String {
    if Self.onPostgres { return try await Self.psql(databaseName, query) }
    let r = try await runCommand("python3", ["-c", """
      import sqlite3, sys
      for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchall(): print('|'.join(str(v) for v in row))
      """, stateDirectory + "/practiced.db", query])
    guard r.status == 0 else { throw TestFailure("sqlite3: \(r.err)") }
    return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// How `practicectl status` names the database.
  var databaseLabel: String {
    Self.onPostgres ? "/\(databaseName)?host=" : stateDirectory + "/practiced.db (sqlite)"
  }

  /// Holds a lock from outside the daemon for `seconds`, so that a mutation of `account` waits
  /// inside its write: SQLite's write lock (the file), or the account row's lock (PostgreSQL).
  /// Returns once the lock is held; the holder exits by itself.
  func holdWriteLock(account: String, seconds: Double) async throws -> Child {
    let lockedPath = directory.appendingPathComponent("locked").path
    let outFD = open(lockedPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    defer { close(outFD) }
    let holder: Child
    if let pg = Self.postgres {
      holder = try Child(Self.psql, [
        "-h", pg.socketDirectory, "-U", pg.user, "-d", databaseName, "-qtAX", "-c", "BEGIN",
        "-c", "SELECT 'locked' FROM accounts WHERE id = '\(account)' FOR UPDATE", "-c", "SELECT pg_sleep(\(seconds))",
        "-c", "ROLLBACK",
      ], stdout: outFD)
    } else {
      holder = try Child("python3", ["-c", """
        import sqlite3, sys, time
        c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
        c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(\(seconds)); c.execute('ROLLBACK')
        """, stateDirectory + "/practiced.db"], stdout: outFD)
    }
    let deadline = ContinuousClock.now + .seconds(10)
    while !((try? String(contentsOfFile: lockedPath, encoding: .utf8)) ?? "").contains("locked") {
      guard ContinuousClock.now < deadline, holder.isRunning else { throw TestFailure("the lock holder did not lock") }
      try await Task.sleep(for: .milliseconds(10))
    }
    return holder
  }

  func start() async throws {
    let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    defer { close(log) }
    try await createDatabase()
    var env = ProcessInfo.processInfo.environment
    env["NOTIFY_SOCKET"] = nil
    process = try Child(Self.binary, arguments, environment: env, stdout: log, stderr: log)
    try await waitUntilServing()
  }

  private func waitUntilServing() async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
      if let p = process, let status = p.exitStatus {
        throw TestFailure("practiced exited with \(status): \(log)")
      }
      let fd = pt_connect_with_groups(socketPath, [Self.operatorGID], 1)
      if fd >= 0 {
        close(fd)
        return
      }
      try await Task.sleep(for: .milliseconds(20))
    }
    throw TestFailure("practiced did not start: \(log)")
  }

  var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

  /// A raw connected socket with the given peer class.
  func rawConnect(as kind: PeerKind = .operator) throws -> Int32 {
    let groups = kind.groups
    let fd = groups.withUnsafeBufferPointer { pt_connect_with_groups(socketPath, $0.baseAddress, $0.count) }
    guard fd >= 0 else { throw TestFailure("connect failed: errno \(-fd)") }
    return fd
  }

  /// A client connection with the given peer class.
  func connect(as kind: PeerKind = .operator) async throws -> PracticeConnection {
    try await PracticeConnection.adopt(fd: try rawConnect(as: kind), group: MultiThreadedEventLoopGroup.singleton)
  }

  /// SIGTERM and wait; returns the exit status.
  @discardableResult
  func stop() async -> Int32 {
    guard let p = process else { return 0 }
    p.signal(SIGTERM)
    return await p.wait()
  }

  /// SIGKILL and wait.
  func kill9() async {
    guard let p = process else { return }
    p.signal(SIGKILL)
    await p.wait()
  }

  func restart() async throws {
    await stop()
    try await start()
  }

  func cleanUp() async {
    await stop()
    // Under `swift test --sanitize=address|thread` the daemon is built with the sanitizer too: its
    // reports land in its log.
    let log = self.log
    for marker in ["ERROR: AddressSanitizer", "WARNING: ThreadSanitizer", "runtime error:"] {
      if let at = log.range(of: marker) {
        let kept = NSTemporaryDirectory() + "practiced-sanitizer-\(UUID().uuidString.prefix(8)).log"
        try? log.write(toFile: kept, atomically: true, encoding: .utf8)
        Issue.record("practiced reported \(marker) (whole log: \(kept)):\n\(log[at.lowerBound...].prefix(4000))")
      }
    }
    try? FileManager.default.removeItem(at: directory)
  }
}

/// Frames and envelopes on a raw socket, for protocol tests that the client library would not send.
struct RawSocket {
  let fd: Int32

  func send(_ bytes: [UInt8]) throws {
    let r = bytes.withUnsafeBytes { pt_write_all(fd, $0.baseAddress, $0.count) }
    if r != 0 { throw TestFailure("write failed: \(-r)") }
  }

  func send(_ request: Practice_Rpc_V1_Request) throws {
    try send(Array(request.frame().readableBytesView))
  }

  func request<M: SwiftProtobuf.Message>(_ id: UInt64, _ method: String, _ m: M, timeoutMs: UInt32 = 0) throws {
    var r = Practice_Rpc_V1_Request()
    r.callID = id
    r.method = method
    r.payload = try m.serializedData()
    r.timeoutMs = timeoutMs
    try send(r)
  }

  /// Waits, without blocking a thread of the cooperative pool, until the socket is readable.
  private func waitReadable(timeoutMs: Int32) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(timeoutMs))
    while pt_readable(fd) == 0 {
      if ContinuousClock.now >= deadline { throw TestFailure("timed out") }
      try await Task.sleep(for: .milliseconds(2))
    }
  }

  /// Reads one response frame, or throws on timeout/EOF.
  func read(timeoutMs: Int32 = 5000) async throws -> Practice_Rpc_V1_Response {
    try await waitReadable(timeoutMs: timeoutMs)
    var header = [UInt8](repeating: 0, count: 4)
    let n = header.withUnsafeMutableBytes { pt_read_exact(fd, $0.baseAddress, 4, timeoutMs) }
    guard n == 4 else { throw TestFailure(n < 0 ? "read error \(-n)" : "EOF") }
    let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
    var body = [UInt8](repeating: 0, count: length)
    let m = body.withUnsafeMutableBytes { pt_read_exact(fd, $0.baseAddress, length, timeoutMs) }
    guard m == length else { throw TestFailure("short body") }
    return try Practice_Rpc_V1_Response(serializedBytes: body)
  }

  /// Whether the daemon closes the connection within the time.
  func closed(withinMs: Int32) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(withinMs))
    while ContinuousClock.now < deadline {
      if pt_readable(fd) == 1 && pt_wait_closed(fd, 0) == 1 { return true }
      try? await Task.sleep(for: .milliseconds(5))
    }
    return false
  }

  func close() { Glibc.close(fd) }
}

/// Runs `body` with a fresh daemon and always cleans up.
func withDaemon<T>(
  _ args: [String] = [], stateDirectory: String? = nil, _ body: (TestDaemon) async throws -> T
) async throws -> T {
  let d = try await TestDaemon(args, stateDirectory: stateDirectory)
  do {
    let r = try await body(d)
    await d.cleanUp()
    return r
  } catch {
    print("daemon log:\n\(d.log.suffix(4000))")
    await d.cleanUp()
    throw error
  }
}
