import ArgumentParser
import Foundation
import NIOPosix
import PracticeClient
import PracticeProto

/// A fixed number of calls of one kind on one connection, one after another, then exit: what
/// `scripts/bench instructions` counts under callgrind (instructions per call are the same whatever
/// the machine is doing, unlike rates).
struct Calls: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Make COUNT calls of one kind, one at a time.")

  enum Kind: String, ExpressibleByArgument, CaseIterable {
    /// GetBusinessInfo of the bench account (an inline read).
    case read
    /// A one-occurrence CheckRoomAvailability in a seeded room (an inline read with conflicts).
    case room
    /// UpdateBusinessInfo of the bench account (a durable write).
    case write
  }

  @Option var socket: String
  @Option(help: "read, room or write.") var kind: Kind
  @Option var count = 1000
  @Option(help: "Rooms seeded (the room check picks among them).") var rooms = 200
  @Option(help: "Shift the write's legal name, so that every write changes something.") var offset = 0

  func run() async throws {
    let c = try await PracticeConnection.connect(path: socket, group: MultiThreadedEventLoopGroup.singleton)
    var read = Practice_V1_GetBusinessInfoRequest()
    read.accountID = Seed.benchAccount
    var rng = SplitMix(seed: 7)
    let base: Int64 = 1_798_761_600_000
    var conflicts = 0
    let count = self.count, kind = self.kind, rooms = self.rooms, offset = self.offset
    // On the connection's event loop, as the bench's read workloads run.
    try await withTaskExecutorPreference(c.taskExecutor) {
      for i in 0..<count {
        switch kind {
        case .read:
          _ = try await c.business.getBusinessInfo(read)
        case .room:
          var check = Practice_V1_CheckRoomAvailabilityRequest()
          check.accountID = Seed.benchAccount
          check.roomID = String(format: "room_%04d", Int(rng.next() % UInt64(rooms)))
          check.startMs = base + Int64(rng.next() % (3_600_000 * 4000))
          check.endMs = check.startMs + 50 * 60_000
          conflicts += try await c.rooms.checkRoomAvailability(check).conflicts.count
        case .write:
          var u = Practice_V1_UpdateBusinessInfoRequest()
          u.accountID = Seed.benchAccount
          u.updateMask = ["legal_name"]
          u.businessInfo.legalName = "Bench \(offset + i)"
          _ = try await c.business.updateBusinessInfo(u)
        }
      }
    }
    await c.close()
    print("CALLS \(count)")
    if kind == .room { print(String(format: "CONFLICTS_PER_CALL %.2f", Double(conflicts) / Double(max(count, 1)))) }
  }
}
