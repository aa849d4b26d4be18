import ArgumentParser
import Foundation
import Glibc
import NIOPosix
import PracticeClient
import PracticeProto
import Synchronization

/// A mixed workload for a long time (scripts/soak): reads, writes, watches, bookings, and clients that
/// connect and disconnect, while the daemon's RSS and open file descriptors are sampled every minute.
/// Passes when, after every client is gone, the open fds equal the starting count ± 2, and the RSS of
/// the last minute is at most the RSS at minute 2 + 10%.
struct Soak: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Mixed workload with RSS and fd sampling.")
  @Option var socket: String
  @Option(help: "The daemon's pid.") var pid: Int32
  @Option var minutes: Double = 5
  @Option var rooms = 200

  func run() async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let socket = self.socket, rooms = self.rooms
    let fdCold = openFDs(pid)
    // Warm-up: concurrent reads make the store open its pool of reader connections (each holds the
    // database and WAL files open), so the starting count is the daemon's steady state.
    try await withThrowingTaskGroup(of: Void.self) { g in
      for _ in 0..<8 {
        g.addTask {
          let c = try await PracticeConnection.connect(path: socket, group: group)
          var r = Practice_V1_GetBusinessInfoRequest()
          r.accountID = Seed.benchAccount
          for _ in 0..<200 { _ = try await c.business.getBusinessInfo(r) }
          await c.close()
        }
      }
      try await g.waitForAll()
    }
    try await Task.sleep(for: .milliseconds(500))
    let fdStart = openFDs(pid)
    let rssStart = rssKiB(pid: pid)
    print("SOAK start rss \(rssStart) KiB fds \(fdStart)")
    let stop = Atomic<Bool>(false)
    let calls = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let connects = Atomic<Int>(0)

    func worker(_ body: @escaping @Sendable (PracticeConnection, Int) async throws -> Void, pause: Duration) -> Task<Void, Never> {
      Task {
        guard let c = try? await PracticeConnection.connect(path: socket, group: group) else {
          errors.add(1, ordering: .relaxed)
          return
        }
        var n = 0
        while !stop.load(ordering: .relaxed) {
          do {
            try await body(c, n)
            calls.add(1, ordering: .relaxed)
          } catch {
            errors.add(1, ordering: .relaxed)
          }
          n += 1
          try? await Task.sleep(for: pause)
        }
        await c.close()
      }
    }
    let get: Practice_V1_GetBusinessInfoRequest = {
      var r = Practice_V1_GetBusinessInfoRequest()
      r.accountID = Seed.benchAccount
      return r
    }()
    var tasks: [Task<Void, Never>] = []
    // Readers.
    for _ in 0..<4 { tasks.append(worker({ c, _ in _ = try await c.business.getBusinessInfo(get) }, pause: .milliseconds(1))) }
    tasks.append(worker({ c, n in
      var r = Practice_V1_ListRoomBookingsRequest()
      r.accountID = Seed.benchAccount
      r.roomID = String(format: "room_%04d", n % rooms)
      r.pageSize = 50
      _ = try await c.rooms.listRoomBookings(r)
    }, pause: .milliseconds(5)))
    // Writers.
    for w in 0..<4 {
      tasks.append(worker({ c, n in
        var u = Practice_V1_UpdateBusinessInfoRequest()
        u.accountID = Seed.benchAccount
        u.updateMask = ["legal_name"]
        u.businessInfo.legalName = "Soak \(w)-\(n)"
        _ = try await c.business.updateBusinessInfo(u)
      }, pause: .milliseconds(10)))
    }
    // Bookings far in the future (WARN policy: overlaps are booked with a warning).
    tasks.append(worker({ c, n in
      var b = Practice_V1_BookRoomRequest()
      b.accountID = Seed.benchAccount
      b.roomID = String(format: "room_%04d", n % rooms)
      b.locationID = Seed.location
      b.practitionerUserID = Seed.practitioner
      b.startMs = 4_102_444_800_000 + Int64(n) * 3_600_000
      b.endMs = b.startMs + 50 * 60_000
      _ = try await c.rooms.bookRoom(b)
    }, pause: .milliseconds(20)))
    // Watchers: a stream each, reopened on a new connection every 20 s.
    for _ in 0..<2 {
      tasks.append(Task {
        while !stop.load(ordering: .relaxed) {
          guard let c = try? await PracticeConnection.connect(path: socket, group: group) else {
            errors.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .seconds(1))
            continue
          }
          connects.add(1, ordering: .relaxed)
          let until = ContinuousClock.now + .seconds(20)
          var req = Practice_V1_WatchRequest()
          req.accountID = Seed.benchAccount
          let reader = Task {
            do { for try await _ in try c.watch.watch(req) { calls.add(1, ordering: .relaxed) } } catch {}
          }
          while ContinuousClock.now < until && !stop.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(200)) }
          await c.close()
          _ = await reader.value
        }
      })
    }
    // Clients that connect, make one call, and go.
    tasks.append(Task {
      while !stop.load(ordering: .relaxed) {
        do {
          let c = try await PracticeConnection.connect(path: socket, group: group)
          connects.add(1, ordering: .relaxed)
          _ = try await c.health.check()
          calls.add(1, ordering: .relaxed)
          await c.close()
        } catch {
          errors.add(1, ordering: .relaxed)
        }
        try? await Task.sleep(for: .milliseconds(20))
      }
    })

    var rssByMinute: [Int] = []
    let total = Int(minutes.rounded(.up))
    for minute in 1...max(total, 1) {
      try await Task.sleep(for: .seconds(60 * min(1, minutes - Double(minute - 1))))
      let rss = rssKiB(pid: pid)
      rssByMinute.append(rss)
      print("SOAK minute \(minute) rss \(rss) KiB fds \(openFDs(pid)) calls \(calls.load(ordering: .relaxed)) connects \(connects.load(ordering: .relaxed)) errors \(errors.load(ordering: .relaxed))")
      fflush(stdout)
    }
    stop.store(true, ordering: .relaxed)
    for t in tasks { await t.value }
    try await group.shutdownGracefully()
    // Let the daemon notice the closes.
    var fdEnd = openFDs(pid)
    for _ in 0..<50 where abs(fdEnd - fdStart) > 2 {
      try await Task.sleep(for: .milliseconds(100))
      fdEnd = openFDs(pid)
    }
    let minute2 = rssByMinute.count >= 2 ? rssByMinute[1] : rssByMinute[0]
    let last = rssByMinute.last!
    print("RESULT soak_minutes \(String(format: "%.1f", minutes)) min")
    print("RESULT soak_calls \(calls.load(ordering: .relaxed)) calls")
    print("RESULT soak_connects \(connects.load(ordering: .relaxed)) connections")
    print("RESULT soak_errors \(errors.load(ordering: .relaxed)) errors")
    print("RESULT soak_rss_start \(rssStart) KiB")
    print("RESULT soak_rss_minute2 \(minute2) KiB")
    print("RESULT soak_rss_last \(last) KiB")
    print("RESULT soak_fds_cold \(fdCold) fds")
    print("RESULT soak_fds_start \(fdStart) fds")
    print("RESULT soak_fds_end \(fdEnd) fds")
    let fdsOK = abs(fdEnd - fdStart) <= 2
    let rssOK = Double(last) <= Double(minute2) * 1.10
    print(String(format: "RATIO soak_rss_last_over_minute2 %.3f goal <= 1.100 %@", Double(last) / Double(max(minute2, 1)), rssOK ? "PASS" : "FAIL"))
    print("RATIO soak_fds_end_minus_start \(fdEnd - fdStart) goal within 2 \(fdsOK ? "PASS" : "FAIL")")
    if !(fdsOK && rssOK) { throw ExitCode(1) }
  }
}

/// Open file descriptors of a process (/proc/PID/fd).
func openFDs(_ pid: Int32) -> Int {
  (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}
