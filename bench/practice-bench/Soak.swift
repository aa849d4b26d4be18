import ArgumentParser
import Foundation
import Glibc
import NIOCore
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

  /// Counters and the stop flag shared by the workers of one phase.
  final class Phase: Sendable {
    let stop = Atomic<Bool>(false)
    let calls = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let connects = Atomic<Int>(0)
  }

  func run() async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let fdCold = openFDs(pid)
    // Warm-up: the same workload for a while, so that the store's pool has opened the reader
    // connections this load uses (each holds the database and WAL files open); then every client
    // goes, and the starting count is taken.
    let warm = Phase()
    let warmTasks = startWorkload(warm, group: group, bookingBase: 4_102_444_800_000)
    try await Task.sleep(for: .seconds(min(30, max(5, minutes * 6))))
    warm.stop.store(true, ordering: .relaxed)
    for t in warmTasks { await t.value }
    try await Task.sleep(for: .seconds(1))
    let fdStart = openFDs(pid)
    let rssStart = rssKiB(pid: pid)
    print("SOAK start (after the warm-up) rss \(rssStart) KiB fds \(fdStart)")
    let phase = Phase()
    let tasks = startWorkload(phase, group: group, bookingBase: 4_102_444_800_000 + 500_000_000_000)

    var rssByMinute: [Int] = []
    let total = Int(minutes.rounded(.up))
    for minute in 1...max(total, 1) {
      try await Task.sleep(for: .seconds(60 * min(1, minutes - Double(minute - 1))))
      let rss = rssKiB(pid: pid)
      rssByMinute.append(rss)
      print("SOAK minute \(minute) rss \(rss) KiB fds \(openFDs(pid)) calls \(phase.calls.load(ordering: .relaxed)) connects \(phase.connects.load(ordering: .relaxed)) errors \(phase.errors.load(ordering: .relaxed))")
      fflush(nil)  // every stream: `stdout` is a C global Swift 6 will not read unchecked
    }
    phase.stop.store(true, ordering: .relaxed)
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
    print("RESULT soak_calls \(phase.calls.load(ordering: .relaxed)) calls")
    print("RESULT soak_connects \(phase.connects.load(ordering: .relaxed)) connections")
    print("RESULT soak_errors \(phase.errors.load(ordering: .relaxed)) errors")
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
    let errorsOK = phase.errors.load(ordering: .relaxed) == 0
    print("RATIO soak_errors \(phase.errors.load(ordering: .relaxed)) goal == 0 \(errorsOK ? "PASS" : "FAIL")")
    if !(fdsOK && rssOK && errorsOK) { throw ExitCode(1) }
  }

  /// Starts the mixed workload's clients; they run until `phase.stop` is set.
  /// Bookings start at `bookingBase` (Unix ms), one hour apart, so that the phases never collide.
  func startWorkload(_ phase: Phase, group: EventLoopGroup, bookingBase: Int64) -> [Task<Void, Never>] {
    let socket = self.socket, rooms = self.rooms
    func worker(_ body: @escaping @Sendable (PracticeConnection, Int) async throws -> Void, pause: Duration) -> Task<Void, Never> {
      Task {
        guard let c = try? await PracticeConnection.connect(path: socket, group: group) else {
          phase.errors.add(1, ordering: .relaxed)
          return
        }
        var n = 0
        while !phase.stop.load(ordering: .relaxed) {
          do {
            try await body(c, n)
            phase.calls.add(1, ordering: .relaxed)
          } catch {
            phase.errors.add(1, ordering: .relaxed)
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
      b.startMs = bookingBase + Int64(n) * 3_600_000
      b.endMs = b.startMs + 50 * 60_000
      _ = try await c.rooms.bookRoom(b)
    }, pause: .milliseconds(20)))
    // Watchers: a stream each, reopened on a new connection every 20 s.
    for _ in 0..<2 {
      tasks.append(Task {
        while !phase.stop.load(ordering: .relaxed) {
          guard let c = try? await PracticeConnection.connect(path: socket, group: group) else {
            phase.errors.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .seconds(1))
            continue
          }
          phase.connects.add(1, ordering: .relaxed)
          let until = ContinuousClock.now + .seconds(20)
          var req = Practice_V1_WatchRequest()
          req.accountID = Seed.benchAccount
          let reader = Task {
            do { for try await _ in try c.watch.watch(req) { phase.calls.add(1, ordering: .relaxed) } } catch {}
          }
          while ContinuousClock.now < until && !phase.stop.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(200)) }
          await c.close()
          _ = await reader.value
        }
      })
    }
    // Clients that connect, make one call, and go.
    tasks.append(Task {
      while !phase.stop.load(ordering: .relaxed) {
        do {
          let c = try await PracticeConnection.connect(path: socket, group: group)
          phase.connects.add(1, ordering: .relaxed)
          _ = try await c.health.check()
          phase.calls.add(1, ordering: .relaxed)
          await c.close()
        } catch {
          phase.errors.add(1, ordering: .relaxed)
        }
        try? await Task.sleep(for: .milliseconds(20))
      }
    })

    return tasks
  }

}

/// Open file descriptors of a process (/proc/PID/fd).
func openFDs(_ pid: Int32) -> Int {
  (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}
