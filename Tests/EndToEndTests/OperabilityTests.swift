import CTestSupport
import Foundation
import Glibc
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import PracticeWire
import Testing

/// A scratch directory for a test that starts daemons by hand.
private func scratch() throws -> URL {
  let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("practiced-op-\(UUID().uuidString.prefix(8))")
  try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  return dir
}

/// Runs practiced with `arguments` until it exits (or `limit` passes: then it is killed and the
/// test fails); returns its status, its output and how long it ran.
private func runDaemon(_ arguments: [String], limit: Duration = .seconds(10)) async throws
  -> (status: Int32, output: String, took: Duration)
{
  let dir = try scratch()
  defer { try? FileManager.default.removeItem(at: dir) }
  let logPath = dir.appendingPathComponent("log").path
  let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
  let start = ContinuousClock.now
  let child = try Child(TestDaemon.binary, arguments, stdout: log, stderr: log)
  close(log)
  while child.isRunning && ContinuousClock.now - start < limit {
    try await Task.sleep(for: .milliseconds(10))
  }
  if child.isRunning {
    child.signal(SIGKILL)
    Issue.record("practiced \(arguments) still ran after \(limit)")
  }
  let status = await child.wait()
  return (status, (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "", ContinuousClock.now - start)
}

/// A Unix socket bound to `path` (not listening).
private func boundSocket(_ path: String) throws -> Int32 {
  let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
  var addr = sockaddr_un()
  addr.sun_family = sa_family_t(AF_UNIX)
  withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
  let bound = withUnsafePointer(to: &addr) { p in
    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
  }
  guard fd >= 0, bound == 0 else { throw TestFailure("cannot bind \(path): errno \(errno)") }
  return fd
}

/// A connection to a daemon started by hand, once it listens (at most 4 s).
private func connectWhenUp(_ path: String, log: String? = nil) async throws -> PracticeConnection {
  for _ in 0..<200 {
    if let c = try? await PracticeConnection.connect(path: path) { return c }
    try await Task.sleep(for: .milliseconds(20))
  }
  throw TestFailure("no daemon on \(path): \(log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "")")
}

/// SIGSTOP, then waits until every thread of the process is stopped: the signal reaches one thread,
/// which stops the others, and until then one of them may still answer a call.
func stopCompletely(_ pid: Int32) async throws {
  kill(pid, SIGSTOP)
  for _ in 0..<200 {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    let running = tasks.contains { task in
      guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { return false }
      let state = stat[stat.index(close, offsetBy: 2)]
      return state != "T" && state != "t"
    }
    if !running { return }
    try await Task.sleep(for: .milliseconds(10))
  }
  throw TestFailure("process \(pid) did not stop")
}

/// The fields of one logfmt line after its `<N>label: message` part: (key, value) in order.
func logfmtFields(_ line: String) -> [(String, String)] {
  var fields: [(String, String)] = []
  var chars = Array(line)[...]
  func skipSpaces() { while chars.first == " " { chars = chars.dropFirst() } }
  // The message: a bare run of words with no '=' in any of them, or a quoted string.
  if let colon = line.range(of: ": ") { chars = Array(line[colon.upperBound...])[...] }
  if chars.first == "\"" {
    chars = chars.dropFirst()
    while let c = chars.first, c != "\"" { chars = chars.dropFirst(c == "\\" ? 2 : 1) }
    chars = chars.dropFirst()
  }
  while !chars.isEmpty {
    skipSpaces()
    var word = ""
    while let c = chars.first, c != " ", c != "=" { word.append(c); chars = chars.dropFirst() }
    guard chars.first == "=" else { continue }  // a word of the message
    chars = chars.dropFirst()
    var value = ""
    if chars.first == "\"" {
      chars = chars.dropFirst()
      while let c = chars.first, c != "\"" {
        if c == "\\", chars.count > 1 { value.append(chars[chars.startIndex + 1]); chars = chars.dropFirst(2); continue }
        value.append(c)
        chars = chars.dropFirst()
      }
      chars = chars.dropFirst()
    } else {
      while let c = chars.first, c != " " { value.append(c); chars = chars.dropFirst() }
    }
    fields.append((word, value))
  }
  return fields
}

@Suite("Operability: start-up refusals, files, logs, idle close, health, client deadlines")
struct OperabilityTests {
  @Test("a regular file at the socket path: exit non-zero at once, naming the path; the file is left as it was")
  func regularFileAtSocket() async throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("not-a-socket").path
    try "keep me\n".write(toFile: path, atomically: true, encoding: .utf8)
    let r = try await runDaemon(["--socket", path, "--state-dir", dir.appendingPathComponent("state").path])
    #expect(r.status != 0)
    // About 20 ms alone, 2 s seen beside the parallel suite on 2 cores. scripts/test checks the
    // one-second promise on its own, with nothing else running.
    #expect(r.took < .seconds(5), "took \(r.took)")
    #expect(r.output.contains(path) && r.output.contains("not a socket"), "\(r.output)")
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me\n")
    // Nothing was opened: no database beside the lock.
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("state/practiced.db").path))
  }

  @Test("a 126-byte socket path: exit non-zero at once, naming the limit")
  func longSocketPath() async throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(at: dir) }
    let prefix = dir.path + "/"
    let path = prefix + String(repeating: "s", count: 126 - prefix.utf8.count)
    #expect(path.utf8.count == 126)
    let r = try await runDaemon(["--socket", path, "--state-dir", dir.appendingPathComponent("state").path])
    #expect(r.status != 0)
    #expect(r.took < .seconds(5), "took \(r.took)")
    #expect(r.output.contains("126 bytes"), "\(r.output)")
  }

  @Test("a bind that fails after the database opened (a socket in /proc) exits non-zero at once instead of spinning")
  func bindFailureExits() async throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(at: dir) }
    // /proc refuses a new file: the bind itself fails, after the checks and the database.
    let r = try await runDaemon(["--socket", "/proc/practiced-\(getpid()).sock", "--state-dir", dir.appendingPathComponent("state").path])
    #expect(r.status != 0)
    #expect(r.took < .seconds(5), "took \(r.took)")
    #expect(r.output.contains("cannot bind"), "\(r.output)")
  }

  @Test("a refused foreign database stays byte for byte as it was, with no WAL or shared-memory file left")
  func foreignDatabaseUntouched() async throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(at: dir) }
    let state = dir.appendingPathComponent("state")
    try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
    let db = state.appendingPathComponent("practiced.db").path
    let made = try await runCommand("/usr/bin/sqlite3", [db, "CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES ('theirs');"])
    try #require(made.status == 0, "sqlite3: \(made.err)")
    let before = try Data(contentsOf: URL(fileURLWithPath: db))
    let r = try await runDaemon(["--socket", dir.appendingPathComponent("s.sock").path, "--state-dir", state.path])
    #expect(r.status != 0)
    #expect(r.output.contains("not a practiced database"), "\(r.output)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before)
    #expect(!FileManager.default.fileExists(atPath: db + "-wal") && !FileManager.default.fileExists(atPath: db + "-shm"))
  }

  @Test("a second daemon on the same state, or on a socket a live daemon answers on, refuses and touches nothing; the first still answers")
  func secondDaemonRefused() async throws {
    try await withDaemon { d in
      let sameState = try await runDaemon(["--socket", d.directory.appendingPathComponent("other.sock").path, "--state-dir", d.stateDirectory])
      #expect(sameState.status != 0)
      #expect(sameState.output.contains("another practiced") && sameState.output.contains(d.stateDirectory), "\(sameState.output)")
      #expect(!FileManager.default.fileExists(atPath: d.directory.appendingPathComponent("other.sock").path))

      let otherState = d.directory.appendingPathComponent("state2").path
      let sameSocket = try await runDaemon(["--socket", d.socketPath, "--state-dir", otherState])
      #expect(sameSocket.status != 0)
      #expect(sameSocket.output.contains("already listening"), "\(sameSocket.output)")
      #expect(!FileManager.default.fileExists(atPath: otherState + "/practiced.db"))

      let c = try await d.connect()
      #expect(try await c.health.check().status == .serving)
      _ = try await c.accounts.createAccount(Make.account())
      await c.close()
    }
  }

  @Test("a stale socket file (no one listening) is replaced")
  func staleSocketReplaced() async throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("p.sock").path
    // A socket bound and never listened on: connecting to it is refused, as to a dead daemon's.
    close(try boundSocket(path))
    let log = dir.appendingPathComponent("log").path
    let out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let child = try Child(TestDaemon.binary, ["--socket", path, "--state-dir", dir.appendingPathComponent("state3").path,
                                              "--operator-uids", "0"], stdout: out, stderr: out)
    close(out)
    defer { child.signal(SIGKILL) }
    let client = try await connectWhenUp(path, log: log)
    #expect(try await client.health.check().status == .serving)
    await client.close()
    child.signal(SIGTERM)
    #expect(await child.wait() == 0)
  }

  @Test("under umask 000: the state directory is 0700, the database, its WAL and shared memory, and the lock 0600, the socket 0660")
  func fileModes() async throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(at: dir) }
    let state = dir.appendingPathComponent("state").path
    let socketPath = dir.appendingPathComponent("p.sock").path
    let command = "umask 000; exec '\(TestDaemon.binary)' --socket '\(socketPath)' --state-dir '\(state)' --operator-uids 0"
    let child = try Child("/bin/sh", ["-c", command])
    defer { child.signal(SIGKILL) }
    let client = try await connectWhenUp(socketPath)
    _ = try await client.accounts.createAccount(Make.account())
    func mode(_ path: String) -> mode_t {
      var st = stat()
      return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0o7777
    }
    #expect(mode(state) == 0o700)
    for file in ["practiced.db", "practiced.db-wal", "practiced.db-shm", "practiced.lock"] {
      #expect(mode(state + "/" + file) == 0o600, "\(file): \(String(mode(state + "/" + file), radix: 8))")
    }
    #expect(mode(socketPath) == 0o660)
    await client.close()
    child.signal(SIGTERM)
    #expect(await child.wait() == 0)
  }

  @Test("a request id that looks like fields stays one quoted value: the call's log line has exactly one uid field")
  func forgedRequestID() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      _ = try await c.accounts.createAccount(Make.account(), options: .init(requestID: "x uid=4242 pid=1"))
      await c.close()
      let line = try #require(d.log.split(separator: "\n").first { $0.contains("mutation applied") }.map(String.init))
      let fields = logfmtFields(line)
      #expect(fields.filter { $0.0.hasSuffix("uid") }.map(\.0) == ["peer_uid"], "\(line)")
      #expect(fields.first { $0.0 == "request_id" }?.1 == "x uid=4242 pid=1", "\(line)")
    }
  }

  @Test("an idle connection hears IDLE_TIMEOUT before the close; the client reports it and reconnects on the next call")
  func idleCloseReason() async throws {
    // 1 s: long enough that, on a loaded machine, the reconnected call below goes out before its own
    // connection is idle (at 300 ms a first call sent right after connecting lost that race in CI).
    try await withDaemon(["--idle-timeout-ms", "1000"]) { d in
      // Health/Check answers any peer that can connect: this test process is in no peer class.
      let c = try await PracticeConnection.connect(path: d.socketPath)
      await c.waitClosed()
      #expect(c.closeReason?.code == .unavailable && c.closeReason?.reason == .idleTimeout, "\(String(describing: c.closeReason))")
      #expect(try await c.health.check().status == .serving)  // a new connection
      await c.close()

      // Without reconnecting, the next call fails with the daemon's reason.
      let once = try await PracticeConnection.connect(path: d.socketPath, reconnect: false)
      await once.waitClosed()
      do {
        _ = try await once.health.check()
        Issue.record("a call on a closed connection succeeded")
      } catch let e as ConnectionError {
        #expect(e.status?.reason == .idleTimeout, "\(e)")
      }
      await once.close()

      // On the wire: a call_id 0 response, UNAVAILABLE / IDLE_TIMEOUT, then the close.
      let raw = RawSocket(fd: try d.rawConnect())
      let notice = try await raw.read(timeoutMs: 3000)
      #expect(notice.callID == 0 && notice.status.code == StatusCode.unavailable.rawValue && notice.status.reason == "IDLE_TIMEOUT")
      #expect(await raw.closed(withinMs: 2000))
      raw.close()
    }
  }

  @Test("Health turns NOT_SERVING when the store becomes read-only, with no client write, and SERVING again by itself")
  func healthProbe() async throws {
    try await withDaemon(["--health-probe-interval-ms", "100"]) { d in
      let c = try await d.connect()
      let denied = try await d.connect(as: .denied)
      #expect(try await denied.health.check().status == .serving)
      var ro = Practice_Test_V1_SetStoreReadOnlyRequest()
      ro.readOnly = true
      _ = try await c.testControl.setStoreReadOnly(ro)
      #expect(try await waitForHealth(c, .notServing))
      ro.readOnly = false
      _ = try await c.testControl.setStoreReadOnly(ro)
      #expect(try await waitForHealth(denied, .serving))
      // Each transition logged once.
      #expect(d.log.components(separatedBy: "health: NOT_SERVING").count == 2, "\(d.log)")
      #expect(d.log.components(separatedBy: "health: SERVING again").count == 2, "\(d.log)")
      await c.close()
      await denied.close()
    }
  }

  @Test("a service peer's Watch ends PERMISSION_DENIED UNKNOWN_ACTOR when its actor is deactivated")
  func watchEndsWithActor() async throws {
    try await withDaemon { d in
      let op = try await d.connect()
      let s = try await Staff.make(op)
      let svc = try await d.connect(as: .service)
      var req = Practice_V1_WatchRequest()
      req.accountID = s.account
      req.kinds = [.account]  // not USER: the actor is checked all the same
      let stream = try svc.watch.watch(req, options: .init(actor: s.scheduler))
      var iterator = stream.makeAsyncIterator()
      #expect(try await iterator.next()?.synced == true)
      var deactivate = Practice_V1_DeactivateUserRequest()
      deactivate.accountID = s.account
      deactivate.userID = s.scheduler
      _ = try await op.accounts.deactivateUser(deactivate)
      _ = try await op.accounts.updateAccountSettings(settingsChange(s.account, "America/Denver"))
      do {
        while let event = try await iterator.next() {
          Issue.record("an event after the actor was deactivated: \(event)")
        }
        Issue.record("the stream ended without an error")
      } catch let e as RPCError {
        #expect(e.code == .permissionDenied && e.reason == .unknownActor, "\(e)")
      }
      await svc.close()
      await op.close()
    }
  }

  // NIO connects without blocking: a full backlog fails at once with EAGAIN, so this shows the client
  // never waits on one; the connect timeout (ClientBootstrap.connectTimeout) bounds a connect that
  // would otherwise wait, which a Unix socket never does here.
  @Test("connecting to a listener whose backlog is full fails at once instead of hanging")
  func connectTimeout() async throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("full.sock").path
    // A listener that never accepts, with a backlog of 0: one connection fills it.
    let listener = try boundSocket(path)
    defer { close(listener) }
    try #require(listen(listener, 0) == 0)
    let filler = pt_connect(path)
    try #require(filler >= 0)
    defer { close(filler) }
    let start = ContinuousClock.now
    do {
      let c = try await PracticeConnection.connect(path: path, connectTimeout: .milliseconds(500))
      await c.close()
      Issue.record("connected to a full backlog")
    } catch let e as ConnectionError {
      #expect(e.description.contains("cannot connect"), "\(e)")
    }
    // Alone it fails in milliseconds; the bound is loose for a loaded 2-core run of the whole suite
    // (4 s was seen): it tells a refusal from a hang, not a speed.
    #expect(ContinuousClock.now - start < .seconds(10))
  }

  @Test("against a stopped daemon (SIGSTOP) the Swift client and practicectl give up at the deadline plus grace; the connection works after SIGCONT")
  func stoppedDaemon() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let c = try await d.connect()
      #expect(try await c.health.check().status == .serving)
      let pid = try #require(d.process?.pid)
      try await stopCompletely(pid)
      defer { kill(pid, SIGCONT) }
      let start = ContinuousClock.now
      await expectRPCError(.deadlineExceeded, .deadlineExceeded) {
        _ = try await c.health.check(options: .init(timeout: .milliseconds(1000)))
      }
      let took = ContinuousClock.now - start
      // The deadline, the grace (0.5 s), at most one sweep (0.25 s), and slack for a loaded machine.
      #expect(took >= .milliseconds(1400) && took < .milliseconds(3500), "took \(took)")

      let cliStart = ContinuousClock.now
      let cli = try await practicectl(["health", "--timeout-ms", "1000"], socket: d.socketPath)
      let cliTook = ContinuousClock.now - cliStart
      #expect(cli.status != 0 && cli.err.contains("DEADLINE_EXCEEDED"), "\(cli)")
      #expect(cliTook < .milliseconds(4000), "took \(cliTook)")

      kill(pid, SIGCONT)
      #expect(try await c.health.check(options: .init(timeout: .seconds(5))).status == .serving)
      await c.close()
    }
  }
}

func metricsText(_ c: PracticeConnection) async throws -> String {
  try await c.metrics.get().text
}

/// One sample of a Prometheus text exposition: the value of `name{labels}` (labels in any order).
func sample(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
  for line in text.split(separator: "\n") where !line.hasPrefix("#") {
    guard let space = line.lastIndex(of: " ") else { continue }
    let series = line[..<space]
    let seriesName = series.prefix { $0 != "{" }
    guard seriesName == name else { continue }
    var found: [String: String] = [:]
    if let open = series.firstIndex(of: "{") {
      for pair in series[series.index(after: open)...].dropLast().split(separator: "\",") {
        let kv = pair.split(separator: "=", maxSplits: 1)
        if kv.count == 2 { found[String(kv[0])] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
      }
    }
    if found == labels { return Double(line[line.index(after: space)...]) }
  }
  return nil
}

@Suite("Metrics, status and version")
struct MetricsStatusTests {
  @Test("metrics counters move by exactly the calls made; histograms count them; gauges show connections and watchers; operators only")
  func countersMove() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      let a = try await c.accounts.createAccount(Make.account()).account.accountID
      let before = try await metricsText(c)
      let get = "/practice.v1.AccountService/GetAccount"
      let okBefore = sample(before, "practiced_requests_total", ["method": get, "code": "OK"]) ?? -1
      let notFoundBefore = sample(before, "practiced_requests_total", ["method": get, "code": "NOT_FOUND"]) ?? 0
      let countBefore = sample(before, "practiced_request_duration_seconds_count", ["method": get]) ?? -1
      for _ in 0..<7 { _ = try await c.accounts.getAccount(Make.get(a)) }
      for _ in 0..<3 {
        await expectRPCError(.notFound, .notFound) { _ = try await c.accounts.getAccount(Make.get("acct_missing")) }
      }
      let svc = try await d.connect(as: .service)
      var watch = Practice_V1_WatchRequest()
      watch.accountID = a
      let owner = try await c.accounts.listUsers({ var r = Practice_V1_ListUsersRequest(); r.accountID = a; return r }()).users[0].userID
      var stream = try svc.watch.watch(watch, options: .init(actor: owner)).makeAsyncIterator()
      #expect(try await stream.next()?.synced == true)

      let after = try await metricsText(c)
      #expect(sample(after, "practiced_requests_total", ["method": get, "code": "OK"]) == okBefore + 7)
      #expect(sample(after, "practiced_requests_total", ["method": get, "code": "NOT_FOUND"]) == notFoundBefore + 3)
      #expect(sample(after, "practiced_request_duration_seconds_count", ["method": get]) == countBefore + 10)
      #expect(sample(after, "practiced_connections") == 2)
      #expect(sample(after, "practiced_watchers") == 1)
      #expect(sample(after, "practiced_accounts") == 1)
      #expect(sample(after, "practiced_build_info", ["version": PracticeVersion.string]) == 1)
      // SQLite's writes are group-committed; PostgreSQL groups its WAL flushes itself.
      if !TestDaemon.onPostgres { #expect((sample(after, "practiced_group_commit_batch_size_count") ?? 0) >= 1) }
      #expect(sample(after, "practiced_scheduler_runs_total", ["outcome": "ok"]) != nil)
      // A method that does not exist is counted once under "unknown", never as a series of its own.
      _ = try? await c.unary(method: "/practice.v1.Nope/Nothing", payload: Data())
      let unknown = try await metricsText(c)
      #expect(sample(unknown, "practiced_requests_total", ["method": "unknown", "code": "UNIMPLEMENTED"]) == 1)
      #expect(!unknown.contains("Nope"))
      // Metrics are for operators.
      await expectRPCError(.permissionDenied, .roleRequired) { _ = try await svc.metrics.get(options: .init(actor: owner)) }
      await svc.close()
      await c.close()
    }
  }

  @Test("--version agrees everywhere: practiced, practicectl, Describe's server_version, the Swift constant")
  func versionAgrees() async throws {
    let practiced = try await runCommand(TestDaemon.binary, ["--version"])
    let ctl = URL(fileURLWithPath: TestDaemon.binary).deletingLastPathComponent().appendingPathComponent("practicectl").path
    let practicectl = try await runCommand(ctl, ["--version"])
    #expect(practiced.out.trimmingCharacters(in: .whitespacesAndNewlines) == PracticeVersion.string)
    #expect(practicectl.out.trimmingCharacters(in: .whitespacesAndNewlines) == PracticeVersion.string)
    try await withDaemon { d in
      let c = try await d.connect()
      #expect(try await c.reflection.describe().serverVersion == PracticeVersion.string)
      await c.close()
    }
  }

  @Test("practicectl status shows the daemon at a glance (and --json); health and status exit 1 on NOT_SERVING, with and without --json")
  func statusAndHealthExit() async throws {
    try await withDaemon(["--operator-uids", "0", "--health-probe-interval-ms", "100"]) { d in
      let s = d.socketPath
      let c = try await d.connect()
      _ = try await c.accounts.createAccount(Make.account())
      let status = try await practicectl(["status"], socket: s)
      #expect(status.status == 0, "\(status)")
      for needle in ["version", PracticeVersion.string, "uptime", s, d.databaseLabel, "accounts",
                     "connections", "watchers", "last_scheduler_run", "SERVING"] {
        #expect(status.out.contains(needle), "\(needle) in \(status.out)")
      }
      let json = try await practicectl(["status", "--json"], socket: s)
      let object = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
      #expect(object?["version"] as? String == PracticeVersion.string)
      #expect(object?["accounts"] as? Int == 1)
      #expect(object?["health"] as? String == "SERVING")

      var ro = Practice_Test_V1_SetStoreReadOnlyRequest()
      ro.readOnly = true
      _ = try await c.testControl.setStoreReadOnly(ro)
      #expect(try await waitForHealth(c, .notServing))
      for args in [["health"], ["health", "--json"], ["status"], ["status", "--json"]] {
        let r = try await practicectl(args, socket: s)
        #expect(r.status == 1, "\(args): \(r)")
        #expect(r.out.contains("NOT_SERVING"), "\(args): \(r.out)")
      }
      ro.readOnly = false
      _ = try await c.testControl.setStoreReadOnly(ro)
      #expect(try await waitForHealth(c, .serving))
      #expect(try await practicectl(["health", "--json"], socket: s).status == 0)
      let metrics = try await practicectl(["metrics"], socket: s)
      #expect(metrics.status == 0 && metrics.out.contains("# TYPE practiced_requests_total counter"))
      await c.close()
    }
  }

  @Test("--metrics-listen serves GET /metrics over HTTP on loopback")
  func httpEndpoint() async throws {
    // A port unlikely to be taken; the daemon logs the one it bound.
    let port = 20_000 + Int(getpid() % 20_000)
    try await withDaemon(["--metrics-listen", "127.0.0.1:\(port)"]) { d in
      let c = try await d.connect()
      _ = try await c.health.check()
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      defer { close(fd) }
      var addr = sockaddr_in()
      addr.sin_family = sa_family_t(AF_INET)
      addr.sin_port = in_port_t(UInt16(port).bigEndian)
      addr.sin_addr.s_addr = inet_addr("127.0.0.1")
      let connected = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
      }
      try #require(connected == 0, "connect errno \(errno): \(d.log)")
      let request = Array("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
      _ = request.withUnsafeBytes { pt_write_all(fd, $0.baseAddress, $0.count) }
      var response = [UInt8]()
      var buffer = [UInt8](repeating: 0, count: 65536)
      while true {
        let n = buffer.withUnsafeMutableBytes { pt_read_exact(fd, $0.baseAddress, 1, 5000) }
        if n <= 0 { break }
        response.append(buffer[0])
      }
      let text = String(decoding: response, as: UTF8.self)
      #expect(text.hasPrefix("HTTP/1.1 200 OK"), "\(text.prefix(200))")
      #expect(text.contains("practiced_requests_total{method=\"/practice.rpc.v1.Health/Check\",code=\"OK\"} 1"))
      await c.close()
    }
  }
}
