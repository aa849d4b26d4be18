import ArgumentParser
import Foundation
import Glibc
import NIOCore
import NIOPosix
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeWire
import Synchronization

struct Percentiles {
  let count: Int
  let p50us: Double
  let p99us: Double
  init(_ ns: [UInt64]) {
    let sorted = ns.sorted()
    count = sorted.count
    func at(_ q: Double) -> Double {
      guard !sorted.isEmpty else { return 0 }
      return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]) / 1000
    }
    p50us = at(0.50)
    p99us = at(0.99)
  }
}

/// CPU time (user + system) of a process, in microseconds, from /proc/PID/stat.
func cpuMicros(pid: Int32) -> Double {
  guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let close = text.lastIndex(of: ")")
  else { return 0 }
  let fields = text[text.index(after: close)...].split(separator: " ")
  // After the command: state is field 3; utime and stime are fields 14 and 15.
  guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
  return (u + s) * 1_000_000 / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU time of a process and its children (a PostgreSQL postmaster and its backends), in microseconds.
func treeCPUMicros(root: Int32) -> Double {
  var total = cpuMicros(pid: root)
  let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
  for name in entries {
    guard let pid = Int32(name), pid != root,
      let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
      status.split(separator: "\n").contains(where: { $0.hasPrefix("PPid:") && $0.split(separator: "\t").last == "\(root)" })
    else { continue }
    total += cpuMicros(pid: pid)
  }
  return total
}

func rssKiB(pid: Int32) -> Int {
  guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
  for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
  }
  return 0
}

/// Drives a running daemon and prints `RESULT name value unit` and `RATIO name value goal op target PASS|FAIL`.
struct Run: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Run the workloads against a daemon.")
  @Option var socket: String
  @Option(help: "More daemons' sockets (several instances on one database): connections are spread over all.")
  var moreSockets: [String] = []
  @Option(help: "The daemon's pid (server CPU per request).") var pid: Int32
  @Option(help: "A PostgreSQL postmaster's pid: its and its backends' CPU count as the server's too.") var dbPid: Int32?
  @Option(help: "More daemons' pids whose CPU counts as the server's (several instances).") var morePids: [Int32] = []
  @Option(help: "Seconds per workload.") var seconds: Double = 3
  @Option var rooms = 200
  @Option(help: "Which workloads (comma-separated): reads (1 and 64 connections), reads1, reads64, writes, rooms, claims.")
  var workloads = "reads,writes,rooms,claims"
  @Option(help: "A suffix for the names of the reads figures (a taskset layout: _apart, _same).") var tag = ""

  func run() async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let selected = Set(workloads.split(separator: ",").map(String.init))
    let getBusiness: Practice_V1_GetBusinessInfoRequest = {
      var r = Practice_V1_GetBusinessInfoRequest()
      r.accountID = Seed.benchAccount
      return r
    }()

    for connections in [1, 64] where selected.contains("reads") || selected.contains("reads\(connections)") {
      let r = try await load(group: group, connections: connections) { c, _ in
        _ = try await c.business.getBusinessInfo(getBusiness)
      }
      report("reads_\(connections)conn\(tag)", r)
    }
    if selected.contains("writes") {
      // 1 writer and 64 writers interleaved in rounds (the same total time each), so that a slow
      // spell of this shared machine weighs on both sides of the ratio.
      let write: @Sendable (PracticeConnection, Int) async throws -> Void = { c, i in
        var u = Practice_V1_UpdateBusinessInfoRequest()
        u.accountID = Seed.benchAccount
        u.updateMask = ["legal_name"]
        u.businessInfo.legalName = "Bench \(i)"
        _ = try await c.business.updateBusinessInfo(u)
      }
      let one = try await connect(group: group, connections: 1, write)
      let many = try await connect(group: group, connections: 64, write)
      // 64 writers each on an account of its own: what a fleet of practices looks like (on one
      // account, its lock serializes the writers by design).
      let spread = try await connect(group: group, connections: 64, write)
      var own: [ObjectIdentifier: String] = [:]
      for c in spread {
        var r = Practice_V1_CreateAccountRequest()
        r.practiceName = "Bench writer"
        r.ownerName = "Owner"
        own[ObjectIdentifier(c)] = try await c.accounts.createAccount(r).account.accountID
      }
      let accounts = own
      let writeOwn: @Sendable (PracticeConnection, Int) async throws -> Void = { c, i in
        var u = Practice_V1_UpdateBusinessInfoRequest()
        u.accountID = accounts[ObjectIdentifier(c)]!
        u.updateMask = ["legal_name"]
        u.businessInfo.legalName = "Bench \(i)"
        _ = try await c.business.updateBusinessInfo(u)
      }
      let rounds = 5
      var onePhase = Phase(), manyPhase = Phase(), spreadPhase = Phase()
      for round in 0..<rounds {
        onePhase.add(try await drive(one, for: seconds / Double(rounds), round: 3 * round, write))
        manyPhase.add(try await drive(many, for: seconds / Double(rounds), round: 3 * round + 1, write))
        spreadPhase.add(try await drive(spread, for: seconds / Double(rounds), round: 3 * round + 2, writeOwn))
      }
      for c in one + many + spread { await c.close() }
      report("writes_1writer", onePhase.result)
      report("writes_64writer", manyPhase.result)
      report("writes_64accounts", spreadPhase.result)
      ratio("writes_64_over_1", manyPhase.result.perSecond / max(onePhase.result.perSecond, 1), op: ">=", target: 5)
      ratio("writes_64accounts_over_1", spreadPhase.result.perSecond / max(onePhase.result.perSecond, 1), op: ">=", target: 3)
    }
    if selected.contains("rooms") {
      var rng = SplitMix(seed: 99)
      let base: Int64 = 1_798_761_600_000
      let (checkNs, readNs, conflicts) = try await interleaved(group: group, reference: getBusiness) { c in
        var check = Practice_V1_CheckRoomAvailabilityRequest()
        check.accountID = Seed.benchAccount
        check.roomID = String(format: "room_%04d", Int(rng.next() % UInt64(rooms)))
        check.startMs = base + Int64(rng.next() % (3_600_000 * 4000))
        check.endMs = check.startMs + 50 * 60_000
        return try await c.rooms.checkRoomAvailability(check).conflicts.count
      }
      let cp = Percentiles(checkNs), rp = Percentiles(readNs)
      print(String(format: "RESULT room_check_p50 %.1f us", cp.p50us))
      print(String(format: "RESULT room_check_p99 %.1f us", cp.p99us))
      print(String(format: "RESULT room_check_reference_read_p99 %.1f us", rp.p99us))
      print("RESULT room_check_calls \(cp.count) calls")
      print(String(format: "RESULT room_check_conflicts_per_call %.2f bookings", Double(conflicts) / Double(max(cp.count, 1))))
      ratio("room_check_p99_over_read_p99", cp.p99us / max(rp.p99us, 0.001), op: "<=", target: 2)
      print(String(format: "RATIO room_check_p99_under_1ms %.3f goal <= 1.000 %@", cp.p99us / 1000, cp.p99us <= 1000 ? "PASS" : "FAIL"))
    }
    if selected.contains("claims") {
      var profile = Practice_V1_ResolveClaimProfileRequest()
      profile.accountID = Seed.benchAccount
      profile.locationID = Seed.location
      profile.renderingUserID = Seed.practitioner
      profile.dateOfService = "2026-03-02"
      let (profileNs, readNs, problems) = try await interleaved(group: group, reference: getBusiness) { c in
        try await c.claims.resolveClaimProfile(profile).problems.count
      }
      let pp = Percentiles(profileNs), rp = Percentiles(readNs)
      print(String(format: "RESULT claim_profile_p50 %.1f us", pp.p50us))
      print(String(format: "RESULT claim_profile_p99 %.1f us", pp.p99us))
      print(String(format: "RESULT claim_profile_reference_read_p99 %.1f us", rp.p99us))
      print("RESULT claim_profile_calls \(pp.count) calls")
      print(String(format: "RESULT claim_profile_problems_per_call %.1f problems", Double(problems) / Double(max(pp.count, 1))))
      ratio("claim_profile_p99_over_read_p99", pp.p99us / max(rp.p99us, 0.001), op: "<=", target: 3)
    }
    try await group.shutdownGracefully()
  }

  struct LoadResult {
    var perSecond: Double
    var p50us: Double
    var p99us: Double
    var cpuPerRequestUs: Double
  }


  /// One connection alternates `call` with the `GetBusinessInfo` reference read for twice `seconds`, on
  /// the connection's event loop as the reads workloads run, so that a slow spell of this shared
  /// machine weighs on both sides of a ratio. Returns both calls' latencies and the sum of what
  /// `call` returned.
  func interleaved(
    group: EventLoopGroup, reference: Practice_V1_GetBusinessInfoRequest,
    _ call: @escaping (PracticeConnection) async throws -> Int
  ) async throws -> (callNs: [UInt64], readNs: [UInt64], total: Int) {
    let c = try await PracticeConnection.connect(path: socket, group: group)
    let result = try await withTaskExecutorPreference(c.taskExecutor) {
      var callNs: [UInt64] = [], readNs: [UInt64] = []
      var total = 0
      let until = Date().addingTimeInterval(seconds * 2)
      while Date() < until {
        var t = DispatchTime.now().uptimeNanoseconds
        total += try await call(c)
        callNs.append(DispatchTime.now().uptimeNanoseconds - t)
        t = DispatchTime.now().uptimeNanoseconds
        _ = try await c.business.getBusinessInfo(reference)
        readNs.append(DispatchTime.now().uptimeNanoseconds - t)
      }
      return (callNs, readNs, total)
    }
    await c.close()
    return result
  }

  /// `connections` clients, each calling `body` in a loop for `seconds`.
  func load(group: EventLoopGroup, connections: Int,
            _ body: @escaping @Sendable (PracticeConnection, Int) async throws -> Void) async throws -> LoadResult {
    let clients = try await connect(group: group, connections: connections, body)
    let phase = try await drive(clients, for: seconds, body)
    for c in clients { await c.close() }
    return phase.result
  }

  /// Connects `connections` clients and warms each up with one call.
  func connect(group: EventLoopGroup, connections: Int,
               _ body: @escaping @Sendable (PracticeConnection, Int) async throws -> Void) async throws -> [PracticeConnection] {
    var clients: [PracticeConnection] = []
    let sockets = [socket] + moreSockets
    for i in 0..<connections {
      clients.append(try await PracticeConnection.connect(path: sockets[i % sockets.count], group: group))
    }
    for (i, c) in clients.enumerated() { try await body(c, i) }
    return clients
  }

  /// What one or more timed phases measured.
  struct Phase {
    var latencies: [UInt64] = []
    var elapsed: Double = 0
    var cpuMicros: Double = 0
    mutating func add(_ other: Phase) {
      latencies += other.latencies
      elapsed += other.elapsed
      cpuMicros += other.cpuMicros
    }
    var result: LoadResult {
      let p = Percentiles(latencies)
      return LoadResult(perSecond: Double(p.count) / max(elapsed, 1e-9), p50us: p.p50us, p99us: p.p99us,
                        cpuPerRequestUs: cpuMicros / Double(max(p.count, 1)))
    }
  }

  /// Every client calls `body` in a loop for `duration` seconds, each on its connection's event loop.
  func drive(_ clients: [PracticeConnection], for duration: Double, round: Int = 0,
             _ body: @escaping @Sendable (PracticeConnection, Int) async throws -> Void) async throws -> Phase {
    let cpuBefore = serverCPU()
    let start = DispatchTime.now().uptimeNanoseconds
    let deadline = start + UInt64(duration * 1e9)
    let latencies = try await withThrowingTaskGroup(of: [UInt64].self) { g in
      for (i, c) in clients.enumerated() {
        g.addTask(executorPreference: c.taskExecutor) {
          var ns: [UInt64] = []
          ns.reserveCapacity(100_000)
          var n = 0
          while DispatchTime.now().uptimeNanoseconds < deadline {
            let t = DispatchTime.now().uptimeNanoseconds
            try await body(c, (round * 1_000 + i) * 1_000_000 + n)
            ns.append(DispatchTime.now().uptimeNanoseconds - t)
            n += 1
          }
          return ns
        }
      }
      return try await g.reduce(into: [UInt64]()) { $0 += $1 }
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return Phase(latencies: latencies, elapsed: elapsed, cpuMicros: serverCPU() - cpuBefore)
  }

  /// The CPU the server side spent: the daemon(s), and the database server when given.
  func serverCPU() -> Double {
    ([pid] + morePids).map { cpuMicros(pid: $0) }.reduce(0, +) + (dbPid.map { treeCPUMicros(root: $0) } ?? 0)
  }

  func report(_ name: String, _ r: LoadResult) {
    print(String(format: "RESULT %@_per_s %.0f req/s", name, r.perSecond))
    print(String(format: "RESULT %@_p50 %.1f us", name, r.p50us))
    print(String(format: "RESULT %@_p99 %.1f us", name, r.p99us))
    print(String(format: "RESULT %@_server_cpu %.1f us/req", name, r.cpuPerRequestUs))
  }

  func ratio(_ name: String, _ value: Double, op: String, target: Double) {
    let pass = op == ">=" ? value >= target : value <= target
    print(String(format: "RATIO %@ %.2f goal %@ %.2f %@", name, value, op, target, pass ? "PASS" : "FAIL"))
  }
}

@main
struct PracticeBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "practice-bench", abstract: "practiced benchmarks (see scripts/bench).",
    subcommands: [Seed.self, PgSeed.self, Run.self, Calls.self, SQLBench.self, Crash.self, Soak.self, Idle.self, Ready.self])
}
