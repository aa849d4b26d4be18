import ArgumentParser
import Foundation
import Glibc
import NIOPosix
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeWire
import Synchronization

/// Crash consistency: 64 writers record every acknowledged write; the daemon is killed with SIGKILL
/// at a random moment and restarted; every acknowledged write must be there, the database intact,
/// and versions consistent with the audit log.
///
/// With `--database` (PostgreSQL), `--instances` daemons share it, the writers are spread over them,
/// each round kills one of them at random, and the check reads through another. With `--pg-data` (the
/// server's data directory), one more round stops the server in immediate mode under the writers and
/// starts it again: every instance must serve again within 5 s of the server's return.
struct Crash: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "kill -9 the daemon under 64 writers and check nothing acknowledged was lost.")
  @Option var practiced: String
  @Option var rounds = 3
  @Option var writers = 64
  @Option(help: "A PostgreSQL database URL (default: SQLite in a temporary state directory).") var database: String?
  @Option(help: "Daemons sharing the PostgreSQL database.") var instances = 1
  @Option(help: "The PostgreSQL server's data directory: adds a round that stops it (immediate mode) and starts it again.")
  var pgData: String?

  func run() async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("practiced-crash-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let n = database == nil ? 1 : max(1, instances)
    let sockets = (0..<n).map { dir.appendingPathComponent("p\($0).sock").path }
    let states = (0..<n).map { dir.appendingPathComponent("state\($0)").path }
    let logs = (0..<n).map { dir.appendingPathComponent("log\($0)").path }
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    var daemons = try (0..<n).map { try start(socket: sockets[$0], state: states[$0], log: logs[$0], instance: $0) }
    // One account per writer.
    var accounts: [String] = []
    let setup = try await PracticeConnection.connect(path: sockets[0], group: group)
    for i in 0..<writers {
      var r = Practice_V1_CreateAccountRequest()
      r.practiceName = "Crash \(i)"
      r.ownerName = "Owner"
      accounts.append(try await setup.accounts.createAccount(r).account.accountID)
    }
    await setup.close()

    let accountIDs = accounts
    var lost = 0
    var totalAcked = 0
    var servingAfter: [Double] = []
    let serverRound = database != nil && pgData != nil
    for round in 1...(rounds + (serverRound ? 1 : 0)) {
      let stopsServer = round > rounds
      let shared = RoundState(writers: writers)
      let tasks = (0..<writers).map { w in
        Task {
          guard let c = try? await PracticeConnection.connect(path: sockets[w % n], group: group) else { return }
          var k = 0
          while !shared.stop.load(ordering: .relaxed) {
            var u = Practice_V1_UpdateBusinessInfoRequest()
            u.accountID = accountIDs[w]
            u.updateMask = ["legal_name"]
            u.businessInfo.legalName = "r\(round)-n\(k)"
            do {
              _ = try await c.business.updateBusinessInfo(u)
              shared.acked.withLock { $0[w] = k }
              k += 1
            } catch {
              break
            }
          }
          await c.close()
        }
      }
      try await Task.sleep(for: .milliseconds(Int.random(in: 300...1500)))
      let victim = Int.random(in: 0..<n)
      if stopsServer, let pgData {
        try pgCtl(["-D", pgData, "-m", "immediate", "-w", "stop"], log: dir.appendingPathComponent("pg_ctl.log").path)
      } else {
        kill(daemons[victim], SIGKILL)
        var status: Int32 = 0
        waitpid(daemons[victim], &status, 0)
      }
      shared.stop.store(true, ordering: .relaxed)
      for t in tasks { await t.value }
      let ackedNow = shared.acked.withLock { $0 }
      totalAcked += ackedNow.filter { $0 >= 0 }.map { $0 + 1 }.reduce(0, +)

      if stopsServer, let pgData {
        let serverLog = URL(fileURLWithPath: pgData).deletingLastPathComponent().appendingPathComponent("server.log").path
        try pgCtl(["-D", pgData, "-l", serverLog, "-w", "start"], log: dir.appendingPathComponent("pg_ctl.log").path)
        let back = ContinuousClock.now
        // Every instance serves again by itself (its health probe reconnects).
        for socket in sockets {
          let c = try await PracticeConnection.connect(path: socket, group: group)
          while try await c.health.check().status != .serving {
            guard ContinuousClock.now - back < .seconds(30) else { throw ValidationError("\(socket) still NOT_SERVING 30 s after the server's return") }
            try await Task.sleep(for: .milliseconds(50))
          }
          await c.close()
        }
        let after = ContinuousClock.now - back
        servingAfter.append(Double(after.components.seconds) + Double(after.components.attoseconds) / 1e18)
      } else {
        daemons[victim] = try start(socket: sockets[victim], state: states[victim], log: logs[victim], instance: victim)
      }
      // Checked through another instance than the one killed, when there is one.
      let c = try await PracticeConnection.connect(path: sockets[(victim + 1) % n], group: group)
      for w in 0..<writers where ackedNow[w] >= 0 {
        var get = Practice_V1_GetBusinessInfoRequest()
        get.accountID = accounts[w]
        let info = try await c.business.getBusinessInfo(get).businessInfo
        // The stored value is the last acknowledged write of this round or one after it.
        let parts = info.legalName.split(separator: "-")
        let storedRound = Int(parts.first?.dropFirst() ?? "") ?? 0
        let storedN = Int(parts.last?.dropFirst() ?? "") ?? -1
        if storedRound != round || storedN < ackedNow[w] {
          lost += 1
          print("LOST writer \(w): acked n\(ackedNow[w]), stored \(info.legalName)")
        }
        // Versions agree with the audit log: one event per applied update.
        var audit = Practice_V1_ListAuditEventsRequest()
        audit.accountID = accounts[w]
        audit.method = "/practice.v1.BusinessService/UpdateBusinessInfo"
        audit.pageSize = 500
        var events = 0
        repeat {
          let page = try await c.audit.listAuditEvents(audit)
          events += page.events.count
          audit.pageToken = page.nextPageToken
        } while !audit.pageToken.isEmpty
        if Int64(events) != info.version - 1 {
          lost += 1
          print("MISMATCH writer \(w): version \(info.version), \(events) audit events")
        }
      }
      await c.close()
      let what = stopsServer ? "the server stopped (immediate) and started" : "instance \(victim) killed"
      print("round \(round): \(what); \(ackedNow.filter { $0 >= 0 }.count) writers acknowledged writes, checked")
    }
    for daemon in daemons {
      kill(daemon, SIGTERM)
      var status: Int32 = 0
      waitpid(daemon, &status, 0)
    }
    // SQLite's file is checked page by page; a PostgreSQL server checks its own (nothing to read here).
    let check = database == nil ? try integrityCheck(states[0] + "/practiced.db") : "ok"
    if database == nil { print("RESULT integrity_check \(check)") }
    print("RESULT acked_writes \(totalAcked) writes")
    print("RESULT acked_writes_lost \(lost)")
    print("RESULT rounds \(rounds + (serverRound ? 1 : 0))")
    let slow = servingAfter.contains { $0 > 5 }
    if let worst = servingAfter.max() {
      print("RESULT serving_after_server_restart \(String(format: "%.2f", worst)) s")
    }
    try await group.shutdownGracefully()
    if lost > 0 || check != "ok" || slow { throw ExitCode(1) }
  }

  func start(socket: String, state: String, log: String, instance: Int) throws -> Int32 {
    let pg = database.map { ["--database", $0, "--instance-id", "crash\(instance)", "--health-probe-interval-ms", "200"] } ?? []
    let pid = try spawnProcess(
      practiced, ["--socket", socket, "--state-dir", state, "--operator-uids", "0", "--log-level", "warning"] + pg, log: log)
    // Ready when a connection is accepted.
    for _ in 0..<400 {
      let fd = unixConnect(socket)
      if fd >= 0 {
        close(fd)
        return pid
      }
      usleep(25_000)
    }
    throw ValidationError("practiced did not start")
  }

  /// Runs `pg_ctl` (as the `postgres` user when this runs as root: the server refuses root), its
  /// messages into the crash directory's log. posix_spawn and waitpid, not Foundation's Process: the
  /// server `pg_ctl start` leaves running keeps Process from ever seeing pg_ctl exit.
  func pgCtl(_ args: [String], log: String) throws {
    let pgCtl = (ProcessInfo.processInfo.environment["PG_BIN"] ?? "/usr/lib/postgresql/15/bin") + "/pg_ctl"
    let pid = getuid() == 0
      ? try spawnProcess("/usr/sbin/runuser", ["-u", "postgres", "--", pgCtl] + args, log: log)
      : try spawnProcess(pgCtl, args, log: log)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    guard status == 0 else { throw ValidationError("pg_ctl \(args.joined(separator: " ")) failed: see \(log)") }
  }

  func integrityCheck(_ path: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])", path]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    p.waitUntilExit()
    return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
  }
}

/// What a round's writer tasks share with the round: the last acknowledged write of each, and the
/// signal to stop.
final class RoundState: Sendable {
  let acked: LockedState<[Int]>
  let stop = Atomic<Bool>(false)
  init(writers: Int) { acked = LockedState([Int](repeating: -1, count: writers)) }
}
